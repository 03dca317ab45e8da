"""`usher invite --level L [--file F] [--message TEXT] [--reinvite] [--json]`: invite a pasted
list of addresses by email, from a file or standard input.

Everything valid is invited in one transaction; refused lines are reported with their line
numbers (exit 0). When nothing valid was given, the errors are printed and the exit status is 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from store import Settings, Store
from store.accounts.audit import console_actor
from store.database.migrations import LEVELS
from store.domain.clock import lifetime_words
from store.domain.text import clean_line
from store.onboarding.email_lists import ListEntry, ParsedList, parse_email_list
from store.onboarding.invitations import (
    INVITATION_VALID,
    InvitationError,
    SendResult,
    send_invitations,
)

from .commands import subcommand
from .errors import EXIT_OK, CliError
from .language import add_language_argument, language_of

__all__ = ["invite_report", "register", "run_invite"]


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    invite = subcommand(
        commands,
        "invite",
        run_invite,
        common=common,
        help="email invitations to a pasted list of addresses",
        description=(
            "Invite everyone in a pasted list (from --file or standard input): addresses "
            "separated by commas, semicolons, tabs, spaces or new lines, 'Name <addr>' forms, "
            "or a spreadsheet column or CSV with a header. Each person gets an email with a "
            f"link valid for {lifetime_words(INVITATION_VALID)}."
        ),
    )
    invite.add_argument("--level", required=True, choices=LEVELS, help="the invitees' user level")
    invite.add_argument("--file", metavar="F", help="read the list from F (default: stdin; - too)")
    invite.add_argument("--message", metavar="TEXT", help="a personal message for the email")
    invite.add_argument(
        "--reinvite",
        action="store_true",
        help="send again to addresses with a pending invitation (default: skip them)",
    )
    add_language_argument(invite, whose="the invitations'")
    invite.add_argument("--json", action="store_true", help="print the outcome as JSON")


def _read_list(path: str | None, stdin: TextIO) -> str:
    if path is None or path == "-":
        return stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise CliError(f"cannot read {path!r}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CliError(f"cannot read {path!r}: it is not UTF-8 text") from None


def _errors(parsed: ParsedList) -> list[dict[str, Any]]:
    return [{"line": p.line, "input": p.text, "error": p.reason} for p in parsed.invalid]


def _skipped(parsed: ParsedList, result: SendResult | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"line": p.line, "input": p.text, "reason": p.reason} for p in parsed.duplicates
    ]
    if result is not None:

        def add(entries: list[ListEntry], reason: str) -> None:
            rows.extend({"line": e.line, "input": e.address, "reason": reason} for e in entries)

        add(result.existing, "already has an account")
        add(result.skipped_pending, "has a pending invitation (--reinvite sends it again)")
    return sorted(rows, key=lambda row: int(row["line"]))


def invite_report(
    parsed: ParsedList,
    result: SendResult | None,
    *,
    level: str,
    smtp: bool,
    language: str | None = None,
) -> dict[str, Any]:
    """The `--json` shape: DESIGN.md's `invited`, `skipped`, `errors`, plus the details."""
    skipped = _skipped(parsed, result)
    return {
        "invited": result.sent if result else 0,
        "reinvited": len(result.reinvited) if result else 0,
        "skipped": len(skipped),
        "errors": _errors(parsed),
        "skipped_details": skipped,
        "level": level,
        "language": language,
        "invitation_ids": result.invitation_ids if result else [],
        "email": "queued" if smtp else "kept",
    }


def _print_text(report: dict[str, Any], out: TextIO) -> None:
    invited = int(report["invited"])
    people = "person" if invited == 1 else "people"
    line = f"Invited {invited} {people} as {report['level']}"
    if report["reinvited"]:
        line += f" ({report['reinvited']} re-invited with a new link)"
    print(line + ".", file=out)
    if report["skipped"]:
        print(f"Skipped {report['skipped']}:", file=out)
        for row in report["skipped_details"]:
            shown = clean_line(str(row["input"]))
            print(f"  line {row['line']}: {shown} — {row['reason']}", file=out)
    if report["errors"]:
        print(f"{len(report['errors'])} not invited (not an address):", file=out)
        for row in report["errors"]:
            print(
                f"  line {row['line']}: {clean_line(str(row['input']))!r} — {row['error']}",
                file=out,
            )
    if invited and report["email"] == "kept":
        print(
            "No SMTP server is configured (USHER_SMTP_URL): the emails are kept in the outbox; "
            "pass the links on from the console's Outbox screen.",
            file=out,
        )


async def _send(
    settings: Settings,
    parsed: ParsedList,
    *,
    level: str,
    message: str,
    reinvite: bool,
    language: str | None,
) -> SendResult:
    async with await Store.open(settings, watch=False) as store:
        try:
            return await send_invitations(
                store,
                parsed.entries,
                level=level,
                actor=console_actor(),
                message=message,
                reinvite=reinvite,
                language=language,
            )
        except InvitationError as error:
            raise CliError(str(error)) from None


def run_invite(
    args: argparse.Namespace,
    settings: Settings,
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    stdout = out or sys.stdout
    level = str(args.level)
    as_json = bool(getattr(args, "json", False))
    language = language_of(args)
    text = _read_list(getattr(args, "file", None), stdin or sys.stdin)
    parsed = parse_email_list(text)
    if not parsed.entries:
        if as_json:
            report = invite_report(
                parsed, None, level=level, smtp=settings.smtp_configured, language=language
            )
            print(json.dumps(report, ensure_ascii=False), file=stdout)
        problems = [f"  line {p.line}: {clean_line(p.text)!r} — {p.reason}" for p in parsed.invalid]
        headline = "no valid email address to invite" + ("" if problems else ": the list is empty")
        raise CliError("\n".join([headline, *problems]))
    result = asyncio.run(
        _send(
            settings,
            parsed,
            level=level,
            message=str(getattr(args, "message", "") or ""),
            reinvite=bool(getattr(args, "reinvite", False)),
            language=language,
        )
    )
    report = invite_report(
        parsed, result, level=level, smtp=settings.smtp_configured, language=language
    )
    if as_json:
        print(json.dumps(report, ensure_ascii=False), file=stdout)
    else:
        _print_text(report, stdout)
    return EXIT_OK
