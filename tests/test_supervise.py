"""Background tasks never die silently: a crash is logged with its traceback, the task starts
again (with backoff), and the console's Home shows which task crashed, when, and why."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Static

from console.app import UsherApp
from store import Settings, Store
from store.database.changes import EXTERNAL, ChangeFeed
from store.service.supervise import Supervisor, TaskCrash

from .fixtures_smtp import SmtpServer, queue_messages, running, with_smtp
from .helpers import eventually, start_serve


async def test_a_crashing_task_is_logged_with_its_traceback_and_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    crashes: list[TaskCrash] = []
    supervisor = Supervisor(base_delay=0.001, max_delay=0.01, on_crash=crashes.append)
    starts = 0
    healthy = asyncio.Event()

    async def flaky() -> None:
        nonlocal starts
        starts += 1
        if starts <= 3:
            raise RuntimeError(f"boom {starts}")
        healthy.set()

    with caplog.at_level(logging.ERROR, logger="usher.tasks"):
        await asyncio.wait_for(supervisor.run("Flaky", flaky), 30)
    assert healthy.is_set() and starts == 4  # crashed three times, started four times
    assert [c.error for c in crashes] == [f"RuntimeError: boom {n}" for n in (1, 2, 3)]
    assert [c.restarts for c in crashes] == [0, 1, 2]
    assert supervisor.crashes["Flaky"].error == "RuntimeError: boom 3"
    logged = [r for r in caplog.records if "'Flaky' crashed" in r.getMessage()]
    assert len(logged) == 3
    assert all(r.exc_info is not None for r in logged)
    assert "Traceback (most recent call last)" in caplog.text and "boom 2" in caplog.text


async def test_backoff_doubles_and_is_capped() -> None:
    supervisor = Supervisor(base_delay=1.0, max_delay=5.0)
    assert [supervisor.backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]


async def test_cancelling_stops_the_task_without_a_restart() -> None:
    supervisor = Supervisor(base_delay=0.001)
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(supervisor.run("Forever", forever))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert supervisor.crashes == {}


def _break_claims(db: str) -> None:
    """Every claim of a message fails in the database: the delivery task crashes each round."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            """CREATE TRIGGER refuse_claims BEFORE UPDATE OF status ON outbox
               WHEN NEW.status = 'sending' BEGIN SELECT RAISE(ABORT, 'claims are broken'); END"""
        )


async def test_usher_serve_logs_a_crashed_task_and_restarts_it(settings: Settings) -> None:
    relay = SmtpServer()
    with running(relay):
        async with await Store.open(with_smtp(settings, relay.url)) as store:
            await queue_messages(store, ["stuck@example.org"])
        _break_claims(settings.db)
        proc, _ = start_serve(Path(settings.db), USHER_SMTP_URL=relay.url)
        try:
            assert proc.stderr is not None
            lines: list[str] = []
            while sum("'Mail delivery' crashed" in line for line in lines) < 2:
                line = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), 60)
                assert line, "".join(lines)
                lines.append(line)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 30)
        log = "".join(lines)
        assert "Traceback (most recent call last)" in log
        assert "claims are broken" in log
        assert proc.returncode == 0


async def test_console_home_shows_a_crashed_task(settings: Settings) -> None:
    relay = SmtpServer()
    with running(relay):
        mail_settings = with_smtp(settings, relay.url)
        async with await Store.open(mail_settings) as store:
            await queue_messages(store, ["stuck@example.org"])
        _break_claims(settings.db)
        app = UsherApp(mail_settings, no_server=True)
        app.supervisor.base_delay = 0.01
        app.supervisor.max_delay = 0.05
        async with app.run_test(size=(120, 30)) as pilot:

            async def shown() -> bool:
                await pilot.pause()
                crash = app.supervisor.crashes.get("Mail delivery")
                return crash is not None and crash.restarts >= 1

            await eventually(shown)
            await pilot.pause()
            lines = [
                rendered.plain if isinstance(rendered := static.render(), Text) else str(rendered)
                for static in app.screen.query("#crashes Static").results(Static)
            ]
            assert any(
                "Mail delivery crashed" in line and "claims are broken" in line for line in lines
            ), lines


async def test_the_other_process_watcher_survives_failed_reads() -> None:
    """The feed's poll of `data_version` (how other processes' commits are noticed) keeps going
    when a read fails, the very first one included."""
    feed = ChangeFeed()
    reads = 0

    async def read_version() -> int:
        nonlocal reads
        reads += 1
        if reads in (1, 3):
            raise sqlite3.OperationalError("database is locked")
        return reads  # 2, then 4, 5, …: a change every time

    async with feed.listening() as changes:
        feed.watch_other_processes(read_version, interval=0.001)
        try:
            assert EXTERNAL in await asyncio.wait_for(anext(changes), 30)
            assert EXTERNAL in await asyncio.wait_for(anext(changes), 30)
        finally:
            await feed.stop()
    assert reads >= 4
