"""One refusal type (store.domain.refusal.Refused): every store error that refuses input derives
from it, and each face shows its message as the store wrote it — the CLI as `usher: error: …`
(exit status 2), the signup pages next to the field."""

from __future__ import annotations

import asyncio
import html

import pytest

from console.cli.errors import CliError
from console.cli.with_store import with_store
from store import Settings, Store
from store.accounts.admins import AdminError, remove_admin
from store.accounts.users import UserNotFound, UsersError
from store.database.backup import BackupError
from store.domain.addresses import AddressProblem, UndeliverableAddress
from store.domain.csv_safe import ExportError
from store.domain.passwords import PasswordRejected
from store.domain.refusal import FormRefused, Refused
from store.messaging.outbox import OutboxError
from store.onboarding.bulk import BulkError
from store.onboarding.invitations import AcceptRefused, InvitationError
from store.onboarding.links import LinkError, revoke_link
from store.onboarding.signup import sign_up_by_link
from store.onboarding.single_user import Refused as AddRefused

from .fixtures_security import Client, submit
from .helpers import form, make_link, run_usher

ONE_MESSAGE = (
    LinkError,
    UsersError,
    UserNotFound,
    InvitationError,
    AdminError,
    OutboxError,
    BulkError,
    PasswordRejected,
    AddressProblem,
    UndeliverableAddress,
    ExportError,
    BackupError,
)


def test_every_store_refusal_is_one_type_and_keeps_its_message() -> None:
    for kind in ONE_MESSAGE:
        refused = kind("that cannot be done: try again")
        assert isinstance(refused, Refused), kind
        assert str(refused) == refused.message == "that cannot be done: try again"
        assert refused.errors == {"_": "that cannot be done: try again"}
    for kind in (LinkError, AdminError, PasswordRejected, AddressProblem):
        assert issubclass(kind, ValueError), kind  # what they were before
    fields = {"email": "the domain has no dot", "password": "too short"}
    for many in (FormRefused(fields), AcceptRefused(fields), AddRefused(errors=fields)):
        assert isinstance(many, Refused)
        assert str(many) == "the domain has no dot; too short"
        assert many.errors == fields and many.field == "email"
    assert Refused("pick a level", field="level").errors == {"level": "pick a level"}


def test_the_cli_turns_every_refusal_into_one_line(settings: Settings) -> None:
    for kind in ONE_MESSAGE:

        async def work(store: Store, kind: type[Refused] = kind) -> None:
            raise kind(f"{kind.__name__} says no")

        with pytest.raises(CliError) as caught:
            with_store(settings, work)
        assert str(caught.value) == f"{kind.__name__} says no"


async def test_the_cli_prints_a_store_refusal_as_the_store_wrote_it(
    store: Store, settings: Settings
) -> None:
    with pytest.raises(LinkError) as link_refused:
        await revoke_link(store, 7, actor="tester")
    with pytest.raises(AdminError) as admin_refused:
        await remove_admin(store, "nobody", actor="tester")

    revoked = await asyncio.to_thread(run_usher, "links", "revoke", "7", "--db", settings.db)
    removed = await asyncio.to_thread(run_usher, "admins", "remove", "nobody", "--db", settings.db)

    assert (revoked.returncode, revoked.stdout) == (2, "")
    assert revoked.stderr == f"usher: error: {link_refused.value}\n"
    assert str(link_refused.value) == "there is no link #7"
    assert (removed.returncode, removed.stdout) == (2, "")
    assert removed.stderr == f"usher: error: {admin_refused.value}\n"


async def test_a_signup_page_shows_the_store_refusal_by_its_field(
    fast_store: Store, client: Client
) -> None:
    link = await make_link(fast_store)
    weak = form(password="password", password_confirm="password")
    with pytest.raises(Refused) as refused:
        await sign_up_by_link(fast_store, link.token, weak, actor="tester")
    assert set(refused.value.errors) == {"password"}

    fields = {
        "email": weak.email,
        "first_name": weak.first_name,
        "last_name": weak.last_name,
        "password": weak.password,
        "password_confirm": weak.password_confirm,
    }
    response = await submit(client, f"/join/{link.token}", fields)
    assert response.status_code == 400
    page = html.unescape(response.text)
    assert refused.value.errors["password"] in page
    assert await fast_store.engine.scalar("SELECT count(*) FROM users") == 0
