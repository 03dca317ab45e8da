"""One bad message never stops the others: whatever goes wrong building or sending one row
marks that row `failed` with the reason, and the worker goes on (a real aiosmtpd relay)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from store import Settings, Store
from store.messaging.delivery import run_delivery

from .fixtures_smtp import (
    FAST,
    Gate,
    SmtpServer,
    deliver_until,
    mail_store,
    queue_messages,
    running,
    smtp_server,
    statuses,
    with_smtp,
)
from .helpers import eventually

__all__ = ["mail_store", "smtp_server"]  # fixtures used by name


async def _poison(store: Store, message_id: int, **columns: str) -> None:
    sets = ", ".join(f"{name} = ?" for name in columns)
    async with store.write("outbox") as tx:
        await tx.execute(
            f"UPDATE outbox SET {sets} WHERE id = ?",  # noqa: S608 - names from this test
            (*columns.values(), message_id),
        )


@pytest.fixture
async def plain_relay(settings: Settings) -> AsyncIterator[tuple[Store, SmtpServer]]:
    """A relay that does not offer SMTPUTF8, and a store pointing at it."""
    server = SmtpServer(enable_SMTPUTF8=False)
    with running(server):
        async with await Store.open(with_smtp(settings, server.url)) as store:
            yield store, server


async def test_poisoned_messages_fail_alone_and_the_good_ones_arrive(
    plain_relay: tuple[Store, SmtpServer],
) -> None:
    """The relay does not offer SMTPUTF8: a non-ASCII local part cannot go
    out; a payload that is not JSON cannot be rendered; a row whose time is garbage cannot even
    be read as a message."""
    mail_store, smtp_server = plain_relay
    good = [f"good{n}@example.org" for n in range(4)]
    poisoned = ["Älice@acme.org", "bad-json@example.org", "bad-row@example.org"]
    ids = await queue_messages(
        mail_store, [good[0], poisoned[0], good[1], poisoned[1], good[2], poisoned[2], good[3]]
    )
    utf8_local, bad_json, bad_row = ids[1], ids[3], ids[5]
    await _poison(mail_store, bad_json, payload="{not json")
    await _poison(mail_store, bad_row, created_at="yesterday")

    async def settled() -> bool:
        return "queued" not in (current := await statuses(mail_store)).values() and (
            "sending" not in current.values()
        )

    await deliver_until(mail_store, settled)
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == good
    final = await statuses(mail_store)
    assert [final[i] for i in ids] == ["sent", "failed"] * 3 + ["sent"]
    rows = await mail_store.engine.fetchall("SELECT id, last_error FROM outbox")
    reasons = {int(row["id"]): str(row["last_error"]) for row in rows}
    assert "SMTPUTF8" in reasons[utf8_local]
    assert "cannot build the message" in reasons[bad_json]
    assert "cannot read the message" in reasons[bad_row]


async def test_a_failed_sent_commit_is_logged(
    mail_store: Store, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Recording `sent` fails (a trigger refuses it) while the worker is being stopped: the loss
    is logged, with the ids, never swallowed."""
    async with mail_store.write() as tx:
        await tx.execute(
            """CREATE TRIGGER refuse_sent BEFORE UPDATE OF status ON outbox
               WHEN NEW.status = 'sent' BEGIN SELECT RAISE(ABORT, 'disk says no'); END"""
        )
    first, second = await queue_messages(mail_store, ["one@example.org", "two@example.org"])
    gate = Gate(passes=1)  # `one` is accepted (its commit waits for the batch), `two` is held
    smtp_server.handler.gate = gate
    worker = asyncio.create_task(run_delivery(mail_store, **FAST))
    try:
        await gate.wait_arrived()
    finally:
        worker.cancel()
        gate.release.set()
    with caplog.at_level(logging.ERROR, logger="usher.mail"), pytest.raises(asyncio.CancelledError):
        await worker
    lost = [r for r in caplog.records if "could not record" in r.getMessage()]
    assert lost, [r.getMessage() for r in caplog.records]
    assert f"#{first}" in lost[0].getMessage() and lost[0].exc_info is not None
    assert "disk says no" in str(lost[0].exc_info[1])
    del second


async def test_a_poisoned_kept_message_does_not_stop_the_files_of_the_others(
    settings: Settings, tmp_path: Path
) -> None:
    """Without SMTP, messages are kept and written to USHER_MAIL_DIR: a kept row that cannot
    be read, or rendered, is skipped and logged; the files of the others are written."""
    folder = tmp_path / "mail"
    kept = msgspec.structs.replace(settings, mail_dir=str(folder))
    async with await Store.open(kept) as store:
        ids = await queue_messages(store, [f"k{n}@example.org" for n in range(4)])
        await _poison(store, ids[1], payload="{not json")
        await _poison(store, ids[2], created_at="yesterday")
        stop = asyncio.Event()
        worker = asyncio.create_task(run_delivery(store, stop_event=stop, **FAST))

        async def written() -> bool:
            return {int(p.stem) for p in folder.glob("*.eml")} == {ids[0], ids[3]}

        try:
            await eventually(written)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 10)
        assert worker.exception() is None
