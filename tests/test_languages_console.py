"""The console sets and shows languages (issue 22), under `App.run_test()` on a real database:
the language Select of the link form, Invite, Add user and Bulk store what the admin chose
(picked with the keyboard), and the Links, Invitations, Users and Approvals tables, the link's
details and the user's detail show it. The console itself stays English."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from console.dialogs.link_details import LinkDetailsScreen
from console.dialogs.link_form import LinkFormDialog
from console.dialogs.user_detail import UserDetailDialog
from console.screens.links import LinksScreen
from console.widgets.language_select import LanguageSelect
from store import Settings, Store
from store.accounts.users import UserQuery, list_users
from store.onboarding.invitations import list_invitations
from store.onboarding.links import list_links
from store.onboarding.signup import sign_up_by_link

from .helpers import cheap_hasher, eventually, form, make_link

ORDER = ["", "en", "fr", "de", "es", "ar"]
"""The Select's options: the default first, then the shipped languages."""


async def choose(pilot: Pilot[int], code: str) -> None:
    """Pick `code` in the screen's language Select with the keyboard, as an admin would."""
    select = pilot.app.screen.query_one("#language", LanguageSelect)
    select.focus()
    await pilot.pause()
    steps = ORDER.index(code) - ORDER.index(str(select.value))
    await pilot.press("enter", *(["down" if steps > 0 else "up"] * abs(steps)), "enter")

    async def chosen() -> bool:
        await pilot.pause()
        return (select.language or "") == code

    await eventually(chosen)


def column(table: DataTable[object], key: str) -> list[str]:
    index = table.get_column_index(key)
    cells = [table.get_cell_at(Coordinate(row, index)) for row in range(table.row_count)]
    return [cell.plain if isinstance(cell, Text) else str(cell) for cell in cells]


def shown(widget: Static) -> str:
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


async def until(pilot: Pilot[int], check: Callable[[], object]) -> None:
    async def met() -> bool:
        await pilot.pause()
        return bool(check())

    await eventually(met, timeout=15)


async def test_a_link_made_in_the_form_keeps_its_language_and_the_table_shows_it(
    settings: Settings,
) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, LinkFormDialog))
        assert app.screen.query_one("#language", LanguageSelect).language is None
        app.screen.query_one("#label", Input).value = "Munich"
        await choose(pilot, "de")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, LinksScreen))
        assert app.store is not None
        [link] = await list_links(app.store)
        assert link.language == "de"
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert column(table, "language") == ["de"]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LinkDetailsScreen))
        assert "Language       German (de)" in shown(app.screen.query_one("#facts", Static))
        await pilot.press("escape")
        await pilot.press("e")  # editing starts from the link's language and can clear it
        await until(pilot, lambda: isinstance(app.screen, LinkFormDialog))
        assert app.screen.query_one("#language", LanguageSelect).language == "de"
        await choose(pilot, "")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, LinksScreen))
        [link] = await list_links(app.store)
        assert link.language is None
        await until(pilot, lambda: column(table, "language") == ["—"])


async def test_invite_sends_the_batch_in_its_language_and_invitations_show_it(
    settings: Settings,
) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        app.screen.query_one("#paste", TextArea).focus()
        await pilot.pause()
        app.post_message(events.Paste("ann@x.org, bo@x.org"))
        summary = app.screen.query_one("#summary", Static)
        await until(pilot, lambda: "Will invite 2" in shown(summary))
        await choose(pilot, "fr")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, AskDialog))
        body = shown(app.screen.query_one(".body", Static))
        assert "Their email and pages are in French (fr)." in body
        await pilot.press("enter")
        assert app.store is not None
        store = app.store

        async def sent() -> bool:
            await pilot.pause()
            return len(await list_invitations(store)) == 2

        await eventually(sent)
        assert {i.language for i in await list_invitations(store)} == {"fr"}
        await pilot.press("f5")
        table = app.screen.query_one("#invitations", DataTable)
        await until(pilot, lambda: table.row_count == 2)
        assert column(table, "language") == ["fr", "fr"]


async def test_add_user_and_bulk_store_the_language_users_show_it(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        screen = app.screen
        screen.query_one("#first", Input).value = "Ana"
        screen.query_one("#email", Input).value = "ana@x.org"
        await choose(pilot, "es")
        await pilot.press("ctrl+s")
        assert app.store is not None
        store = app.store

        async def added(count: int) -> bool:
            await pilot.pause()
            return len(await list_users(store.engine, UserQuery())) == count

        await eventually(lambda: added(1))
        [ana] = await list_users(store.engine, UserQuery())
        assert ana.language == "es"
        assert (
            screen.query_one("#language", LanguageSelect).language is None
        )  # the next starts afresh

        await pilot.press("f7")
        app.screen.query_one("#lines", TextArea).focus()
        await pilot.pause()
        app.post_message(events.Paste("Jan Berg,jan@x.org\nUte Kahl,ute@x.org"))
        await until(pilot, lambda: "Ute Kahl" in app.screen.query_one("#lines", TextArea).text)
        await choose(pilot, "de")
        await until(pilot, lambda: "2" in shown(app.screen.query_one("#summary", Static)))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, AskDialog))
        await pilot.press("enter")
        await eventually(lambda: added(3), timeout=15)
        languages = {u.email: u.language for u in await list_users(store.engine, UserQuery())}
        assert languages == {"ana@x.org": "es", "jan@x.org": "de", "ute@x.org": "de"}

        await pilot.press("f8")
        table = app.screen.query_one("#users", DataTable)
        await until(pilot, lambda: table.row_count == 3)
        assert sorted(column(table, "language")) == ["de", "de", "es"]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, UserDetailDialog))
        details = app.screen.query_one("#details", Static)
        await until(pilot, lambda: "Language " in shown(details))
        assert any(
            f"Language {words}" in shown(details) for words in ("German (de)", "Spanish (es)")
        )


async def test_approvals_show_the_language_a_signup_was_read_in(settings: Settings) -> None:
    async with await Store.open(settings, hasher=cheap_hasher()) as other:
        link = await make_link(other, auto_accept=False, confirm_email=False)
        await sign_up_by_link(other, link.token, form("lea@x.org"), actor="web", language="fr")
        await sign_up_by_link(other, link.token, form("old@x.org"), actor="web")
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 2)
        assert column(table, "language") == ["fr", "—"]  # oldest first
