"""USHER_MAIL_DIR copies are kept exactly as the database copy is: scrubbed of one-time links
once sent, deleted with the rows an erasure or a revoked invitation removes, redacted where an
erasure redacts (tests read the files)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from store import Settings, Store
from store.accounts.erasure import erase_users
from store.messaging.delivery import run_delivery
from store.messaging.outbox import SCRUBBED, enqueue
from store.onboarding.approvals import send_pending_digest
from store.onboarding.invitations import revoke_invitation

from .fixtures_invitations import invite
from .fixtures_smtp import FAST, SmtpServer, all_status, deliver_until, running, with_smtp
from .fixtures_users import add_user
from .helpers import cheap_hasher, eventually


def _files(folder: Path) -> dict[int, str]:
    return {int(p.stem): p.read_text() for p in folder.glob("*.eml")}


async def test_a_sent_messages_file_loses_its_one_time_link(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    relay = SmtpServer()
    with running(relay):
        configured = with_smtp(settings, relay.url, mail_dir=str(folder))
        async with await Store.open(configured) as store:
            async with store.write() as tx:
                message_id = await enqueue(
                    tx,
                    store.settings,
                    to="ann@example.org",
                    kind="test",
                    values={"sent_by": "https://x.test/join/LIVE-TOKEN-1"},
                    secret_keys=["sent_by"],
                )
            await deliver_until(store, all_status(store, "sent", 1))
    [received] = relay.received
    assert b"LIVE-TOKEN-1" in received.data  # the recipient got the real link
    written = _files(folder)[message_id]
    assert "LIVE-TOKEN-1" not in written  # the copy, like the row, no longer holds it
    assert SCRUBBED in written


async def test_erasure_deletes_the_persons_files_and_redacts_a_digest(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    configured = msgspec.structs.replace(
        settings, mail_dir=str(folder), notify=["boss@example.org"]
    )
    async with await Store.open(configured, hasher=cheap_hasher()) as store:
        victim = await add_user(store, "victim@example.org", first="Vic", last="Tim")
        await add_user(store, "other@example.org")
        async with store.write() as tx:
            to_victim = await enqueue(
                tx, store.settings, to="victim@example.org", kind="test", values={"sent_by": "x"}
            )
            to_other = await enqueue(
                tx, store.settings, to="other@example.org", kind="test", values={"sent_by": "y"}
            )
        assert await send_pending_digest(store) == 2  # the digest to the boss lists both
        stop = asyncio.Event()
        worker = asyncio.create_task(run_delivery(store, stop_event=stop, **FAST))
        try:

            async def written() -> bool:
                return len(_files(folder)) == 3

            await eventually(written)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 10)
        digest = next(i for i, text in _files(folder).items() if "boss@example.org" in text)
        assert "victim@example.org" in _files(folder)[digest]
        await erase_users(store, [victim], actor="alice")
        files = _files(folder)
        assert to_victim not in files
        assert to_other in files and "other@example.org" in files[to_other]
        assert "victim@example.org" not in files[digest]
        assert f"user#{victim}" in files[digest] and "other@example.org" in files[digest]
        assert not any("victim@example.org" in text for text in files.values())


async def test_a_revoked_invitations_kept_file_is_deleted(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    configured = msgspec.structs.replace(settings, mail_dir=str(folder))  # no SMTP: kept
    async with await Store.open(configured, hasher=cheap_hasher()) as store:
        result = await invite(store, "cat@example.org\ndan@example.org")
        stop = asyncio.Event()
        worker = asyncio.create_task(run_delivery(store, stop_event=stop, **FAST))
        try:

            async def written() -> bool:
                return len(_files(folder)) == 2

            await eventually(written)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 10)
        cat_file = next(i for i, text in _files(folder).items() if "cat@example.org" in text)
        assert "/invite/" in _files(folder)[cat_file]  # the kept copy holds the live link
        await revoke_invitation(store, result.invitation_ids[0], actor="alice")
        files = _files(folder)
        assert cat_file not in files
        assert len(files) == 1 and "dan@example.org" in next(iter(files.values()))
