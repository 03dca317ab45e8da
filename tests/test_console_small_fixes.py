"""Issue 16, the smaller items: Home's "Last signup" lines up with the other figures, a job's
activity line says what it did (not "housekeeping housekeeping"), toasts leave dialogs' buttons
visible, and the outbox message view has room and never cuts a URL in two."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.geometry import Region
from textual.widgets import Static
from textual.widgets._toast import Toast

from console.app import UsherApp
from console.dialogs.link_form import LinkFormDialog
from console.dialogs.outbox_message import OutboxMessageDialog
from console.screens.dashboard import DashboardScreen, activity_line
from store import Settings, Store
from store.domain.records import AuditEntry
from store.messaging.outbox import enqueue, get_message

from .fixtures_users import add_user
from .helpers import eventually

SIZE = (80, 24)
LONG_URL = "https://signup.example-university.org/join/" + "Q" * 43


def plain(app: UsherApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_last_signup_lines_up_with_the_other_notes(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE):
        assert app.store is not None
        for n in range(12):  # two-digit counts
            await add_user(app.store, f"person{n}@example.org", status="active")

        async def shown() -> bool:
            if not isinstance(app.screen, DashboardScreen):
                return False
            return "just now" in plain(app, "#fig-last") and "of 12" in plain(app, "#fig-active")

        await eventually(shown)
        last, active = plain(app, "#fig-last"), plain(app, "#fig-active")
        assert last.index("just now") == active.index("of 12")
        assert "person11@example.org" in last


def test_a_job_that_names_itself_says_what_it_did() -> None:
    entry = AuditEntry(
        id=1,
        at=datetime(2026, 12, 4, 3, 0, tzinfo=UTC),
        actor="housekeeping",
        action="housekeeping",
        subject="",
        details='{"tokens_deleted": 3, "unconfirmed_removed": 0, "invitations_expired": 12}',
    )
    line = activity_line(entry).plain
    assert "housekeeping housekeeping" not in line
    assert line.endswith("housekeeping 3 tokens deleted · 12 invitations expired")


async def test_toasts_leave_a_dialogs_buttons_visible(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f3", "n")

        async def opened() -> bool:
            return isinstance(app.screen, LinkFormDialog)

        await eventually(opened)
        for n in range(3):
            app.notify(f"Something happened, number {n}, with a message long enough to wrap")

        async def toasts() -> bool:
            return len(app.screen.query(Toast)) == 3 and all(
                t.region.height for t in app.screen.query(Toast)
            )

        await eventually(toasts)
        buttons = [app.screen.query_one("#submit").region, app.screen.query_one("#cancel").region]
        area = Region.from_union([t.region for t in app.screen.query(Toast)])  # with the gaps
        for button in buttons:
            assert not area.overlaps(button), (area, button)


async def test_the_message_view_has_room_and_keeps_urls_whole(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store, store.write() as tx:
        kept_id = await enqueue(
            tx, store.settings, to="kept@example.org", kind="test", values={"sent_by": LONG_URL}
        )
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.store is not None
        message = await get_message(app.store, kept_id)
        assert message is not None
        await app.push_screen(OutboxMessageDialog(message, app.settings))

        async def laid_out() -> bool:
            return any(LONG_URL in line for line in plain(app, "#body").splitlines())

        await eventually(laid_out)
        assert app.screen.query_one("#body-scroll").region.height >= 10
        await pilot.press("escape")


async def test_the_row_detail_names_the_unconfirmed_mark(settings: Settings) -> None:
    """The `!` column has no heading: the detail line read "· : ! ·"; it says what `!` means."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.store is not None
        await add_user(app.store, "bea@example.org", first="Bea")
        await pilot.press("f2")

        async def detailed() -> bool:
            return "bea@example.org" in plain(app, "#row-detail")

        await eventually(detailed)
        detail = plain(app, "#row-detail")
        assert "address not confirmed" in detail
        assert " : " not in detail and not detail.startswith(":")
