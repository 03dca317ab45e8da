"""The Outbox screen under Pilot (live rows, view, retry, send kept, test message), the
`usher outbox` commands, and delivery started by the console and by `usher serve`."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import UsherApp
from console.cli import main
from console.dialogs.outbox_message import OutboxMessageDialog
from store import Settings, Store
from store.messaging.outbox import enqueue, get_message

from .fixtures_smtp import SmtpServer, queue_messages, smtp_server, statuses, with_smtp
from .helpers import ROOT, child_env, eventually, run_usher, usher_command

__all__ = ["smtp_server"]


def cell(table: DataTable[object], row_key: str, column: str) -> str:
    value = table.get_cell(row_key, column)
    return value.plain if isinstance(value, Text) else str(value)


def notifications(app: UsherApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def table_ready(pilot: Pilot[int], rows: int) -> DataTable[object]:
    app = pilot.app
    table: DataTable[object] | None = None

    async def shown() -> bool:
        nonlocal table
        await pilot.pause()
        if app.screen.__class__.__name__ != "OutboxScreen":
            return False
        table = app.screen.query_one("#outbox", DataTable)
        return table.row_count == rows

    await eventually(shown)
    assert table is not None
    return table


async def insert_failed(store: Store, recipient: str) -> int:
    async with store.write() as tx:
        outbox_id = await enqueue(
            tx, store.settings, to=recipient, kind="test", values={"sent_by": "tests"}
        )
        await tx.execute(
            """UPDATE outbox SET status = 'failed', attempts = 10,
                                 last_error = '550 5.1.1 mailbox unavailable' WHERE id = ?""",
            (outbox_id,),
        )
    return outbox_id


async def test_outbox_rows_arrive_live_retry_and_view(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_settings = with_smtp(settings, smtp_server.url)
    async with await Store.open(smtp_settings, watch=False) as store:
        failed_id = await insert_failed(store, "bounced@example.org")
    app = UsherApp(smtp_settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f9")
        assert app.current_mode == "outbox"
        table = await table_ready(pilot, 1)
        key = str(failed_id)
        assert cell(table, key, "status") == "failed"
        assert "550" in cell(table, key, "error")

        # A message written while the screen is open appears, then turns to sent in place.
        assert app.store is not None
        [new_id] = await queue_messages(app.store, ["live@example.org"])

        async def new_row_sent() -> bool:
            await pilot.pause()
            return (
                table.row_count == 2
                and str(new_id) in table.rows
                and cell(table, str(new_id), "status") == "sent"
            )

        await eventually(new_row_sent)
        assert len(smtp_server.received_by("live@example.org")) == 1
        # Newest first; the cursor stayed on the row it was on.
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == key
        assert [row.key.value for row in table.ordered_rows] == [str(new_id), key]

        # `t` retries the failed one: it is delivered and its row says so.
        await pilot.press("t")

        async def retried() -> bool:
            await pilot.pause()
            return cell(table, key, "status") == "sent"

        await eventually(retried)
        assert len(smtp_server.received_by("bounced@example.org")) == 1
        message = await get_message(app.store, failed_id)
        assert message is not None and message.attempts == 1

        # `enter` views the selected message.
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, OutboxMessageDialog)
        assert "This is a test message from Usher" in dialog.body
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "OutboxScreen"

        # `/` filters by status.
        await pilot.press("slash", *"failed")

        async def filtered_empty() -> bool:
            await pilot.pause()
            return table.row_count == 0

        await eventually(filtered_empty)
        await pilot.press("escape")
        await table_ready(pilot, 2)


async def test_retry_all_failed(settings: Settings, smtp_server: SmtpServer) -> None:
    smtp_settings = with_smtp(settings, smtp_server.url)
    async with await Store.open(smtp_settings, watch=False) as store:
        ids = [await insert_failed(store, f"f{n}@example.org") for n in range(3)]
    app = UsherApp(smtp_settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f9")
        table = await table_ready(pilot, 3)
        await pilot.press("T")

        async def all_sent() -> bool:
            await pilot.pause()
            return all(cell(table, str(i), "status") == "sent" for i in ids)

        await eventually(all_sent)
        assert len(smtp_server.received) == 3
        assert any("3 failed messages queued again" in n for n in notifications(app))
        assert app.store is not None
        actions = await app.store.engine.fetchall("SELECT action FROM audit")
        assert [row["action"] for row in actions] == ["mail_retried_all"]


async def test_kept_messages_show_their_link_and_need_smtp_to_send(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store, store.write() as tx:
        kept_id = await enqueue(
            tx,
            store.settings,
            to="kept@example.org",
            kind="test",
            values={"sent_by": "https://x.test/join/THE-TOKEN"},
            secret_keys=["sent_by"],
        )
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f9")
        table = await table_ready(pilot, 1)
        assert cell(table, str(kept_id), "status") == "kept"
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, OutboxMessageDialog)
        assert "https://x.test/join/THE-TOKEN" in dialog.body
        await pilot.press("escape")
        await pilot.press("k")
        await pilot.pause()
        assert any("No SMTP server is configured" in n for n in notifications(app))
        assert app.store is not None
        assert (await statuses(app.store)) == {kept_id: "kept"}
        await pilot.press("t")
        await pilot.pause()
        assert (await statuses(app.store)) == {kept_id: "kept"}


async def test_send_kept_once_smtp_is_configured(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    async with await Store.open(settings, watch=False) as store:  # written without SMTP
        ids = await queue_messages(store, ["k1@example.org", "k2@example.org"])
        assert set((await statuses(store)).values()) == {"kept"}
    app = UsherApp(with_smtp(settings, smtp_server.url), no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f9")
        table = await table_ready(pilot, 2)
        await pilot.press("k")

        async def sent() -> bool:
            await pilot.pause()
            return all(cell(table, str(i), "status") == "sent" for i in ids)

        await eventually(sent)
        assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == [
            "k1@example.org",
            "k2@example.org",
        ]


async def test_a_test_message_from_the_screen(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f9")
        await table_ready(pilot, 0)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"not an address", "enter")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "AskAddressDialog"  # stays, with the error
        field = app.screen.query_one("#address")
        field.value = "admin@example.org"  # type: ignore[attr-defined]
        await pilot.press("enter")
        table = await table_ready(pilot, 1)
        assert app.store is not None
        [row] = await app.store.engine.fetchall("SELECT id, recipient, kind, status FROM outbox")
        assert (row["recipient"], row["kind"], row["status"]) == (
            "admin@example.org",
            "test",
            "kept",
        )
        assert cell(table, str(row["id"]), "recipient") == "admin@example.org"


async def test_quitting_stops_the_mail_worker(settings: Settings, smtp_server: SmtpServer) -> None:
    app = UsherApp(with_smtp(settings, smtp_server.url), no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert any(w.group == "mail" for w in app.workers)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def outbox_db(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("USHER_SMTP_URL", "USHER_DB", "USHER_MAIL_DIR", "USHER_ORG"):
        monkeypatch.delenv(name, raising=False)
    return settings.db


async def _fill(settings: Settings) -> list[int]:
    async with await Store.open(with_smtp(settings, "smtp://127.0.0.1:1"), watch=False) as store:
        ids = await queue_messages(store, ["q@example.org", "r@example.org"])
        await insert_failed(store, "f@example.org")
        return ids


def test_outbox_list_json_and_table(
    settings: Settings, outbox_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    asyncio.run(_fill(settings))
    assert main(["outbox", "list", "--db", outbox_db, "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [item["recipient"] for item in items] == [
        "f@example.org",
        "r@example.org",
        "q@example.org",
    ]
    assert set(items[0]) == {
        "id",
        "recipient",
        "kind",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
        "message_id",
    }
    assert items[0]["status"] == "failed"
    assert items[0]["last_error"].startswith("550")
    assert items[1]["sent_at"] is None

    assert main(["outbox", "list", "--db", outbox_db, "--status", "failed", "--json"]) == 0
    assert [i["recipient"] for i in json.loads(capsys.readouterr().out)] == ["f@example.org"]

    assert main(["outbox", "list", "--db", outbox_db]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "ID",
        "STATUS",
        "RECIPIENT",
        "KIND",
        "TRIES",
        "CREATED",
        "LAST",
        "ERROR",
    ]
    assert "f@example.org" in out and "550 5.1.1" in out

    assert main(["outbox", "list", "--db", outbox_db, "--status", "kept"]) == 0
    assert "No messages with status kept." in capsys.readouterr().out


def test_outbox_retry_and_send_kept_need_smtp(
    settings: Settings, outbox_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    asyncio.run(_fill(settings))
    assert main(["outbox", "send-kept", "--db", outbox_db]) == 2
    assert "No SMTP server is configured" in capsys.readouterr().err
    assert main(["outbox", "retry", "--db", outbox_db]) == 2
    assert "--all-failed" in capsys.readouterr().err


def test_outbox_commands_as_a_process(settings: Settings, outbox_db: str) -> None:
    import asyncio

    asyncio.run(_fill(settings))
    env = child_env(USHER_SMTP_URL="smtp://127.0.0.1:1")
    retried = run_usher("outbox", "retry", "--db", outbox_db, "--all-failed", variables=env)
    assert retried.returncode == 0, retried.stderr
    assert "1 message queued again" in retried.stdout
    refused = run_usher("outbox", "retry", "--db", outbox_db, "999", variables=env)
    assert refused.returncode == 2
    assert refused.stderr.strip() == "usher: error: there is no message #999"
    listed = run_usher(
        "outbox", "list", "--db", outbox_db, "--json", "--status", "failed", variables=env
    )
    assert listed.returncode == 0
    assert json.loads(listed.stdout) == []


# ---------------------------------------------------------------- usher serve delivers


def test_usher_serve_delivers_queued_mail(settings: Settings, smtp_server: SmtpServer) -> None:
    import asyncio

    async def queue() -> None:
        async with await Store.open(with_smtp(settings, smtp_server.url), watch=False) as store:
            await queue_messages(store, ["served@example.org"])

    asyncio.run(queue())
    proc = subprocess.Popen(
        usher_command("serve", "--db", settings.db, "--port", "0"),
        cwd=ROOT,
        env=child_env(USHER_SMTP_URL=smtp_server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert re.search(r"http://\S+", proc.stdout.readline())

        async def arrived() -> bool:
            return len(smtp_server.received_by("served@example.org")) == 1

        asyncio.run(eventually(arrived, timeout=15))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        _, err = proc.communicate(timeout=5)
        assert "Traceback" not in err
        assert "mail #1 (test) sent" in err
    finally:
        if proc.poll() is None:
            proc.kill()
