"""The delivery worker's batches: claims by two workers never overlap, 250s recorded a batch at a
time are never lost on a stop, and the MIME message written by hand reads back exactly."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import Counter
from email.message import EmailMessage

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from store import Settings, Store, load_settings
from store.messaging.delivery import DeliveryPolicy, DeliveryWorker, run_delivery
from store.messaging.emails import RenderedEmail, build_message, fold_header_text, message_bytes
from store.messaging.smtp_url import parse_smtp_url

from .fixtures_postgres import settings_on_both_engines
from .fixtures_smtp import (
    FAST,
    SmtpServer,
    all_status,
    deliver_until,
    mail_store,
    queue_messages,
    smtp_server,
    statuses,
)
from .helpers import eventually

__all__ = ["mail_store", "settings_on_both_engines", "smtp_server"]  # fixtures used by name
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


async def test_two_workers_claiming_batches_at_once_never_share_a_message(
    mail_store: Store,
) -> None:
    ids = await queue_messages(mail_store, [f"c{n}@example.org" for n in range(120)])
    policy = DeliveryPolicy(batch=7)
    target = parse_smtp_url(mail_store.settings.smtp_url)
    async with await Store.open(mail_store.settings, watch=False) as other:
        workers = [
            DeliveryWorker(mail_store, target, policy, "one:1:a"),
            DeliveryWorker(other, target, policy, "two:2:b"),
        ]

        first: list[int] = []
        second: list[int] = []
        while True:  # rounds in which both claim at the same time, each on its own connection
            a, b = await asyncio.gather(*(worker.claim() for worker in workers))
            if not a and not b:
                break
            assert len(a) <= policy.batch and len(b) <= policy.batch
            first += [message.id for message in a]
            second += [message.id for message in b]
    assert first and second  # both got some
    assert not set(first) & set(second)
    assert sorted(first + second) == ids
    rows = await mail_store.engine.fetchall("SELECT id, lease_owner FROM outbox")
    owners = {int(row["id"]): row["lease_owner"] for row in rows}
    assert {owners[i] for i in first} == {"one:1:a"}
    assert {owners[i] for i in second} == {"two:2:b"}


def waiting_worker(store: Store, owner: str) -> DeliveryWorker:
    """A worker that would keep 250s a full minute before committing them as sent."""
    policy = DeliveryPolicy(poll=30.0, base_delay=0.02, max_delay=0.1, record_within=60.0)
    return DeliveryWorker(store, parse_smtp_url(store.settings.smtp_url), policy, owner)


async def test_a_stopped_worker_records_what_the_server_accepted(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    """250s wait to be committed with the next ones; a stop in between must commit them as
    sent, never give them back to be sent a second time."""
    smtp_server.handler.data_delay = 0.03
    await queue_messages(mail_store, [f"s{n}@example.org" for n in range(30)])
    stop = asyncio.Event()
    worker = asyncio.create_task(waiting_worker(mail_store, "me:1:x").run(stop))

    async def some_received() -> bool:
        return len(smtp_server.received) >= 5

    await eventually(some_received)
    assert set((await statuses(mail_store)).values()) == {"sending"}  # nothing recorded yet
    stop.set()
    await asyncio.wait_for(worker, 10)
    received = {r.message_id for r in smtp_server.received}
    rows = await mail_store.engine.fetchall("SELECT status, message_id, lease_owner FROM outbox")
    for row in rows:
        assert row["lease_owner"] is None
        assert row["status"] == ("sent" if row["message_id"] in received else "queued")
    await deliver_until(mail_store, all_status(mail_store, "sent", 30))
    counts = Counter(r.message_id for r in smtp_server.received)
    assert len(counts) == 30
    assert max(counts.values()) == 1


async def test_a_cancelled_worker_records_what_the_server_accepted(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.data_delay = 0.03
    await queue_messages(mail_store, [f"k{n}@example.org" for n in range(30)])
    worker = asyncio.create_task(waiting_worker(mail_store, "me:1:y").run(asyncio.Event()))

    async def some_received() -> bool:
        return len(smtp_server.received) >= 5

    await eventually(some_received)
    worker.cancel()
    done, _ = await asyncio.wait({worker}, timeout=10)
    assert done, "the worker did not stop when cancelled"
    with pytest.raises(asyncio.CancelledError):
        worker.result()
    received = len(smtp_server.received)
    sent = list((await statuses(mail_store)).values()).count("sent")
    # Only the message whose 250 the cancel cut off may be unrecorded (and sent again).
    assert received - 1 <= sent <= received
    await deliver_until(mail_store, all_status(mail_store, "sent", 30))
    counts = Counter(r.message_id for r in smtp_server.received)
    assert len(counts) == 30
    assert sum(counts.values()) <= 31


async def test_sent_is_recorded_within_a_batch_not_at_the_end_of_the_run(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.data_delay = 0.02
    await queue_messages(mail_store, [f"r{n}@example.org" for n in range(12)])
    worker = asyncio.create_task(run_delivery(mail_store, **FAST, batch=4))

    async def some_sent_while_others_wait() -> bool:
        values = list((await statuses(mail_store)).values())
        return "sent" in values and ("queued" in values or "sending" in values)

    try:
        await eventually(some_sent_while_others_wait)
        await eventually(all_status(mail_store, "sent", 12))
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker


# ---------------------------------------------------------------- the bytes on the wire


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # parsed from CRLF lines


text_bodies = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\x00"), max_size=400
).map(lambda text: text + "\n")


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    text=text_bodies,
    html=text_bodies,
    subject=st.text(max_size=300),
    name=st.text(max_size=250),
)
def test_the_message_reads_back_exactly(text: str, html: str, subject: str, name: str) -> None:
    settings = load_settings({"db": "unused.db", "mail_from": "usher@example.org"}, environ={})
    rendered = RenderedEmail(subject=subject, text=text, html=html)
    data = message_bytes(
        rendered, settings, recipient="ann@example.org", recipient_name=name, message_id="<m@x>"
    )
    assert data.isascii()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    message = parse(data)
    assert [key for key in message if key in ("To", "From", "Subject", "Bcc")] == [
        "From",
        "To",
        "Subject",
    ]
    assert body(message, "plain") == text
    assert body(message, "html") == html
    assert message["To"].addresses[0].addr_spec == "ann@example.org"
    # Python's reader puts a space between the encoded words of a long name (as it did with
    # the messages `email` wrote); mail clients do not.
    shown = message["To"].addresses[0].display_name
    assert shown.replace(" ", "") == fold_header_text(name, 200).replace(" ", "")
    assert str(message["Subject"]) == fold_header_text(subject)


def test_look_alike_encoded_words_and_quotes_stay_literal(settings: Settings) -> None:
    """Text that looks like an RFC 2047 word is itself encoded, so it reads back as typed."""
    name = '=?utf-8?q?Admin?= "Boss" \\ <x@evil.org>, y@evil.org'
    rendered = RenderedEmail(subject="=?utf-8?b?SGk=?= there", text="a\n", html="b\n")
    message = parse(
        message_bytes(
            rendered, settings, recipient="ann@example.org", recipient_name=name, message_id="<m@x>"
        )
    )
    [to] = message["To"].addresses
    assert to.addr_spec == "ann@example.org"
    # Kept literal, not decoded (Python's reader may put a space into a long encoded name).
    assert to.display_name.replace(" ", "") == name.replace(" ", "")
    assert str(message["Subject"]) == "=?utf-8?b?SGk=?= there"


def test_international_addresses_and_message_id(settings: Settings) -> None:
    idn = msgspec.structs.replace(settings, mail_from="usher@bücher.de", org="Bücher")
    rendered = RenderedEmail(subject="Grüße", text="Grüße\n", html="<p>Grüße</p>\n")
    data = message_bytes(
        rendered, idn, recipient="zoë@bücher.de", recipient_name="Zoë", message_id="<1@bücher.de>"
    )
    assert not data.isascii()  # only the UTF-8 local part: the worker sends with SMTPUTF8
    message = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["From"].addresses[0].addr_spec == "usher@xn--bcher-kva.de"
    assert message["To"].addresses[0].addr_spec == "zoë@xn--bcher-kva.de"
    assert message["Message-ID"] == "<1@xn--bcher-kva.de>"
    assert str(message["Subject"]) == "Grüße"


def test_build_message_is_the_same_message(settings: Settings) -> None:
    rendered = RenderedEmail(subject="Hi", text="Hello\n-- \nsig\n", html="<p>x = y</p>\n")
    message = build_message(
        rendered, settings, recipient="a@example.org", recipient_name="Ann", message_id="<m@x>"
    )
    assert message.get_content_type() == "multipart/alternative"
    assert body(message, "plain") == "Hello\n-- \nsig\n"
    assert body(message, "html") == "<p>x = y</p>\n"
    assert message["Auto-Submitted"] == "auto-generated"
