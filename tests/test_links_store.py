"""Invite links in the store: parsing what admins type, states and summaries, edits, revoking,
regenerating, who joined, and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from store import Store
from store.domain.clock import now
from store.onboarding.links import (
    Link,
    LinkDraft,
    LinkError,
    domain_allowed,
    edit_link,
    get_link,
    link_by_token,
    link_members,
    list_links,
    parse_domains,
    parse_expiry,
    parse_level,
    parse_max_uses,
    regenerate_link,
    revoke_link,
)
from store.onboarding.signup import TokenUnusable, sign_up_by_link, usable_link

from .fixtures_postgres import settings_on_both_engines
from .helpers import form, make_link

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("1y", timedelta(days=365)),
        (" 10 days ", timedelta(days=10)),
        ("3 Hours", timedelta(hours=3)),
        ("never", None),
        ("NEVER", None),
    ],
)
def test_expiry_parsing(text: str, expected: timedelta | None) -> None:
    assert parse_expiry(text) == expected


@pytest.mark.parametrize("text", ["", "30", "0d", "tomorrow", "5m", "-3d", "11y", "1.5d"])
def test_expiry_refusals_say_what_is_understood(text: str) -> None:
    with pytest.raises(LinkError, match=r"12h|at least|at most"):
        parse_expiry(text)


def test_domains_parsing_and_matching() -> None:
    domains = parse_domains("Acme.org, *.acme.org; @beta.example  acme.org")
    assert domains == ("acme.org", "*.acme.org", "beta.example")
    assert parse_domains("") == ()
    assert parse_domains("bücher.example") == ("xn--bcher-kva.example",)
    assert domain_allowed(domains, "acme.org")
    assert domain_allowed(domains, "eu.acme.org")
    assert domain_allowed(domains, "BETA.example")
    assert not domain_allowed(domains, "notacme.org")
    assert not domain_allowed(domains, "acme.org.evil.example")
    assert not domain_allowed(("*.acme.org",), "acme.org")  # a wildcard means subdomains
    assert domain_allowed((), "anything.example")
    for bad in ["localhost", "*.*.acme.org", "a*b.org", "ann@acme.org", "-bad-.org.", "x..org"]:
        with pytest.raises(LinkError):
            parse_domains(bad)


def test_levels_and_max_uses() -> None:
    assert parse_level(" Member ") == "member"
    with pytest.raises(LinkError, match="admin, manager, member, viewer"):
        parse_level("owner")
    assert parse_max_uses("") is None
    assert parse_max_uses("1,000") == 1000
    for bad in ["0", "-1", "two", "1.5"]:
        with pytest.raises(LinkError):
            parse_max_uses(bad)


async def test_create_and_list_with_state_and_summary(fast_store: Store) -> None:
    link = await make_link(
        fast_store,
        label="Spring cohort",
        level="member",
        max_uses=50,
        expires_in=timedelta(days=9, minutes=1),
        domains=("acme.org",),
    )
    assert len(link.token) >= 43
    assert link.url(fast_store.settings) == f"{fast_store.settings.base_url}/join/{link.token}"
    assert link.state() == "active"
    assert link.summary() == "0 of 50 uses · expires in 9 days"
    assert link.join_mode == "auto"
    assert link.created_by == "tester"
    wiki = await make_link(
        fast_store, label="Wiki", level="viewer", expires_in=None, password="s3cret"
    )
    assert wiki.summary() == "0 uses · never expires"
    assert wiki.join_mode == "auto · password"
    assert wiki.expires_text() == "never"
    listed = await list_links(fast_store)
    assert [item.id for item in listed] == [wiki.id, link.id]
    stored_hash = await fast_store.engine.scalar(
        "SELECT password_hash FROM invite_links WHERE id = ?", (wiki.id,)
    )
    assert str(stored_hash).startswith("$argon2id$")


def test_states_and_words_from_a_record() -> None:
    moment = now()
    base = Link(
        id=1,
        token="t",
        label="",
        level="member",
        has_password=False,
        auto_accept=False,
        confirm_email=True,
        domains=(),
        max_uses=5,
        uses=5,
        expires_at=moment + timedelta(hours=12),
        revoked_at=None,
        created_by="x",
        created_at=moment,
    )
    assert base.state(moment) == "used up"
    assert base.summary(moment) == "5 of 5 uses · expires in 12 hours"
    assert base.join_mode == "approval"
    expired = msgspec.structs.replace(base, expires_at=moment - timedelta(days=2))
    assert expired.state(moment) == "expired"
    assert expired.expires_text(moment) == "2 days ago"
    assert expired.summary(moment) == "5 of 5 uses · expired 2 days ago"
    revoked = msgspec.structs.replace(expired, revoked_at=moment)
    assert revoked.state(moment) == "revoked"
    one = msgspec.structs.replace(base, max_uses=None, uses=1, expires_at=None)
    assert one.summary(moment) == "1 use · never expires"


async def test_label_is_cleaned_and_bad_drafts_refused(fast_store: Store) -> None:
    link = await make_link(fast_store, label="  Spring\t cohort\n ")
    assert link.label == "Spring cohort"
    with pytest.raises(LinkError, match=r"ESCAPE \(U\+001B\), at position 9"):
        await make_link(fast_store, label="  Spring\x1b[31m cohort\n ")
    with pytest.raises(LinkError, match="at most 100"):
        await make_link(fast_store, label="x" * 101)
    with pytest.raises(LinkError, match="at least 4"):
        await make_link(fast_store, password="abc")
    with pytest.raises(LinkError):
        await make_link(fast_store, max_uses=0)
    assert len(await list_links(fast_store)) == 1


async def test_edit_keeps_url_and_uses(fast_store: Store) -> None:
    link = await make_link(fast_store, label="Trial", password="opensesame", max_uses=5)
    await sign_up_by_link(fast_store, link.token, form(link_password="opensesame"), actor="web")
    edited = await edit_link(
        fast_store,
        link.id,
        LinkDraft(
            label="Trial 2",
            level="viewer",
            keep_password=True,
            password="ignored",
            auto_accept=False,
            confirm_email=False,
            keep_expiry=True,
            max_uses=10,
            domains=("acme.org",),
            allow_unconfirmed_domains=True,
        ),
        actor="tester",
    )
    assert edited.token == link.token
    assert edited.uses == 1
    assert edited.has_password
    assert edited.expires_at == link.expires_at
    assert (edited.label, edited.level, edited.max_uses) == ("Trial 2", "viewer", 10)
    assert (edited.auto_accept, edited.confirm_email, edited.domains) == (
        False,
        False,
        ("acme.org",),
    )
    cleared = await edit_link(
        fast_store, link.id, LinkDraft(label="Trial 2", expires_in=None), actor="tester"
    )
    assert not cleared.has_password
    assert cleared.expires_at is None
    with pytest.raises(LinkError, match="no link #999"):
        await edit_link(fast_store, 999, LinkDraft(), actor="tester")


async def test_revoke_stops_the_link_at_once_and_only_once(fast_store: Store) -> None:
    link = await make_link(fast_store, label="Leaked")
    revoked = await revoke_link(fast_store, link.id, actor="tester")
    assert revoked.state() == "revoked"
    with pytest.raises(TokenUnusable) as gone:
        await usable_link(fast_store, link.token)
    assert gone.value.known
    with pytest.raises(LinkError, match="already revoked"):
        await revoke_link(fast_store, link.id, actor="tester")


async def test_regenerate_kills_the_old_url_and_keeps_members(fast_store: Store) -> None:
    link = await make_link(fast_store, label="Cohort", confirm_email=False)
    first = await sign_up_by_link(fast_store, link.token, form("a@example.org"), actor="web")
    fresh = await regenerate_link(fast_store, link.id, actor="tester")
    assert fresh.token != link.token
    assert await link_by_token(fast_store, link.token) is None
    with pytest.raises(TokenUnusable) as gone:
        await sign_up_by_link(fast_store, link.token, form("b@example.org"), actor="web")
    assert not gone.value.known
    second = await sign_up_by_link(fast_store, fresh.token, form("c@example.org"), actor="web")
    members = await link_members(fast_store, link.id)
    assert {m.id for m in members} == {first.user_id, second.user_id}
    assert {m.email for m in members} == {"a@example.org", "c@example.org"}
    current = await get_link(fast_store, link.id)
    assert current is not None and current.uses == 2


async def test_every_change_is_audited(fast_store: Store) -> None:
    link = await make_link(fast_store, label="Audited", password="opensesame")
    await edit_link(
        fast_store, link.id, LinkDraft(label="Audited", keep_password=True), actor="bob"
    )
    await regenerate_link(fast_store, link.id, actor="bob")
    await revoke_link(fast_store, link.id, actor="bob")
    entries = await fast_store.audit_entries()
    assert [e.action for e in entries] == [
        "link_revoked",
        "link_regenerated",
        "link_edited",
        "link_created",
    ]
    assert all("Audited" in e.subject for e in entries)
    assert entries[-1].actor == "tester"
    assert entries[-1].detail_values()["password"] is True
    assert "opensesame" not in str([e.details for e in entries])
