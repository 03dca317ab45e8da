"""Signup throughput of the embedded server against the argon2 floor, and the signup page's GET
rate against a Litestar hello-world with the same security layer.

The server runs as the console runs it (signup_server/runner.py: our own bound socket, uvicorn's
`EmbeddedServer` on this process's event loop, `create_app` with CSRF, security headers and the
POST rate limit, raised here through `USHER_RATE_LIMIT`). The load comes from a SEPARATE process
(bench/_loadgen.py, keep-alive connections, cookies kept): each signup is a GET of
`/join/{token}` (reading the CSRF token) then a POST of the form to an auto-accepting link with
no confirmation, so each signup costs one argon2id hash and one insert.

Floors, measured in the same run: signups against cores / one hash's CPU time (the load
generator shares the cores, so the goal is 0.8 of it), and, as a reference a busy machine cannot
skew, the same number of hashes through the store's Hasher alone right after (goal, issue #19:
signups >= 0.95 of that rate; the password strength check each signup also runs is printed
beside it, as a share of one hash); the page's GETs (goal >= 0.9 of the hello-world)
against the hello-world app on the same uvicorn runner, same generator, rounds interleaved, with
the two things the page does beyond it (link lookup, Jinja render) timed on their own.

Then, in-process and counted so a busy machine cannot move them (bench/_signup_cost.py): SQL
statements and aiosqlite thread round trips per signup, and CPU time per request.

Run: `make bench` or `.venv/bin/python bench/bench_signup.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
from _figures import Usage, arguments, cores, figure, machine_line, size
from _signup_cost import Cost, hello_app, signup_cost
from _stalls import LoopStalls, stall_figure
from bench_hash_floor import one_hash_cost
from litestar import Litestar

from signup_server.app import create_app
from signup_server.join import _join_page
from signup_server.runner import EmbeddedServer, bind_socket, bound_port, make_server
from store import Store, load_settings
from store.domain.passwords import password_problem
from store.onboarding.links import Link, LinkDraft, create_link
from store.onboarding.signup import usable_link

DEFAULT_COUNT = 300
"""Signups; the GET runs send 10x as many requests."""
QUICK_COUNT = 6
CONCURRENCY = 8
SIGNUP_GOAL = 0.8
HASHER_GOAL = 0.95
"""Issue #19: HTTP, CSRF, the transaction and the outbox row cost < 5% beside the hash."""
PAGE_GOAL = 0.9
LOADGEN = Path(__file__).resolve().parent / "_loadgen.py"
BEFORE_STATEMENTS = 12
BEFORE_ROUND_TRIPS = 32
"""Per signup before issue #10's second pass (bench/_signup_cost.py on 042d47d)."""


async def page_parts(app: Litestar, store: Store, token: str, times: int) -> tuple[float, float]:
    """Seconds per link read and per render of the join page, in this process one at a time:
    the two things the page does beyond the hello-world when it has not kept them (the link is
    read afresh after any commit; the blank form is rendered once per link setting)."""
    started = time.perf_counter()
    for _ in range(times):
        link = await usable_link(store, token)
    lookup = (time.perf_counter() - started) / times
    response = _join_page(link, token)
    engine = app.template_engine
    assert engine is not None and response.template_name is not None
    template = engine.get_template(response.template_name)
    context = {**response.context, "csrf_input": '<input type="hidden" name="_csrf_token">'}
    started = time.perf_counter()
    for _ in range(times):
        template.render(**context)
    return lookup, (time.perf_counter() - started) / times


def strength_check_cost(times: int) -> float:
    """CPU seconds of the password strength check (zxcvbn) a signup runs beside its hash, on
    passwords shaped as the load generator's (each new: the check remembers answers)."""
    tag = time.time_ns()
    started = time.process_time()
    for index in range(times):
        password_problem(
            f"plum-{tag}-{index}-harbour-lantern",
            email=f"bench-{tag}-{index}@example.org",
            names=("Bench", f"Person {index}"),
        )
    return (time.process_time() - started) / times


def cost_figures(cost: Cost) -> None:
    """Counted (the same on any machine) and CPU per request in-process (bench/_signup_cost.py)."""
    statements = len(cost.get_statements) + len(cost.post_statements)
    figure("statements per signup (GET + POST)", f"{statements}", goal=f"was {BEFORE_STATEMENTS}")
    trips = cost.get_round_trips + cost.post_round_trips
    figure("aiosqlite round trips per signup", f"{trips}", goal=f"was {BEFORE_ROUND_TRIPS}")
    figure("round trips, the page again, unchanged", f"{cost.get_again_round_trips}")
    figure("CPU per signup, in-process, no hash", f"{cost.signup_cpu_us:.0f} us")
    figure("CPU per POST, in-process, no hash", f"{cost.post_cpu_us:.0f} us")
    figure("CPU per page GET, in-process", f"{cost.get_cpu_us:.0f} us")
    figure(
        "CPU per hello-world GET, in-process",
        f"{cost.hello_cpu_us:.0f} us",
        ratio=cost.hello_cpu_us / cost.get_cpu_us,
    )


class Running:
    """A uvicorn server on its own socket, served by this loop until `stop()`."""

    def __init__(self, app: Any, host: str) -> None:
        self.sock = bind_socket(host, 0)
        self.port = bound_port(self.sock)
        self.server: EmbeddedServer = make_server(app, graceful_seconds=2)
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))

    async def started(self) -> None:
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.server.stop()
        await self.task
        self.sock.close()


class PageBench(msgspec.Struct, frozen=True):
    """What both signup benches measure against: Usher's app with one open link, and a
    hello-world behind the same middleware, each listening on its own port."""

    store: Store
    app: Litestar
    hello: Litestar
    link: Link
    page_url: str
    hello_url: str


@contextlib.asynccontextmanager
async def page_and_hello() -> AsyncIterator[PageBench]:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            {"db": str(Path(folder) / "bench.db"), "port": 0},
            environ={"USHER_RATE_LIMIT": "1000000"},
        )
        async with await Store.open(settings) as store:
            secret = await store.secret_key()
            link = await create_link(
                store,
                LinkDraft(label="bench", auto_accept=True, confirm_email=False, expires_in=None),
                actor="bench",
            )
            app = create_app(store, settings, secret_key=secret)
            hello = hello_app(store, settings, secret)
            usher, plain = Running(app, settings.host), Running(hello, settings.host)
            try:
                await usher.started()
                await plain.started()
                yield PageBench(
                    store=store,
                    app=app,
                    hello=hello,
                    link=link,
                    page_url=f"http://{settings.host}:{usher.port}/join/{link.token}",
                    hello_url=f"http://{settings.host}:{plain.port}/hello",
                )
            finally:
                await usher.stop()
                await plain.stop()


async def load(mode: str, url: str, requests: int, tag: str = "0") -> dict[str, Any]:
    """Run the load generator in its own process and return what it measured."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LOADGEN),
        mode,
        url,
        "--requests",
        str(requests),
        "--concurrency",
        str(CONCURRENCY),
        "--tag",
        tag,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"load generator failed ({process.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


def rate(result: dict[str, Any]) -> float:
    return float(result["done"]) / float(result["seconds"])


async def run(count: int, rounds: int, samples: int) -> None:
    n = cores()
    single = one_hash_cost(samples)
    floor = n / single
    async with page_and_hello() as bench:
        gets = max(20, count * 10)
        await load("get", bench.hello_url, min(gets, 100))  # warm both (templates, code paths)
        await load("get", bench.page_url, min(gets, 100))
        hello_rates, page_rates = [], []
        page_result: dict[str, Any] = {}
        for _ in range(rounds):  # interleaved: a neighbour's burst hits both alike
            hello_rates.append(rate(await load("get", bench.hello_url, gets)))
            page_result = await load("get", bench.page_url, gets)
            page_rates.append(rate(page_result))
        # The loop-lag probe runs beside both, so it costs them alike.
        with Usage() as usage:
            async with LoopStalls() as stalls:
                signups = await load("signup", bench.page_url, count, tag=str(time.time_ns()))
        made = await bench.store.engine.scalar("SELECT count(*) FROM users")
        with Usage() as hashing:  # the same hashes alone, right after: same neighbours
            async with LoopStalls():
                await asyncio.gather(*(bench.store.hasher.hash(f"pw {i}") for i in range(count)))
        lookup, render = await page_parts(bench.app, bench.store, bench.link.token, min(gets, 500))
    cost = await signup_cost(min(max(count, 50), 500))

    signup_rate = rate(signups)
    hello_rate, page_rate = max(hello_rates), max(page_rates)
    figure(f"one hash, CPU time (least of {samples})", f"{single * 1000:.1f} ms")
    figure("hash floor (cores / one hash)", f"{floor:.1f} signups/s")
    figure(
        f"signups, {count} x GET+POST, {CONCURRENCY} clients",
        f"{signup_rate:.1f} signups/s",
        goal=f">= {SIGNUP_GOAL:.2f}",
        ratio=signup_rate / floor,
        passed=signup_rate / floor >= SIGNUP_GOAL and int(made) == count,
    )
    hash_rate = count / hashing.wall
    figure(
        "Hasher alone, same run, same count",
        f"{hash_rate:.1f} hashes/s",
        ratio=hash_rate / floor,
    )
    figure(
        "signups vs Hasher alone",
        f"{signup_rate / hash_rate:.2f}x",
        goal=f">= {HASHER_GOAL:.2f}",
        ratio=signup_rate / hash_rate,
        passed=signup_rate / hash_rate >= HASHER_GOAL,
    )
    check = strength_check_cost(min(count, 100))
    figure(
        "  password strength check (zxcvbn), CPU",
        f"{check * 1000:.1f} ms",
        ratio=check / single,
    )
    stall_figure(stalls, "largest event-loop stall, signups")
    figure("signup GET+POST latency p50", f"{signups['p50_ms']:.0f} ms")
    figure("signup GET+POST latency p95", f"{signups['p95_ms']:.0f} ms")
    client = float(signups["cpu_seconds"]) / usage.wall
    figure("cores: server process, signups", f"{usage.process_cores:.2f} of {n}")
    figure("cores: load generator, signups", f"{client:.2f} of {n}")
    figure(
        "cores: other work, signups",
        f"{usage.others_cores(usage.process_cores + client):.2f} of {n}",
    )
    figure("accounts made / asked", f"{int(made)} / {count}", passed=int(made) == count)
    figure(f"hello-world GET (best of {rounds})", f"{hello_rate:.0f} req/s")
    figure(
        f"signup page GET (best of {rounds})",
        f"{page_rate:.0f} req/s",
        goal=f">= {PAGE_GOAL:.2f}",
        ratio=page_rate / hello_rate,
        passed=page_rate / hello_rate >= PAGE_GOAL,
    )
    figure("signup page GET latency p50", f"{page_result['p50_ms']:.1f} ms")
    figure("hello-world GET, time per request", f"{1e6 / hello_rate:.0f} us")
    figure("signup page GET, time per request", f"{1e6 / page_rate:.0f} us")
    figure("  link read afresh (aiosqlite)", f"{lookup * 1e6:.0f} us")
    figure("  join.html render (once per setting)", f"{render * 1e6:.0f} us")
    cost_figures(cost)
    if signups["statuses"].keys() - {"200", "303"}:
        print(f"note: unexpected answers during signups: {signups['statuses']}")


def main() -> None:
    parser = arguments(__doc__, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    args = parser.parse_args()
    count = size(args, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    print(machine_line())
    asyncio.run(run(count, rounds=1 if args.quick else 3, samples=5 if args.quick else 15))


if __name__ == "__main__":
    main()
