"""Links (F3): every invite link with its state, kept current by the change feed. Create, copy,
show as a QR code, edit, regenerate and revoke, and see who joined through each."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from store.accounts.audit import console_actor
from store.database.changes import EXTERNAL
from store.domain.clock import lifetime_words
from store.domain.refusal import Refused
from store.onboarding.links import (
    Link,
    LinkDraft,
    create_link,
    edit_link,
    get_link,
    link_members,
    list_links,
    regenerate_link,
    revoke_link,
)
from store.onboarding.signup import UNCONFIRMED_VALID

from ..dialogs.ask import AskDialog, unless_admin_refused
from ..dialogs.copied import copy_and_tell
from ..dialogs.link_details import LinkDetailsScreen
from ..dialogs.link_form import LinkFormDialog
from ..dialogs.qr import QrScreen
from ..widgets.language_select import language_cell
from ..widgets.live_table import OpenTable
from .base import UsherScreen

COLUMNS = [
    ("Label", "label"),
    ("Level", "level"),
    ("Lang", "language"),
    ("Join mode", "mode"),
    ("Uses", "uses"),
    ("Expires", "expires"),
    ("State", "state"),
]
STATE_STYLE = {"active": "green", "expired": "yellow", "used up": "yellow", "revoked": "red"}
TOPICS = {"invite_links", "users", EXTERNAL}
TICK_SECONDS = 30.0
EMPTY_HINT = "No invite links yet. Press n to create one."


def link_cells(link: Link) -> dict[str, Text]:
    """One row's cells by column key; the label is user text, so it is plain `Text`."""
    state = link.state()
    return {
        "label": Text(link.label or f"Link #{link.id}", style="" if link.label else "dim"),
        "level": Text(link.level),
        "language": language_cell(link.language),
        "mode": Text(link.join_mode),
        "uses": Text(link.uses_text),
        "expires": Text("—" if state == "revoked" else link.expires_text()),
        "state": Text(state, style=STATE_STYLE.get(state, "")),
    }


class LinksScreen(UsherScreen):
    ROW_DETAIL = True
    TITLE = "Links"
    HELP: ClassVar[str] = (
        "Invite links: anyone with a link can create an account at the link's level.\n\n"
        "n  new link          enter  open: URL and who joined\n"
        "c  copy the URL      q      show the QR code full screen\n"
        "e  edit              g      regenerate (new URL; the old one stops at once)\n"
        "r  revoke (asks once)\n\n"
        "Uses count accounts made through the link; an unconfirmed account that is not "
        f"confirmed within {lifetime_words(UNCONFIRMED_VALID)} gives its use back. The table "
        "updates by itself. "
        "On this screen q shows the QR code: quit with ctrl+q."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New"),
        Binding("enter", "open", "Open"),
        Binding("c", "copy", "Copy"),
        Binding("q", "qr", "QR"),
        Binding("e", "edit", "Edit"),
        Binding("g", "regenerate", "Regenerate"),
        Binding("r", "revoke", "Revoke"),
    ]
    CSS_PATH = "links.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[int, Link] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(EMPTY_HINT, id="empty", markup=False)
        yield OpenTable(id="links", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for title, key in COLUMNS:
            table.add_column(title, key=key)
        self.follow_changes(TOPICS, self.reload, "links-feed")
        self.set_interval(TICK_SECONDS, self._tick)

    # ---------------------------------------------------------------- live table

    def _tick(self) -> None:
        self.run_latest(self.reload, "links-tick")

    async def reload(self) -> None:
        """Bring the table in line with the database, row by row (the cursor stays put)."""
        store = self.usher.store
        if store is None:
            return
        fresh = {link.id: link for link in await list_links(store)}
        table = self.query_one(DataTable)
        for gone in [link_id for link_id in self.links if link_id not in fresh]:
            table.remove_row(str(gone))
        for link_id in sorted(fresh):
            cells = link_cells(fresh[link_id])
            if link_id in self.links:
                old = link_cells(self.links[link_id])
                for key, cell in cells.items():
                    if cell != old[key]:
                        table.update_cell(str(link_id), key, cell, update_width=True)
            else:
                table.add_row(*(cells[key] for _, key in COLUMNS), key=str(link_id))
        self.links = fresh
        self.query_one("#empty").display = not fresh

    def selected(self) -> Link | None:
        table = self.query_one(DataTable)
        if not self.links or table.row_count == 0:
            self.notify("No link selected: press n to create one.", severity="warning")
            return None
        row_key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
        return self.links.get(int(str(row_key.value)))

    def select_link(self, link_id: int) -> None:
        table = self.query_one(DataTable)
        with contextlib.suppress(Exception):  # the row may already be gone again
            table.move_cursor(row=table.get_row_index(str(link_id)))

    # ---------------------------------------------------------------- actions

    def _run(self, work: Callable[[], Awaitable[Link]], done: Callable[[Link], None]) -> None:
        """Run a store operation in a worker; refusals become notifications."""

        async def runner() -> None:
            try:
                link = await work()
            except Refused as error:
                self.show_refusal(error, title="Not done")
                return
            await self.reload()
            done(link)

        self.run_write(runner(), group="links-action")

    def action_new(self) -> None:
        smtp = self.usher.settings.smtp_configured
        self.app.push_screen(
            LinkFormDialog(smtp_configured=smtp, configured_language=self.usher.settings.language),
            self._create,
        )

    def _create(self, draft: LinkDraft | None) -> None:
        store = self.usher.store
        if draft is None or store is None:
            return

        def created(link: Link) -> None:
            self.select_link(link.id)
            self.notify(
                f"{link.url(self.usher.settings)}\nc copies it, q shows its QR code.",
                title="Link created",
                markup=False,
            )

        unless_admin_refused(
            self.app,
            draft.level,
            "everyone who joins by this link",
            "Each of them will be able to do everything.",
            lambda: self._run(lambda: create_link(store, draft, actor=console_actor()), created),
        )

    def action_open(self) -> None:
        link = self.selected()
        store = self.usher.store
        if link is None or store is None:
            return

        async def show() -> None:
            members = await link_members(store, link.id)
            current = await get_link(store, link.id) or link
            url = current.url(self.usher.settings)
            await self.app.push_screen(LinkDetailsScreen(current, url, members))

        self.run_worker(show(), group="links-open")

    @on(DataTable.RowSelected)
    def _row_chosen(self) -> None:
        self.action_open()

    def action_copy(self) -> None:
        link = self.selected()
        if link is None:
            return
        url = link.url(self.usher.settings)
        note = "" if link.is_usable() else f"Note: this link is {link.state()}."
        copy_and_tell(self.app, url, "link", note=note)

    def action_qr(self) -> None:
        link = self.selected()
        if link is not None:
            url = link.url(self.usher.settings)
            self.app.push_screen(QrScreen(url, link.label or f"Link #{link.id}"))

    def action_edit(self) -> None:
        link = self.selected()
        if link is None:
            return
        smtp = self.usher.settings.smtp_configured

        def save(draft: LinkDraft | None) -> None:
            store = self.usher.store
            if draft is None or store is None:
                return
            self._run(
                lambda: edit_link(store, link.id, draft, actor=console_actor()),
                lambda _: self.notify("Link saved.", title="Saved"),
            )

        self.app.push_screen(
            LinkFormDialog(
                smtp_configured=smtp, link=link, configured_language=self.usher.settings.language
            ),
            save,
        )

    def action_regenerate(self) -> None:
        link = self.selected()
        if link is None:
            return
        name = link.label or f"link #{link.id}"

        def answer(yes: bool | None) -> None:
            store = self.usher.store
            if not yes or store is None:
                return
            self._run(
                lambda: regenerate_link(store, link.id, actor=console_actor()),
                lambda fresh: self.notify(
                    f"New URL: {fresh.url(self.usher.settings)}\nThe old URL no longer works.",
                    title="Regenerated",
                    markup=False,
                ),
            )

        self.app.push_screen(
            AskDialog(
                "Regenerate link",
                f"Give {name!r} a new URL? The current URL stops working at once; "
                "accounts already made stay.",
                "Regenerate",
                destructive=True,
            ),
            answer,
        )

    def action_revoke(self) -> None:
        link = self.selected()
        if link is None:
            return
        if link.revoked_at is not None:
            self.notify("This link is already revoked.", severity="warning")
            return
        name = link.label or f"link #{link.id}"

        def answer(yes: bool | None) -> None:
            store = self.usher.store
            if not yes or store is None:
                return
            self._run(
                lambda: revoke_link(store, link.id, actor=console_actor()),
                lambda _: self.notify(f"{name} no longer works.", title="Revoked", markup=False),
            )

        self.app.push_screen(
            AskDialog(
                "Revoke link",
                f"Revoke {name!r}? Nobody can join through it any more; "
                "accounts already made stay.",
                "Revoke",
                destructive=True,
            ),
            answer,
        )
