"""What every benchmark prints: one line per figure - name, value, goal, ratio, PASS/MISS - and a
first line saying which machine (and how busy) the figures came from.

Not a benchmark itself (`make bench` runs only `bench/bench_*.py`); the scripts import it as a
sibling module (`python bench/bench_x.py` puts bench/ first on `sys.path`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path
from types import TracebackType

VERDICTS = ("PASS", "MISS", "INFO")
"""INFO: a figure with no goal (a floor, a baseline, a count) printed for context."""


def cores() -> int:
    """Cores this process may run on (what a thread pool can actually use)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat; (0, 0) elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


class Usage:
    """CPU used during a `with` block: by this process (all its threads) and by the whole
    machine, so a figure can say how much of the machine other work took meanwhile.

        with Usage() as usage:
            ...
        usage.wall, usage.process_cores, usage.machine_cores, usage.others_cores(extra)
    """

    def __init__(self) -> None:
        self.wall = self.process_cores = self.machine_cores = 0.0

    def __enter__(self) -> Usage:
        self._times = os.times()
        self._ticks = _machine_ticks()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wall = time.perf_counter() - self._started
        times = os.times()
        used = (times.user + times.system) - (self._times.user + self._times.system)
        self.process_cores = used / self.wall if self.wall else 0.0
        busy, total = _machine_ticks()
        busy, total = busy - self._ticks[0], total - self._ticks[1]
        self.machine_cores = busy / total * (os.cpu_count() or 1) if total else 0.0

    def others_cores(self, ours: float | None = None) -> float:
        """Cores the rest of the machine used meanwhile (`ours` adds e.g. a child process's)."""
        mine = self.process_cores if ours is None else ours
        return max(0.0, self.machine_cores - mine)


def machine_line() -> str:
    """`machine: 2 cores, AMD EPYC, load 1.20 0.80 0.50, 2026-11-25 17:40 UTC`.

    The load average says how busy the machine was (other people's work makes figures noisy).
    """
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"machine: {cores()} cores, {cpu_model()}, load {load}, {when}"


def figure_line(
    name: str,
    value: str,
    *,
    goal: str = "-",
    ratio: float | None = None,
    passed: bool | None = None,
) -> str:
    """One figure. `passed` None means there is no goal (INFO)."""
    verdict = "INFO" if passed is None else ("PASS" if passed else "MISS")
    ratio_text = "-" if ratio is None else f"{ratio:.2f}"
    return f"{name:<40}  {value:>18}  goal {goal:<10} ratio {ratio_text:>6}  {verdict}"


def figure(
    name: str,
    value: str,
    *,
    goal: str = "-",
    ratio: float | None = None,
    passed: bool | None = None,
) -> None:
    print(figure_line(name, value, goal=goal, ratio=ratio, passed=passed), flush=True)


def arguments(doc: str | None, *, default: int, quick: int) -> argparse.ArgumentParser:
    """`--count N` (the benchmark's size) and `--quick` (the smallest size that shows anything,
    for the smoke test and a first look)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=None, help=f"size (default {default:,})")
    parser.add_argument("--quick", action="store_true", help=f"small and fast (size {quick:,})")
    return parser


def size(args: argparse.Namespace, *, default: int, quick: int) -> int:
    """`--count` wins, then `--quick`, then the default."""
    if args.count is not None:
        return max(1, int(args.count))
    return quick if args.quick else default
