"""Delivery against a real SMTP server (aiosmtpd on loopback): one connection per run, retries
with backoff, permanent refusals, leases across processes, kept mail and `.eml` files."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from store import Settings, Store
from store.domain.clock import db_now
from store.messaging.delivery import run_delivery
from store.messaging.outbox import SCRUBBED, enqueue, get_message

from .fixtures_postgres import settings_on_both_engines
from .fixtures_smtp import (
    FAST,
    PasswordCheck,
    SmtpServer,
    all_status,
    deliver_until,
    mail_store,
    make_certificate,
    queue_messages,
    running,
    server_tls_context,
    smtp_server,
    start_worker_process,
    statuses,
    with_smtp,
)
from .helpers import ROOT, free_port
from .work_counters import WriteCounter

__all__ = ["mail_store", "settings_on_both_engines", "smtp_server"]  # fixtures used by name
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


def wait_for_start(worker: subprocess.Popen[str]) -> None:
    """Read the worker process's log until its delivery loop says it started."""
    assert worker.stderr is not None
    for line in worker.stderr:
        if "delivery started" in line:
            return
    raise AssertionError("the worker process ended before its delivery started")


async def test_a_batch_goes_over_one_connection(mail_store: Store, smtp_server: SmtpServer) -> None:
    recipients = [f"person{n}@example.org" for n in range(6)]
    ids = await queue_messages(mail_store, recipients)
    await deliver_until(mail_store, all_status(mail_store, "sent", len(ids)))
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(recipients)
    assert smtp_server.handler.connections == 1
    for message_id in ids:
        message = await get_message(mail_store, message_id)
        assert message is not None
        assert message.attempts == 1
        assert message.sent_at is not None
        assert message.lease_owner is None


async def test_server_down_then_up_delivers_each_exactly_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = SmtpServer()  # not started: connections are refused
    store = await Store.open(with_smtp(settings, server.url))
    try:
        ids = await queue_messages(store, ["a@example.org", "b@example.org", "c@example.org"])
        rounds = WriteCounter(store, monkeypatch)
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_delivery(store, stop_event=stop, max_attempts=1000, **FAST)
        )

        async def tried_while_down() -> bool:
            rows = await store.engine.fetchall("SELECT attempts, last_error, status FROM outbox")
            return all(
                row["attempts"] >= 2 and row["status"] in ("queued", "sending") for row in rows
            )

        try:
            from .helpers import eventually

            await eventually(tried_while_down)
            row = await store.engine.fetchone("SELECT status, last_error FROM outbox LIMIT 1")
            assert row is not None
            assert "cannot connect" in row["last_error"]
            with running(server):
                await eventually(all_status(store, "sent", len(ids)))
                # Five more rounds of the worker: nothing is sent twice.
                await asyncio.wait_for(rounds.more(5), 60)
                counts = Counter(r.rcpt_tos[0] for r in server.received)
                assert counts == {"a@example.org": 1, "b@example.org": 1, "c@example.org": 1}
                assert len({r.message_id for r in server.received}) == 3
        finally:
            stop.set()
            await asyncio.wait_for(worker, 10)
    finally:
        await store.close()


async def test_a_4xx_then_success_is_delivered_once_after_two_attempts(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.temporary_failures = 1
    [message_id] = await queue_messages(mail_store, ["busy@example.org"])
    await deliver_until(mail_store, all_status(mail_store, "sent", 1))
    assert len(smtp_server.received_by("busy@example.org")) == 1
    message = await get_message(mail_store, message_id)
    assert message is not None
    assert message.attempts == 2
    assert message.last_error == ""


async def test_a_5xx_recipient_fails_alone_with_the_reply_kept(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.reject = {"nobody@example.org"}
    ids = await queue_messages(
        mail_store, ["first@example.org", "nobody@example.org", "last@example.org"]
    )

    async def settled() -> bool:
        return set((await statuses(mail_store)).values()) <= {"sent", "failed"}

    await deliver_until(mail_store, settled)
    final = await statuses(mail_store)
    assert final == {ids[0]: "sent", ids[1]: "failed", ids[2]: "sent"}
    failed = await get_message(mail_store, ids[1])
    assert failed is not None
    assert failed.attempts == 1
    assert failed.last_error.startswith("550")
    assert "mailbox unavailable" in failed.last_error
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == [
        "first@example.org",
        "last@example.org",
    ]
    # One connection carried all three, the refusal included.
    assert smtp_server.handler.connections == 1


async def test_transient_failures_give_up_after_max_attempts(settings: Settings) -> None:
    server = SmtpServer()  # never started
    async with await Store.open(with_smtp(settings, server.url)) as store:
        [message_id] = await queue_messages(store, ["late@example.org"])
        await deliver_until(store, all_status(store, "failed", 1), max_attempts=3)
        message = await get_message(store, message_id)
        assert message is not None
        assert message.attempts == 3
        assert "cannot connect to 127.0.0.1" in message.last_error


async def test_two_processes_never_send_the_same_message(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.data_delay = 0.01
    total = 40
    store = await Store.open(with_smtp(settings, smtp_server.url))
    try:
        workers = [
            start_worker_process(ROOT, settings.db, smtp_server.url, total) for _ in range(2)
        ]
        try:
            for worker in workers:  # both processes are up and waiting
                await asyncio.to_thread(wait_for_start, worker)
            for start in range(0, total, 5):  # arrivals over time, from this third process
                await queue_messages(store, [f"p{n}@example.org" for n in range(start, start + 5)])
                await asyncio.sleep(0.02)
            outputs = [
                await asyncio.to_thread(worker.communicate, timeout=60) for worker in workers
            ]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
        for worker, (_, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, err
            assert "Traceback" not in err
        sent_lines = [err.count(") sent") for _, err in outputs]
        print("messages sent by each process:", sent_lines)
        assert sum(sent_lines) == total
        ids = Counter(r.message_id for r in smtp_server.received)
        assert len(ids) == total
        assert max(ids.values()) == 1
        assert all(status == "sent" for status in (await statuses(store)).values())
    finally:
        await store.close()


async def test_a_crashed_workers_lease_is_taken_over(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    [message_id] = await queue_messages(mail_store, ["orphan@example.org"])
    async with mail_store.write("outbox") as tx:  # a worker claimed it, then died
        await tx.execute(
            """UPDATE outbox SET status = 'sending', lease_owner = 'dead:1:x',
                                 lease_until = ? WHERE id = ?""",
            ("2000-01-01T00:00:00.000000Z", message_id),
        )
    await deliver_until(mail_store, all_status(mail_store, "sent", 1))
    assert len(smtp_server.received_by("orphan@example.org")) == 1
    message = await get_message(mail_store, message_id)
    assert message is not None
    assert message.attempts == 2  # the interrupted attempt counts


async def test_a_live_lease_is_left_alone(
    mail_store: Store, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    held, free = await queue_messages(mail_store, ["held@example.org", "free@example.org"])
    async with mail_store.write("outbox") as tx:
        await tx.execute(
            """UPDATE outbox SET status = 'sending', lease_owner = 'other:2:y',
                                 lease_until = '2999-01-01T00:00:00.000000Z' WHERE id = ?""",
            (held,),
        )

    rounds = WriteCounter(mail_store, monkeypatch)
    sent_by_round: int | None = None

    async def free_sent_and_three_rounds_more() -> bool:
        nonlocal sent_by_round
        if sent_by_round is None and (await statuses(mail_store))[free] == "sent":
            sent_by_round = rounds.count
        return sent_by_round is not None and rounds.count >= sent_by_round + 3

    await deliver_until(mail_store, free_sent_and_three_rounds_more)
    assert (await statuses(mail_store))[held] == "sending"
    assert smtp_server.received_by("held@example.org") == []


async def test_secrets_are_scrubbed_once_sent(mail_store: Store, smtp_server: SmtpServer) -> None:
    token_url = "http://127.0.0.1:8000/join/SECRET-TOKEN-123"
    async with mail_store.write() as tx:
        message_id = await enqueue(
            tx,
            mail_store.settings,
            to="ann@example.org",
            kind="test",
            values={"sent_by": token_url, "url": token_url},
            secret_keys=["sent_by", "url"],
        )
    await deliver_until(mail_store, all_status(mail_store, "sent", 1))
    [received] = smtp_server.received
    body = received.message.get_body(("plain",))
    assert body is not None
    assert "SECRET-TOKEN-123" in body.get_content()  # the recipient got the real link
    message = await get_message(mail_store, message_id)
    assert message is not None
    values = message.values()
    assert values["sent_by"] == SCRUBBED
    assert values["url"] == SCRUBBED
    raw = await mail_store.engine.scalar("SELECT payload FROM outbox WHERE id = ?", (message_id,))
    assert "SECRET-TOKEN-123" not in raw


async def test_message_id_is_the_rows_and_survives_retries(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.temporary_failures = 2
    [message_id] = await queue_messages(mail_store, ["same@example.org"])
    stored = await get_message(mail_store, message_id)
    assert stored is not None
    await deliver_until(mail_store, all_status(mail_store, "sent", 1))
    [received] = smtp_server.received
    assert received.message_id == stored.message_id
    assert received.mail_from == mail_store.settings.mail_from


async def test_without_smtp_messages_are_kept_and_written_as_private_eml(
    settings: Settings, tmp_path: Path
) -> None:
    mail_dir = tmp_path / "mail"
    kept_settings = msgspec.structs.replace(settings, mail_dir=str(mail_dir))
    async with await Store.open(kept_settings) as store:
        async with store.write() as tx:
            first = await enqueue(
                tx,
                store.settings,
                to="kept@example.org",
                kind="test",
                values={"sent_by": "https://x.test/join/KEPT-TOKEN"},
                secret_keys=["sent_by"],
            )
        assert (await statuses(store))[first] == "kept"
        stop = asyncio.Event()
        worker = asyncio.create_task(run_delivery(store, stop_event=stop, **FAST))
        try:
            from .helpers import eventually

            async def written(path: Path) -> bool:
                return path.exists()

            await eventually(lambda: written(mail_dir / f"{first}.eml"))
            # A message written while the worker runs is noticed too.
            [second] = await queue_messages(store, ["later@example.org"])
            await eventually(lambda: written(mail_dir / f"{second}.eml"))
        finally:
            stop.set()
            await asyncio.wait_for(worker, 10)
        path = mail_dir / f"{first}.eml"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        content = path.read_bytes()
        assert b"KEPT-TOKEN" in content  # kept: the admin passes the link on
        assert (await statuses(store)) == {first: "kept", second: "kept"}
        assert not list(mail_dir.glob("*.tmp"))


async def test_without_smtp_or_mail_dir_the_worker_has_nothing_to_do(store: Store) -> None:
    await asyncio.wait_for(run_delivery(store, **FAST), timeout=2)


async def test_sent_messages_are_written_to_the_mail_dir_too(
    settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    mail_dir = tmp_path / "copies"
    async with await Store.open(
        with_smtp(settings, smtp_server.url, mail_dir=str(mail_dir))
    ) as store:
        [message_id] = await queue_messages(store, ["copy@example.org"])
        await deliver_until(store, all_status(store, "sent", 1))
        path = mail_dir / f"{message_id}.eml"
        assert path.exists()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_a_message_that_cannot_be_built_fails_without_a_send(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    async with mail_store.write() as tx:
        unknown = await enqueue(tx, mail_store.settings, to="a@example.org", kind="nope", values={})
        missing = await enqueue(tx, mail_store.settings, to="b@example.org", kind="test", values={})
    await deliver_until(mail_store, all_status(mail_store, "failed", 2))
    first = await get_message(mail_store, unknown)
    second = await get_message(mail_store, missing)
    assert first is not None and second is not None
    assert "no email template" in first.last_error
    assert "sent_by" in second.last_error
    assert smtp_server.received == []


async def test_stopping_gives_back_claimed_messages(mail_store: Store) -> None:
    ids = await queue_messages(mail_store, ["x@example.org", "y@example.org"])
    from store.messaging.delivery import DeliveryPolicy, DeliveryWorker
    from store.messaging.smtp_url import parse_smtp_url

    worker = DeliveryWorker(
        mail_store,
        parse_smtp_url(mail_store.settings.smtp_url),
        DeliveryPolicy(),
        "me:1:z",
    )
    claimed = await worker.claim()
    assert sorted(m.id for m in claimed) == ids
    assert set((await statuses(mail_store)).values()) == {"sending"}
    await worker._release_held()
    rows = await mail_store.engine.fetchall("SELECT status, attempts, lease_owner FROM outbox")
    assert [(r["status"], r["attempts"], r["lease_owner"]) for r in rows] == [
        ("queued", 0, None),
        ("queued", 0, None),
    ]


async def test_a_cancelled_worker_releases_its_leases(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.data_delay = 0.5
    await queue_messages(mail_store, [f"slow{n}@example.org" for n in range(4)])
    worker = asyncio.create_task(run_delivery(mail_store, **FAST))
    from .helpers import eventually

    async def sending() -> bool:
        return "sending" in (await statuses(mail_store)).values()

    await eventually(sending)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    rows = await mail_store.engine.fetchall("SELECT lease_owner FROM outbox")
    assert all(row["lease_owner"] is None for row in rows)
    assert "sending" not in (await statuses(mail_store)).values()


# ---------------------------------------------------------------- AUTH and TLS


async def test_auth_over_plain_with_a_percent_encoded_password(
    settings: Settings,
) -> None:
    check = PasswordCheck("mailer", "p@ss:w/rd")
    server = SmtpServer(authenticator=check, auth_require_tls=False, auth_required=True)
    url = f"smtp://mailer:p%40ss%3Aw%2Frd@127.0.0.1:{server.port}?insecure=1"
    with running(server):
        async with await Store.open(with_smtp(settings, url)) as store:
            await queue_messages(store, ["authed@example.org"])
            await deliver_until(store, all_status(store, "sent", 1))
    assert check.attempts == ["mailer"]
    assert len(server.received) == 1


async def test_wrong_password_is_retried_then_failed_with_the_reply(settings: Settings) -> None:
    check = PasswordCheck("mailer", "right")
    server = SmtpServer(authenticator=check, auth_require_tls=False, auth_required=True)
    url = f"smtp://mailer:wrong@127.0.0.1:{server.port}?insecure=1"
    with running(server):
        async with await Store.open(with_smtp(settings, url)) as store:
            [message_id] = await queue_messages(store, ["nope@example.org"])
            await deliver_until(store, all_status(store, "failed", 1), max_attempts=2)
            message = await get_message(store, message_id)
    assert message is not None
    assert message.last_error.split(": ", 1)[1].startswith("535")
    assert server.received == []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = make_certificate(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("the openssl tool is not available to make a test certificate")
    return made


async def test_implicit_tls(settings: Settings, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server = SmtpServer(ssl_context=server_tls_context(cert, key))
    url = f"smtps://127.0.0.1:{server.port}?cafile={cert}"
    with running(server):
        async with await Store.open(with_smtp(settings, url)) as store:
            await queue_messages(store, ["tls@example.org"])
            await deliver_until(store, all_status(store, "sent", 1))
    assert len(server.received) == 1


async def test_starttls_required_with_auth(
    settings: Settings, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    check = PasswordCheck("mailer", "secret")
    server = SmtpServer(
        tls_context=server_tls_context(cert, key),
        require_starttls=True,
        authenticator=check,
        auth_required=True,
    )
    url = f"smtp://mailer:secret@127.0.0.1:{server.port}?starttls=1&cafile={cert}"
    with running(server):
        async with await Store.open(with_smtp(settings, url)) as store:
            await queue_messages(store, ["starttls@example.org"])
            await deliver_until(store, all_status(store, "sent", 1))
    assert check.attempts == ["mailer"]
    assert len(server.received) == 1


async def test_an_untrusted_certificate_is_a_connection_failure(
    settings: Settings, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    server = SmtpServer(ssl_context=server_tls_context(cert, key))
    with running(server):
        async with await Store.open(with_smtp(settings, server.url)) as store:
            [message_id] = await queue_messages(store, ["untrusted@example.org"])
            await deliver_until(store, all_status(store, "failed", 1), max_attempts=1)
            message = await get_message(store, message_id)
    assert message is not None
    assert "certificate" in message.last_error.lower()
    assert server.received == []


async def test_a_bad_smtp_url_stops_the_worker_with_a_clear_error(settings: Settings) -> None:
    from store.messaging.smtp_url import SmtpUrlError

    bad = with_smtp(settings, "http://mail.example.org")
    async with await Store.open(bad) as store:
        with pytest.raises(SmtpUrlError, match="smtp://"):
            await run_delivery(store, **FAST)


def test_unused_port_helper_is_free() -> None:
    # The "down" tests rely on a port nobody listens on.
    import socket

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", free_port())) != 0


async def test_due_time_is_respected(mail_store: Store, smtp_server: SmtpServer) -> None:
    [later] = await queue_messages(mail_store, ["later@example.org"])
    [now_id] = await queue_messages(mail_store, ["now@example.org"])
    async with mail_store.write("outbox") as tx:
        await tx.execute(
            "UPDATE outbox SET next_attempt_at = '2999-01-01T00:00:00.000000Z' WHERE id = ?",
            (later,),
        )

    async def sent_now() -> bool:
        return (await statuses(mail_store))[now_id] == "sent"

    await deliver_until(mail_store, sent_now)
    assert (await statuses(mail_store))[later] == "queued"
    assert db_now() < "2999"
