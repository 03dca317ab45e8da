"""Accounts under attack: argon2id parameters, re-hashing, the cap on hashes in flight, the
maximum length, no account enumeration through sign-in or password reset, and tokens that are
long, stored only as digests, single use and expiring.

Hasher work is checked by structure (a real `Hasher` subclass counts its argon2 operations);
how long it takes is measured only in bench/.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import re
from pathlib import Path

import msgspec
import pytest

from store import Settings, SettingsError, Store, load_settings
from store.accounts.auth import SignInFailed, set_password_by_token, sign_in
from store.domain.passwords import (
    DEFAULT_MEMORY_KIB,
    DEFAULT_TIME_COST,
    MAX_LENGTH,
    Hasher,
    PasswordRejected,
    meets_owasp_minimum,
)
from store.domain.tokens import TOKEN_BYTES, new_token, same_secret, token_digest
from store.onboarding.links import LinkDraft, create_link
from store.onboarding.signup import (
    FormRefused,
    SignupForm,
    TokenUnusable,
    confirm_email,
    sign_up_by_link,
)

from .fixtures_security import (
    CHEAP,
    GOOD_PASSWORD,
    MEMBER,
    CountingHasher,
    World,
    csrf_from,
    open_world,
    without_csrf,
    world,
)
from .helpers import ROOT

__all__ = ["world"]

PHC = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


def parameters(phc: str) -> tuple[int, int, int]:
    match = PHC.match(phc)
    assert match, f"not an argon2id PHC string: {phc[:30]}"
    memory, time_cost, parallelism = (int(group) for group in match.groups())
    return memory, time_cost, parallelism


# --- argon2id parameters ---------------------------------------------------------------------


async def test_default_hashes_are_argon2id_at_owasps_minimum_or_better(store: Store) -> None:
    """The store's hasher as production opens it, and a password stored by a real signup."""
    link = await create_link(
        store, msgspec.structs.replace(LinkDraft(), confirm_email=False), actor="t"
    )
    form = SignupForm(
        email="ann@example.org",
        first_name="Ann",
        last_name="Lee",
        password=GOOD_PASSWORD,
        password_confirm=GOOD_PASSWORD,
    )
    await sign_up_by_link(store, link.token, form, actor="t")
    stored = str(await store.engine.scalar("SELECT password_hash FROM users"))
    memory, time_cost, parallelism = parameters(stored)
    assert (memory, time_cost, parallelism) == (DEFAULT_MEMORY_KIB, DEFAULT_TIME_COST, 1)
    assert memory >= 19 * 1024 and time_cost >= 2 and parallelism >= 1
    assert meets_owasp_minimum(memory_kib=memory, time_cost=time_cost, parallelism=parallelism)
    assert GOOD_PASSWORD not in stored


async def test_argon2_parameters_are_configurable_but_never_below_owasp(tmp_path: Path) -> None:
    environ = {"USHER_ARGON2_MEMORY_KIB": str(46 * 1024), "USHER_ARGON2_TIME_COST": "1"}
    settings = load_settings({"db": str(tmp_path / "u.db")}, environ=environ)
    async with await Store.open(settings) as store:
        assert parameters(await store.hasher.hash("a fine passphrase")) == (46 * 1024, 1, 1)
    for weak in [
        {"argon2_memory_kib": 8},
        {"argon2_time_cost": 1},  # 19 MiB needs two passes
        {"argon2_memory_kib": 12 * 1024, "argon2_time_cost": 2},
        {"argon2_parallelism": 0},
    ]:
        with pytest.raises(SettingsError, match="OWASP"):
            load_settings(weak, environ={})
    assert not meets_owasp_minimum(memory_kib=19 * 1024 - 1, time_cost=2, parallelism=1)
    assert meets_owasp_minimum(memory_kib=7 * 1024, time_cost=5, parallelism=1)


async def test_sign_in_upgrades_a_hash_made_with_weaker_parameters(settings: Settings) -> None:
    async with await Store.open(settings, hasher=Hasher(**CHEAP)) as old:
        link = await create_link(
            old, msgspec.structs.replace(LinkDraft(), confirm_email=False), actor="t"
        )
        form = SignupForm(
            email=MEMBER,
            first_name="Sam",
            last_name="Ray",
            password=GOOD_PASSWORD,
            password_confirm=GOOD_PASSWORD,
        )
        await sign_up_by_link(old, link.token, form, actor="t")
        weak = str(await old.engine.scalar("SELECT password_hash FROM users"))
    assert parameters(weak) == (8, 1, 1)
    async with await Store.open(settings) as new:  # production parameters
        assert new.hasher.needs_rehash(weak)
        await sign_in(new, MEMBER, GOOD_PASSWORD, actor="t")
        upgraded = str(await new.engine.scalar("SELECT password_hash FROM users"))
        assert parameters(upgraded) == (DEFAULT_MEMORY_KIB, DEFAULT_TIME_COST, 1)
        assert not new.hasher.needs_rehash(upgraded)
        await sign_in(new, MEMBER, GOOD_PASSWORD, actor="t")  # the new hash verifies
        with pytest.raises(SignInFailed):
            await sign_in(new, MEMBER, "not the password at all", actor="t")


# --- the cap on hashes in flight -------------------------------------------------------------


async def test_hashes_in_flight_are_capped() -> None:
    """A flood of signups queues for the hasher instead of taking every thread and core."""
    hasher = CountingHasher(delay=0.02, max_in_flight=2)
    stored = await hasher.hash("a fine passphrase")
    await asyncio.gather(
        *(hasher.hash(f"passphrase number {n}") for n in range(6)),
        *(hasher.verify(stored, f"guess number {n}") for n in range(6)),
    )
    assert hasher.argon2_ops == 13
    assert 1 <= hasher.peak <= 2


async def test_the_stores_hasher_is_capped_by_default(store: Store) -> None:
    slots = store.hasher._slots  # the semaphore every hash and verify waits on
    assert isinstance(slots, asyncio.Semaphore)
    assert 1 <= slots._value <= 64


# --- maximum length, checked before hashing ---------------------------------------------------


async def test_an_overlong_password_is_refused_before_any_hashing(world: World) -> None:
    huge = "x" * 60_000
    hasher = world.hasher
    await hasher.verify_nothing("prepare the dummy hash")
    ops = hasher.argon2_ops
    with pytest.raises(PasswordRejected):
        await hasher.hash("y" * (MAX_LENGTH + 1))
    assert not await hasher.verify(
        str(
            await world.store.engine.scalar(
                "SELECT password_hash FROM users WHERE email = ?", (MEMBER,)
            )
        ),
        huge,
    )
    with pytest.raises(SignInFailed):
        await sign_in(world.store, MEMBER, huge, actor="t")
    with pytest.raises(SignInFailed):
        await sign_in(world.store, "nobody@example.org", huge, actor="t")
    form = SignupForm(
        email="long@example.org",
        first_name="Lo",
        last_name="Ng",
        password="z" * (MAX_LENGTH + 1),
        password_confirm="z" * (MAX_LENGTH + 1),
    )
    with pytest.raises(FormRefused) as refused:
        await sign_up_by_link(world.store, world.link.token, form, actor="t")
    assert "at most 128" in refused.value.errors["password"]
    assert hasher.argon2_ops == ops, "no argon2 work for an over-long password"
    # Over HTTP, the body limit allows about 60 KB; that "password" is not hashed either.
    page = await world.client.get("/login")
    response = await world.client.post(
        "/login",
        data={"_csrf_token": csrf_from(page.text), "email": MEMBER, "password": huge},
    )
    assert response.status_code == 400
    assert hasher.argon2_ops == ops


async def test_the_longest_allowed_password_still_works(world: World) -> None:
    longest = "é" * MAX_LENGTH  # the same length after NFKC
    stored = await world.hasher.hash(longest)
    assert await world.hasher.verify(stored, longest)


# --- no enumeration ----------------------------------------------------------------------------


async def test_sign_in_of_an_unknown_address_does_a_verify_and_answers_the_same(
    world: World,
) -> None:
    client, hasher = world.client, world.hasher
    await client.post("/logout", data={"_csrf_token": await world.token()})
    await hasher.verify_nothing("prepare the dummy hash once")
    answers = []
    for email in [MEMBER, "nobody@example.org"]:
        page = await client.get("/login")
        before = hasher.verifies
        response = await client.post(
            "/login",
            data={"_csrf_token": csrf_from(page.text), "email": email, "password": "wrong pass"},
        )
        assert hasher.verifies == before + 1, f"one argon2 verify for {email}"
        answers.append(response)
    known, unknown = answers
    assert known.status_code == unknown.status_code == 400
    strip = MEMBER, "nobody@example.org"
    assert without_csrf(known.text).replace(strip[0], "@") == without_csrf(unknown.text).replace(
        strip[1], "@"
    )
    assert set(known.headers) == set(unknown.headers)


async def test_forgot_password_answers_alike_for_every_kind_of_address(world: World) -> None:
    async with world.store.write() as tx:
        await tx.execute(
            "UPDATE users SET status = 'disabled' WHERE email = ?", ("una@example.org",)
        )
    answers = []
    for email in [MEMBER, "nobody@example.org", "una@example.org", "not an address"]:
        page = await world.client.get("/password/forgot")
        response = await world.client.post(
            "/password/forgot",
            data={"_csrf_token": csrf_from(page.text), "email": email},
            follow_redirects=False,
        )
        follow = await world.client.get(response.headers["location"])
        answers.append(
            (
                response.status_code,
                response.headers["location"],
                response.text,
                without_csrf(follow.text),
            )
        )
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0][:2] == (303, "/password/forgot?sent=1")


# --- tokens ------------------------------------------------------------------------------------


def test_tokens_carry_at_least_128_random_bits() -> None:
    import base64

    assert TOKEN_BYTES * 8 >= 128
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    for token in list(tokens)[:50]:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 128
    assert token_digest("abc") == hashlib.sha256(b"abc").hexdigest()


async def every_text_cell(store: Store) -> list[tuple[str, str]]:
    """(table, cell) for every text cell of every table."""
    tables = await store.engine.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    cells = []
    for table in tables:
        name = str(table["name"])
        rows = await store.engine.fetchall(f'SELECT * FROM "{name}"')  # noqa: S608 - from the schema
        cells += [(name, str(value)) for row in rows for value in row if isinstance(value, str)]
    return cells


async def test_per_person_tokens_are_stored_only_as_sha256(world: World) -> None:
    """Sessions, confirmation, set-password and invitation tokens: only their digest is kept.
    The raw token of an emailed link lives only in its unsent email (the admin may pass a kept
    one on); a session token is nowhere in the database file or its WAL."""
    page = await world.client.get("/login")
    await world.client.post(
        "/login",
        data={"_csrf_token": csrf_from(page.text), "email": MEMBER, "password": GOOD_PASSWORD},
    )
    session = world.client.cookies["usher_session"]
    emailed = {
        "action_tokens": [world.set_password_token, world.confirm_token],
        "invitations": [world.invitation_token],
    }
    cells = await every_text_cell(world.store)
    digests = {value for _, value in cells}
    for token in [session, *emailed["action_tokens"], *emailed["invitations"]]:
        assert len(token) >= 43
        assert token_digest(token) in digests, "stored as its SHA-256"
        where = {table for table, value in cells if token in value}
        assert where <= {"outbox"}, f"raw token found in {where}"
    raw = b"".join(
        path.read_bytes()
        for path in Path(world.store.path).parent.iterdir()
        if path.name.startswith(Path(world.store.path).name)
    )
    assert session.encode() not in raw


async def test_tokens_are_single_use_and_expire(world: World) -> None:
    store = world.store
    # A confirmation link works once; then it only says "already confirmed".
    first = await confirm_email(store, world.confirm_token, actor="t")
    assert not first.already
    assert (await confirm_email(store, world.confirm_token, actor="t")).already
    # A set-password link works once.
    new = "a passphrase from the link"
    await set_password_by_token(store, world.set_password_token, new, new, actor="t")
    with pytest.raises(TokenUnusable):
        await set_password_by_token(store, world.set_password_token, new, new, actor="t")
    # An expired one does not work at all.
    from store.accounts.auth import request_password_reset, set_password_account

    await request_password_reset(store, MEMBER, actor="t")
    row = await store.engine.fetchone(
        "SELECT payload FROM outbox WHERE kind = 'set_password' ORDER BY id DESC LIMIT 1"
    )
    assert row is not None
    fresh = str(msgspec.json.decode(row["payload"])["set_password_url"]).rsplit("/", 1)[1]
    assert (await set_password_account(store, fresh)).email == MEMBER
    async with store.write() as tx:
        await tx.execute(
            "UPDATE action_tokens SET expires_at = '2000-01-01T00:00:00.000000Z' "
            "WHERE token_hash = ?",
            (token_digest(fresh),),
        )
    with pytest.raises(TokenUnusable) as gone:
        await set_password_account(store, fresh)
    assert gone.value.known
    # Unknown tokens are refused the same way (a digest lookup finds nothing).
    with pytest.raises(TokenUnusable):
        await set_password_account(store, new_token())


async def test_sessions_expire(settings: Settings) -> None:
    async with open_world(settings) as world:
        assert (await world.client.get("/account", follow_redirects=False)).status_code == 200
        async with world.store.write() as tx:
            await tx.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000000Z'")
        response = await world.client.get("/account", follow_redirects=False)
        assert response.headers["location"] == "/login"


SECRET_NAMES = re.compile(r"token|secret|credential|digest|password|hash", re.IGNORECASE)
NOT_A_SECRET_CHECK = {
    "password != confirm": "the two new-password fields of one form",
    "form.password != form.password_confirm": "the two new-password fields of one form",
    "parsed.mode != options.passwords": "a password mode, not a password",
}


def test_secrets_are_compared_in_constant_time_or_looked_up_by_digest() -> None:
    """No `==` on anything secret in store/: per-person tokens are found by their SHA-256 in
    SQL (equal timing for every guess that is not already right), the rest through
    `same_secret` (hmac.compare_digest)."""
    found = []
    for path in sorted((ROOT / "store").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(isinstance(operand, ast.Constant) for operand in operands):
                continue
            text = ast.unparse(node)
            secret = any(SECRET_NAMES.search(ast.unparse(o)) for o in operands)
            if secret and text not in NOT_A_SECRET_CHECK:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text}")
    assert not found, "compare secrets with store.domain.tokens.same_secret:\n" + "\n".join(found)
    assert same_secret("abc", "abc") and not same_secret("abc", "abd")
