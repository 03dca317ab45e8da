"""Approvals: everyone waiting, oldest first, kept current by the change feed without a key press
(our own commits at once, another process's within a poll). Rows arrive and leave by diff, so
the cursor, the selection and the scroll position stay put while the admin works."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from store.accounts.audit import console_actor
from store.accounts.users import UserView, address_confirmed, set_level
from store.database.changes import EXTERNAL
from store.domain.clock import ago
from store.domain.refusal import Refused
from store.domain.text import clean_line
from store.onboarding.approvals import Decision, approve, count_pending, list_pending, reject

from ..dialogs.ask import unless_admin_refused
from ..dialogs.level import LevelDialog
from ..dialogs.reject import RejectDialog
from ..widgets.filter_box import FilterBox
from ..widgets.language_select import language_cell
from ..widgets.live_table import Clipped, clip, cursor_key, room, sync_rows
from .base import UsherScreen

TICK_SECONDS = 10.0
"""How often the Waiting column is brought up to date."""
TOPICS = frozenset({"users", "invite_links", EXTERNAL})
MARK = "✓"


def waiting(since: datetime, reference: datetime | None = None) -> str:
    """`just now`, `4 min`, `3 h`, `2 days`: how long someone has waited."""
    return ago(since, reference).removesuffix(" ago")


UNCONFIRMED_MARK = "!"
UNCONFIRMED_WORDS = "address not confirmed"
"""In the column before an address nobody proved (store.accounts.users.address_confirmed): the admin
decides on it."""


def names_of(users: Sequence[UserView]) -> list[str]:
    return [clean_line(user.name or user.email) for user in users]


def decision_message(decision: Decision) -> str:
    """One line for what was done (user text passes through `notify(markup=False)`)."""
    done = decision.decided
    verb = "Approved" if decision.verdict == "approved" else "Rejected"
    if not done:
        return ""
    who = clean_line(done[0].name or done[0].email) if len(done) == 1 else f"{len(done)} people"
    emails = "email" if len(done) == 1 else "emails"
    return f"{verb} {who} — {len(done)} {emails} queued."


class ApprovalsScreen(UsherScreen):
    ROW_DETAIL = True
    TITLE = "Approvals"
    AUTO_FOCUS = "#pending"
    MAX_ROWS: ClassVar[int] = 1000
    """The oldest this many are read and shown: a DataTable's first render grows with its rows
    (10,000 pending took 1.7 s, 50,000 took 8 s), and every change re-reads the list (50,000 took
    a second each time; see bench/). More waiting is said in the summary."""
    HELP: ClassVar[str] = (
        "Everyone waiting for approval, oldest first. New sign-ups appear by themselves (also "
        "those taken by another Usher process), and rows leave when someone else decides them; "
        "the cursor and your selection stay where they are.\n\n"
        "a  approve the selection, or the row under the cursor (they get an email: account "
        "ready, with the sign-in address)\n"
        "r  reject (asks for an optional reason, which goes into their email)\n"
        "space  select or unselect the row (✓), and move down\n"
        "*  select all shown, or unselect all\n"
        "l  change the level before approving\n"
        "/  filter by name, email or link; escape clears the filter, then the selection\n\n"
        "If someone else decided a person first, you are told, and no second email goes out.\n\n"
        f"{UNCONFIRMED_MARK} before an address: nobody confirmed it (their link did not ask "
        "them to): anyone holding the link could have typed it.\n\n"
        "With more than 1,000 waiting, the oldest 1,000 are shown (the count says so): filter "
        "with / to reach the others, or use `usher users approve --all-pending`."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject…"),
        Binding("space", "toggle_select", "Select"),
        Binding("asterisk", "select_all", "Select all", key_display="*"),
        Binding("l", "level", "Level…"),
        Binding("slash", "filter", "Filter", key_display="/", priority=True),
        Binding("escape", "escape", "Clear", show=False),
    ]
    CSS_PATH = "approvals.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.users: dict[int, UserView] = {}
        """The rows shown, by user id, in table order."""
        self.waiting_count = 0
        """Everyone waiting (that the filter lets through), shown or not."""
        self.selected: set[int] = set()
        self._shown: dict[int, tuple[tuple[object, ...], list[Text]]] = {}
        """Each row's cells and what they were made from: a reload reuses the very cells of an
        unchanged row, so comparing 1,000 rows costs 1,000 `is`, not 7,000 Text comparisons."""

    def compose_body(self) -> ComposeResult:
        yield FilterBox("Filter by name, email or link")
        yield Static(id="summary")
        yield Static(
            "No one is waiting for approval. Sign-ups through links that need approval "
            "appear here by themselves.",
            id="empty",
            markup=False,
        )
        yield DataTable(id="pending", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.table
        table.add_column(" ", key="mark", width=1)
        table.add_column("Name", key="name")
        table.add_column(" ", key="unproven", width=1)
        table.add_column("Email", key="email")
        table.add_column("Level", key="level")
        table.add_column("Lang", key="language")
        table.add_column("Via", key="via")
        table.add_column("Waiting", key="waiting")
        self.follow_changes(TOPICS, self.reload, "approvals-feed")
        self.set_interval(TICK_SECONDS, self._tick)

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#pending", DataTable)

    # ---------------------------------------------------------------- live rows

    async def reload(self) -> None:
        store = self.usher.store
        if store is None:
            return
        box = self.query_one("#filter", Input)
        term = box.value
        users = await list_pending(store.engine, term, limit=self.MAX_ROWS)
        total = len(users)
        if total >= self.MAX_ROWS:
            total = max(total, await count_pending(store.engine, term))
        if box.value == term:  # else a newer reload for the new filter is on its way
            self.show(users, total)

    def show(self, users: Sequence[UserView], total: int | None = None) -> None:
        """Bring the table to `users` by diff (see live_table.sync_rows); `total` is everyone
        waiting when more than MAX_ROWS are."""
        users = users[: self.MAX_ROWS]
        self.waiting_count = max(len(users), total or 0)
        self.users = {user.id: user for user in users}
        self.selected &= set(self.users)
        width = self.app.size.width
        shown: dict[int, tuple[tuple[object, ...], list[Text]]] = {}
        for user in users:
            made_from = (user, user.id in self.selected, waiting(user.created_at), width)
            kept = self._shown.get(user.id)
            cells = kept[1] if kept is not None and kept[0] == made_from else self._cells(user)
            shown[user.id] = (made_from, cells)
        self._shown = shown
        sync_rows(self.table, [(str(user_id), cells) for user_id, (_, cells) in shown.items()])
        self._show_summary()

    @staticmethod
    def _proof_cell(user: UserView) -> Text:
        """`!` in the table; the row's detail line says what it means."""
        if address_confirmed(user):
            return Text("")
        cell = Clipped(UNCONFIRMED_MARK, style="bold yellow")
        cell.whole = UNCONFIRMED_WORDS
        return cell

    def _cells(self, user: UserView) -> list[Text]:
        spare = self.app.size.width - 80
        return [
            Text(MARK if user.id in self.selected else " ", style="bold green"),
            clip(clean_line(user.name) or "—", room(14, spare, 0.3)),
            self._proof_cell(user),
            clip(clean_line(user.email), room(20, spare, 0.4)),  # cells went to mark and Lang
            Text(user.level),
            language_cell(user.language),
            clip(clean_line(user.via), room(10, spare, 0.2)),
            Text(waiting(user.created_at)),
        ]

    def _tick(self) -> None:
        """Waiting times tick: update only the cells whose text changed."""
        table = self.table
        for user in self.users.values():
            text = waiting(user.created_at)
            key = str(user.id)
            if table.get_cell(key, "waiting").plain != text:
                table.update_cell(key, "waiting", Text(text), update_width=True)

    def _show_summary(self) -> None:
        count = self.waiting_count
        text = Text(f"{count:,} waiting", no_wrap=True, overflow="ellipsis")
        if count > len(self.users):
            text.append(f" · the oldest {len(self.users):,} shown", style="bold yellow")
        if self.selected:
            text.append(f" · {len(self.selected)} selected", style="bold")
        term = self.query_one("#filter", Input).value.strip()
        if term:
            text.append(" · filter: ")
            text.append(term, style="bold")
        self.query_one("#summary", Static).update(text)
        empty = not count and not term
        self.query_one("#empty", Static).set_class(empty, "shown")

    # ---------------------------------------------------------------- selection

    def _set_mark(self, user_id: int) -> None:
        mark = MARK if user_id in self.selected else " "
        self.table.update_cell(str(user_id), "mark", Text(mark, style="bold green"))

    def action_toggle_select(self) -> None:
        key = cursor_key(self.table)
        if key is None:
            return
        user_id = int(key)
        self.selected ^= {user_id}
        self._set_mark(user_id)
        self.table.action_cursor_down()
        self._show_summary()

    def action_select_all(self) -> None:
        everyone = set(self.users)
        changed = everyone if self.selected != everyone else set(self.selected)
        self.selected = set() if self.selected == everyone else everyone
        for user_id in changed:
            self._set_mark(user_id)
        self._show_summary()

    def targets(self) -> list[UserView]:
        """The selection when there is one, else the row under the cursor."""
        if self.selected:
            return [user for user_id, user in self.users.items() if user_id in self.selected]
        key = cursor_key(self.table)
        user = self.users.get(int(key)) if key is not None else None
        return [user] if user is not None else []

    # ---------------------------------------------------------------- decisions

    def action_approve(self) -> None:
        users = self.targets()
        if not users:
            self.notify("No one to approve here.", severity="warning")
            return
        self.run_write(self._decide(users, approved=True), group="decide")

    def action_reject(self) -> None:
        users = self.targets()
        if not users:
            self.notify("No one to reject here.", severity="warning")
            return

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.run_write(self._decide(users, approved=False, reason=reason), group="decide")

        self.app.push_screen(RejectDialog(names_of(users)), answered)

    async def _decide(self, users: Sequence[UserView], *, approved: bool, reason: str = "") -> None:
        store = self.usher.store
        if store is None:
            return
        ids = [user.id for user in users]
        actor = console_actor()
        if approved:
            decision = await approve(store, ids, actor=actor)
        else:
            decision = await reject(store, ids, actor=actor, reason=reason)
        self.selected -= set(ids)
        self.report(decision)
        # No reload here: the decision's commit is a change event, and `follow_changes`
        # reloads on it (reloading here too read and redrew the table twice a decision).

    def report(self, decision: Decision) -> None:
        """What happened, and — clearly — who had been decided elsewhere (no email sent)."""
        message = decision_message(decision)
        if message:
            self.notify(message, markup=False)
        if decision.already_decided:
            lines = [entry.describe() for entry in decision.already_decided[:5]]
            more = len(decision.already_decided) - len(lines)
            if more > 0:
                lines.append(f"… and {more} more")
            self.notify(
                clean_line(" · ".join(lines)) + " — nothing was sent to them.",
                title="Already decided elsewhere",
                severity="warning",
                timeout=10,
                markup=False,
            )
        if decision.not_found:
            self.notify(
                f"{len(decision.not_found)} no longer exist.", severity="warning", markup=False
            )

    # ---------------------------------------------------------------- level

    def action_level(self) -> None:
        users = self.targets()
        if not users:
            return
        who = clean_line(users[0].name or users[0].email) if len(users) == 1 else None
        title = f"Level for {who}" if who else f"Level for {len(users)} people"
        current = users[0].level if len(users) == 1 else None

        def answered(level: str | None) -> None:
            if level is not None:
                unless_admin_refused(
                    self.app,
                    level,
                    who or f"{len(users)} people",
                    "They will be able to do everything.",
                    lambda: self.run_write(self._set_level(users, level), group="level"),
                )

        self.app.push_screen(LevelDialog(title, current), answered)

    async def _set_level(self, users: Sequence[UserView], level: str) -> None:
        store = self.usher.store
        if store is None:
            return
        try:
            changes = await set_level(store, [u.id for u in users], level, actor=console_actor())
        except Refused as error:
            self.show_refusal(error)
            return
        if changes:
            who = names_of(users)[0] if len(users) == 1 else f"{len(changes)} people"
            self.notify(f"{who}: now at level {level}.", markup=False)
        # No reload: the commit's change event reloads the table (`follow_changes`).

    # ---------------------------------------------------------------- filter

    def action_filter(self) -> None:
        self.open_filter(self.query_one(FilterBox))

    def action_escape(self) -> None:
        if self.query_one(FilterBox).close():
            self.table.focus()
        elif self.selected:
            self._clear()

    def _clear(self) -> None:
        cleared, self.selected = self.selected, set()
        for user_id in cleared:
            self._set_mark(user_id)
        self._show_summary()

    @on(Input.Changed, "#filter")
    @work(exclusive=True, group="approvals-filter")
    async def _filter_changed(self) -> None:
        """Each key press reloads; a newer filter cancels a reload still reading."""
        await self.reload()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()
