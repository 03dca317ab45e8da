"""The Users screen under `App.run_test()`: search, filters and pages; a person's detail with
level, disable/enable, a set-password link and history; `x` exports the current view as CSV."""

from __future__ import annotations

import csv
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input, Select

from console.app import UsherApp
from console.dialogs.level import LevelDialog
from console.dialogs.path import PathDialog
from console.dialogs.user_detail import UserDetailDialog
from console.screens.users import PAGE_SIZE, UsersScreen
from console.widgets.live_table import row_keys
from store import Settings, Store

from .fixtures_users import (
    add_user,
    add_user_elsewhere,
    add_users,
    audit_actions,
    level_of,
    outbox_rows,
    status_of,
)
from .fixtures_users import user_row as row
from .test_approvals_console import Recorder, until


async def seed(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        await add_users(
            store,
            [
                row("ann@acme.org", first="Ann", last="Lee", status="active", source="single",
                    age=timedelta(days=4)),
                row("bob@acme.org", first="Bob", last="Stone", status="pending",
                    age=timedelta(days=3)),
                row("cy@other.org", first="Cy", last="Annan", status="disabled", source="bulk",
                    level="viewer", age=timedelta(days=2)),
                row("evil@acme.org", first="=HYPERLINK(\"http://x\")", last="-1+1",
                    status="active", source="bulk", age=timedelta(days=1)),
            ],
        )  # fmt: skip


def users_screen(app: UsherApp) -> UsersScreen:
    screen = app.screen
    assert isinstance(screen, UsersScreen)
    return screen


def emails_shown(app: UsherApp) -> list[str]:
    table = users_screen(app).table
    return [table.get_cell(key, "email").plain for key in row_keys(table)]


async def open_users(pilot: Any, app: UsherApp, rows: int) -> DataTable[Any]:
    await pilot.press("f8")
    await until(pilot, lambda: isinstance(app.screen, UsersScreen))
    await until(pilot, lambda: users_screen(app).table.row_count == rows)
    return users_screen(app).table


async def test_search_and_filters_narrow_the_table(settings: Settings) -> None:
    await seed(settings)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_users(pilot, app, 4)
        assert emails_shown(app) == [
            "evil@acme.org",
            "cy@other.org",
            "bob@acme.org",
            "ann@acme.org",
        ]
        await pilot.press("slash", *"ann")
        await until(pilot, lambda: emails_shown(app) == ["cy@other.org", "ann@acme.org"])
        await pilot.press("enter")  # back to the table
        assert users_screen(app).table.has_focus
        app.screen.query_one("#by-status", Select).value = "active"
        await until(pilot, lambda: emails_shown(app) == ["ann@acme.org"])
        app.screen.query_one("#search", Input).value = ""
        app.screen.query_one("#by-source", Select).value = "bulk"
        await until(pilot, lambda: emails_shown(app) == ["evil@acme.org"])
        app.screen.query_one("#by-status", Select).value = ""
        app.screen.query_one("#by-sort", Select).value = "oldest"
        await until(pilot, lambda: emails_shown(app) == ["cy@other.org", "evil@acme.org"])
        info = str(app.screen.query_one("#pageinfo").render())
        assert "1-2 of 2" in info


async def test_pages_keep_the_table_small(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        await add_users(
            store,
            [row(f"u{i:04}@example.org", status="active", age=timedelta(seconds=i))
             for i in range(PAGE_SIZE + 50)],
        )  # fmt: skip
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await open_users(pilot, app, PAGE_SIZE)
        assert emails_shown(app)[0] == "u0000@example.org"  # newest first
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: table.row_count == 50)
        assert emails_shown(app)[-1] == f"u{PAGE_SIZE + 49:04}@example.org"
        assert f"201-250 of {PAGE_SIZE + 50}" in str(app.screen.query_one("#pageinfo").render())
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: table.row_count == PAGE_SIZE)


async def test_export_writes_the_current_view_neutralised_and_private(
    settings: Settings, tmp_path: Path
) -> None:
    await seed(settings)
    recorder = Recorder()
    app = UsherApp(settings, no_server=True)
    target = tmp_path / "export.csv"
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await open_users(pilot, app, 4)
        app.screen.query_one("#search", Input).value = "acme"
        await until(pilot, lambda: len(emails_shown(app)) == 3)
        users_screen(app).table.focus()
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, PathDialog))
        app.screen.query_one("#path", Input).value = str(tmp_path)  # a folder: refused
        await pilot.press("enter")
        assert isinstance(app.screen, PathDialog)
        assert "folder" in str(app.screen.query_one("#problem").render())
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")
        await until(pilot, lambda: recorder.saw(f"Wrote 3 users to {target}"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with target.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["email"] for r in rows] == ["evil@acme.org", "bob@acme.org", "ann@acme.org"]
    assert rows[0]["first_name"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["last_name"] == "'-1+1"


async def test_user_detail_level_disable_enable_link_and_history(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        await add_user(store, "zed@acme.org", first="Zed", status="active", source="single")
    recorder = Recorder()
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await open_users(pilot, app, 1)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, UserDetailDialog))
        dialog = app.screen
        assert isinstance(dialog, UserDetailDialog)
        await until(pilot, lambda: dialog.user is not None)
        assert "zed@acme.org" in str(dialog.query_one("#details").render())

        await pilot.press("d")
        await until(pilot, lambda: dialog.user is not None and dialog.user.status == "disabled")
        await pilot.press("s")  # disabled: refused, with why
        await until(pilot, lambda: recorder.saw("the account is disabled"))
        await pilot.press("d")
        await until(pilot, lambda: dialog.user is not None and dialog.user.status == "active")
        await pilot.press("s")
        await until(pilot, lambda: recorder.saw("set-password link"))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LevelDialog))
        await pilot.press("up", "up", "enter")  # member → admin
        await until(pilot, lambda: dialog.user is not None and dialog.user.level == "admin")
        history = dialog.query_one("#history", DataTable)
        await until(pilot, lambda: history.row_count == 4)
        actions = [history.get_row_at(i)[2].plain for i in range(4)]
        assert actions == [
            "level changed",
            "set password link sent",
            "user enabled",
            "user disabled",
        ]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, UsersScreen))
        table = users_screen(app).table
        await until(pilot, lambda: table.get_row_at(0)[2].plain == "admin")
    assert status_of(settings.db, "zed@acme.org") == "active"
    assert level_of(settings.db, "zed@acme.org") == "admin"
    assert len(outbox_rows(settings.db, "set_password")) == 1
    assert [a[1] for a in audit_actions(settings.db)] == [
        "user_disabled",
        "user_enabled",
        "set_password_link_sent",
        "level_changed",
    ]


async def test_follows_other_processes_and_is_driven_from_the_keyboard(settings: Settings) -> None:
    await seed(settings)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_users(pilot, app, 4)
        add_user_elsewhere(settings.db, "new@acme.org", first="New", status="active")
        await until(pilot, lambda: emails_shown(app)[:1] == ["new@acme.org"])  # no key pressed

        await pilot.press("slash", "tab")  # from the search box to the status choice
        status = app.screen.query_one("#by-status", Select)
        assert status.has_focus
        await pilot.press("enter", "down", "down", "enter")  # Any status → unconfirmed → pending
        await until(pilot, lambda: emails_shown(app) == ["bob@acme.org"])
        assert status.value == "pending"
        await pilot.press("tab", "tab", "tab")  # level, source, then the sort
        assert app.screen.query_one("#by-sort", Select).has_focus
        await pilot.press("enter", "down", "down", "enter")  # newest → oldest → by name ("=" < "A")
        await pilot.press("shift+tab", "shift+tab", "shift+tab", "enter", "up", "up", "enter")
        await until(pilot, lambda: status.value == "")
        await until(
            pilot,
            lambda: (
                emails_shown(app)
                == ["evil@acme.org", "ann@acme.org", "bob@acme.org", "cy@other.org", "new@acme.org"]
            ),
        )
