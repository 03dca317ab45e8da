"""Issue 16: a copy never claims "Copied" (OSC 52 may do nothing): the first time it says what
a copy needs and offers the text to select; a dialog that already shows the text says so."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.widgets import Static

from console.app import UsherApp
from console.dialogs.copied import CopiedDialog
from console.dialogs.credential import CredentialDialog
from console.screens.links import LinksScreen
from store import Settings

from .helpers import eventually, make_link


def messages(app: UsherApp) -> list[str]:
    return [f"{n.title} {n.message}" for n in app._notifications]


async def test_links_copy_says_sent_and_offers_the_link(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.store is not None
        link = await make_link(app.store, label="Spring")
        url = link.url(app.settings)
        await pilot.press("f3")

        async def listed() -> bool:
            return isinstance(app.screen, LinksScreen) and app.screen.selected() is not None

        await eventually(listed)
        await pilot.press("c")

        async def offered() -> bool:
            return isinstance(app.screen, CopiedDialog)

        await eventually(offered)
        dialog = app.screen
        assert str(dialog.query_one("#text", Static).render()) == url  # one line, whole
        assert "needs OSC 52" in str(dialog.query(Static).first().render())
        assert app.clipboard == url
        await pilot.press("escape")
        await eventually(listed)
        await pilot.press("c")

        async def told() -> bool:
            return any(f"Copy sent to your terminal: {url}" in m for m in messages(app))

        await eventually(told)
        assert isinstance(app.screen, LinksScreen)  # explained once, not every time
        assert not any("Copied" in m for m in messages(app))


async def test_credential_copy_points_at_the_password_shown(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(
            CredentialDialog(
                email="cy@example.org",
                name="Cy",
                credential="C5Z2Y-5ZL3A-FJFKY-7NLEZ-TFFSCV",
                expires_at=datetime(2026, 12, 11, tzinfo=UTC),
            )
        )
        await pilot.press("c")

        async def told() -> bool:
            return any("needs OSC 52" in m and "password shown here" in m for m in messages(app))

        await eventually(told)
        assert isinstance(app.screen, CredentialDialog)
        assert app.clipboard == "C5Z2Y-5ZL3A-FJFKY-7NLEZ-TFFSCV"
        assert not any("Copied" in m for m in messages(app))
