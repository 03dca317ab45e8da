"""The Approvals screen under `App.run_test()`: it updates by itself (a signup over real HTTP to the
embedded server, a row written by a second process) without moving the cursor; approve, reject
and level keys act on the cursor row or the selection; user text is shown literally."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest
from litestar import post
from litestar.params import JSONBody
from rich.text import Text
from textual.content import Content
from textual.message import Message
from textual.notifications import Notify
from textual.widgets import DataTable, Input

from console.app import UsherApp
from console.dialogs.level import LevelDialog
from console.dialogs.reject import RejectDialog
from console.screens.approvals import ApprovalsScreen
from console.screens.users import UsersScreen
from console.widgets.live_table import cursor_key, row_keys
from signup_server.deps import StoreDep
from signup_server.runner import bind_socket, bound_port
from store import Settings, Store
from store.onboarding.approvals import approve
from store.onboarding.links import LinkDraft, create_link

from .fixtures_postgres import settings_on_both_engines
from .fixtures_security import csrf_from
from .fixtures_users import (
    add_link,
    add_user,
    add_user_elsewhere,
    audit_actions,
    level_of,
    outbox_rows,
    status_of,
)
from .helpers import GOOD_PASSWORD, ROOT, child_env, eventually
from .test_console_shell import header_text

__all__ = ["settings_on_both_engines"]
"""Every test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one): on
PostgreSQL, rows another process writes reach the console through LISTEN/NOTIFY."""


class SignupForm(msgspec.Struct):
    email: str
    first_name: str = ""
    last_name: str = ""


@post("/test/signup", opt={"exclude_from_csrf": True}, status_code=201)
async def signup_for_test(store: StoreDep, data: JSONBody[SignupForm]) -> dict[str, int]:
    """Stands in for issue 4's /join flow: creates a pending user through the store's writer."""
    link = await store.engine.scalar("SELECT min(id) FROM invite_links")
    user_id = await add_user(
        store, data.email, first=data.first_name, last=data.last_name, link_id=link
    )
    return {"id": user_id}


class Recorder:
    """Collects the notifications the app shows (as `run_test(message_hook=…)`)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.messages.append(str(message.notification.message))

    def saw(self, fragment: str) -> bool:
        return any(fragment in message for message in self.messages)


def serving_app(settings: Settings) -> UsherApp:
    sock = bind_socket(settings.host, 0)
    return UsherApp(
        settings.with_port(bound_port(sock)), sock=sock, extra_route_handlers=[signup_for_test]
    )


async def seed(settings: Settings, *people: tuple[str, str, timedelta]) -> list[int]:
    """Pending users (email, first name, age) via the Spring cohort link."""
    async with await Store.open(settings, watch=False) as store:
        link = await add_link(store, "Spring cohort")
        return [
            await add_user(store, email, first=first, last="Test", link_id=link, age=age)
            for email, first, age in people
        ]


THREE = (
    ("bea@example.org", "Bea", timedelta(hours=3)),
    ("carl@example.org", "Carl", timedelta(hours=2)),
    ("dana@example.org", "Dana", timedelta(hours=1)),
)


def table_of(app: UsherApp) -> DataTable[Any]:
    screen = app.screen
    assert isinstance(screen, ApprovalsScreen)
    return screen.table


def emails_shown(app: UsherApp) -> list[str]:
    table = table_of(app)
    return [table.get_cell(key, "email").plain for key in row_keys(table)]


async def until(pilot: Any, check: Callable[[], bool], timeout: float = 5.0) -> None:
    async def ready() -> bool:
        await pilot.pause()
        return check()

    await eventually(ready, timeout=timeout)


async def open_approvals(pilot: Any, app: UsherApp, rows: int) -> DataTable[Any]:
    await pilot.press("f2")
    await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen))
    await until(pilot, lambda: table_of(app).row_count == rows)
    return table_of(app)


async def test_http_signup_appears_by_itself_and_the_cursor_stays(settings: Settings) -> None:
    await seed(settings, *THREE)
    app = serving_app(settings)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.server_state.state == "up")
        table = await open_approvals(pilot, app, 3)
        await pilot.press("down")
        assert table.cursor_row == 1
        held = cursor_key(table)
        assert held is not None
        assert table.get_cell(held, "email").plain == "carl@example.org"

        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{app.settings.base_url}/test/signup",
                json={"email": "eve@example.org", "first_name": "Eve", "last_name": "New"},
            )
        assert response.status_code == 201

        await until(pilot, lambda: table.row_count == 4)  # no key pressed
        assert emails_shown(app)[-1] == "eve@example.org"  # oldest first: new at the bottom
        assert cursor_key(table) == held
        assert table.cursor_row == 1
        row = table.get_row(str(response.json()["id"]))
        assert [cell.plain for cell in row[1:]] == [
            "Eve New",
            "!",  # her link did not confirm addresses: nobody proved this one is hers
            "eve@example.org",
            "member",
            "—",
            "Spring cohort",
            "just now",
        ]
        assert "F2 Approvals 4" in header_text(app)
        await pilot.press("q")


async def test_a_pending_user_written_by_another_process_appears(settings: Settings) -> None:
    await seed(settings, *THREE)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_approvals(pilot, app, 3)
        await pilot.press("down", "down")
        held = cursor_key(table)
        script = (
            "import sys; from tests.fixtures_users import add_user_elsewhere; "
            "add_user_elsewhere(sys.argv[1], 'far@example.org', first='Far', last='Away')"
        )
        subprocess.run(
            [sys.executable, "-c", script, settings.db],
            cwd=ROOT,
            env=child_env(),
            check=True,
            timeout=30,
        )
        await until(pilot, lambda: table.row_count == 4)
        assert emails_shown(app)[-1] == "far@example.org"
        assert cursor_key(table) == held


async def test_bulk_approve_of_a_selection(settings: Settings) -> None:
    await seed(settings, *THREE, ("ed@example.org", "Ed", timedelta(minutes=5)))
    recorder = Recorder()
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30), message_hook=recorder) as pilot:
        table = await open_approvals(pilot, app, 4)
        await pilot.press("space", "space", "space")
        marks = [table.get_cell(key, "mark").plain for key in row_keys(table)]
        assert marks == ["✓", "✓", "✓", " "]
        await pilot.press("a")
        await until(pilot, lambda: table.row_count == 1)
        assert emails_shown(app) == ["ed@example.org"]
        assert recorder.saw("Approved 3 people — 3 emails queued.")
    approved = outbox_rows(settings.db, "approved")
    assert sorted(m["recipient"] for m in approved) == [
        "bea@example.org",
        "carl@example.org",
        "dana@example.org",
    ]
    assert [status_of(settings.db, email) for email, _, _ in THREE] == ["active"] * 3
    assert status_of(settings.db, "ed@example.org") == "pending"
    assert len([a for a in audit_actions(settings.db) if a[1] == "user_approved"]) == 3


async def test_select_all_then_approve_with_one_key(settings: Settings) -> None:
    await seed(settings, *THREE)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_approvals(pilot, app, 3)
        await pilot.press("asterisk")
        assert [table.get_cell(k, "mark").plain for k in row_keys(table)] == ["✓"] * 3
        await pilot.press("asterisk")  # again: unselect all
        assert [table.get_cell(k, "mark").plain for k in row_keys(table)] == [" "] * 3
        await pilot.press("a")  # no selection: the cursor row
        await until(pilot, lambda: table.row_count == 2)
    assert [m["recipient"] for m in outbox_rows(settings.db, "approved")] == ["bea@example.org"]


async def test_approving_someone_decided_elsewhere_says_so_and_sends_nothing(
    settings: Settings,
) -> None:
    (bea,) = await seed(settings, THREE[0])
    recorder = Recorder()
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30), message_hook=recorder) as pilot:
        table = await open_approvals(pilot, app, 1)
        assert app.store is not None
        await app.store.feed.stop()  # the other process's commit is not noticed before our key
        async with await Store.open(settings, watch=False) as other:
            await approve(other, [bea], actor="bob (ssh 10.0.0.9)")
        assert table.row_count == 1
        await pilot.press("a")
        await until(pilot, lambda: recorder.saw("already approved by bob (ssh 10.0.0.9)"))
        await until(pilot, lambda: table.row_count == 0)
        assert recorder.saw("nothing was sent to them")
    assert len(outbox_rows(settings.db, "approved")) == 1


async def test_reject_with_a_reason(settings: Settings) -> None:
    await seed(settings, *THREE)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_approvals(pilot, app, 3)
        await pilot.press("down", "r")
        await until(pilot, lambda: isinstance(app.screen, RejectDialog))
        app.screen.query_one("#reason", Input).value = "Not on the staff list"
        await pilot.press("enter")
        await until(pilot, lambda: table.row_count == 2)
        assert "carl@example.org" not in emails_shown(app)
    (mail,) = outbox_rows(settings.db, "rejected")
    assert mail["recipient"] == "carl@example.org"
    assert mail["payload"]["reason"] == "Not on the staff list"
    assert status_of(settings.db, "carl@example.org") == "rejected"


async def test_escape_in_the_reject_dialog_rejects_no_one(settings: Settings) -> None:
    await seed(settings, *THREE)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_approvals(pilot, app, 3)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RejectDialog))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen))
    assert outbox_rows(settings.db) == []
    assert status_of(settings.db, "bea@example.org") == "pending"


async def test_change_level_before_approving(settings: Settings) -> None:
    await seed(settings, *THREE)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_approvals(pilot, app, 3)
        held = cursor_key(table)
        assert held is not None
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LevelDialog))
        await pilot.press("up", "enter")  # member → manager
        await until(pilot, lambda: table.get_cell(held, "level").plain == "manager")
        assert cursor_key(table) == held
        await pilot.press("a")
        await until(pilot, lambda: table.row_count == 2)
    assert [m["recipient"] for m in outbox_rows(settings.db, "approved")] == ["bea@example.org"]
    assert level_of(settings.db, "bea@example.org") == "manager"
    actions = [a[1] for a in audit_actions(settings.db) if a[2] == "bea@example.org"]
    assert actions == ["level_changed", "user_approved"]


async def test_filter_by_typing(settings: Settings) -> None:
    await seed(settings, *THREE)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_approvals(pilot, app, 3)
        await pilot.press("slash", "d", "a", "n")
        await until(pilot, lambda: emails_shown(app) == ["dana@example.org"])
        await pilot.press("escape")
        await until(pilot, lambda: table.row_count == 3)
        assert table.has_focus


async def test_names_with_rich_markup_are_shown_literally(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        await add_user(
            store,
            "mallory@example.org",
            first="[bold red]x[/]",
            last="[link=https://evil.example]y[/link]",
        )
    recorder = Recorder()
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30), message_hook=recorder) as pilot:
        table = await open_approvals(pilot, app, 1)
        cell = table.get_row_at(0)[1]
        assert isinstance(cell, Text)
        # Long names are cut to the column (with "…"), never read as markup.
        shown = cell.plain.removesuffix("…")
        assert "[bold red]x[/] [link=https://evil.example]y[/link]".startswith(shown)
        assert shown.startswith("[bold red]x[/] [link=")
        assert not cell.spans  # no style came from the name
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RejectDialog))
        who = app.screen.query_one("#who").render()
        assert isinstance(who, Content)
        assert who.plain == "[bold red]x[/] [link=https://evil.example]y[/link]"
        await pilot.press("escape")
        await pilot.press("a")
        await until(pilot, lambda: table.row_count == 0)
        assert recorder.saw("Approved [bold red]x[/] [link=https://evil.example]y[/link]")


async def test_waiting_times_tick(settings: Settings) -> None:
    (bea,) = await seed(settings, ("bea@example.org", "Bea", timedelta(minutes=3)))
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_approvals(pilot, app, 1)
        assert table.get_cell(str(bea), "waiting").plain == "3 min"
        # Two hours pass (for this row):
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen)
        screen.users = {
            bea: msgspec.structs.replace(
                screen.users[bea], created_at=screen.users[bea].created_at - timedelta(hours=2)
            )
        }
        screen._tick()
        assert table.get_cell(str(bea), "waiting").plain == "2 h"


async def test_a_long_queue_shows_the_oldest_and_says_so(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ApprovalsScreen, "MAX_ROWS", 2)
    await seed(settings, *THREE)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_approvals(pilot, app, 2)
        assert emails_shown(app) == ["bea@example.org", "carl@example.org"]
        summary = app.screen.query_one("#summary").render()
        assert isinstance(summary, Content)
        assert summary.plain.startswith("3 waiting · the oldest 2 shown")
        await pilot.press("a")
        await until(pilot, lambda: emails_shown(app) == ["carl@example.org", "dana@example.org"])
        assert table.row_count == 2


async def test_rows_arrive_in_place_and_leave_without_moving_the_view(settings: Settings) -> None:
    people = [(f"p{i:02}@example.org", f"P{i:02}", timedelta(hours=100 - i)) for i in range(60)]
    ids = await seed(settings, *people)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_approvals(pilot, app, 60)
        await pilot.press("pagedown", "pagedown", "space")  # select one, cursor moves down
        await until(pilot, lambda: table.scroll_y > 0)
        held = cursor_key(table)
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen) and held is not None
        selected = set(screen.selected)
        assert len(selected) == 1
        top = int(table.scroll_y)
        top_key = row_keys(table)[top]

        assert app.store is not None
        await approve(app.store, ids[:3], actor="someone else")  # three rows above the view leave
        await until(pilot, lambda: table.row_count == 57)
        await until(pilot, lambda: row_keys(table)[int(table.scroll_y)] == top_key)
        assert cursor_key(table) == held
        assert screen.selected == selected
        (chosen,) = selected
        assert table.get_cell(str(chosen), "mark").plain == "✓"

        # Someone who signed up long ago but became pending just now goes in signup order.
        # P03 signed up 97 h ago and P04 96 h ago: Late (96.5 h) goes between them.
        late = await add_user(
            app.store, "late@example.org", first="Late", age=timedelta(hours=96, minutes=30)
        )
        await until(pilot, lambda: table.row_count == 58)
        assert row_keys(table)[:3] == [str(ids[3]), str(late), str(ids[4])]
        assert cursor_key(table) == held
        assert row_keys(table)[int(table.scroll_y)] == top_key


def pending_badge(app: UsherApp) -> int:
    """The count next to `F2 Approvals` in the header (0 when there is no badge)."""
    found = re.search(r"F2 Approvals (\d+)", header_text(app))
    return int(found.group(1)) if found else 0


async def test_the_pending_count_follows_everywhere_and_decisions_name_the_ssh_admin(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.setenv("USER", "dora")
    monkeypatch.setenv("SSH_CONNECTION", "203.0.113.9 50022 10.0.0.1 22")
    await seed(settings, *THREE)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(140, 30)) as pilot:
        figure = app.screen.query_one("#fig-pending")
        await until(pilot, lambda: pending_badge(app) == 3)
        assert "Pending approval     3" in str(figure.render())

        add_user_elsewhere(settings.db, "far@example.org", first="Far")  # no key pressed
        await until(pilot, lambda: pending_badge(app) == 4)
        await until(pilot, lambda: "Pending approval     4" in str(figure.render()))

        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, UsersScreen))
        assert pending_badge(app) == 4
        table = await open_approvals(pilot, app, 4)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LevelDialog))
        await pilot.press("up", "enter")  # bea: member → manager
        await until(pilot, lambda: table.get_cell(row_keys(table)[0], "level").plain == "manager")
        await pilot.press("a")
        await until(pilot, lambda: pending_badge(app) == 3 and table.row_count == 3)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RejectDialog))
        await pilot.press("enter")  # no reason
        await until(pilot, lambda: pending_badge(app) == 2 and table.row_count == 2)
        await pilot.press("asterisk", "a")
        await until(pilot, lambda: pending_badge(app) == 0 and table.row_count == 0)
        assert "F2 Approvals  " in header_text(app)
    admin = "dora (ssh 203.0.113.9)"
    decisions = [a for a in audit_actions(settings.db) if a[1] != "user_created"]
    assert decisions[:3] == [
        (admin, "level_changed", "bea@example.org"),
        (admin, "user_approved", "bea@example.org"),
        (admin, "user_rejected", "carl@example.org"),
    ]
    assert {actor for actor, _, _ in decisions} == {admin}
    assert len(decisions) == 5


async def test_a_real_signup_through_an_approval_link_appears_once_confirmed(
    settings: Settings,
) -> None:
    """The issue's "done when": the /join form over HTTP, the confirmation link, the row appears
    by itself, and one key approves and queues the email."""
    app = serving_app(settings)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.server_state.state == "up")
        assert app.store is not None
        draft = LinkDraft(label="Staff link", auto_accept=False, confirm_email=True)
        link = await create_link(app.store, draft, actor="tester")
        table = await open_approvals(pilot, app, 0)
        fields = {
            "email": "joiner@example.org",
            "first_name": "Jo",
            "last_name": "Iner",
            "password": GOOD_PASSWORD,
            "password_confirm": GOOD_PASSWORD,
        }
        async with httpx.AsyncClient(base_url=app.settings.base_url) as client:
            page = await client.get(f"/join/{link.token}")
            fields["_csrf_token"] = csrf_from(page.text)
            joined = await client.post(f"/join/{link.token}", data=fields)
            assert joined.status_code == 303, joined.text
            assert status_of(settings.db, "joiner@example.org") == "unconfirmed"
            await pilot.pause()
            assert table.row_count == 0  # not waiting until the address is confirmed

            (mail,) = outbox_rows(settings.db, "confirm_email")
            opened = await client.get(mail["payload"]["confirm_url"])  # opening changes nothing
            assert opened.status_code == 200 and "Confirm my address" in opened.text
            confirmed = await client.post(
                mail["payload"]["confirm_url"], data={"_csrf_token": csrf_from(opened.text)}
            )
            assert confirmed.status_code == 303
            # the browser that signed up keeps its password: straight to "waiting for approval"
            assert confirmed.headers["location"].endswith("/signup/confirmed-pending")

        await until(pilot, lambda: table.row_count == 1)  # no key pressed
        assert emails_shown(app) == ["joiner@example.org"]
        (key,) = row_keys(table)
        assert table.get_cell(key, "via").plain == "Staff link"
        await pilot.press("a")
        await until(pilot, lambda: table.row_count == 0)
    assert status_of(settings.db, "joiner@example.org") == "active"
    (approved,) = outbox_rows(settings.db, "approved")
    assert approved["recipient"] == "joiner@example.org"
    assert approved["payload"]["login_url"] == f"{app.settings.base_url}/login"
