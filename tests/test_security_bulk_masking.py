"""A malformed bulk line never shows its password: wherever a bad line is shown or written (the
parse itself, the console preview's table and detail line, `usher users import` text and
`--json`, the problem report CSV), the third field and anything after the address is masked,
however the line was broken (wrong separator, an unbalanced quote, spaces, too many fields)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Static

from console.app import UsherApp
from console.screens.bulk import BulkScreen
from console.widgets.bulk_table import BulkLinesTable
from store import Settings
from store.onboarding.bulk import error_entries, write_problem_report
from store.onboarding.bulk_lines import MASK, PasswordMode, parse_bulk_lines

from .helpers import eventually, run_usher

SECRETS = [f"Secret-{n}-Tulip" for n in range(1, 9)]
BAD_LINES = [
    f"Ann Lee;ann@acme.org;{SECRETS[0]}",  # semicolons, as the issue found
    f'"Ann Lee,ann@acme.org,{SECRETS[1]}',  # an unbalanced quote at the start
    f'Bo Ng,"bo@acme.org,{SECRETS[2]}',  # an unbalanced quote before the address
    f"Cy Ho cy@acme.org {SECRETS[3]}",  # spaces instead of commas
    f"Di Ax|di@acme.org|{SECRETS[4]}",  # pipes
    f"Ed Oz,ed@acme.org,{SECRETS[5]},extra",  # too many fields
    f"Flo Li\tflo@acme\t{SECRETS[6]}",  # a bad address, tab-separated
    f"Gus Ek;gus@acme.org,{SECRETS[7]};more",  # mixed separators
]
TEXT = "\n".join([*BAD_LINES, "Hal Yu,hal@acme.org"]) + "\n"


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret
        assert secret[:-6] not in text, secret  # no part of it either ("Secret-1")


@pytest.mark.parametrize("mode", ["random", "given", "same"])
def test_the_parse_masks_every_password_of_a_bad_line(mode: PasswordMode) -> None:
    parsed = parse_bulk_lines(TEXT, mode)
    bad = parsed.problems[: len(BAD_LINES)]
    assert [line.line for line in bad] == list(range(1, len(BAD_LINES) + 1))
    for line in bad:
        shown = " ".join([line.input, line.first_name, line.last_name, line.email, line.error])
        assert_no_secret(shown)
        assert_no_secret(repr(line))
        assert MASK in line.input, line.input
    assert parsed.problems[0].input == f"Ann Lee;ann@acme.org;{MASK}"
    assert parsed.problems[3].input == f"Cy Ho cy@acme.org {MASK}"


def test_the_problem_report_and_json_entries_mask_them(tmp_path: Path) -> None:
    parsed = parse_bulk_lines(TEXT, "random")
    report = tmp_path / "problems.csv"
    assert write_problem_report(report, parsed.problems) == len(BAD_LINES)
    assert_no_secret(report.read_text("utf-8"))
    with report.open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(BAD_LINES)
    assert_no_secret(json.dumps(error_entries(parsed.problems), ensure_ascii=False))


@pytest.mark.parametrize("as_json", [False, True])
def test_users_import_never_prints_a_password_of_a_bad_line(tmp_path: Path, as_json: bool) -> None:
    lines = tmp_path / "people.csv"
    lines.write_text(TEXT, "utf-8")
    flags = ["--json"] if as_json else []
    result = run_usher(
        "users", "import", str(lines), "--level", "member", "--passwords", "random",
        "--no-email", "--db", str(tmp_path / "u.db"), *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_no_secret(result.stdout + result.stderr)
    if as_json:
        report = json.loads(result.stdout)
        assert report["created"] == 1
        assert [e["line"] for e in report["errors"]] == list(range(1, len(BAD_LINES) + 1))
    else:
        assert "line 1:" in result.stdout + result.stderr


def test_users_import_refusing_everything_never_prints_a_password(tmp_path: Path) -> None:
    lines = tmp_path / "people.csv"
    lines.write_text("\n".join(BAD_LINES), "utf-8")
    result = run_usher(
        "users", "import", str(lines), "--level", "member", "--passwords", "random",
        "--db", str(tmp_path / "u.db"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "line 1:" in result.stderr
    assert_no_secret(result.stdout + result.stderr)


async def test_the_console_preview_never_shows_a_password(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f7")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BulkScreen)
        screen.lines_area.focus()
        await pilot.pause()
        app.post_message(events.Paste(TEXT))

        async def previewed() -> bool:
            await pilot.pause()
            return screen.preview is not None and screen.preview.ready_count == 1

        await eventually(previewed, timeout=20)
        table = screen.query_one("#preview", BulkLinesTable)
        assert table.row_count == len(BAD_LINES)
        cells: list[str] = []
        for row in range(table.row_count):
            cells.extend(str(cell) for cell in table.get_row_at(row))
            table.move_cursor(row=row)
            await pilot.pause()
            cells.append(str(screen.query_one("#detail", Static).render()))
        assert_no_secret(" ".join(cells))
