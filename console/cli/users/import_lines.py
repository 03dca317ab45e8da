"""`usher users import FILE --level L --passwords random|same|given …`: bulk creation from the
command line, with the same parser, preview and report as the console's Bulk screen.

Until the `users` command group of `usher users list|approve|reject` exists, `register` creates
it; when it exists already (registered earlier in `_extra_commands`), `import` joins it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from store import Settings, Store
from store.accounts.audit import console_actor
from store.database.migrations import LEVELS
from store.domain.clock import to_db
from store.onboarding.bulk import (
    BulkError,
    BulkOptions,
    BulkResult,
    Progress,
    create_batch,
    error_entries,
    preview,
    shared_password_problem,
)
from store.onboarding.bulk_lines import PASSWORD_MODES, BulkLine, ParsedLines

from ...words import counted
from ..commands import subcommand
from ..errors import EXIT_FAILED, EXIT_OK, CliError
from ..language import add_language_argument, language_of

MAX_FILE_BYTES = 50 * 1024 * 1024
PROGRESS_LINE_EVERY = 1.0
"""Seconds between progress lines when stderr is not a terminal."""


def register(
    users: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = subcommand(
        users,
        "import",
        run_import,
        common=common,
        help="create many accounts from lines of FirstName LastName,Email[,Password]",
        description=(
            "Create an account for each line of FILE (CSV or tab-separated; a header row naming "
            "first/last/name/email/password columns is honoured). Lines with problems are "
            "reported with their line numbers and skipped; existing accounts are reported, "
            "never re-created. Passwords on the command line are visible to other local users: "
            "prefer --password-file -."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="the lines to import; - reads stdin")
    parser.add_argument("--level", required=True, choices=LEVELS, help="the users' level")
    parser.add_argument(
        "--passwords",
        required=True,
        choices=PASSWORD_MODES,
        help="same: one for all (--password/--password-file); random: a one-time password "
        "each, printed once; given: the third field of each line",
    )
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password", help="the password for all (--passwords same)")
    secret.add_argument(
        "--password-file", metavar="F", help="read the password for all from F (- = stdin)"
    )
    parser.add_argument(
        "--no-email", action="store_true", help="do not email the users that their account exists"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the preview and write nothing"
    )
    add_language_argument(parser, whose="the users'")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


# ------------------------------------------------------------------ reading the inputs


def _read_text(name: str, what: str) -> str:
    if name == "-":
        return sys.stdin.read()
    path = Path(name).expanduser()
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CliError(f"{what} {name!r} is larger than {MAX_FILE_BYTES // 2**20} MB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"{what} {name!r} does not exist") from None
    except IsADirectoryError:
        raise CliError(f"{what} {name!r} is a folder") from None
    except OSError as error:
        raise CliError(f"cannot read {what} {name!r}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"{what} {name!r} is not UTF-8 text (save it as UTF-8 CSV)") from None


def _shared_password(args: argparse.Namespace, settings: Settings) -> str | None:
    mode = str(args.passwords)
    given: str | None = getattr(args, "password", None)
    file: str | None = getattr(args, "password_file", None)
    if mode != "same":
        if given is not None or file is not None:
            raise CliError("--password and --password-file go with --passwords same only")
        return None
    if file is not None:
        if file == "-" and args.file == "-":
            raise CliError("FILE and --password-file cannot both be stdin")
        text = _read_text(file, "password file")
        given = text.splitlines()[0] if text else ""
    if not given:
        raise CliError("--passwords same needs --password-file F (or --password PW)")
    problem = shared_password_problem(given, org=settings.org)
    if problem:
        raise CliError(f"the password for all is refused: {problem}")
    return given


# ------------------------------------------------------------------ running


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    shared = _shared_password(args, settings)
    text = _read_text(args.file, "file")
    options = BulkOptions(
        level=args.level,
        passwords=args.passwords,
        shared_password=shared,
        notify=not getattr(args, "no_email", False),
        language=language_of(args),
    )
    return asyncio.run(
        _import(
            settings,
            text,
            options,
            dry_run=bool(getattr(args, "dry_run", False)),
            as_json=bool(getattr(args, "json", False)),
        )
    )


def _refused_only(line: BulkLine) -> bool:
    """Lines that nothing could make valid (an existing account is not the input's fault)."""
    return any(problem.kind != "exists" for problem in line.problems)


async def _import(
    settings: Settings, text: str, options: BulkOptions, *, dry_run: bool, as_json: bool
) -> int:
    async with await Store.open(settings, watch=False) as store:
        parsed = await preview(store, text, options.passwords)
        if parsed.total == 0:
            raise CliError("the file has no lines to import")
        if all(_refused_only(line) for line in parsed.lines):
            _print_refusal(parsed, as_json)
            return EXIT_FAILED
        if dry_run:
            _print_preview(parsed, options, as_json)
            return EXIT_OK
        progress = _ProgressPrinter(sys.stderr, options.passwords)
        try:
            result = await create_batch(
                store, parsed, options, actor=console_actor(), on_progress=progress
            )
        except BulkError as error:
            raise CliError(str(error)) from None
        finally:
            progress.finish()
        _print_result(result, settings, as_json, language=options.language)
        return EXIT_OK


class _ProgressPrinter:
    """Hashing progress on stderr: one updating line on a terminal, else a line a second."""

    def __init__(self, stream: TextIO, mode: str) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._mode = mode
        self._last = 0.0
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        if progress.phase != "hashing" or not 0 < progress.done < progress.total:
            return
        now = time.monotonic()
        if not self._tty and now - self._last < PROGRESS_LINE_EVERY:
            return
        self._last = now
        left = progress.seconds_left
        eta = f", about {left:.0f} s left" if left is not None else ""
        what = "passwords hashed" if self._mode == "given" else "credentials made"
        line = f"{progress.done:,} of {progress.total:,} {what} ({progress.rate:,.0f}/s{eta})"
        if self._tty:
            self._stream.write(f"\r\x1b[K{line}")
            self._drawn = True
        else:
            self._stream.write(f"usher: {line}\n")
        self._stream.flush()

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


# ------------------------------------------------------------------ printing


def _problem_lines(lines: list[BulkLine]) -> list[str]:
    return [f"  line {line.line}: {line.input} — {line.error}" for line in lines]


def _print_json(value: dict[str, Any]) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def _print_refusal(parsed: ParsedLines, as_json: bool) -> None:
    if as_json:
        _print_json(
            {"created": 0, "skipped": parsed.total, "errors": error_entries(parsed.problems)}
        )
        print("usher: error: nothing valid to import", file=sys.stderr)
        return
    message = "\n".join(
        ["usher: error: nothing valid to import:", *_problem_lines(parsed.problems)]
    )
    print(message, file=sys.stderr)


def _print_preview(parsed: ParsedLines, options: BulkOptions, as_json: bool) -> None:
    if as_json:
        _print_json(
            {
                "dry_run": True,
                "created": 0,
                "would_create": parsed.ready_count,
                "skipped": parsed.problem_count,
                "errors": error_entries(parsed.problems),
                "level": options.level,
                "language": options.language,
                "passwords": options.passwords,
            }
        )
        return
    print("Dry run: nothing was written.")
    print(
        f"Would create {parsed.ready_count:,} of {counted(parsed.total, 'account')} "
        f"(level {options.level}, passwords {options.passwords})."
    )
    _print_skipped(parsed.problems)


def _print_skipped(lines: list[BulkLine]) -> None:
    if lines:
        print(f"Skipped {counted(len(lines), 'line')}:")
        print("\n".join(_problem_lines(lines)))


def _print_result(
    result: BulkResult, settings: Settings, as_json: bool, *, language: str | None = None
) -> None:
    if as_json:
        value: dict[str, Any] = {
            "created": len(result.created),
            "skipped": len(result.skipped),
            "errors": error_entries(result.skipped),
            "batch_id": result.batch_id,
            "level": result.level,
            "language": language,
            "passwords": result.passwords,
            "emails_queued": result.emails_queued,
            "users": [
                {"line": item.line, "id": item.user_id, "email": item.email}
                for item in result.created
            ],
        }
        if result.passwords == "random":
            value["credentials"] = [
                {
                    "line": item.line,
                    "email": item.email,
                    "first_name": item.first_name,
                    "last_name": item.last_name,
                    "password": item.credential,
                    "expires_at": to_db(item.expires_at),
                }
                for item in result.credentials
            ]
        _print_json(value)
        return
    print(
        f"{result.summary} (level {result.level}, passwords {result.passwords}, "
        f"batch {result.batch_id})."
    )
    if result.emails_queued:
        where = "queued" if settings.smtp_configured else "kept in the outbox (no SMTP)"
        print(f"{counted(result.emails_queued, 'email')} {where}.")
    _print_skipped(list(result.skipped))
    if result.credentials:
        expires = result.credentials[0].expires_at.strftime("%Y-%m-%d %H:%M UTC")
        print(
            "\nOne-time passwords — shown only now; they expire "
            f"{expires} and must be changed at first sign-in:"
        )
        width = max(len(item.email) for item in result.credentials)
        for item in result.credentials:
            print(f"  {item.email:<{width}}  {item.credential}")
