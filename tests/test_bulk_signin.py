"""Each bulk password mode end to end: the created users sign in (store.accounts.auth.sign_in, the
same check the /login page makes) with the right password and only with it, and the first sign-in
asks for a new password whenever the admin did not choose to trust a given one."""

from __future__ import annotations

import pytest

from store import Store
from store.accounts.auth import SignInFailed, sign_in
from store.onboarding.bulk import BulkOptions, BulkResult, create_batch, preview

from .fixtures_bulk import password_for, people


async def run(store: Store, text: str, options: BulkOptions) -> BulkResult:
    parsed = await preview(store, text, options.passwords)
    return await create_batch(store, parsed, options, actor="test")


async def refused(store: Store, email: str, password: str) -> None:
    with pytest.raises(SignInFailed):
        await sign_in(store, email, password, actor="test")


async def test_random_for_each_signs_in_with_its_one_time_password(fast_store: Store) -> None:
    result = await run(fast_store, people(4), BulkOptions(passwords="random"))
    assert len(result.credentials) == 4
    for issued in result.credentials:
        session = await sign_in(fast_store, issued.email, issued.credential, actor="test")
        assert session.user.email == issued.email
        assert session.user.must_change_password
    first, second = result.credentials[:2]
    await refused(fast_store, first.email, second.credential)


async def test_one_for_all_signs_everyone_in_with_the_shared_password(fast_store: Store) -> None:
    shared = "acme welcomes you all"
    options = BulkOptions(passwords="same", shared_password=shared, must_change_password=False)
    result = await run(fast_store, people(3), options)
    for created in result.created:
        session = await sign_in(fast_store, created.email, shared, actor="test")
        assert session.user.must_change_password, "a shared password is always replaced"
        await refused(fast_store, created.email, shared + "!")


@pytest.mark.parametrize("must_change", [True, False])
async def test_given_passwords_sign_in_and_keep_the_must_change_choice(
    fast_store: Store, must_change: bool
) -> None:
    options = BulkOptions(passwords="given", must_change_password=must_change, notify=False)
    result = await run(fast_store, people(3, passwords=True), options)
    assert len(result.created) == 3
    for created in result.created:
        i = int(created.email.removeprefix("user").split("@")[0])
        session = await sign_in(fast_store, created.email, password_for(i), actor="test")
        assert session.user.must_change_password is must_change
        assert session.user.level == "member"
        await refused(fast_store, created.email, password_for(i + 1))
