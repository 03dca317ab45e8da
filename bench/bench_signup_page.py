"""The signup page's GET (`/join/{token}`) against a Litestar hello-world with the same security
layer (CSRF, security headers, the POST limit), both served as the console serves (our own
socket, uvicorn on this process's event loop), loaded by the same generator in its own process
(bench/_loadgen.py, 8 keep-alive clients, cookies kept).

On a shared 2-core machine a neighbour's burst moves any one run by tens of percent, so the two
run in `--rounds` interleaved rounds (default 7; the order alternates each round) and the goal
figure is the median of each round's ratio (goal >= 0.9, issue #19). Also printed: the largest
event-loop stall during the page's rounds (a 1 ms ticker, bench/_stalls.py), and CPU time per
request in-process (no socket, no HTTP parser: Usher's own work beside the hello-world's).

Run: `make bench` or `.venv/bin/python bench/bench_signup_page.py [--count N | --quick]
[--rounds R]` (N: GETs per run, default 3,000).
"""

from __future__ import annotations

import asyncio
import statistics

from _figures import Usage, arguments, figure, machine_line, size
from _signup_cost import Asgi, cpu_per_get
from _stalls import LoopStalls
from bench_signup import load, page_and_hello, rate

DEFAULT_COUNT = 3_000
QUICK_COUNT = 100
GOAL = 0.9
STALL_GOAL = 0.02


async def run(count: int, rounds: int) -> None:
    async with page_and_hello() as bench:
        await load("get", bench.hello_url, min(count, 200))  # warm: templates, code paths
        await load("get", bench.page_url, min(count, 200))
        rates: dict[str, list[float]] = {"page": [], "hello": []}
        server_us: dict[str, list[float]] = {"page": [], "hello": []}
        client_us: dict[str, list[float]] = {"page": [], "hello": []}
        others: list[float] = []
        largest = LoopStalls()
        urls = {"page": bench.page_url, "hello": bench.hello_url}
        pages, hellos = rates["page"], rates["hello"]
        for number in range(rounds):
            order = ("hello", "page") if number % 2 == 0 else ("page", "hello")
            for which in order:  # the probe runs beside both: it costs them alike
                with Usage() as usage:
                    async with LoopStalls() as stalls:
                        result = await load("get", urls[which], count)
                rates[which].append(rate(result))
                client = float(result["cpu_seconds"])
                server_us[which].append(usage.process_cores * usage.wall / count * 1e6)
                client_us[which].append(client / count * 1e6)
                if which == "page":
                    others.append(usage.others_cores(usage.process_cores + client / usage.wall))
                    if stalls.largest > largest.largest:
                        largest = stalls
            print(
                f"  round {number + 1}/{rounds} ({' → '.join(order)}): page "
                f"{pages[-1]:,.0f}/s · hello-world {hellos[-1]:,.0f}/s → "
                f"{pages[-1] / hellos[-1]:.3f} · other work {others[-1]:.2f} cores",
                flush=True,
            )
        path = f"/join/{bench.link.token}"
        page_cpu = await cpu_per_get(Asgi(bench.app), path, min(count, 2_000))
        hello_cpu = await cpu_per_get(Asgi(bench.hello), "/hello", min(count, 2_000))

    ratios = [page / hello for page, hello in zip(pages, hellos, strict=True)]
    ratio = statistics.median(ratios)
    figure(f"hello-world GET (median of {rounds})", f"{statistics.median(hellos):,.0f} req/s")
    figure(
        f"signup page GET (median of {rounds})",
        f"{statistics.median(pages):,.0f} req/s",
        goal=f">= {GOAL:.2f}",
        ratio=ratio,
        passed=ratio >= GOAL,
    )
    figure("  each round's ratio, least / most", f"{min(ratios):.2f} / {max(ratios):.2f}")
    figure("  other work meanwhile, median", f"{statistics.median(others):.2f} cores")
    figure(
        "signup page GET: largest loop stall",
        f"{largest.largest * 1000:.1f} ms",
        goal=f"< {STALL_GOAL * 1000:.0f} ms",
        passed=largest.largest < STALL_GOAL,
    )
    figure("  of it on the loop's CPU", f"{largest.largest_on_cpu * 1000:.1f} ms")
    both: dict[str, float] = {}
    for which, name in (("page", "signup page"), ("hello", "hello-world")):
        server, client = statistics.median(server_us[which]), statistics.median(client_us[which])
        both[which] = server + client
        figure(f"CPU per {name} GET, server / client", f"{server:.0f} / {client:.0f} us")
    figure(  # what the ratio tends to when both are CPU-bound: a neighbour moves it far less
        "  page vs hello-world by CPU per GET",
        f"{both['page']:.0f} / {both['hello']:.0f} us",
        ratio=both["hello"] / both["page"],
    )
    figure("CPU per page GET, in-process", f"{page_cpu * 1e6:.0f} us")
    figure(
        "CPU per hello-world GET, in-process",
        f"{hello_cpu * 1e6:.0f} us",
        ratio=hello_cpu / page_cpu,
    )


def main() -> None:
    parser = arguments(__doc__, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (7)")
    args = parser.parse_args()
    count = size(args, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 7)
    print(machine_line())
    asyncio.run(run(count, max(1, rounds)))


if __name__ == "__main__":
    main()
