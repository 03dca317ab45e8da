"""The Bulk screen (F7) under Pilot: the live preview shows exactly the problem lines, a
10,000-line "random for each" import runs with its progress bar while the app keeps answering
keys, escape cancels with nothing written, files open and export."""

from __future__ import annotations

import csv
import re
import sqlite3
import stat
from pathlib import Path

from rich.text import Text
from textual import events
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, ProgressBar, Static, TextArea

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from console.dialogs.bulk_result import BulkResultDialog
from console.dialogs.path import PathDialog
from console.screens.bulk import BulkScreen
from console.widgets.bulk_table import LIMIT, BulkLinesTable
from store import Settings, Store
from store.accounts.auth import sign_in
from store.domain.passwords import Hasher
from store.onboarding.bulk import BulkOptions, create_batch, preview

from .fixtures_bulk import people
from .helpers import cheap_hasher, eventually


def plain(widget: Static) -> str:
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


def top(app: UsherApp) -> object:
    """The screen on top, typed loosely (mypy keeps an earlier isinstance narrowing)."""
    return app.screen


async def open_bulk(app: UsherApp, pilot: Pilot[int]) -> BulkScreen:
    await pilot.pause()
    await pilot.press("f7")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, BulkScreen)
    return screen


async def paste(pilot: Pilot[int], screen: BulkScreen, text: str) -> None:
    """As a terminal pastes: the app receives the text and hands it to the focused widget."""
    screen.lines_area.focus()
    await pilot.pause()
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


async def previewed(pilot: Pilot[int], screen: BulkScreen, ready: int) -> None:
    async def done() -> bool:
        await pilot.pause()
        return (
            not screen._pending
            and screen.preview is not None
            and screen.preview.ready_count == ready
        )

    await eventually(done, timeout=20)


def users(db: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])


async def test_preview_shows_exactly_the_problem_lines(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        parsed = await preview(store, "Old Timer,old@acme.org", "random")
        await create_batch(store, parsed, BulkOptions(notify=False), actor="test")
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_bulk(app, pilot)
        text = (
            "Ann Lee,ann@acme.org\n"
            "Bob Stone,bob@acme\n"
            "\n"
            "ann@acme.org\n"
            "Old Timer,OLD@acme.org\n"
            "Cy Young,cy@acme.org,a,b\n"
            "Di Ax\tdi@acme.org\n"
        )
        await paste(pilot, screen, text)
        await previewed(pilot, screen, 2)
        table = screen.query_one("#preview", BulkLinesTable)
        assert table.shown_lines == [2, 4, 5, 6]
        summary = plain(screen.query_one("#summary", Static))
        assert "2 ready" in summary and "1 already exist" in summary and "3 problems" in summary
        errors = {line.line: line.error for line in screen.preview.problems}  # type: ignore[union-attr]
        assert errors[2].startswith("invalid email")
        assert errors[4] == "missing name; duplicate of line 1 (ann@acme.org)"
        assert errors[5].startswith("already exists")
        assert errors[6].startswith("too many fields")
        assert "Add 2 users" in str(screen.query_one("#add").label)  # type: ignore[attr-defined]

        # The highlighted row's whole reason shows under the table (cut off at 80 columns).
        detail = screen.query_one("#detail", Static)
        assert plain(detail) == f"Line 2: {errors[2]}"
        table.focus()
        await pilot.press("down")
        assert plain(detail) == "Line 4: missing name; duplicate of line 1 (ann@acme.org)"

        # ctrl+n walks the text cursor through the problem lines, wrapping around.
        area = screen.lines_area
        area.move_cursor((0, 0))
        visited = []
        for _ in range(5):
            await pilot.press("ctrl+n")
            visited.append(area.cursor_location[0] + 1)
        assert visited == [2, 4, 5, 6, 2]

        # "Given on each line": the lines without a password become problems.
        screen.query_one("#mode").focus()
        await pilot.press("right", "right", "enter")
        assert screen.mode == "given"
        await previewed(pilot, screen, 0)
        assert "missing password" in screen.preview.lines[0].error  # type: ignore[union-attr]
        assert screen.query_one("#add").disabled

        # "One for all": the password is checked as it is typed.
        await pilot.press("left", "enter")
        assert str(screen.mode) == "same"
        await previewed(pilot, screen, 2)
        shared = screen.query_one("#shared", Input)
        shared.value = "short"
        await pilot.pause()
        assert "at least 8" in plain(screen.query_one("#shared-problem", Static))
        assert screen.query_one("#add").disabled
        shared.value = "a long shared secret"

        async def estimated() -> bool:  # the strength estimate answers from a thread
            await pilot.pause()
            return screen.shared_check.answer("a long shared secret") is not None

        await eventually(estimated)
        assert "accepted" in plain(screen.query_one("#shared-problem", Static))
        assert not screen.query_one("#add").disabled


async def test_ten_thousand_random_accounts_with_progress_and_live_keys(
    settings: Settings, tmp_path: Path
) -> None:
    bad = {17, 2_500, 5_001, 9_999}
    rows = []
    for i in range(1, 10_001):
        rows.append(f"Bad {i},broken@" if i in bad else f"First{i} Last{i},user{i}@acme.org")
    rows[2_499] = "=cmd Evil,evil@"  # a formula, neutralised in the saved report
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_bulk(app, pilot)
        await paste(pilot, screen, "\n".join(rows))
        await previewed(pilot, screen, 10_000 - len(bad))
        assert screen.query_one("#preview", BulkLinesTable).shown_lines == sorted(bad)

        await pilot.press("ctrl+s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, AskDialog)
        notes = " ".join(plain(s) for s in dialog.query(Static))
        assert "9,996 accounts will be created; 4 lines have problems and will be skipped" in notes

        # Another writer of this process (say, a signup on the embedded server) is in its
        # transaction: the import makes its credentials, then waits to write — without a
        # timeout, so the keys below run at leisure — and the app must keep answering meanwhile.
        assert app.store is not None
        async with app.store.write("audit"):
            await pilot.press("enter")

            async def writing() -> bool:
                await pilot.pause()
                return "Writing" in plain(screen.query_one("#progress-text", Static))

            await eventually(writing, timeout=20)
            bar = screen.query_one("#progress", ProgressBar)
            assert bar.display and bar.total == 9_996 and bar.progress == 9_996
            assert screen.importing
            await pilot.press("f10")
            assert app.current_mode == "audit"
            await pilot.press("f7")
            assert app.current_mode == "bulk"
            await pilot.press("question_mark")
            await pilot.pause()
            assert type(app.screen).__name__ == "HelpScreen"
            await pilot.press("escape")
            assert top(app) is screen
            # Too late to cancel once the write has begun: escape says so and changes nothing.
            await pilot.press("escape")
            assert not screen._cancel
            progress_now = plain(screen.query_one("#progress-text", Static))
            assert "too late to cancel" in progress_now and "Cancelling" not in progress_now
            assert users(settings.db) == 0
            assert screen.importing, "still waiting for the lock: the keys were answered meanwhile"

        async def finished() -> bool:
            """The result dialog is up and has filled its tables (in its on_mount, which can
            run a moment after the screen is pushed on a loaded machine)."""
            await pilot.pause()
            shown = app.screen
            tables = shown.query("#credentials").results(DataTable)
            return isinstance(shown, BulkResultDialog) and any(t.row_count for t in tables)

        await eventually(finished, timeout=30)
        result_dialog = app.screen
        assert isinstance(result_dialog, BulkResultDialog)
        result = result_dialog.result
        assert result.summary == "9,996 of 10,000 created"
        assert [line.line for line in result.skipped] == sorted(bad)
        assert users(settings.db) == 9_996

        # The one-time passwords are shown once (a window of them: the file holds all).
        credentials = result_dialog.query_one("#credentials", DataTable)
        assert credentials.row_count == LIMIT
        first = result.credentials[0]
        assert credentials.get_row_at(0)[1].plain == first.credential
        skipped_table = result_dialog.query_one("#skipped", BulkLinesTable)
        assert skipped_table.shown_lines == sorted(bad)
        skipped_table.focus()
        await pilot.press("down")
        reason = plain(result_dialog.query_one("#detail", Static))
        assert reason.startswith("Line 2500: invalid email"), reason

        # x: the skipped lines as a private CSV, with the formula neutralised.
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, PathDialog)
        report = tmp_path / "skipped.csv"
        app.screen.query_one("#path", Input).value = str(report)
        await pilot.press("enter")

        async def reported() -> bool:
            await pilot.pause()
            return report.exists() and app.screen is result_dialog

        await eventually(reported)
        assert stat.S_IMODE(report.stat().st_mode) == 0o600
        with report.open(newline="", encoding="utf-8") as handle:
            skipped_rows = list(csv.DictReader(handle))
        assert [row["line"] for row in skipped_rows] == [str(n) for n in sorted(bad)]
        assert skipped_rows[1]["input"] == "'=cmd Evil,evil@"
        assert all(row["problem"].startswith("invalid email") for row in skipped_rows)

        # Closing before the passwords are saved asks once (they cannot be shown again).
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AskDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert top(app) is result_dialog

        # w: save the one-time passwords to a private CSV.
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, PathDialog)
        target = tmp_path / "passwords.csv"
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")

        async def saved() -> bool:
            await pilot.pause()
            return result_dialog.passwords_saved_to == str(target)

        await eventually(saved)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        with target.open(newline="", encoding="utf-8") as handle:
            saved_rows = list(csv.DictReader(handle))
        assert len(saved_rows) == 9_996
        assert {row["email"] for row in saved_rows} == {c.email for c in result.created}
        # Every account can sign in with the password saved for it (sampled: each is a query).
        async with await Store.open(settings, watch=False) as store:
            for row in saved_rows[::1_000]:
                session = await sign_in(store, row["email"], row["one_time_password"], actor="t")
                assert session.user.must_change_password
        # Saved: closing no longer asks; the passwords are gone from the screen.
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BulkScreen)
        assert screen.last_result is not None
        assert len(screen.last_result.created) == 9_996
        assert screen.last_result.credentials == ()
        with sqlite3.connect(settings.db) as conn:
            outbox = conn.execute("SELECT recipient, kind FROM outbox").fetchall()
            assert len(outbox) == 9_996
            assert {kind for _, kind in outbox} == {"account_created"}
            assert len({recipient for recipient, _ in outbox}) == 9_996
            actions = [row[0] for row in conn.execute("SELECT action FROM audit")]
            assert actions.count("users_imported") == 1


async def test_escape_cancels_while_hashing_and_writes_nothing(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_bulk(app, pilot)
        assert app.store is not None
        # OWASP's cost, one hash at a time: 1,000 "given" passwords are half a minute of work,
        # far longer than the keys below take even on a busy machine.
        app.store.hasher = Hasher(max_in_flight=1)
        screen.query_one("#mode").focus()
        await pilot.press("right", "right", "enter")
        assert screen.mode == "given"
        await paste(pilot, screen, people(1_000, passwords=True))
        await previewed(pilot, screen, 1_000)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, AskDialog)
        await pilot.press("enter")

        async def hashing() -> bool:
            await pilot.pause()
            return screen.query_one("#progress", ProgressBar).progress >= 1

        await eventually(hashing, timeout=20)
        shown = plain(screen.query_one("#progress-text", Static))
        assert re.fullmatch(
            r"[\d,]+ / 1,000 · [\d,]+/s( · [\d,]+ s left)?   \(esc cancels: nothing is written\)",
            shown,
        ), shown

        # Escape is answered while passwords are being hashed (the loop is free).
        await pilot.press("escape")

        async def stopped() -> bool:
            await pilot.pause()
            return not screen.importing

        await eventually(stopped, timeout=20)
        assert "Cancelled: nothing was written" in plain(screen.query_one("#progress-text", Static))
        assert app.store.hasher.calls < 1_000
        assert screen.last_result is None
        assert users(settings.db) == 0
        with sqlite3.connect(settings.db) as conn:
            for table in ("outbox", "audit", "action_tokens"):
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table  # noqa: S608
        assert not screen.lines_area.read_only
        assert not screen.query_one("#add").disabled


async def test_open_a_csv_and_export_the_problems(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        "\ufeffFirst name,Last name,Email\nAnn,Lee,ann@acme.org\n=cmd,Evil,evil@\n", "utf-8"
    )
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_bulk(app, pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, PathDialog)
        app.screen.query_one("#path", Input).value = str(source)
        await pilot.press("enter")
        await previewed(pilot, screen, 1)
        assert screen.lines_area.text.startswith("First name,Last name,Email")
        assert screen.preview is not None and screen.preview.header_line == 1
        assert [line.line for line in screen.preview.problems] == [3]

        screen.query_one("#preview", BulkLinesTable).focus()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, PathDialog)
        report = tmp_path / "problems.csv"
        app.screen.query_one("#path", Input).value = str(report)
        await pilot.press("enter")

        async def written() -> bool:
            await pilot.pause()
            return report.exists()

        await eventually(written)
        assert stat.S_IMODE(report.stat().st_mode) == 0o600
        with report.open(newline="", encoding="utf-8") as handle:
            (row,) = list(csv.DictReader(handle))
        assert row["line"] == "3"
        assert row["input"] == "'=cmd,Evil,evil@"
        assert row["problem"].startswith("invalid email")


async def test_a_missing_file_is_refused_next_to_the_field(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_bulk(app, pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, PathDialog)
        dialog.query_one("#path", Input).value = "/nonexistent/people.csv"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog
        assert "no such file" in plain(dialog.query_one("#problem", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert top(app) is screen
        assert isinstance(screen.lines_area, TextArea)


async def test_typed_lines_preview_and_the_must_change_and_notify_toggles(
    settings: Settings,
) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_bulk(app, pilot)
        assert app.store is not None
        app.store.hasher = cheap_hasher()
        must_change = screen.query_one("#must-change", Checkbox)
        notify = screen.query_one("#notify", Checkbox)
        assert must_change.value and must_change.disabled, "random passwords are always changed"
        assert notify.value

        # "Given on each line": the admin may trust the given passwords.
        screen.query_one("#mode").focus()
        await pilot.press("right", "right", "enter")
        assert screen.mode == "given"
        assert not must_change.disabled
        must_change.focus()
        await pilot.press("space")
        assert not must_change.value
        notify.focus()
        await pilot.press("space")
        assert not notify.value

        level = screen.query_one("#level")
        level.focus()
        await pilot.press("right", "enter")
        assert screen.level == "viewer"

        # Typed, not pasted: the preview follows the keys.
        screen.lines_area.focus()
        await pilot.press(*"Al Li,al@x.io")
        await previewed(pilot, screen, 0)
        typed = screen.preview
        assert typed is not None and "missing password" in typed.lines[0].error
        await pilot.press(*",zq8vk2mw7r")
        await previewed(pilot, screen, 1)
        options = screen.options()
        assert (options.must_change_password, options.must_change, options.notify) == (
            False,
            False,
            False,
        )

        # Another mode forces the change; coming back restores the admin's choice.
        screen.query_one("#mode").focus()
        await pilot.press("left", "enter")
        assert str(screen.mode) == "same"
        assert must_change.value and must_change.disabled
        await pilot.press("right", "enter")
        assert str(screen.mode) == "given"
        assert not must_change.value and not must_change.disabled
        await previewed(pilot, screen, 1)

        await pilot.press("ctrl+s")
        await pilot.pause()
        dialog = top(app)
        assert isinstance(dialog, AskDialog)
        notes = " ".join(plain(s) for s in dialog.query(Static))
        assert "1 account will be created; 0 lines have problems" in notes
        assert "No one is emailed." in notes
        assert "must change" not in notes
        await pilot.press("enter")

        async def finished() -> bool:
            await pilot.pause()
            return isinstance(app.screen, BulkResultDialog)

        await eventually(finished, timeout=20)
        assert screen.last_result is not None
        assert screen.last_result.summary == "1 of 1 created"
        assert screen.last_result.credentials == ()
        with sqlite3.connect(settings.db) as conn:
            assert conn.execute(
                "SELECT email, level, must_change_password, password_hash LIKE '$argon2id$%' "
                "FROM users"
            ).fetchall() == [("al@x.io", "viewer", 0, 1)]
            assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM action_tokens").fetchone()[0] == 0
        # No passwords to save: escape closes at once, and the preview now says "exists".
        await pilot.press("escape")
        await pilot.pause()
        assert top(app) is screen

        async def marked() -> bool:
            await pilot.pause()
            return screen.preview is not None and screen.preview.lines[0].has("exists")

        await eventually(marked)
