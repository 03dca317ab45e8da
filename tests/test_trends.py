"""Home's trends (issue 21, "show, don't only tell"): signups per day for 14 days as a
sparkline, and per link and per invitation batch how many were invited → joined → active."""

from __future__ import annotations

from datetime import timedelta

from textual.widgets import Sparkline, Static

from console.app import UsherApp
from store import Settings, Store
from store.domain.clock import now
from store.onboarding.email_lists import ListEntry
from store.onboarding.invitations import send_invitations
from store.onboarding.trends import SIGNUP_DAYS, funnels, signups_per_day

from .fixtures_postgres import settings_on_both_engines
from .fixtures_users import add_link, add_user
from .helpers import eventually

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


async def test_signups_per_day_counts_each_local_day_and_leaves_out_older_ones(
    store: Store,
) -> None:
    for days_ago, people in ((0, 3), (1, 1), (13, 2), (14, 5), (40, 1)):
        for n in range(people):
            await add_user(store, f"d{days_ago}-{n}@example.org", age=timedelta(days=days_ago))
    today = now().astimezone().date()
    counts = await signups_per_day(store.engine, today=today)
    assert len(counts) == SIGNUP_DAYS
    assert counts[-1] == 3  # today, last
    assert counts[-2] == 1
    assert counts[0] == 2  # 13 days ago is the first day shown; 14 and 40 are not
    assert sum(counts) == 6


async def test_funnels_follow_links_and_invitation_batches_newest_first(store: Store) -> None:
    link = await add_link(store, "Spring cohort")
    for n, status in enumerate(("active", "active", "pending")):
        await add_user(store, f"l{n}@example.org", link_id=link, status=status)
    sent = await send_invitations(
        store,
        [ListEntry(line=n + 1, address=f"i{n}@example.org") for n in range(4)],
        level="member",
        actor="ann",
    )
    assert len(sent.invited) == 4
    rows = await store.engine.fetchall("SELECT id, email FROM invitations ORDER BY id")
    for row, status in zip(rows[:2], ("active", "unconfirmed"), strict=True):
        user = await add_user(store, f"joined-{row['email']}", source="invitation", status=status)
        async with store.write("users") as tx:
            await tx.execute("UPDATE users SET invitation_id = ? WHERE id = ?", (row["id"], user))
    found = await funnels(store.engine)
    assert [(f.kind, f.invited, f.joined, f.active) for f in found] == [
        ("invitations", 4, 2, 1),
        ("link", None, 3, 2),
    ]
    assert found[1].label == "Spring cohort"


async def test_home_shows_the_sparkline_and_the_funnels_live(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.store is not None
        link = await add_link(app.store, "Autumn cohort")
        await add_user(app.store, "new@example.org", link_id=link, status="active")

        async def shown() -> bool:
            await pilot.pause()
            spark = app.screen.query_one("#signups", Sparkline)
            lines = [str(s.render()) for s in app.screen.query("#funnels Static").results(Static)]
            return list(spark.data or [])[-1] == 1 and any(
                "joined 1 → active 1" in line and "Autumn cohort" in line for line in lines
            )

        await eventually(shown, timeout=30)
        label = str(app.screen.query_one("#trend-label", Static).render())
        assert "1  1 today" in label
