"""`store.onboarding.signup_recovery`: resending and moving an unconfirmed signup (issue 17), for
the browser holding its proof and nobody else."""

from __future__ import annotations

import pytest

from store import Store
from store.onboarding.signup import FormRefused, confirm_email, sign_up_by_link
from store.onboarding.signup_recovery import change_signup_address, resend_confirmation

from .fixtures_postgres import settings_on_both_engines
from .helpers import form, make_link, outbox_rows, token_in

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


async def test_resend_is_limited_and_answers_the_same_for_an_existing_address(
    fast_store: Store,
) -> None:
    link = await make_link(fast_store, max_uses=5)
    new = await sign_up_by_link(fast_store, link.token, form("new@example.org"), actor="w")
    await sign_up_by_link(fast_store, link.token, form("old@example.org"), actor="w")
    [_, old_mail] = await outbox_rows(fast_store, "confirm_email")
    await confirm_email(
        fast_store, token_in(old_mail["values"]["confirm_url"], "confirm"), actor="w"
    )
    existing = await sign_up_by_link(fast_store, link.token, form("old@example.org"), actor="w")
    answers = {
        name: [
            (await resend_confirmation(fast_store, outcome.browser_proof, actor="w")).allowed
            for _ in range(3)
        ]
        for name, outcome in (("new", new), ("existing", existing))
    }
    assert answers["new"] == answers["existing"] == [True, True, False]  # 3 an hour, first counted
    sent = [m["recipient"] for m in await outbox_rows(fast_store, "confirm_email")]
    assert sent.count("new@example.org") == 3 and sent.count("old@example.org") == 1
    assert not (await resend_confirmation(fast_store, "1.forged", actor="w")).allowed


async def test_moving_to_an_address_with_an_account_gives_the_link_use_back(
    fast_store: Store,
) -> None:
    link = await make_link(fast_store, max_uses=2)
    await sign_up_by_link(fast_store, link.token, form("ann@example.org"), actor="w")
    [mail] = await outbox_rows(fast_store, "confirm_email")
    await confirm_email(fast_store, token_in(mail["values"]["confirm_url"], "confirm"), actor="w")
    typo = await sign_up_by_link(fast_store, link.token, form("an@example.org"), actor="w")
    assert await fast_store.engine.scalar("SELECT uses FROM invite_links") == 2
    moved = await change_signup_address(
        fast_store, typo.browser_proof, "ANN@example.org", actor="w"
    )
    assert moved == "ANN@example.org"
    assert await fast_store.engine.scalar("SELECT uses FROM invite_links") == 1
    assert await fast_store.engine.scalar("SELECT count(*) FROM users") == 1
    assert [m["kind"] for m in await outbox_rows(fast_store)][-1] == "account_exists"


async def test_moving_refuses_what_the_link_refuses_and_a_forged_proof(fast_store: Store) -> None:
    link = await make_link(fast_store, domains=("example.org",))
    typo = await sign_up_by_link(fast_store, link.token, form("bea@example.org"), actor="w")
    with pytest.raises(FormRefused) as outside:
        await change_signup_address(fast_store, typo.browser_proof, "bea@other.test", actor="w")
    assert "example.org" in outside.value.errors["email"]
    with pytest.raises(FormRefused):
        await change_signup_address(fast_store, typo.browser_proof, "bea@@x", actor="w")
    forged = typo.browser_proof[:-4] + "0000"
    await change_signup_address(fast_store, forged, "eve@example.org", actor="w")
    assert await fast_store.engine.scalar("SELECT email FROM users") == "bea@example.org"
