"""Several real `usher serve` processes on one PostgreSQL database (issue 20): the guarantees
of one SQLite installation hold across them."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx

from store import Store, load_settings

from .fixtures_postgres import PostgresServer
from .fixtures_security import csrf_from
from .fixtures_smtp import SmtpServer, all_status, queue_messages, running, with_smtp
from .helpers import GOOD_PASSWORD, cheap_hasher, eventually, make_link, start_serve, stop_serves

SERVERS = 3
SIGNUPS = 200
MAX_USES = 10


async def test_racing_signups_through_three_usher_serve_processes_make_exactly_max_uses(
    postgres_url: str,
) -> None:
    """200 signups at once, spread over three servers, on a link with max uses 10: exactly 10
    accounts, the link's count is 10, and no request failed with a 5xx."""
    settings = load_settings({"db": postgres_url}, environ={})
    async with await Store.open(settings, hasher=cheap_hasher(), watch=False) as store:
        link = await make_link(store, max_uses=MAX_USES, confirm_email=False)
    servers = [start_serve(postgres_url, USHER_RATE_LIMIT="100000") for _ in range(SERVERS)]
    try:
        urls = [url for _, url in servers]
        path = f"/join/{link.token}"
        async with httpx.AsyncClient(timeout=120) as browser:
            token = csrf_from((await browser.get(urls[0] + path)).text)
            gate = asyncio.Semaphore(20)

            async def sign_up(n: int) -> int:
                async with gate:
                    answer = await browser.post(
                        urls[n % SERVERS] + path,
                        data={
                            "_csrf_token": token,
                            "email": f"p{n}@example.org",
                            "first_name": "Pat",
                            "last_name": f"Number {n}",
                            "password": GOOD_PASSWORD,
                            "password_confirm": GOOD_PASSWORD,
                        },
                        follow_redirects=False,
                    )
                    return answer.status_code

            statuses = await asyncio.gather(*(sign_up(n) for n in range(SIGNUPS)))
    finally:
        errors = stop_serves(servers)
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses.count(303) == MAX_USES, statuses
    async with await Store.open(settings, watch=False) as store:
        assert await store.engine.scalar("SELECT count(*) FROM users") == MAX_USES
        assert (
            await store.engine.scalar("SELECT uses FROM invite_links WHERE id = ?", (link.id,))
            == MAX_USES
        )
    assert not errors, errors


async def test_connections_ended_mid_burst_give_503s_never_500s_and_lose_no_account(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    """PostgreSQL ends every connection of the database (as a restart or failover does) while
    three servers take 90 signups: refused requests are 503 with Retry-After, never a 500, and
    every signup that was answered "check your email" has its account."""
    settings = load_settings({"db": postgres_url}, environ={})
    async with await Store.open(settings, hasher=cheap_hasher(), watch=False) as store:
        link = await make_link(store, confirm_email=False)
    servers = [start_serve(postgres_url, USHER_RATE_LIMIT="100000") for _ in range(SERVERS)]
    database = postgres_url.rsplit("/", 1)[1].split("?")[0]
    answered = asyncio.Event()
    done = 0
    try:
        urls = [url for _, url in servers]
        path = f"/join/{link.token}"
        async with httpx.AsyncClient(timeout=120) as browser:
            token = csrf_from((await browser.get(urls[0] + path)).text)
            gate = asyncio.Semaphore(10)

            async def sign_up(n: int) -> httpx.Response:
                nonlocal done
                async with gate:
                    answer = await browser.post(
                        urls[n % SERVERS] + path,
                        data={"_csrf_token": token, **_fields(n)},
                        follow_redirects=False,
                    )
                done += 1
                if done == 30:
                    answered.set()
                return answer

            async def cut() -> None:
                await answered.wait()
                with postgres_server.admin() as admin:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                        (database,),
                    )

            answers, _ = await asyncio.gather(
                asyncio.gather(*(sign_up(n) for n in range(90))), cut()
            )
    finally:
        errors = stop_serves(servers)
    statuses = [a.status_code for a in answers]
    assert not [s for s in statuses if s >= 500 and s != 503], statuses
    assert all(int(a.headers["Retry-After"]) > 0 for a in answers if a.status_code == 503)
    joined = {n for n, a in enumerate(answers) if a.status_code == 303}
    assert joined, statuses
    async with await Store.open(settings, watch=False) as store:
        emails = {str(r[0]) for r in await store.engine.fetchall("SELECT email FROM users")}
    assert {f"p{n}@example.org" for n in joined} <= emails
    assert not errors, errors


def _fields(n: int) -> dict[str, str]:
    return {
        "email": f"p{n}@example.org",
        "first_name": "Pat",
        "last_name": f"Number {n}",
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
    }


async def test_three_usher_serve_processes_with_smtp_down_then_up_send_each_email_once(
    postgres_url: str,
) -> None:
    """Three `usher serve` processes (each with its own delivery worker, pool and listener) on
    one outbox; the relay refuses connections until every message has been tried, then comes
    up: every message arrives exactly once, after the workers' own backoff."""
    relay = SmtpServer()  # not started yet: connections are refused
    settings = with_smtp(load_settings({"db": postgres_url}, environ={}), relay.url)
    recipients = [f"p{n}@example.org" for n in range(30)]
    servers = [start_serve(postgres_url, USHER_SMTP_URL=relay.url) for _ in range(SERVERS)]
    try:
        async with await Store.open(settings, watch=False) as store:
            ids = await queue_messages(store, recipients)

            async def all_tried() -> bool:
                rows = await store.engine.fetchall("SELECT attempts, status FROM outbox")
                return len(rows) == len(ids) and all(
                    int(row[0]) >= 1 and row[1] == "queued" for row in rows
                )

            await eventually(all_tried, timeout=60)
            assert relay.received == []
            with running(relay):
                await eventually(all_status(store, "sent", len(ids)), timeout=180)
    finally:
        errors = stop_serves(servers)
    received = Counter(message.rcpt_tos[0] for message in relay.received)
    assert received == dict.fromkeys(recipients, 1)
    assert len({message.message_id for message in relay.received}) == len(ids)
    assert not errors, errors


async def test_a_real_postgresql_restart_mid_burst_gives_503s_loses_nothing_sends_once(
    own_postgres_server: PostgresServer, own_postgres_url: str
) -> None:
    """Two `usher serve` processes take signups while their PostgreSQL server is stopped
    (`pg_ctl stop -m fast`) and started again: while it is down pages answer 503 with
    Retry-After, never a 500; every signup answered "check your email" has its account; the
    delivery workers resume by themselves and send each confirmation email exactly once."""
    url = own_postgres_url
    settings = load_settings({"db": url}, environ={})
    async with await Store.open(settings, hasher=cheap_hasher(), watch=False) as store:
        link = await make_link(store)
    relay = SmtpServer()
    with running(relay):
        servers = [
            start_serve(url, USHER_RATE_LIMIT="100000", USHER_SMTP_URL=relay.url) for _ in range(2)
        ]
        answers: list[tuple[int, httpx.Response]] = []
        phase = "before"
        counts: Counter[str] = Counter()
        moved = asyncio.Event()
        numbers = iter(range(100_000))
        try:
            urls = [u for _, u in servers]
            path = f"/join/{link.token}"
            async with httpx.AsyncClient(timeout=120) as browser:
                token = csrf_from((await browser.get(urls[0] + path)).text)

                async def signer(which: int) -> None:
                    while phase != "done":
                        n = next(numbers)
                        at = phase
                        answer = await browser.post(
                            urls[which % len(urls)] + path,
                            data={"_csrf_token": token, **_fields(n)},
                            follow_redirects=False,
                        )
                        answers.append((n, answer))
                        counts[f"{at} {answer.status_code}"] += 1
                        moved.set()

                async def until(check: Callable[[], bool]) -> None:
                    while not check():
                        moved.clear()
                        await moved.wait()

                async def conductor() -> None:
                    nonlocal phase
                    await until(lambda: counts["before 303"] >= 15)
                    phase = "down"
                    await asyncio.to_thread(own_postgres_server.halt)
                    await until(lambda: counts["down 503"] >= 5)
                    await asyncio.to_thread(own_postgres_server.resume)
                    phase = "after"
                    await until(lambda: counts["after 303"] >= 15)
                    phase = "done"

                await asyncio.gather(conductor(), *(signer(w) for w in range(6)))

            async with await Store.open(settings, watch=False) as store:
                emails = {str(r[0]) for r in await store.engine.fetchall("SELECT email FROM users")}

                async def all_sent() -> bool:
                    rows = await store.engine.fetchall(
                        "SELECT status FROM outbox WHERE kind = 'confirm_email'"
                    )
                    return len(rows) == len(emails) and all(r[0] == "sent" for r in rows)

                await eventually(all_sent, timeout=180)
        finally:
            errors = stop_serves(servers)
    statuses = [a.status_code for _, a in answers]
    assert not [s for s in statuses if s >= 500 and s != 503], statuses
    refused = [a for _, a in answers if a.status_code == 503]
    assert refused and all(int(a.headers["Retry-After"]) > 0 for a in refused)
    joined = {f"p{n}@example.org" for n, a in answers if a.status_code == 303}
    assert joined <= emails
    received = Counter(r for message in relay.received for r in message.rcpt_tos)
    assert received == dict.fromkeys(emails, 1)
    assert not errors, errors
