"""While a bulk import hashes "given" passwords, signups keep flowing: the batch holds no write
lock during its CPU work, and a signup's hash queues behind at most a few of the batch's."""

from __future__ import annotations

import asyncio

import pytest

from store import Settings, Store
from store.domain.passwords import Hasher
from store.onboarding.bulk import BulkCancelled, BulkOptions, Progress, create_batch, preview
from store.onboarding.links import LinkDraft, create_link
from store.onboarding.signup import SignupForm, sign_up_by_link

from .fixtures_bulk import people

PASSWORD = "a walk in the quiet park"


async def test_a_signup_completes_while_a_batch_is_hashing(settings: Settings) -> None:
    # OWASP's cost, one hash at a time: 200 given passwords are seconds of work.
    async with await Store.open(settings, hasher=Hasher(max_in_flight=1), watch=False) as store:
        link = await create_link(store, LinkDraft(confirm_email=False), actor="test")
        parsed = await preview(store, people(200, passwords=True), "given")
        seen: list[Progress] = []
        signed_up: list[Progress] = []

        async def sign_up() -> None:
            while not seen or seen[-1].done == 0:  # wait until the batch is hashing
                await asyncio.sleep(0.01)
            form = SignupForm(
                email="zoe@example.org",
                first_name="Zoe",
                last_name="Quinn",
                password=PASSWORD,
                password_confirm=PASSWORD,
            )
            outcome = await sign_up_by_link(store, link.token, form, actor="web")
            assert outcome.kind == "active"
            signed_up.append(seen[-1])

        signup = asyncio.ensure_future(sign_up())
        with pytest.raises(BulkCancelled):
            await create_batch(
                store,
                parsed,
                BulkOptions(passwords="given"),
                actor="test",
                on_progress=seen.append,
                cancelled=lambda: bool(signed_up),  # stop once the signup is through
            )
        await signup
        (during,) = signed_up
        assert during.phase == "hashing"
        assert 0 < during.done < during.total == 200
        assert store.hasher.calls < 200
        users = await store.engine.fetchall("SELECT email, source FROM users")
        assert [(row["email"], row["source"]) for row in users] == [("zoe@example.org", "link")]
