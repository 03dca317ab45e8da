"""A link limited to domains proves nothing without confirmation (issue 15): anyone holding
`links create --domains acme.org --no-confirm` becomes `ceo@acme.org`. Refused unless the admin
consents explicitly (CLI flag, console asks once), and such addresses are marked wherever an
admin decides (Approvals, the person's details, `usher users list --json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from rich.text import Text
from textual.widgets import Checkbox, DataTable, Input, Static

from console.app import UsherApp
from console.dialogs.link_form import LinkFormDialog
from console.dialogs.user_detail import details_text
from console.screens.approvals import UNCONFIRMED_MARK, ApprovalsScreen
from console.screens.links import LinksScreen
from store import Settings, Store
from store.accounts.users import get_user
from store.onboarding.links import LinkDraft, LinkError, create_link, list_links
from store.onboarding.signup import sign_up_by_link

from .helpers import cheap_hasher, eventually, form, run_usher

UNPROVEN = msgspec.structs.replace(
    LinkDraft(), domains=("acme.org",), confirm_email=False, auto_accept=False
)


async def test_domains_without_confirmation_need_explicit_consent(settings: Settings) -> None:
    async with await Store.open(settings, hasher=cheap_hasher()) as store:
        with pytest.raises(LinkError, match="allow-unconfirmed-domains"):
            await create_link(store, UNPROVEN, actor="admin")
        consented = msgspec.structs.replace(UNPROVEN, allow_unconfirmed_domains=True)
        link = await create_link(store, consented, actor="admin")
        assert link.domains == ("acme.org",) and not link.confirm_email


def test_the_cli_refuses_it_unless_allowed(tmp_path: Path) -> None:
    db = str(tmp_path / "u.db")
    base = ("links", "create", "--db", db, "--level", "member", "--domains", "acme.org")
    refused = run_usher(*base, "--no-confirm")
    assert refused.returncode == 2
    assert "--allow-unconfirmed-domains" in refused.stderr
    assert refused.stdout == ""
    allowed = run_usher(*base, "--no-confirm", "--allow-unconfirmed-domains")
    assert allowed.returncode == 0, allowed.stderr
    assert "proves nothing" in allowed.stderr
    assert "/join/" in allowed.stdout
    assert run_usher(*base).returncode == 0  # with confirmation: no consent needed


def plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


async def test_the_console_link_form_asks_once_with_a_warning(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, LinksScreen)
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, LinkFormDialog)
        dialog.query_one("#confirm", Checkbox).value = False
        dialog.query_one("#domains", Input).value = "acme.org"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog
        assert "proves nothing" in plain(dialog.query_one("#error", Static).render())
        await pilot.press("ctrl+s")
        assert app.store is not None
        store = app.store

        async def made() -> bool:
            await pilot.pause()
            return len(await list_links(store)) == 1

        await eventually(made)
        [link] = await list_links(store)
        assert link.domains == ("acme.org",) and not link.confirm_email


async def test_unproven_addresses_are_marked_where_admins_decide(settings: Settings) -> None:
    async with await Store.open(settings, hasher=cheap_hasher()) as store:
        unproven = await create_link(
            store, msgspec.structs.replace(UNPROVEN, allow_unconfirmed_domains=True), actor="a"
        )
        outcome = await sign_up_by_link(store, unproven.token, form("ceo@acme.org"), actor="w")
        assert outcome.user_id is not None
        user = await get_user(store.engine, outcome.user_id)
        assert user is not None
        assert "address not confirmed" in details_text(user).plain
    listed = run_usher("users", "list", "--db", settings.db, "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["email"] == "ceo@acme.org" and row["address_confirmed"] is False

    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f2")

        async def shown() -> bool:
            await pilot.pause()
            screen: Any = app.screen
            return isinstance(screen, ApprovalsScreen) and screen.table.row_count == 1

        await eventually(shown)
        table: DataTable[Any] = app.screen.query_one("#pending", DataTable)
        row = [plain(cell) for cell in table.get_row_at(0)]
        assert row[2:4] == [UNCONFIRMED_MARK, "ceo@acme.org"]
