"""Issue 16, Invite (F4): a paste the terminal did not bracket arrives as a burst of keys, and
its Tab is a column break, not a jump out of the box; after sending, the box keeps only what
still needs correcting, never an address just invited."""

from __future__ import annotations

from textual.widgets import TextArea

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from store import Settings

from .bursts import burst
from .helpers import eventually
from .test_console_bursts import rows_of

SIZE = (80, 24)


def box(app: UsherApp) -> TextArea:
    return app.screen.query_one("#paste", TextArea)


async def test_an_unbracketed_paste_keeps_its_tab(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await eventually(lambda: _focused_box(app))
        burst(app, "Frank O'Hara", "tab", "frank@bücher.de", "enter", "Ann Lee", "tab", "ann@x.org")
        await app.keys.settled.wait()

        async def pasted() -> bool:
            return box(app).text == "Frank O'Hara\tfrank@bücher.de\nAnn Lee\tann@x.org"

        await eventually(pasted)
        assert app.focused is box(app)
        await pilot.press("ctrl+s")

        async def asked() -> bool:
            return isinstance(app.screen, AskDialog)

        await eventually(asked)
        await pilot.press("enter")
        rows = await rows_of(app, "SELECT email, name FROM invitations ORDER BY email", 2)
        assert rows == [("ann@x.org", "Ann Lee"), ("frank@bücher.de", "Frank O'Hara")]


async def test_a_tab_typed_alone_still_moves_on(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await eventually(lambda: _focused_box(app))
        await pilot.press(*"ann@x.org")
        await app.keys.settled.wait()
        await pilot.press("tab")
        await app.keys.settled.wait()

        async def moved() -> bool:
            return app.focused is not box(app)

        await eventually(moved)
        assert box(app).text == "ann@x.org"


async def test_after_sending_the_box_keeps_no_address_just_invited(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await eventually(lambda: _focused_box(app))
        box(app).load_text("ann@example.org, bob@\nbea@example.org")
        await pilot.press("ctrl+s")

        async def asked() -> bool:
            return isinstance(app.screen, AskDialog)

        await eventually(asked)
        await pilot.press("enter")
        await rows_of(app, "SELECT email FROM invitations", 2)

        async def left() -> bool:
            return box(app).text == "bob@"

        await eventually(left)


async def _focused_box(app: UsherApp) -> bool:
    return bool(app.screen.query("#paste")) and app.focused is box(app)
