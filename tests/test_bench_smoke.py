"""The benchmarks still run: each script at its smallest size in a subprocess exits 0 and prints
its figure lines (name, value, goal, ratio, PASS/MISS/INFO). No timing is asserted; only the
figures that check correctness (every account made, every message delivered, one connection
reused) must say PASS."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .helpers import ROOT, child_env

LINE = re.compile(
    r"^(?P<name>.+?)\s{2,}(?P<value>.+?)\s+goal (?P<goal>.+?)\s+ratio\s+(?P<ratio>\S+)"
    r"\s+(?P<verdict>PASS|MISS|INFO)$"
)

Expected = dict[str, str | None]
"""Figure-name prefix → the verdict it must have (None: any, timing is not asserted)."""

CASES: dict[str, tuple[list[str], Expected]] = {
    "bench_hash_floor.py": (
        ["--quick", "--count", "2"],
        {
            "one hash, CPU time (least of": None,
            "floor speed (cores / one hash)": None,
            "Hasher throughput": None,
            "Hasher vs bare thread pool": None,
            "cores other work took meanwhile": None,
            "largest event-loop stall": None,
        },
    ),
    "bench_signup.py": (
        ["--quick", "--count", "2"],
        {
            "hash floor (cores / one hash)": None,
            "signups, 1 x 2 GET+POST": None,
            "signups vs Hasher alone, median of rounds": None,
            "accounts made / asked": "PASS",
            "hello-world GET": None,
            "signup page GET (best of": None,
            "cores: other work, signups": None,
        },
    ),
    "bench_postgres.py": (
        ["--quick"],
        {
            "served signups, SQLite, 1 server": None,
            "served signups, PostgreSQL, 1 server": None,
            "served signups, PostgreSQL, 2 servers": None,
            "served signups, PostgreSQL, 3 servers": None,
            "per server core, PostgreSQL, 3": None,
            "store signups, SQLite, 1 store": None,
            "store signups, PostgreSQL, 3 stores": None,
            "claims, PostgreSQL, 3 workers": None,
        },
    ),
    "bench_signup_page.py": (
        ["--quick", "--count", "20", "--rounds", "1"],
        {
            "hello-world GET (median of": None,
            "signup page GET (median of": None,
            "signup page GET: largest loop stall": None,
            "CPU per page GET, in-process": None,
        },
    ),
    "bench_console_refreshes.py": (
        ["--quick"],
        {
            "refreshes per console approve": "PASS",
            "events per console approve": "PASS",
            "refreshes per other process's write": "PASS",
            "events per other process's write": "PASS",
            "largest loop stall, console, writes": None,
        },
    ),
    "bench_mail.py": (
        ["--quick", "--count", "3"],
        {
            "all delivered and marked sent": "PASS",
            "worker: connections, reusing": "PASS",
            "worker: connections, one per message": "PASS",
            "reuse speed-up, delivery worker": None,
            "reuse speed-up, SMTP alone": None,
        },
    ),
    "bench_refreshes.py": (
        ["--quick"],
        {
            "events per write, same process": "PASS",
            "echoes of own writes as another's": "PASS",
            "events per write, other process": "PASS",
            "accounts written / asked": "PASS",
        },
    ),
    "bench_users_screen.py": (
        ["--count", "300"],
        {
            "Users 300: first page shown": None,
            "Users 300: next page": None,
            "Users 300: largest loop stall": None,
            "Approvals 300: new sign-up counted": None,
            "Approvals 300: largest loop stall": None,
            "new sign-up → row, same process": None,
            "new sign-up → row, other process": None,
            "new sign-ups: largest loop stall": None,
        },
    ),
    "bench_parse_addresses.py": (
        ["--quick", "--count", "50"],
        {"parse, cold": None, "parse (thread) + preview, cold": None},
    ),
}


def run_bench(script: str, arguments: list[str]) -> str:
    """Run `bench/<script>` with `arguments` as `make bench` would; its standard output, once it
    has exited 0."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *arguments],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_and_prints_its_figures(script: str) -> None:
    arguments, expected = CASES[script]
    output = run_bench(script, arguments)
    lines = output.splitlines()
    assert lines[0].startswith("machine: ") and " cores, " in lines[0]
    figures = {m["name"].strip(): m for m in map(LINE.match, lines) if m}
    for prefix, verdict in expected.items():
        found = [m for name, m in figures.items() if name.startswith(prefix)]
        assert found, f"{script}: no figure line {prefix!r} in:\n{output}"
        if verdict is not None:
            assert found[0]["verdict"] == verdict, found[0].string


OTHER_CASES: dict[str, tuple[list[str], list[str]]] = {
    "bench_add_user.py": (["--quick"], ["link ", "generate ", "set "]),
    "bench_sign_in_timing.py": (["--quick"], ["known address", "unknown address", "difference"]),
    "bench_erasure.py": (["--quick"], ["erased  1 of 200 users", "erased 10 of 200 users"]),
    "bench_bulk.py": (
        ["--count", "20"],
        ["random for each", "one for all", "given on each line", "largest event-loop stall"],
    ),
}
"""Benchmarks that print their own lines: `--quick`/`--count` is taken (so `make bench
ARGS=--quick` runs them all) and each prints what it measures."""


@pytest.mark.parametrize("script", sorted(OTHER_CASES))
def test_other_benchmarks_take_the_size_flags(script: str) -> None:
    arguments, expected = OTHER_CASES[script]
    output = run_bench(script, arguments)
    for text in expected:
        assert text in output, f"{script}: {text!r} not in:\n{output}"
