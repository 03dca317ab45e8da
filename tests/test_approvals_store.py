"""Approving and rejecting on a real database: one transaction for many, one email each, never a
second decision (or a second email) for someone already decided — also across processes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import jinja2
import pytest
from markupsafe import escape

from store import Settings, Store, load_settings
from store.accounts.users import set_level
from store.domain.clock import db_now
from store.domain.languages import install
from store.onboarding.approvals import (
    DIGEST_META_KEY,
    approve,
    count_pending,
    list_pending,
    pending_ids,
    reject,
    send_pending_digest,
)

from .fixtures_postgres import settings_on_both_engines
from .fixtures_users import add_link, add_user, audit_actions, outbox_rows, status_of

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""

ACTOR = "alice (ssh 10.0.0.7)"
TEMPLATES = Path(__file__).resolve().parent.parent / "store" / "messaging" / "emails" / "templates"


async def test_pending_list_is_oldest_first_with_link_label_and_filters(store: Store) -> None:
    link = await add_link(store, "Spring cohort")
    await add_user(store, "new@example.org", first="New", link_id=link, age=timedelta(minutes=1))
    await add_user(store, "old@example.org", first="Old", link_id=link, age=timedelta(hours=3))
    await add_user(store, "done@example.org", status="active", age=timedelta(days=1))
    await add_user(store, "bulk@example.org", source="bulk", age=timedelta(hours=1))

    pending = await list_pending(store.engine)
    assert [u.email for u in pending] == ["old@example.org", "bulk@example.org", "new@example.org"]
    assert pending[0].link_label == "Spring cohort"
    assert pending[0].via == "Spring cohort"
    assert pending[1].via == "bulk"
    assert [u.email for u in await list_pending(store.engine, "spring")] == [
        "old@example.org",
        "new@example.org",
    ]
    assert [u.email for u in await list_pending(store.engine, "BULK@")] == ["bulk@example.org"]
    assert await list_pending(store.engine, "100%_") == []
    assert len(await pending_ids(store.engine)) == 3
    oldest = await list_pending(store.engine, limit=2)
    assert [u.email for u in oldest] == ["old@example.org", "bulk@example.org"]
    assert await count_pending(store.engine) == 3
    assert await count_pending(store.engine, "spring") == 2
    assert await count_pending(store.engine, "100%_") == 0


async def test_bulk_approve_activates_all_and_queues_one_email_each(store: Store) -> None:
    ids = [await add_user(store, f"p{i}@example.org", first=f"P{i}") for i in range(3)]
    decision = await approve(store, ids, actor=ACTOR)

    assert [u.email for u in decision.decided] == [f"p{i}@example.org" for i in range(3)]
    assert decision.already_decided == [] and decision.not_found == []
    assert all(status_of(store.settings.db, f"p{i}@example.org") == "active" for i in range(3))
    mails = outbox_rows(store.settings.db, "approved")
    assert sorted(m["recipient"] for m in mails) == [f"p{i}@example.org" for i in range(3)]
    assert all(m["payload"]["login_url"] == f"{store.settings.base_url}/login" for m in mails)
    assert all(m["status"] == "kept" for m in mails)  # no SMTP configured
    assert [a for a in audit_actions(store.settings.db) if a[1] == "user_approved"] == [
        (ACTOR, "user_approved", f"p{i}@example.org") for i in range(3)
    ]
    user = decision.decided[0]
    assert user.decided_by == ACTOR and user.decided_at is not None


async def test_a_user_decided_already_is_reported_and_gets_no_second_email(store: Store) -> None:
    first = await add_user(store, "bea@example.org", first="Bea", last="Smith")
    second = await add_user(store, "carl@example.org", first="Carl")
    await approve(store, [first], actor="bob")

    decision = await approve(store, [first, second, 999], actor=ACTOR)
    assert [u.email for u in decision.decided] == ["carl@example.org"]
    assert [(e.email, e.status, e.decided_by) for e in decision.already_decided] == [
        ("bea@example.org", "active", "bob")
    ]
    assert decision.already_decided[0].describe() == "Bea Smith was already approved by bob"
    assert decision.already_decided[0].describe(by_email=True) == (
        "bea@example.org was already approved by bob"
    )
    assert decision.not_found == [999]
    assert len(outbox_rows(store.settings.db, "approved")) == 2

    rejected = await reject(store, [first], actor=ACTOR, reason="late")
    assert rejected.decided == []
    assert status_of(store.settings.db, "bea@example.org") == "active"
    assert outbox_rows(store.settings.db, "rejected") == []


async def test_two_processes_deciding_at_once_make_one_decision(settings: Settings) -> None:
    """Two stores = two write connections on one file, as two processes would have."""
    async with await Store.open(settings) as one, await Store.open(settings) as two:
        ids = [await add_user(one, f"r{i}@example.org") for i in range(20)]
        results = await asyncio.gather(
            approve(one, ids, actor="one"),
            reject(two, ids, actor="two", reason="no"),
            approve(two, list(reversed(ids)), actor="two"),
        )
    decided = [user.id for result in results for user in result.decided]
    assert sorted(decided) == sorted(ids)  # each exactly once
    mails = outbox_rows(settings.db)
    assert len(mails) == 20
    assert len({m["recipient"] for m in mails}) == 20


async def test_reject_with_reason_emails_it_and_records_it(store: Store) -> None:
    user = await add_user(store, "dana@example.org", first="Dana")
    decision = await reject(store, [user], actor=ACTOR, reason="  Not staff\x1b[31m  ")
    assert decision.decided[0].status == "rejected"
    assert decision.decided[0].decision_reason == "Not staff"
    (mail,) = outbox_rows(store.settings.db, "rejected")
    assert mail["recipient"] == "dana@example.org"
    assert mail["payload"]["reason"] == "Not staff"
    assert (ACTOR, "user_rejected", "dana@example.org") in audit_actions(store.settings.db)

    plain = await add_user(store, "ed@example.org")
    await reject(store, [plain], actor=ACTOR)
    assert outbox_rows(store.settings.db, "rejected")[1]["payload"]["reason"] == ""


async def test_level_changes_before_approval_and_is_audited(store: Store) -> None:
    user = await add_user(store, "fay@example.org")
    changes = await set_level(store, [user], "manager", actor=ACTOR)
    assert [(c.old, c.new) for c in changes] == [("member", "manager")]
    assert await set_level(store, [user], "manager", actor=ACTOR) == []  # already there
    decision = await approve(store, [user], actor=ACTOR)
    assert decision.decided[0].level == "manager"
    assert (ACTOR, "level_changed", "fay@example.org") in audit_actions(store.settings.db)


async def test_digest_tells_admins_once_per_interval(tmp_path: Path) -> None:
    settings = load_settings(
        {"db": str(tmp_path / "u.db"), "notify": ["ops@example.org", "boss@example.org"]},
        environ={},
    )
    async with await Store.open(settings, watch=False) as store:
        link = await add_link(store, "Wiki link")
        for i in range(3):
            await add_user(store, f"s{i}@example.org", first=f"S{i}", link_id=link)
        await add_user(store, "active@example.org", status="active")

        assert await send_pending_digest(store) == 3
        digests = outbox_rows(store.settings.db, "pending_digest")
        assert sorted(d["recipient"] for d in digests) == ["boss@example.org", "ops@example.org"]
        payload = digests[0]["payload"]
        assert payload["count"] == 3 and payload["total_pending"] == 3
        assert payload["people"][0] == {
            "name": "S0",
            "email": "s0@example.org",
            "level": "member",
            "via": "Wiki link",
        }

        await add_user(store, "late@example.org")
        assert await send_pending_digest(store) == 0  # within the interval: wait
        assert len(outbox_rows(store.settings.db, "pending_digest")) == 2
        # Once the interval has passed, only the new one is told.
        async with store.write() as tx:
            await tx.execute(
                "UPDATE meta SET value = ? WHERE key = ?",
                (db_now(-timedelta(minutes=6)), DIGEST_META_KEY),
            )
        assert await send_pending_digest(store) == 1
        digests = outbox_rows(store.settings.db, "pending_digest")
        assert digests[-1]["payload"]["people"][0]["email"] == "late@example.org"


async def test_no_digest_without_notify_addresses(store: Store) -> None:
    await add_user(store, "quiet@example.org")
    assert await send_pending_digest(store) == 0
    assert outbox_rows(store.settings.db) == []


@pytest.mark.parametrize(
    ("kind", "values", "expected"),
    [
        ("approved", {"login_url": "https://join.acme.org/login"}, "https://join.acme.org/login"),
        ("rejected", {"reason": "Not <staff>"}, "Not <staff>"),
        ("rejected", {"reason": ""}, "was not approved"),
        (
            "pending_digest",
            {
                "count": 2,
                "total_pending": 5,
                "more": 1,
                "people": [{"name": "Ann", "email": "a@x.org", "level": "member", "via": "L"}],
            },
            "and 1 more",
        ),
    ],
)
def test_email_templates_render(kind: str, values: dict[str, object], expected: str) -> None:
    """Our templates parse and fill in (with stand-in layouts: the renderer is issue 3's)."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.DictLoader(
                    {
                        "_layout.txt": "{% block body %}{% endblock %}",
                        "_layout.html": "<html>{% block body %}{% endblock %}</html>",
                    }
                ),
                jinja2.FileSystemLoader(TEMPLATES),
            ]
        ),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    install(env, lambda _context: "en")  # the templates' gettext, in English
    common = {
        "org": "Acme",
        "public_url": "https://join.acme.org",
        "recipient": "bea@example.org",
        "recipient_name": "Bea",
    }
    subject = env.get_template(f"{kind}.subject.txt").render(**common, **values)
    assert "\n" not in subject.strip() and subject.strip()
    text = env.get_template(f"{kind}.txt").render(**common, **values)
    html = env.get_template(f"{kind}.html").render(**common, **values)
    assert expected in text
    assert str(escape(expected)) in html
    assert "<staff>" not in html


async def test_a_digest_names_the_first_and_counts_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("store.onboarding.approvals.DIGEST_LIST_MAX", 2)
    settings = load_settings(
        {"db": str(tmp_path / "u.db"), "notify": ["ops@example.org"]}, environ={}
    )
    async with await Store.open(settings, watch=False) as store:
        for i in range(3):
            await add_user(store, f"s{i}@example.org", age=timedelta(minutes=10 - i))
        assert await send_pending_digest(store) == 3
        (digest,) = outbox_rows(store.settings.db, "pending_digest")
        payload = digest["payload"]
        assert [p["email"] for p in payload["people"]] == ["s0@example.org", "s1@example.org"]
        assert (payload["count"], payload["more"], payload["total_pending"]) == (3, 1, 3)
        notified = await store.engine.scalar(
            "SELECT count(*) FROM users WHERE admins_notified_at IS NOT NULL"
        )
        assert notified == 3  # the counted ones are not told again next time
