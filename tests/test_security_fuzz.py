"""Fuzzing every form with hypothesis, through Litestar's test client with valid CSRF tokens, so
the fuzz reaches the handlers (not just the CSRF refusal): no input may produce a 500.

Hypothesis drives a plain function; the app and its store live on an event loop of the test's
own, which each example runs its requests on.
"""

from __future__ import annotations

import asyncio
import random
import re
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rich.text import Text
from textual.widgets import DataTable, Static, TextArea

from console.app import UsherApp
from store import Settings
from store.domain.addresses import address_key
from store.domain.clock import db_now
from store.domain.tokens import new_one_time_credential, one_time_credential_hash

from .fixtures_security import FORM_FIELDS, GOOD_PASSWORD, World, open_world
from .helpers import eventually

T = TypeVar("T")

ROUTES = sorted(FORM_FIELDS)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
"""Any Unicode a browser can send (lone surrogates cannot be encoded as UTF-8 at all)."""
NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\r\nBcc: x@example.org",
        "\x1b]52;c;ZXZpbA==\x07",
        "[bold]x[/]",
        "<script>alert(1)</script>",
        "'; DROP TABLE users; --",
        "a@b",
        "@",
        "sam@example.org",
        "x" * 5000,
        "é" * 129,
        "\u202e\u0000\ufeff",
        "%00",
        "{{ 7*7 }}",
        "correct horse battery staple",
    ]
)
VALUE = st.one_of(TEXT, NASTY)


def run_on(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    return loop.run_until_complete


@st.composite
def form_posts(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """A route and a body: its own fields (some left out, some repeated) plus stray ones."""
    route = draw(st.sampled_from(ROUTES))
    pairs: list[tuple[str, str]] = []
    for name in FORM_FIELDS[route]:
        for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
            pairs.append((name, draw(VALUE)))
    pairs += draw(st.lists(st.tuples(TEXT, VALUE), max_size=3))
    return route, pairs


def fuzz_world(settings: Settings, body: Callable[[World, Callable[..., Any]], None]) -> None:
    """Open a world on a loop of our own, hand it to `body`, close it whatever happens."""
    loop = asyncio.new_event_loop()
    run = run_on(loop)
    try:
        context = open_world(settings)
        world = run(context.__aenter__())
        try:
            body(world, run)
        finally:
            run(context.__aexit__(None, None, None))
    finally:
        loop.close()


def assert_answered(response: httpx.Response, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    assert response.status_code != 403, ("the CSRF token was refused", what)
    assert "Traceback" not in response.text


def test_no_form_input_makes_a_500(settings: Settings) -> None:
    seen: set[int] = set()

    def body(world: World, run: Callable[..., Any]) -> None:
        token = run(world.token())

        @hypothesis_settings(
            max_examples=120,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(form_posts())
        def fuzz(post: tuple[str, list[tuple[str, str]]]) -> None:
            route, pairs = post
            data = [("_csrf_token", token), *pairs]
            response = run(
                world.client.post(
                    world.path(route),
                    content=urllib.parse.urlencode(data).encode(),
                    headers={"content-type": "application/x-www-form-urlencoded"},
                    follow_redirects=False,
                )
            )
            assert_answered(response, post)
            seen.add(response.status_code)

        fuzz()

    fuzz_world(settings, body)
    assert {303, 400} <= seen, f"the fuzz must reach the handlers: {seen}"


KINDS_OF_ACCOUNT = {
    "one-time@example.org": ("active", "one_time", 0),
    "must-change@example.org": ("active", "argon2", 1),
    "pending@example.org": ("pending", "argon2", 0),
    "disabled@example.org": ("disabled", "argon2", 0),
    "rejected@example.org": ("rejected", "argon2", 0),
    "unconfirmed@example.org": ("unconfirmed", "argon2", 0),
    "no-password@example.org": ("active", "none", 0),
}
"""Accounts in every state a stranger may aim at (issue 15: a one-time credential's account
answered 500 to `password=éééééééé`, which also told which accounts were just bulk-made)."""


async def add_every_kind_of_account(world: World) -> None:
    hashed = await world.store.hasher.hash(GOOD_PASSWORD)
    moment = db_now()
    async with world.store.write("users") as tx:
        for email, (status, scheme, must_change) in KINDS_OF_ACCOUNT.items():
            stored = {
                "one_time": one_time_credential_hash(new_one_time_credential()),
                "argon2": hashed,
                "none": None,
            }[scheme]
            await tx.execute(
                """INSERT INTO users (email, email_key, first_name, last_name, level, status,
                       password_hash, must_change_password, source, created_at, updated_at)
                   VALUES (?, ?, 'Kim', 'Doe', 'member', ?, ?, ?, 'bulk', ?, ?)""",
                (email, address_key(email), status, stored, must_change, moment, moment),
            )


def test_no_sign_in_to_any_kind_of_account_makes_a_500(settings: Settings) -> None:
    seen: set[int] = set()

    def body(world: World, run: Callable[..., Any]) -> None:
        run(add_every_kind_of_account(world))
        token = run(world.token())

        async def forget_failures() -> None:
            async with world.store.write() as tx:  # so the fuzz reaches the password check
                await tx.execute("DELETE FROM sign_in_failures")

        def attempt(route: str, email: str, password: str) -> httpx.Response:
            run(forget_failures())
            fields = {"email": email, "password": password}
            if route == "/account/password":
                fields = {"current_password": password, "password": password}
            response: httpx.Response = run(
                world.client.post(
                    route,
                    content=urllib.parse.urlencode({"_csrf_token": token, **fields}).encode(),
                    headers={"content-type": "application/x-www-form-urlencoded"},
                    follow_redirects=False,
                )
            )
            return response

        for email in KINDS_OF_ACCOUNT:
            response = attempt("/login", email, "éééééééé")
            assert_answered(response, email)
            assert response.status_code == 400, (email, response.status_code)

        @hypothesis_settings(
            max_examples=120,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(
            st.sampled_from(["/login", "/password/forgot", "/account/password"]),
            st.one_of(st.sampled_from(sorted(KINDS_OF_ACCOUNT)), VALUE),
            VALUE,
        )
        def fuzz(route: str, email: str, password: str) -> None:
            response = attempt(route, email, password)
            assert_answered(response, (route, email, password))
            seen.add(response.status_code)

        fuzz()

    fuzz_world(settings, body)
    assert {303, 400} <= seen, f"the fuzz must reach the handlers: {seen}"


def test_no_raw_body_makes_a_500(settings: Settings) -> None:
    """Bodies no browser would send: any bytes, any declared content type. The token travels
    in the header, so the body reaches the form parser untouched."""

    def body(world: World, run: Callable[..., Any]) -> None:
        token = run(world.token())

        @hypothesis_settings(max_examples=80, deadline=None)
        @given(
            st.sampled_from(ROUTES),
            st.binary(max_size=600),
            st.sampled_from(
                [
                    "application/x-www-form-urlencoded",
                    "application/x-www-form-urlencoded; charset=latin-1",
                    "multipart/form-data; boundary=x",
                    "application/json",
                    "text/plain",
                ]
            ),
        )
        def fuzz(route: str, raw: bytes, content_type: str) -> None:
            response = run(
                world.client.post(
                    world.path(route),
                    content=raw,
                    headers={"content-type": content_type, "x-csrftoken": token},
                    follow_redirects=False,
                )
            )
            assert_answered(response, (route, raw, content_type))

        fuzz()

    fuzz_world(settings, body)


def test_no_token_in_a_url_makes_a_500(settings: Settings) -> None:
    def body(world: World, run: Callable[..., Any]) -> None:
        prefixes = ["/join/", "/invite/", "/password/set/", "/confirm/", "/signup/", "/invitation/"]

        @hypothesis_settings(max_examples=60, deadline=None)
        @given(st.sampled_from(prefixes), st.text(min_size=1, max_size=200))
        def fuzz(prefix: str, token: str) -> None:
            response = run(world.client.get(prefix + urllib.parse.quote(token, safe="")))
            assert response.status_code < 500, (prefix, token)

        fuzz()

    fuzz_world(settings, body)


# --- the console's paste boxes -----------------------------------------------------------------


def junk_paste(seed: int, lines: int = 400) -> str:
    """Deterministic garbage for the paste boxes: every kind of control character, escape
    sequences, markup, odd separators and random Unicode, mixed with real addresses."""
    rng = random.Random(seed)
    pieces = [
        "ann@example.org",
        "Ann Lee <ann@example.org>",
        '"Lee, Ann" <ann@x.org>',
        "\x1b]52;c;ZXZpbA==\x07",
        "\x1b[2J",
        "\x9b31m",
        "[bold red]x[/]",
        "[link=https://evil]y[/link]",
        "\x00",
        "\r",
        "\t",
        ",,,;;;",
        "<",
        ">",
        '"',
        "@",
        "=cmd|' /C calc'!A0",
        "\u202e",
        "x" * 300,
    ]
    out = []
    for _ in range(lines):
        parts = [rng.choice(pieces) for _ in range(rng.randint(0, 4))]
        parts += ["".join(chr(rng.randint(1, 0xD7FF)) for _ in range(rng.randint(0, 8)))]
        rng.shuffle(parts)
        out.append(rng.choice([" ", ",", "\t", ";", ""]).join(parts))
    return "\n".join(out)


@pytest.mark.parametrize(("key", "area"), [("f4", "#paste"), ("f7", "#lines")])
async def test_junk_pasted_into_the_console_is_previewed_not_a_crash(
    settings: Settings, key: str, area: str
) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press(key)
        await pilot.pause()
        screen = app.screen
        summary = screen.query_one("#summary", Static)
        before = str(summary.render())
        for seed in range(3):
            screen.query_one(area, TextArea).load_text(junk_paste(seed))

            async def previewed(previous: str = before) -> bool:
                await pilot.pause()
                return str(summary.render()) != previous

            await eventually(previewed, timeout=60)
            before = str(summary.render())
        assert app.is_running and app.screen is screen
        for table in screen.query(DataTable):
            for index in range(min(table.row_count, 200)):
                for cell in table.get_row_at(index):
                    text = cell.plain if isinstance(cell, Text) else str(cell)
                    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), text
