"""The signup server under attack: CSRF on every form, security headers on every page (error
pages too), the body limit, the POST rate limit, cookie flags, and tokens kept out of logs.

Every POST route is read from the app, so a form added later is covered here by existing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from signup_server.app import MAX_BODY_SIZE
from signup_server.runner import bind_socket, bound_port
from store import Settings
from store.onboarding.link_attempts import wait_words

from .fixtures_security import (
    FORM_FIELDS,
    HANDLER_ANSWERS,
    MEMBER,
    World,
    assert_html_page,
    assert_security_headers,
    csrf_from,
    get_routes,
    open_world,
    post_routes,
    world,
)
from .helpers import live_server

__all__ = ["world"]

EXPECTED_POST_ROUTES = sorted(FORM_FIELDS)


async def test_every_post_route_is_known_to_this_suite(world: World) -> None:
    """A new form must be added to FORM_FIELDS, so the fuzz and "reaches the handler" tests
    know what to type into it (the other tests here already cover it by discovery)."""
    assert post_routes(world.app) == EXPECTED_POST_ROUTES


# --- CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", EXPECTED_POST_ROUTES)
async def test_post_without_csrf_token_is_refused_with_a_403_page(
    world: World, template: str
) -> None:
    await world.client.get("/login")  # the CSRF cookie is set; only the field is missing
    response = await world.client.post(
        world.path(template), data=FORM_FIELDS[template], follow_redirects=False
    )
    assert_html_page(response, 403)
    assert "This form has expired" in response.text
    assert_security_headers(response)


@pytest.mark.parametrize("template", EXPECTED_POST_ROUTES)
async def test_post_with_a_forged_or_foreign_token_is_refused(
    world: World, template: str, settings: Settings
) -> None:
    forged = {"_csrf_token": "0" * 64, **FORM_FIELDS[template]}
    response = await world.client.post(world.path(template), data=forged)
    assert_html_page(response, 403)
    # A real token lifted from someone else's page, sent without their cookie.
    token = await world.token()
    world.client.cookies.clear()
    stolen = await world.client.post(
        world.path(template), data={"_csrf_token": token, **FORM_FIELDS[template]}
    )
    assert_html_page(stolen, 403)


@pytest.mark.parametrize("template", EXPECTED_POST_ROUTES)
async def test_post_with_the_forms_token_reaches_the_handler(world: World, template: str) -> None:
    page = await world.client.get(world.form_page(template))
    assert page.status_code == 200
    fields = {"_csrf_token": csrf_from(page.text), **FORM_FIELDS[template]}
    response = await world.client.post(world.path(template), data=fields, follow_redirects=False)
    assert response.status_code in HANDLER_ANSWERS[template], response.text[:400]


# --- security headers ------------------------------------------------------------------------


async def test_every_get_route_sends_the_security_headers(world: World) -> None:
    templates = get_routes(world.app)
    assert len(templates) >= 12
    for template in templates:
        response = await world.client.get(world.path(template), follow_redirects=False)
        assert response.status_code < 500, template
        assert_security_headers(response)
        if response.headers.get("content-type", "").startswith("text/html"):
            assert response.headers["cache-control"] == "no-store", template


async def test_error_pages_send_the_security_headers(settings: Settings, tmp_path: Path) -> None:
    async with open_world(settings, rate_limit=1, signed_in=False) as world:
        client = world.client
        token = await world.token()
        answers = {
            404: await client.get("/no/such/page"),
            405: await client.delete("/login"),
            403: await client.post("/password/forgot", data={"email": "a@b.org"}),
            429: await client.post("/password/forgot", data={"email": "a@b.org"}),
        }
    async with open_world(settings, signed_in=False, db=str(tmp_path / "second.db")) as world:
        token = await world.token()
        answers[413] = await world.client.post(
            "/password/forgot", data={"_csrf_token": token, "email": "a" * MAX_BODY_SIZE}
        )
        answers[410] = await world.client.get("/join/" + "z" * 43)  # 404 or 410: same page
    for status, response in answers.items():
        assert response.status_code == status or (status == 410 and response.status_code == 404)
        assert_html_page(response, response.status_code)
        assert_security_headers(response)
        assert response.headers["cache-control"] == "no-store"


async def test_https_adds_hsts_everywhere(settings: Settings) -> None:
    async with open_world(
        settings,
        public_url="https://join.example.org",
        base_url="https://testserver.local",
        signed_in=False,
    ) as world:
        for path in ["/", "/login", "/no/such/page", "/healthz", "/static/usher.css"]:
            assert_security_headers(await world.client.get(path), https=True)


# --- body size -------------------------------------------------------------------------------


@pytest.mark.parametrize("template", EXPECTED_POST_ROUTES)
async def test_an_oversized_body_is_a_413_page_before_the_handler(
    world: World, template: str
) -> None:
    token = await world.token()
    ops = world.hasher.argon2_ops
    response = await world.client.post(
        world.path(template),
        data={"_csrf_token": token, **FORM_FIELDS[template], "pad": "x" * (MAX_BODY_SIZE + 1)},
    )
    assert_html_page(response, 413)
    assert "too much" in response.text
    assert world.hasher.argon2_ops == ops  # nothing was parsed, nothing was hashed


# --- rate limits -----------------------------------------------------------------------------


@pytest.mark.parametrize("template", EXPECTED_POST_ROUTES)
async def test_every_post_route_is_rate_limited_per_client(
    settings: Settings, template: str
) -> None:
    async with open_world(
        settings, rate_limit=3, trusted_proxies=["127.0.0.1"], peer="127.0.0.1", signed_in=False
    ) as world:
        path, fields = world.path(template), FORM_FIELDS[template]
        mallory = {"X-Forwarded-For": "203.0.113.66"}
        token = await world.token()
        for _ in range(3):
            allowed = await world.client.post(
                path, data={"_csrf_token": token, **fields}, headers=mallory
            )
            assert allowed.status_code != 429
        limited = await world.client.post(
            path, data={"_csrf_token": token, **fields}, headers=mallory
        )
        assert_html_page(limited, 429)
        assert "Too many attempts" in limited.text
        assert 0 < int(limited.headers["retry-after"]) <= 60
        # the real wait in words, and a way back to the form (issue 17)
        wait = wait_words(int(limited.headers["retry-after"]))
        assert f"Please wait {wait}, then try again." in limited.text
        assert "Back to the form</a>" in limited.text
        assert_security_headers(limited)
        # Another client is not held back by mallory, and pages are never limited.
        other = await world.client.post(
            "/password/forgot",
            data={"_csrf_token": token, "email": "x@example.org"},
            headers={"X-Forwarded-For": "198.51.100.7"},
            follow_redirects=False,
        )
        assert other.status_code == 303
        assert (await world.client.get("/login", headers=mallory)).status_code == 200


async def test_link_password_guesses_stop_after_five_per_link(settings: Settings) -> None:
    async with open_world(settings, signed_in=False) as world:
        from store.onboarding.links import LinkDraft, create_link

        guarded = await create_link(
            world.store,
            msgspec.structs.replace(LinkDraft(), password="open sesame", confirm_email=False),
            actor="tester",
        )
        token = await world.token()
        fields = {**FORM_FIELDS["/join/{token:str}"], "_csrf_token": token}
        for _ in range(5):
            wrong = await world.client.post(
                f"/join/{guarded.token}", data={**fields, "link_password": "guess"}
            )
            assert wrong.status_code == 400
        ops = world.hasher.argon2_ops
        right = await world.client.post(
            f"/join/{guarded.token}", data={**fields, "link_password": "open sesame"}
        )
        assert_html_page(right, 429)
        assert world.hasher.argon2_ops == ops  # refused before any hashing
        assert (
            await world.store.engine.scalar(
                "SELECT count(*) FROM users WHERE email = ?", ("new@example.org",)
            )
            == 0
        )


# --- cookies ---------------------------------------------------------------------------------


def cookie_flags(header: str) -> tuple[str, set[str]]:
    name = header.split("=", 1)[0]
    flags = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    return name, flags


@pytest.mark.parametrize("https", [False, True])
async def test_cookies_are_httponly_lax_and_secure_on_https(
    settings: Settings, https: bool
) -> None:
    extra: dict[str, Any] = (
        {"public_url": "https://join.example.org", "base_url": "https://testserver.local"}
        if https
        else {}
    )
    async with open_world(settings, signed_in=False, **extra) as world:
        page = await world.client.get("/login")
        login = await world.client.post(
            "/login",
            data={"_csrf_token": csrf_from(page.text), "email": MEMBER, "password": "x" * 20},
        )
        assert login.status_code == 400
        from .fixtures_security import GOOD_PASSWORD

        login = await world.client.post(
            "/login",
            data={"_csrf_token": csrf_from(page.text), "email": MEMBER, "password": GOOD_PASSWORD},
            follow_redirects=False,
        )
        assert login.status_code == 303
        logout_page = await world.client.get("/account/password")
        logout = await world.client.post(
            "/logout", data={"_csrf_token": csrf_from(logout_page.text)}, follow_redirects=False
        )
    headers = [
        *page.headers.get_list("set-cookie"),
        *login.headers.get_list("set-cookie"),
        *logout.headers.get_list("set-cookie"),
    ]
    names = set()
    for header in headers:
        name, flags = cookie_flags(header)
        names.add(name)
        assert "httponly" in flags, header
        assert "samesite" in flags and "samesite=lax" in header.lower(), header
        assert ("secure" in flags) == https, header
        assert "path" in flags, header
        if https:
            assert name.startswith("__Host-"), header
            assert "domain" not in flags, header
    prefix = "__Host-" if https else ""
    assert {f"{prefix}usher_csrf", f"{prefix}usher_session"} <= names


# --- logs ------------------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


async def test_tokens_never_reach_the_access_log(settings: Settings) -> None:
    """Requests through uvicorn, as in production; every log record of them is captured."""
    sock = bind_socket("127.0.0.1", 0)
    try:
        live = msgspec.structs.replace(settings, port=bound_port(sock))
        async with open_world(live, signed_in=False) as world:
            collect = Collect()
            watched = [logging.getLogger(name) for name in ("uvicorn.access", "usher.web", "")]
            for logger in watched:
                logger.addHandler(collect)
            try:
                async with (
                    live_server(world.store, sock),
                    httpx.AsyncClient(base_url=live.base_url) as http,
                ):
                    secrets = {
                        world.link.token,
                        world.invitation_token,
                        world.set_password_token,
                        world.confirm_token,
                    }
                    paths = [
                        world.path(t)
                        for t in (
                            "/join/{token:str}",
                            "/invite/{token:str}",
                            "/password/set/{token:str}",
                            "/confirm/{token:str}",
                        )
                    ]
                    for path in paths:
                        await http.get(path)
                        await http.post(path, data={"x": "y"})  # a CSRF refusal is logged too
                    for path in ["/join/unknownTOKENunknown", "/password/set/unknownTOKENxyz"]:
                        await http.get(path)
                        secrets.add(path.rsplit("/", 1)[1])
            finally:
                for logger in watched:
                    logger.removeHandler(collect)
    finally:
        sock.close()
    access = [line for line in collect.lines if line.startswith("uvicorn.access")]
    assert len(access) >= 2 * len(paths)
    assert any("/join/…" in line for line in access)
    for line in collect.lines:
        for secret in secrets:
            assert secret not in line, line
