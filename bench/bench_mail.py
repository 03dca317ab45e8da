"""Mail delivery: N invitation emails through Usher's delivery worker
(store/messaging/delivery.py), which reuses one SMTP connection for a run of messages, against
one connection per message.

The messages are real: `send_invitations` queues N invitations (HTML + text, a one-time link
each) in one transaction, and the worker claims, renders, sends and records them exactly as in
the console - claimed a batch at a time, the 250s committed as `sent` a batch at a time.
The SMTP server is aiosmtpd in its own process (bench/_smtp_sink.py) on loopback, counting
messages and connections.

The delivery code has no one-connection-per-message mode, so the baseline sends the same
rendered messages with aiosmtplib, each on a fresh connection (connect, EHLO, MAIL, RCPT, DATA,
QUIT), one after another as the worker does. A third run sends them all over one aiosmtplib
connection with no database work, to show what the worker's bookkeeping costs.

Loopback plain SMTP makes a connection about as cheap as it ever gets; a real relay adds a
network round trip, TLS and AUTH to each one.

Run: `make bench` or `.venv/bin/python bench/bench_mail.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosmtplib
import msgspec
from _figures import Usage, arguments, cores, figure, machine_line, size
from _stalls import LoopStalls, stall_figure

from store import Store, load_settings
from store.domain.records import from_rows
from store.messaging.delivery import DeliveryPolicy, DeliveryWorker, Outcome, new_worker_id
from store.messaging.emails.message import ascii_domain
from store.messaging.outbox import OutboxMessage
from store.messaging.smtp_url import parse_smtp_url
from store.onboarding.email_lists import parse_email_list
from store.onboarding.invitations import send_invitations

DEFAULT_COUNT = 10_000
QUICK_COUNT = 20
REUSE_GOAL = 10.0
SINK = Path(__file__).resolve().parent / "_smtp_sink.py"


class Sink:
    """The SMTP server process: its port, and its running totals on request."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(cls) -> Sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SINK),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        if not line.startswith("ready "):
            raise SystemExit(f"the SMTP server did not start: {line!r}")
        return cls(process, int(line.split()[1]))

    async def counts(self) -> tuple[int, int]:
        """(messages, connections) received so far."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"count\n")
        await self.process.stdin.drain()
        counts: dict[str, int] = json.loads(await self.process.stdout.readline())
        return counts["messages"], counts["connections"]

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class ConnectionPerMessage(DeliveryWorker):
    """The real worker with one change: it hangs up after every message, so the next one opens
    a new connection (the delivery code has no such mode of its own)."""

    async def _send(self, message: OutboxMessage, data: bytes, utf8: bool) -> Outcome:
        outcome = await super()._send(message, data, utf8)
        await self._close_connection()
        return outcome


async def smtp_fresh_each(port: int, sender: str, messages: list[tuple[str, bytes]]) -> None:
    """SMTP alone, every message on its own connection: connect, EHLO, MAIL, RCPT, DATA, QUIT."""
    for recipient, data in messages:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        await smtp.connect()
        await smtp.sendmail(sender, [recipient], data)
        await smtp.quit()


async def smtp_one_connection(port: int, sender: str, messages: list[tuple[str, bytes]]) -> None:
    """SMTP alone over one connection: no claiming, rendering or recording."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await smtp.connect()
    for recipient, data in messages:
        await smtp.sendmail(sender, [recipient], data)
    await smtp.quit()


class Phase(msgspec.Struct):
    """One delivery run: how long, the machine meanwhile, what the server saw."""

    usage: Usage
    messages: int
    connections: int


async def delivery_phase(store: Store, sink: Sink, worker: DeliveryWorker) -> Phase:
    before = await sink.counts()
    with Usage() as usage:
        await worker.deliver_due()
    after = await sink.counts()
    return Phase(usage, after[0] - before[0], after[1] - before[1])


async def smtp_phase(sink: Sink, send: Callable[[], Awaitable[None]]) -> Phase:
    before = await sink.counts()
    with Usage() as usage:
        await send()
    after = await sink.counts()
    return Phase(usage, after[0] - before[0], after[1] - before[1])


async def run(count: int) -> None:
    async with LoopStalls() as stalls:  # beside every part alike: the ratios stay fair
        await measure(count)
    stall_figure(stalls)


async def measure(count: int) -> None:
    sink = await Sink.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = load_settings(
                {
                    "db": str(Path(folder) / "bench.db"),
                    "smtp_url": f"smtp://127.0.0.1:{sink.port}?starttls=0",
                    "mail_from": "usher@bench.invalid",
                },
                environ={},
            )
            target = parse_smtp_url(settings.smtp_url)
            async with await Store.open(settings, watch=False) as store:
                await queue_invitations(store, count, "a")
                reuse = DeliveryWorker(store, target, DeliveryPolicy(), new_worker_id())
                rows = await store.engine.fetchall("SELECT * FROM outbox ORDER BY id")
                started = time.perf_counter()
                rendered = [
                    (ascii_domain(m.recipient), reuse.message_bytes(m, reveal=True)[0])
                    for m in from_rows(rows, OutboxMessage)
                ]
                build = (time.perf_counter() - started) / count
                reused = await delivery_phase(store, sink, reuse)

                await queue_invitations(store, count, "b")
                each = ConnectionPerMessage(store, target, DeliveryPolicy(), new_worker_id())
                per_message = await delivery_phase(store, sink, each)
                sent = int(
                    await store.engine.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'")
                )
        sender = ascii_domain(settings.mail_from)
        bare_one = await smtp_phase(sink, lambda: smtp_one_connection(sink.port, sender, rendered))
        bare_each = await smtp_phase(sink, lambda: smtp_fresh_each(sink.port, sender, rendered))
    finally:
        await sink.stop()

    n = cores()

    def rate(phase: Phase) -> float:
        return count / phase.usage.wall

    def cpu_ms(phase: Phase) -> float:
        """CPU time of this process a message (a steadier figure than rates on a busy machine)."""
        return phase.usage.process_cores * phase.usage.wall * 1000 / count

    speedup = rate(reused) / rate(per_message)
    bare_speedup = rate(bare_one) / rate(bare_each)
    figure("messages (invitations) per run", f"{count:,}")
    figure("build one message (render + MIME)", f"{build * 1000:.2f} ms")
    figure(
        "all delivered and marked sent",
        f"{sent:,} of {2 * count:,}",
        passed=sent == 2 * count == reused.messages + per_message.messages,
    )
    figure("worker: connections, reusing", str(reused.connections), passed=reused.connections == 1)
    figure(
        "worker: connections, one per message",
        f"{per_message.connections:,}",
        passed=per_message.connections == count,
    )
    figure("worker, one connection reused", f"{rate(reused):.0f} msgs/s")
    figure("worker, one connection per message", f"{rate(per_message):.0f} msgs/s")
    figure("worker CPU a message, reused", f"{cpu_ms(reused):.2f} ms")
    figure("worker CPU a message, one connection each", f"{cpu_ms(per_message):.2f} ms")
    figure(
        "reuse speed-up, delivery worker",
        f"{speedup:.2f}x",
        goal=f">= {REUSE_GOAL:.0f}x",
        ratio=speedup,
        passed=speedup >= REUSE_GOAL,
    )
    figure("SMTP alone, one connection", f"{rate(bare_one):.0f} msgs/s")
    figure("SMTP alone, one connection per message", f"{rate(bare_each):.0f} msgs/s")
    figure("reuse speed-up, SMTP alone", f"{bare_speedup:.2f}x", ratio=bare_speedup)
    figure(
        "worker vs SMTP alone (bookkeeping cost)",
        f"{rate(reused) / rate(bare_one):.2f}x",
        ratio=rate(reused) / rate(bare_one),
    )
    figure("cores: other work, worker runs", f"{reused.usage.others_cores():.2f} of {n}")
    per = 1000 / rate(reused)
    kept, new = 1000 / rate(bare_one), 1000 / rate(bare_each)
    note = (
        f"note: the worker spends {per:.2f} ms a message: {build * 1000:.2f} building it "
        f"(Jinja + the MIME bytes; the next message is built while the server answers), "
        f"{kept:.2f} of SMTP on the kept connection, "
        f"{max(0.0, per - build * 1000 - kept):.2f} otherwise (claims and records, a batch per "
        f"commit); a new loopback connection adds {max(0.0, new - kept):.2f} ms."
    )
    print(note)


async def queue_invitations(store: Store, count: int, tag: str) -> None:
    """`count` invitations and their emails, queued in one transaction as F4 Invite does."""
    text = "\n".join(f"Person {i} <person-{tag}-{i}@example.org>" for i in range(count))
    result = await send_invitations(
        store, parse_email_list(text).entries, level="member", actor="bench"
    )
    assert result.sent == count, result


def main() -> None:
    parser = arguments(__doc__, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    args = parser.parse_args()
    print(machine_line())
    asyncio.run(run(size(args, default=DEFAULT_COUNT, quick=QUICK_COUNT)))


if __name__ == "__main__":
    main()
