"""Invitations (F5): every emailed invitation with its status, kept current by the change feed
(an acceptance on the web shows up here at once). Filter by status, search, and act on the
selected one: `s` resend, `r` revoke, `c` copy a fresh link."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, RadioButton, RadioSet, Static

from store.accounts.audit import console_actor
from store.database.changes import EXTERNAL
from store.domain.clock import lifetime_words
from store.domain.refusal import Refused
from store.onboarding.invitations import (
    INVITATION_VALID,
    STATUSES,
    Invitation,
    InvitationStatus,
    fresh_invitation_link,
    invitation_counts,
    list_invitations,
    resend_invitation,
    revoke_invitation,
)

from ..dialogs.ask import AskDialog
from ..dialogs.copied import copy_and_tell
from ..widgets.language_select import language_cell
from ..widgets.live_table import clip, room
from ..widgets.text_boxes import SafeInput
from ..widgets.toggles import Choice
from .base import UsherScreen

PAGE = 1000
"""Rows shown at most; search narrows a longer list."""
REFRESH_SECONDS = 60
"""Invitations expire by the clock, not by a commit: look again this often."""
TOPICS = frozenset({"invitations", EXTERNAL})

_STATUS_STYLES = {
    "pending": "yellow",
    "accepted": "green",
    "expired": "dim",
    "revoked": "dim",
    "bounced": "bold red",
}
_FILTERS: tuple[InvitationStatus | None, ...] = (None, *STATUSES)


def _when(invitation: Invitation) -> str:
    return invitation.last_sent.astimezone().strftime("%Y-%m-%d")


def invitation_cells(invitation: Invitation, spare: int = 0) -> tuple[Text, ...]:
    if invitation.status == "accepted" and invitation.accepted_at is not None:
        expires = "accepted " + invitation.accepted_at.astimezone().strftime("%Y-%m-%d")
    elif invitation.status in ("revoked", "bounced"):
        expires = "—"
    else:
        expires = invitation.expires_at.astimezone().strftime("%Y-%m-%d")
    return (
        Text(_when(invitation)),
        clip(invitation.email, room(24, spare, 0.4)),  # 6 cells went to Lang
        clip(invitation.name, room(16, spare, 0.3)),
        Text(invitation.level),
        language_cell(invitation.language),
        Text(invitation.status, style=_STATUS_STYLES.get(invitation.status, "")),
        Text(expires, style="dim"),
    )


class InvitationsScreen(UsherScreen):
    ROW_DETAIL = True
    TITLE = "Invitations"
    HELP: ClassVar[str] = (
        "Every invitation sent by email, newest first, updated as people accept. Choose a status "
        "above the table (f cycles it) and / searches addresses and names. On the selected "
        "invitation: s resends it (a new email with a new link and a fresh 14-day expiry; the "
        "old link stops working), r revokes it (its link stops working), c copies a fresh link "
        "to pass on yourself (only a fingerprint of each link is stored, so this makes a new "
        "one and the emailed link stops working; it asks first). Bounced means our mail server "
        "refused the address."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "resend", "Resend"),
        Binding("r", "revoke", "Revoke"),
        Binding("c", "copy_link", "Copy link"),
        Binding("f", "next_filter", "Status"),
        Binding("slash", "search", "Search", key_display="/", priority=True),
        Binding("escape", "clear_search", "Clear", show=False),
    ]
    CSS_PATH = "invitations.tcss"

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, tuple[str, ...]] = {}
        self._invitations: dict[str, Invitation] = {}

    def compose_body(self) -> ComposeResult:
        with RadioSet(id="status-filter", compact=True):
            for status in _FILTERS:
                yield Choice(
                    (status or "all").capitalize(),
                    value=status is None,
                    id=f"filter-{status or 'all'}",
                    compact=True,
                )
        yield SafeInput(placeholder="Search address or name", id="search", compact=True)
        yield DataTable(id="invitations", cursor_type="row", zebra_stripes=True)
        yield Static("", id="note")

    def on_mount(self) -> None:
        table = self.query_one("#invitations", DataTable)
        for key, label in (
            ("sent", "Sent"),
            ("email", "Email"),
            ("name", "Name"),
            ("level", "Level"),
            ("language", "Lang"),
            ("status", "Status"),
            ("expires", "Expires"),
        ):
            table.add_column(label, key=key)
        table.focus()
        self.follow_changes(TOPICS, self._load, "feed")
        self.set_interval(REFRESH_SECONDS, self.reload)

    # ------------------------------------------------------------------ loading

    @property
    def status_filter(self) -> InvitationStatus | None:
        pressed = self.query_one("#status-filter", RadioSet).pressed_index
        return _FILTERS[pressed] if 0 <= pressed < len(_FILTERS) else None

    def reload(self) -> None:
        self.run_latest(self._load, "load", exit_on_error=False)

    async def _load(self) -> None:
        store = self.usher.store
        if store is None:
            return
        search = self.query_one("#search", Input).value
        invitations = await list_invitations(
            store, status=self.status_filter, search=search, limit=PAGE
        )
        counts = await invitation_counts(store)
        self._apply(invitations)
        for status in _FILTERS:
            number = sum(counts.values()) if status is None else counts[status]
            button = self.query_one(f"#filter-{status or 'all'}", RadioButton)
            button.label = f"{(status or 'all').capitalize()} {number:,}"
        total = sum(counts.values()) if self.status_filter is None else counts[self.status_filter]
        note = ""
        if not total and not search:
            note = "No invitations yet: F4 Invite pastes a list and sends them."
        elif len(invitations) >= PAGE:
            note = f"Showing the newest {PAGE:,}; / searches the rest."
        self.query_one("#note", Static).update(Text(note))

    def _apply(self, invitations: list[Invitation]) -> None:
        """Diff the table against the new list: update changed cells, drop rows that left, add
        new ones, and keep the cursor on the same invitation."""
        table = self.query_one("#invitations", DataTable)
        selected = self.selected_key()
        wanted = {str(invitation.id): invitation for invitation in invitations}
        for key in [k for k in self._shown if k not in wanted]:
            table.remove_row(key)
            del self._shown[key]
            self._invitations.pop(key, None)
        columns = ("sent", "email", "name", "level", "language", "status", "expires")
        added = False
        for key, invitation in wanted.items():
            cells = invitation_cells(invitation, self.app.size.width - 80)
            plain = tuple(cell.plain for cell in cells)
            self._invitations[key] = invitation
            if key not in self._shown:
                table.add_row(*cells, key=key)
                added = True
            elif self._shown[key] != plain:
                for column, old, cell in zip(columns, self._shown[key], cells, strict=True):
                    if old != cell.plain:
                        table.update_cell(key, column, cell, update_width=True)
                if self._shown[key][0] != plain[0]:
                    added = True  # issued again: it moves to the top
            self._shown[key] = plain
        if added:
            table.sort(
                "sent", "email", key=lambda cells: (cells[0].plain, cells[1].plain), reverse=True
            )
            if selected is not None and selected in self._shown:
                table.move_cursor(row=table.get_row_index(selected))

    def selected_key(self) -> str | None:
        table = self.query_one("#invitations", DataTable)
        if table.row_count == 0:
            return None
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(row_key.value) if row_key.value is not None else None

    def selected(self) -> Invitation | None:
        key = self.selected_key()
        return self._invitations.get(key) if key is not None else None

    # ------------------------------------------------------------------ filters

    @on(RadioSet.Changed, "#status-filter")
    def _filter_changed(self) -> None:
        self.reload()

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        self.reload()

    def action_next_filter(self) -> None:
        radio = self.query_one("#status-filter", RadioSet)
        index = (radio.pressed_index + 1) % len(_FILTERS)
        self.query_one(f"#filter-{_FILTERS[index] or 'all'}", RadioButton).value = True

    def action_search(self) -> None:
        self.open_filter(self.query_one("#search", Input))

    def action_clear_search(self) -> None:
        box = self.query_one("#search", Input)
        box.value = ""
        box.remove_class("shown")
        self.query_one("#invitations", DataTable).focus()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one("#invitations", DataTable).focus()

    # ------------------------------------------------------------------ actions

    def _target(self) -> Invitation | None:
        invitation = self.selected()
        if invitation is None:
            self.notify("Select an invitation first.", severity="warning")
        return invitation

    def action_resend(self) -> None:
        invitation = self._target()
        if invitation is not None:
            self.usher.writes.track(self._resend(invitation))

    @work(group="action", exit_on_error=False)
    async def _resend(self, invitation: Invitation) -> None:
        store = self.usher.store
        if store is None:
            return
        try:
            updated = await resend_invitation(store, invitation.id, actor=console_actor())
        except Refused as error:
            self.show_refusal(error, doing="Not resent")
            return
        expires = updated.expires_at.astimezone().strftime("%Y-%m-%d")
        self.notify(
            f"Resent to {updated.email} with a new link (valid until {expires}); "
            "the old link no longer works.",
            markup=False,
        )

    def action_revoke(self) -> None:
        invitation = self._target()
        if invitation is not None:
            self.usher.writes.track(self._revoke(invitation))

    @work(group="action", exit_on_error=False)
    async def _revoke(self, invitation: Invitation) -> None:
        store = self.usher.store
        if store is None:
            return
        if not invitation.revocable:
            self.notify(
                f"{invitation.email}'s invitation is {invitation.status}: nothing to revoke.",
                severity="warning",
                markup=False,
            )
            return
        confirmed = await self.app.push_screen_wait(
            AskDialog(
                f"Revoke the invitation to {invitation.email}?",
                "Its link stops working at once. You can send a new one later with s.",
                "Revoke",
            )
        )
        if not confirmed:
            return
        try:
            await revoke_invitation(store, invitation.id, actor=console_actor())
        except Refused as error:
            self.show_refusal(error, doing="Not revoked")
            return
        self.notify(f"Revoked the invitation to {invitation.email}.", markup=False)

    def action_copy_link(self) -> None:
        invitation = self._target()
        if invitation is not None:
            self._copy_link(invitation)

    @work(group="action", exit_on_error=False)
    async def _copy_link(self, invitation: Invitation) -> None:
        store = self.usher.store
        if store is None:
            return
        if invitation.status == "accepted":
            self.notify(
                f"{invitation.email} has already accepted: there is no link to copy.",
                severity="warning",
                markup=False,
            )
            return
        confirmed = await self.app.push_screen_wait(
            AskDialog(
                f"Make a fresh link for {invitation.email}?",
                "Only a fingerprint of each link is stored, so the link cannot be shown again: "
                f"this makes a new one (valid for {lifetime_words(INVITATION_VALID)}) and the link "
                "already emailed stops "
                "working. Pass the new link on yourself.",
                "Make and copy",
            )
        )
        if not confirmed:
            return
        try:
            _, url = await fresh_invitation_link(store, invitation.id, actor=console_actor())
        except Refused as error:
            self.show_refusal(error, doing="No link made")
            return
        copy_and_tell(self.app, url, f"fresh link for {invitation.email}")
