"""The signup server's foundation: health check, security layer and HTML error pages.

Everything runs through `AsyncTestClient` against a real Store on a temporary SQLite file; the
only test-specific code is a small form route passed in through `extra_route_handlers`.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from litestar import Litestar, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.testing import AsyncTestClient, RequestFactory
from litestar.types import ControllerRouterHandler

from signup_server import create_app
from signup_server.app import MAX_BODY_SIZE
from signup_server.deps import SettingsDep, StoreDep
from signup_server.errors import Gone
from signup_server.render import page
from signup_server.security import CSP, client_ip
from store import Settings, Store, load_settings

from .fixtures_security import csrf_from

FORM_PAGE = """{% extends "base.html" %}
{% import "_forms.html" as forms %}
{% block title %}Test form{% endblock %}
{% block content %}
<h1>Test form</h1>
{{ forms.error_summary(errors) }}
<form method="post" action="/test/form" novalidate>
  {{ csrf_input | safe }}
  {{ forms.field("email", "Email address", type="email", value=email, error=errors.get("email"),
                 autocomplete="email", hint="We'll send a link there.") }}
  {{ forms.field("password", "Password", type="password", value=password,
                 error=errors.get("password"), autocomplete="new-password") }}
  {{ forms.submit("Continue") }}
</form>
{% endblock %}
"""

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/test/form")
async def show_form() -> Template:
    return Template(template_str=FORM_PAGE, context={"errors": {}, "email": "", "password": ""})


@post("/test/form", status_code=303)
async def submit_form(data: Form) -> Redirect | Template:
    email = data.get("email", "")
    if "@" not in email:
        context = {"errors": {"email": "Enter an email address like name@example.org"}}
        return Template(
            template_str=FORM_PAGE,
            context={**context, "email": email, "password": data.get("password", "")},
            status_code=400,
        )
    return Redirect("/", status_code=303)


@get("/test/boom")
async def boom() -> str:
    raise RuntimeError("secret internals /etc/passwd")


@get("/test/gone")
async def gone() -> str:
    raise Gone()


@get("/test/page")
async def plain_page(settings: SettingsDep, store: StoreDep) -> Template:
    return page("index.html", status_code=200, note=f"{settings.org} {store.path}")


TEST_ROUTES: Sequence[ControllerRouterHandler] = (show_form, submit_form, boom, gone, plain_page)

AppFactory = Callable[..., Awaitable[Litestar]]


@pytest.fixture
async def make_app(tmp_path: Path) -> AsyncIterator[AppFactory]:
    """Build apps on a real Store; every store opened here is closed afterwards."""
    stores: list[Store] = []

    async def factory(**flags: Any) -> Litestar:
        settings = load_settings(
            {"db": str(tmp_path / "usher.db"), "rate_limit": 1000, **flags}, environ={}
        )
        store = await Store.open(settings)
        stores.append(store)
        return create_app(
            store,
            settings,
            secret_key=await store.secret_key(),
            extra_route_handlers=TEST_ROUTES,
        )

    yield factory
    for store in stores:
        await store.close()


@pytest.fixture
async def client(make_app: AppFactory) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(await make_app()) as test_client:
        yield test_client


def assert_html_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<!doctype html>" in response.text
    assert '"status_code"' not in response.text  # not Litestar's JSON error body


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


# --- health and pages ----------------------------------------------------------------------------


async def test_healthz_reports_version_and_database(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": importlib.metadata.version("usher"),
        "db": "ok",
    }


async def test_healthz_is_503_when_the_database_is_gone(make_app: AppFactory) -> None:
    app = await make_app()
    store: Store = app.state["store"]
    await store.close()
    async with AsyncTestClient(app) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["db"] == "unavailable"


async def test_landing_page_names_the_org_and_escapes_it(make_app: AppFactory) -> None:
    async with AsyncTestClient(await make_app(org="<Acme & Co>")) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "&lt;Acme &amp; Co&gt;" in response.text
    assert "<Acme & Co>" not in response.text
    assert "sign-up service. Use the link you were sent." in response.text
    assert 'href="/login"' in response.text
    assert '<link rel="stylesheet" href="/static/usher.css">' in response.text
    assert '<main id="main"' in response.text
    assert '<html lang="en">' in response.text


async def test_dependencies_reach_handlers(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/test/page")).status_code == 200


# --- security headers ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/healthz", "/no/such/page", "/static/usher.css"])
async def test_security_headers_on_every_response(
    client: AsyncTestClient[Litestar], path: str
) -> None:
    response = await client.get(path)
    assert_security_headers(response)
    assert "strict-transport-security" not in response.headers


async def test_security_headers_on_500_and_html_is_not_cached(
    client: AsyncTestClient[Litestar],
) -> None:
    for path in ["/", "/test/boom", "/nowhere"]:
        response = await client.get(path)
        assert_security_headers(response)
        assert response.headers["cache-control"] == "no-store"


async def test_https_adds_hsts_and_a_secure_host_cookie(make_app: AppFactory) -> None:
    async with AsyncTestClient(await make_app(public_url="https://join.acme.org")) as client:
        response = await client.get("/")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-usher_csrf=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie


async def test_csrf_cookie_is_httponly_and_lax_on_http(client: AsyncTestClient[Litestar]) -> None:
    cookie = (await client.get("/")).headers["set-cookie"]
    assert cookie.startswith("usher_csrf=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie


async def test_static_and_healthz_set_no_csrf_cookie(client: AsyncTestClient[Litestar]) -> None:
    assert "set-cookie" not in (await client.get("/healthz")).headers
    assert "set-cookie" not in (await client.get("/static/usher.css")).headers


# --- error pages ---------------------------------------------------------------------------------


async def test_unknown_path_is_an_html_404(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/join/not-a-token")
    assert_html_error(response, 404)
    assert "This link doesn&#39;t work" in response.text


async def test_410_reads_like_404(client: AsyncTestClient[Litestar]) -> None:
    gone = await client.get("/test/gone")
    missing = await client.get("/nothing-here")
    assert_html_error(gone, 410)
    assert gone.text == missing.text


async def test_500_is_html_without_internals(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/test/boom")
    assert_html_error(response, 500)
    assert "Something went wrong" in response.text
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


async def test_wrong_method_is_an_html_405(client: AsyncTestClient[Litestar]) -> None:
    response = await client.delete("/")
    assert_html_error(response, 405)


async def test_oversized_body_is_an_html_413(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/test/form")
    token = csrf_from(page.text)
    response = await client.post(
        "/test/form",
        data={"_csrf_token": token, "email": "a" * (MAX_BODY_SIZE + 1)},
    )
    assert_html_error(response, 413)
    assert_security_headers(response)


# --- CSRF ----------------------------------------------------------------------------------------


async def test_form_post_with_token_succeeds(client: AsyncTestClient[Litestar]) -> None:
    form = await client.get("/test/form")
    assert form.status_code == 200
    token = csrf_from(form.text)
    response = await client.post(
        "/test/form",
        data={"_csrf_token": token, "email": "ann@example.org", "password": "pw"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_form_post_without_token_is_an_html_403(client: AsyncTestClient[Litestar]) -> None:
    await client.get("/test/form")  # the cookie is set, the field is missing
    response = await client.post("/test/form", data={"email": "ann@example.org"})
    assert_html_error(response, 403)
    assert_security_headers(response)


async def test_form_post_with_a_forged_token_is_403(client: AsyncTestClient[Litestar]) -> None:
    await client.get("/test/form")
    response = await client.post(
        "/test/form", data={"_csrf_token": "0" * 128, "email": "ann@example.org"}
    )
    assert_html_error(response, 403)


async def test_token_without_its_cookie_is_403(make_app: AppFactory) -> None:
    app = await make_app()
    async with AsyncTestClient(app) as first:
        token = csrf_from((await first.get("/test/form")).text)
    async with AsyncTestClient(app) as stranger:  # no cookie jar from the first client
        response = await stranger.post(
            "/test/form", data={"_csrf_token": token, "email": "ann@example.org"}
        )
    assert_html_error(response, 403)


async def test_form_errors_render_summary_and_inline_messages(
    client: AsyncTestClient[Litestar],
) -> None:
    token = csrf_from((await client.get("/test/form")).text)
    response = await client.post(
        "/test/form", data={"_csrf_token": token, "email": "<b>nope", "password": "hunter2"}
    )
    assert response.status_code == 400
    html = response.text
    assert '<div class="error-summary" role="alert"' in html
    assert '<a href="#email">Enter an email address like name@example.org</a>' in html
    assert 'id="email-error"' in html
    assert 'aria-describedby="email-hint email-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="&lt;b&gt;nope"' in html  # the entry comes back, escaped
    assert "hunter2" not in html  # passwords are never echoed
    assert html.count('name="_csrf_token"') == 1


# --- rate limit ----------------------------------------------------------------------------------


async def test_third_post_in_a_minute_is_an_html_429(make_app: AppFactory) -> None:
    async with AsyncTestClient(await make_app(rate_limit=2)) as client:
        token = csrf_from((await client.get("/test/form")).text)
        data = {"_csrf_token": token, "email": "ann@example.org"}
        for _ in range(2):
            ok = await client.post("/test/form", data=data, follow_redirects=False)
            assert ok.status_code == 303
        limited = await client.post("/test/form", data=data, follow_redirects=False)
        assert_html_error(limited, 429)
        assert_security_headers(limited)
        assert 0 < int(limited.headers["retry-after"]) <= 60
        for _ in range(5):  # pages are never limited
            assert (await client.get("/test/form")).status_code == 200
            assert (await client.get("/")).status_code == 200


async def test_refused_forgeries_count_against_the_limit(make_app: AppFactory) -> None:
    async with AsyncTestClient(await make_app(rate_limit=2)) as client:
        await client.get("/test/form")
        for _ in range(2):
            assert (await client.post("/test/form", data={"email": "x"})).status_code == 403
        assert (await client.post("/test/form", data={"email": "x"})).status_code == 429


# --- client address ------------------------------------------------------------------------------


def settings_with(proxies: list[str]) -> Settings:
    return load_settings({"trusted_proxies": proxies}, environ={})


QUIET_APP = Litestar(logging_config=None)
"""RequestFactory's own default app would configure the root logger (INFO) for the whole run."""


def ip_of(peer: str, forwarded: str | None, proxies: list[str]) -> str:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else None
    request = RequestFactory(app=QUIET_APP, server=peer).get("/", headers=headers)
    return client_ip(request, settings_with(proxies))


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    assert ip_of("203.0.113.9", "198.51.100.1", []) == "203.0.113.9"
    assert ip_of("203.0.113.9", "198.51.100.1", ["10.0.0.1"]) == "203.0.113.9"


def test_forwarded_for_is_believed_from_a_trusted_proxy() -> None:
    assert ip_of("10.0.0.1", "198.51.100.1", ["10.0.0.1"]) == "198.51.100.1"
    assert ip_of("10.0.0.7", "198.51.100.1", ["10.0.0.0/8"]) == "198.51.100.1"


def test_a_client_cannot_spoof_through_a_trusted_proxy() -> None:
    # The client sent "1.2.3.4" itself; the proxy appended the address it really saw.
    assert ip_of("10.0.0.1", "1.2.3.4, 198.51.100.1", ["10.0.0.1"]) == "198.51.100.1"


def test_chained_trusted_proxies_are_skipped() -> None:
    proxies = ["10.0.0.0/8"]
    assert ip_of("10.0.0.1", "198.51.100.1, 10.0.0.2", proxies) == "198.51.100.1"
    assert ip_of("10.0.0.1", "10.0.0.3, 10.0.0.2", proxies) == "10.0.0.3"


def test_unreadable_forwarded_for_falls_back_to_the_peer() -> None:
    assert ip_of("10.0.0.1", "not-an-address", ["10.0.0.1"]) == "10.0.0.1"
    assert ip_of("10.0.0.1", None, ["10.0.0.1"]) == "10.0.0.1"
    assert ip_of("10.0.0.1", "198.51.100.1:4567", ["10.0.0.1"]) == "198.51.100.1"
    assert ip_of("10.0.0.1", "[2001:db8::1]:443", ["10.0.0.1"]) == "2001:db8::1"


# --- logging -------------------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_failures_are_logged_to_usher_web(client: AsyncTestClient[Litestar]) -> None:
    web_logger = logging.getLogger("usher.web")
    collect = Collect()
    web_logger.addHandler(collect)
    saved_level = web_logger.level
    web_logger.setLevel(logging.DEBUG)
    try:
        await client.get("/test/boom")
        await client.get("/no%1B[31mpe")  # an escape sequence, percent-encoded
    finally:
        web_logger.removeHandler(collect)
        web_logger.setLevel(saved_level)
    crash, refusal = collect.records
    assert crash.levelno == logging.ERROR
    assert crash.exc_info is not None
    assert refusal.levelno == logging.INFO
    assert "404" in refusal.getMessage()
    assert "/no[31mpe" in refusal.getMessage()  # decoded, then cleaned
    assert "\x1b" not in refusal.getMessage()
