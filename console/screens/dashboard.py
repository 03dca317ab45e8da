"""Home: the figures an admin checks first, kept current by the change feed, and recent
activity. On an empty database it says what to do first."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Sparkline, Static

from store.accounts.seats import seat_limit_reached
from store.database.changes import EXTERNAL
from store.domain.clock import ago
from store.domain.records import AuditEntry, Counts
from store.domain.text import clean_line
from store.onboarding.trends import SIGNUP_DAYS, Funnel, funnels, signups_per_day
from store.service.supervise import TaskCrash

from .base import UsherScreen

EMPTY_HINT = (
    "No one here yet. Four ways in: F3 create an invite link and send it anywhere, "
    "F4 invite people by email, F6 add one person, F7 create many accounts at once. "
    "Each has a command too: usher links create, usher invite, usher users add, usher users import."
)


def figure(label: str, value: int | str, note: str = "", style: str = "bold") -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{label:<17}")
    text.append(f"{value:>5}", style=style)
    if note:
        text.append(f"  {note}", style="dim")
    return text


TREND_TOPICS = frozenset({"users", "invite_links", "invitations", EXTERNAL})


def signups_label(days: list[int]) -> Text:
    """`Signups, 14 days    37  4 today` beside the sparkline."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{f'Signups, {len(days)} days':<17}")
    text.append(f"{sum(days):>5}", style="bold")
    text.append(f"  {days[-1] if days else 0} today ", style="dim")
    return text


def funnel_line(funnel: Funnel) -> Text:
    """`Spring cohort   joined 12 → active 10`, or with `invited 30 →` for a batch."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("  ")
    steps = [] if funnel.invited is None else [f"invited {funnel.invited}"]
    steps += [f"joined {funnel.joined}", f"active {funnel.active}"]
    text.append(" → ".join(steps), style="bold")
    text.append("  ")
    text.append(clean_line(funnel.label), style="dim")
    return text


def crash_line(crash: TaskCrash) -> Text:
    """`Mail delivery crashed 18:02 (restarted 3 times): UnicodeEncodeError: …` (plain text)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(crash.task, style="bold red")
    text.append(" crashed ")
    text.append(crash.at.astimezone().strftime("%H:%M:%S"), style="dim")
    if crash.restarts:
        text.append(f" (restarted {crash.restarts} times)", style="dim")
    text.append(": ")
    text.append(crash.error)
    return text


def job_summary(entry: AuditEntry) -> str:
    """`3 tokens deleted · 1 invitations expired`: the non-zero figures a job recorded."""
    try:
        details = entry.detail_values()
    except Exception:
        details = {}
    parts = [
        f"{value} {key.replace('_', ' ')}"
        for key, value in details.items()
        if isinstance(value, int) and not isinstance(value, bool) and value
    ]
    return " · ".join(parts) or "ran"


def activity_line(entry: AuditEntry) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(entry.at.astimezone().strftime("%H:%M "), style="dim")
    text.append(entry.actor, style="cyan")
    if entry.action == entry.actor:  # a background job names itself: say what it did instead
        text.append(" ")
        text.append(job_summary(entry))
    else:
        text.append(" ")
        text.append(entry.action.replace("_", " "))
    if entry.subject:
        text.append(" ")
        text.append(entry.subject, style="bold")
    return text


class DashboardScreen(UsherScreen):
    TITLE = "Home"
    HELP: ClassVar[str] = (
        "The figures here update by themselves whenever the database changes, "
        "also when another Usher process (usher serve) made the change. "
        "Pending approvals and failed emails also show as badges in the header."
    )
    CSS_PATH = "dashboard.tcss"

    def compose_body(self) -> ComposeResult:
        with Grid(id="figures"):
            for name in ("pending", "active", "links", "invitations", "mail", "last"):
                yield Static(id=f"fig-{name}")
        with Horizontal(id="trend"):
            yield Static(signups_label([0] * SIGNUP_DAYS), id="trend-label")
            yield Sparkline([0] * SIGNUP_DAYS, id="signups", summary_function=max)
        yield Vertical(id="funnels")
        yield Vertical(id="crashes")
        yield Static(EMPTY_HINT, id="empty", markup=False)
        yield Static("Recent activity", id="activity-title")
        yield Vertical(id="activity")

    def on_mount(self) -> None:
        self.watch(self.app, "counts", self._show_counts)
        self.watch(self.app, "activity", self._show_activity)
        self.watch(self.app, "task_crashes", self._show_crashes)
        self.follow_changes(TREND_TOPICS, self._reload_trends, "home-trends")

    async def _reload_trends(self) -> None:
        store = self.usher.store
        if store is None:
            return
        days = await signups_per_day(store.engine)
        ways = await funnels(store.engine)
        self.query_one("#trend-label", Static).update(signups_label(days))
        self.query_one("#signups", Sparkline).data = days
        box = self.query_one("#funnels", Vertical)
        await box.remove_children()
        if ways:
            await box.mount(Static(Text("Newest ways in", style="bold"), classes="title"))
        await box.mount_all([Static(funnel_line(way)) for way in ways])

    def _show_counts(self, counts: Counts | None) -> None:
        if counts is None:
            return
        pending_style = "bold yellow" if counts.pending else "bold"
        pending_note = "→ F2 Approvals" if counts.pending else ""
        settings = self.usher.settings
        full = seat_limit_reached(counts.active, settings)
        if full:
            pending_note = "seats full: link sign-ups wait here · " + pending_note
        self._set(
            "pending", figure("Pending approval", counts.pending, pending_note, pending_style)
        )
        active_note = f"of {counts.total_users}"
        if settings.seat_limit:
            active_note += f" · {counts.active} of {settings.seat_limit} seats used"
        self._set("active", figure("Active users", counts.active, active_note))
        mail_note = f"{counts.mail_failed} failed · {counts.mail_kept} kept (no SMTP)"
        self._set("mail", figure("Emails queued", counts.mail_queued, mail_note))
        links_note = f"active · {counts.links_inactive} expired, used up or revoked"
        self._set("links", figure("Invite links", counts.links_active, links_note))
        self._set(
            "invitations",
            figure(
                "Invitations",
                counts.invitations_pending,
                f"pending · {counts.invitations_bounced} bounced",
            ),
        )
        if counts.last_signup_at is None:
            self._set("last", figure("Last signup", "—"))
        else:  # a time is no figure: it goes where the notes start, as the others' notes do
            last = figure("Last signup", "")
            last.append(f"  {ago(counts.last_signup_at)}", style="bold")
            if counts.last_signup_email:
                last.append(f" · {counts.last_signup_email}", style="dim")
            self._set("last", last)
        self.query_one("#empty").display = counts.is_empty

    def _show_crashes(self, crashes: list[TaskCrash]) -> None:
        """A background task that crashed (it restarts by itself; the server log, F12, has the
        traceback)."""
        box = self.query_one("#crashes", Vertical)
        box.remove_children()
        box.display = bool(crashes)
        if crashes:
            box.mount_all([Static(crash_line(crash)) for crash in crashes])
            box.mount(Static("Tracebacks are in the server log (F12).", classes="dim"))

    def _show_activity(self, entries: list[AuditEntry]) -> None:
        box = self.query_one("#activity", Vertical)
        box.remove_children()
        if not entries:
            box.mount(Static("Nothing has happened yet.", classes="dim"))
            return
        box.mount_all([Static(activity_line(entry)) for entry in entries])

    def _set(self, name: str, text: Text) -> None:
        self.query_one(f"#fig-{name}", Static).update(text)
