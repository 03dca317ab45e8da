"""Nothing important cut off at 80x24: the header's screen list on one line, one-time
passwords and addresses shown whole, the highlighted row readable in full."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static, TextArea

from console.app import UsherApp
from console.dialogs.bulk_result import BulkResultDialog
from console.dialogs.path import PathDialog
from console.screens.bulk import BulkScreen
from console.screens.help import HelpScreen
from store import Settings, load_settings
from store.domain.csv_safe import export_folder
from store.onboarding.bulk import BulkResult, CreatedAccount, IssuedCredential

from .bursts import burst
from .fixtures_screens import LONG, populate
from .fixtures_users import add_link, add_user
from .helpers import eventually
from .screen_text import screen_lines

SIZE = (80, 24)
LONG_EMAIL = "maximiliane.oberhauser-whitfield@research.example.org"
LONG_NAME = ("Maximiliane", "Oberhauser-Whitfield")
CREDENTIAL = "C5Z2Y-5ZL3A-FJFKY-7NLEZ-TFFSCV"


def org_settings(settings: Settings) -> Settings:
    return load_settings(
        {"db": settings.db, "port": 0, "org": "Acme Research Laboratories"}, environ={}
    )


async def test_header_screen_list_fits_one_line_at_80_columns(settings: Settings) -> None:
    app = UsherApp(org_settings(settings), no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.store is not None
        link = await add_link(app.store)
        for n in range(12):
            await add_user(app.store, f"person{n}@example.org", link_id=link)

        async def counted() -> bool:
            await pilot.pause()
            return app.counts is not None and app.counts.pending == 12

        await eventually(counted)
        for key, name in (("f1", "Home"), ("f5", "Invitations"), ("f12", "Log")):
            await pilot.press(key)
            await pilot.pause()
            lines = screen_lines(app)
            nav, status = lines[0], lines[1]
            assert "F1" in nav and "F12" in nav and f"{key.upper()} {name}" in nav, lines[:3]
            assert "F2 12" in nav or "F2 Appr 12" in nav or "F2 Approvals 12" in nav, nav
            assert "●" in status, "the second line is the server's state, not more screens"


def result_with_long_rows() -> BulkResult:
    expires = datetime.now(UTC) + timedelta(days=7)
    credentials = tuple(
        IssuedCredential(
            line=n + 1,
            email=f"{n}.{LONG_EMAIL}",
            first_name=LONG_NAME[0],
            last_name=LONG_NAME[1],
            credential=f"{CREDENTIAL[:-2]}{n:02d}",
            expires_at=expires,
        )
        for n in range(12)
    )
    created = tuple(
        CreatedAccount(line=c.line, user_id=c.line, email=c.email, first_name="M", last_name="O")
        for c in credentials
    )
    return BulkResult(
        batch_id="b1",
        level="member",
        passwords="random",
        total=12,
        created=created,
        skipped=(),
        credentials=credentials,
    )


async def test_bulk_one_time_passwords_are_shown_whole_at_80x24(settings: Settings) -> None:
    """They were cut to `C5Z2Y-5ZL3A-FJFKY` behind long addresses and names."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        result = result_with_long_rows()
        await app.push_screen(BulkResultDialog(result, smtp=False))
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        shown = [c.credential for c in result.credentials if c.credential in text]
        assert len(shown) >= 5, text
        assert result.credentials[0].credential in text
        # The highlighted row's address, whole, under the table.
        assert f"Line 1: {result.credentials[0].email}" in text, text
        await pilot.press("down")
        await pilot.pause()
        assert f"Line 2: {result.credentials[1].email}" in "\n".join(screen_lines(app))


async def test_help_from_every_screen_even_in_a_text_box(settings: Settings) -> None:
    """`?` on F4 and F7 typed a "?" into the box (focus starts there): F11 is help everywhere."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        for destination in app.destinations:
            await pilot.press(destination.key)
            await pilot.pause()
            await pilot.press("f11")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen), destination.label
            await pilot.press("f11")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f7")
        await pilot.pause()
        assert isinstance(app.focused, TextArea)
        await pilot.press("question_mark")
        assert app.focused.text == "?"  # typed, as it should be in a text box


async def test_palette_offers_every_action_of_the_current_screen(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"New", "Copy", "QR", "Edit", "Regenerate", "Revoke", "Help"} <= titles, titles
        assert "Go to Approvals" in titles
        await pilot.press("f2")
        await pilot.pause()
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Approve", "Reject…", "Select all", "Level…", "Filter"} <= titles, titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        burst(app, "Select all")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "ApprovalsScreen"


async def test_every_screen_at_80x24_with_realistic_data(settings: Settings) -> None:
    """Long names and addresses, two-digit counts: on every screen the header is one line,
    the footer's last key is whole, and the highlighted row can be read in full."""
    app = UsherApp(org_settings(settings), no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.store is not None
        await populate(app.store)
        whole = {
            "f2": ["Maximiliane2 Oberhauser-Whitfield", f"2.{LONG}", "Spring cohort of research"],
            "f3": ["Spring cohort of research associates"],
            "f5": [f"guest10.{LONG}", "Expires: 20"],
            "f8": [f"13.{LONG}", "Via: Spring cohort of research associates"],
            "f9": [f"guest10.{LONG}", "Created: "],
            "f10": ["Subject: 11 people as member"],
        }
        for destination in app.destinations:
            await pilot.press(destination.key)

            async def drawn(key: str = destination.key) -> bool:
                await pilot.pause()
                tables = app.screen.query(DataTable)
                return key not in whole or tables.first().row_count > 0

            await eventually(drawn)
            await pilot.pause()
            lines = screen_lines(app)
            assert "F12" in lines[0] and "●" in lines[1], lines[:2]
            footer = lines[-1].rstrip()
            assert not footer.endswith(("…", " q Q", " q")), footer
            text = " ".join(line.strip() for line in lines)
            for value in whole.get(destination.key, []):
                assert value in text, (destination.label, value, lines)


async def test_bulk_box_is_tall_clears_and_drops_the_last_imports_count(
    settings: Settings,
) -> None:
    """The box showed 4 lines at 80x24, had no clear key (Invite has ctrl+l), and "4 of 7
    created" stayed beside the next list."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f7")
        await pilot.pause()
        screen = app.screen
        box = screen.query_one("#lines", TextArea)
        assert box.content_region.height >= 6, box.content_region
        status = screen.query_one("#progress-text", Static)
        status.update("4 of 7 created")  # what the last import left there
        burst(app, "Ann Lee,ann@example.org")

        async def typed() -> bool:
            await pilot.pause()
            return box.text == "Ann Lee,ann@example.org"

        await eventually(typed)
        assert "created" not in str(status.render())
        await pilot.press("ctrl+l")
        assert box.text == ""
        assert "ctrl+l" in str(BulkScreen.HELP)


async def test_exports_default_to_a_private_folder_not_the_working_directory(
    settings: Settings, private_data_home: Path
) -> None:
    """An untracked users CSV appeared in the checkout: exports went to the working dir."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f8")
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, PathDialog)
        default = Path(app.screen.query_one("#path", Input).value)
        folder = private_data_home / "usher" / "exports"
        assert default.parent == folder
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        await pilot.press("enter")

        async def written() -> bool:
            await pilot.pause()
            return default.exists()

        await eventually(written)
        assert stat.S_IMODE(default.stat().st_mode) == 0o600


def test_export_folder_without_xdg_is_under_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = export_folder({})
    assert folder == tmp_path / ".local" / "share" / "usher" / "exports"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
