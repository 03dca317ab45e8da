"""`usher check [--send-to ADDRESS] [--json]`: the configuration's checklist
(store/service/checks.py).

Exit status 2 when a check failed; warnings are printed but do not fail it.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import msgspec

from store import Settings
from store.domain.text import clean_line
from store.service.checks import all_passed, run_checks

from .commands import subcommand
from .errors import EXIT_FAILED, EXIT_OK

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "--  "}


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    check = subcommand(
        commands,
        "check",
        run_check,
        common=common,
        help="check the configuration (database, file modes, URL, SMTP, webhooks, clock)",
    )
    check.add_argument(
        "--send-to", metavar="ADDRESS", help="also send a test message to this address"
    )
    check.add_argument("--json", action="store_true", help="print the checks as JSON")


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    checks = asyncio.run(run_checks(settings, send_to=getattr(args, "send_to", "") or ""))
    passed = all_passed(checks)
    if getattr(args, "json", False):
        print(
            msgspec.json.encode(
                {"ok": passed, "checks": [msgspec.structs.asdict(c) for c in checks]}
            ).decode()
        )
    else:
        width = max(len(check.name) for check in checks)
        for check in checks:
            print(f"{MARKS[check.status]}  {check.name:<{width}}  {clean_line(check.detail)}")
        failed = sum(check.status == "fail" for check in checks)
        warned = sum(check.status == "warn" for check in checks)
        if failed:
            print(f"{failed} check(s) failed.")
        else:
            print("Everything checked works" + (f" ({warned} warning(s))." if warned else "."))
    return EXIT_OK if passed else EXIT_FAILED
