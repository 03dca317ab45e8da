"""Leases name their holder: a worker killed with SIGKILL is proven gone by its lock, so its
messages are taken over at once (not after its 300 s lease), and results are recorded by id
AND lease holder, so a row erased while being sent never lends its result to another row."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from store import Settings, Store
from store.database.instance_lock import HolderMark, clear_dead_marks, holder_gone, holders_dir
from store.messaging.delivery import DeliveryPolicy, DeliveryWorker
from store.messaging.smtp_url import parse_smtp_url

from .fixtures_postgres import settings_on_both_engines
from .fixtures_smtp import (
    Gate,
    SmtpServer,
    queue_messages,
    running,
    start_worker_process,
    statuses,
    with_smtp,
)
from .helpers import ROOT, eventually

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


def _worker(store: Store, owner: str) -> DeliveryWorker:
    policy = DeliveryPolicy(lease_seconds=300.0)
    return DeliveryWorker(store, parse_smtp_url(store.settings.smtp_url), policy, owner)


async def test_a_killed_workers_messages_are_taken_over_at_once(settings: Settings) -> None:
    relay = SmtpServer()
    gate = Gate()  # the first worker is stuck in DATA when it is killed
    relay.handler.gate = gate
    with running(relay):
        async with await Store.open(with_smtp(settings, relay.url)) as store:
            [stuck] = await queue_messages(store, ["stuck@example.org"])
            proc = start_worker_process(ROOT, settings.db, relay.url, expect=99)
            try:
                await gate.wait_arrived()
                owner = await store.engine.scalar(
                    "SELECT lease_owner FROM outbox WHERE id = ?", (stuck,)
                )
                assert owner and f":{proc.pid}:" in owner
                # A live holder's lease is respected, by this process's workers too.
                early = _worker(store, "early:1:a")
                assert await early.claim() == []
                early.release_mark()
                os.kill(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait, 30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate(timeout=30)
                gate.release.set()
            assert proc.returncode == -signal.SIGKILL
            # The lease (300 s) is far from over, but its holder is provably gone.
            taker = _worker(store, "taker:2:b")
            try:
                claimed = await taker.claim()
                assert [m.id for m in claimed] == [stuck]
                assert claimed[0].lease_owner == "taker:2:b"
                assert claimed[0].attempts == 1  # the interrupted attempt counts
            finally:
                taker.release_mark()
            # The dead holder's mark is gone; the taker's own was removed when it let go.
            assert list(holders_dir(settings.db).glob("*.lock")) == []


async def test_a_result_is_recorded_by_id_and_lease_holder(settings: Settings) -> None:
    """The row a worker is sending is deleted and a new row takes its id (as SQLite did before
    AUTOINCREMENT, and as a restored or hand-edited file still may): the worker's 250 must not
    mark the newcomer sent."""
    relay = SmtpServer()
    gate = Gate()
    relay.handler.gate = gate
    with running(relay):
        async with await Store.open(with_smtp(settings, relay.url)) as store:
            [victim] = await queue_messages(store, ["victim@example.org"], sent_by="VICTIM")
            worker = _worker(store, "me:1:c")
            [claimed] = await worker.claim()
            sending = asyncio.create_task(worker._deliver_batch([claimed]))
            await gate.wait_arrived()
            async with store.write("outbox") as tx:
                await tx.execute("DELETE FROM outbox WHERE id = ?", (victim,))
            [newcomer] = await queue_messages(store, ["bystander@example.org"], sent_by="BYSTANDER")
            if newcomer != victim:  # ids are not reused any more (AUTOINCREMENT): reuse it here
                async with store.write("outbox") as tx:
                    await tx.execute("UPDATE outbox SET id = ? WHERE id = ?", (victim, newcomer))
            bystander = victim
            gate.release.set()
            await sending
            worker.release_mark()
            row = await store.engine.fetchone("SELECT * FROM outbox WHERE id = ?", (bystander,))
            assert row is not None
            assert row["recipient"] == "bystander@example.org"
            assert row["status"] == "queued" and "BYSTANDER" in row["payload"]
            assert await statuses(store) == {bystander: "queued"}

            async def delivered() -> bool:
                return len(relay.received_by("bystander@example.org")) == 1

            taker = _worker(store, "next:1:d")
            await taker.deliver_due()
            taker.release_mark()
            await eventually(delivered)
            assert (await statuses(store))[bystander] == "sent"


def test_marks_of_holders_that_died_holding_nothing_are_cleared(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    live = HolderMark(db, "live:1:a")
    died_idle = HolderMark(db, "idle:2:b")
    died_holding = HolderMark(db, "holding:3:c")
    for dead in (died_idle, died_holding):  # the kernel drops a dead process's lock
        assert dead._file is not None
        dead._file.close()
        dead._file = None
    assert not holder_gone(db, "live:1:a")
    assert clear_dead_marks(db, keep=["holding:3:c"]) == 1
    names = sorted(p.name for p in holders_dir(db).glob("*.lock"))
    assert names == ["holding:3:c.lock", "live:1:a.lock"]
    assert holder_gone(db, "holding:3:c")  # still provable for the next claim, then removed
    assert not holder_gone(db, "unknown:4:d")  # no mark: not proven gone
    live.release()
    assert list(holders_dir(db).glob("*.lock")) == []
