"""The bulk-line parser: a table of inputs and what each line becomes, plus properties that hold
for any text (never raises; a valid line is never dropped; line numbers are right)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.domain import passwords
from store.onboarding.bulk_lines import (
    MASK,
    BulkLine,
    PasswordMode,
    mark_existing,
    parse_bulk_lines,
    split_lines,
    split_name,
)

GOOD = "correct horse battery"


def only(text: str, mode: PasswordMode = "random") -> BulkLine:
    parsed = parse_bulk_lines(text, mode)
    assert len(parsed.lines) == 1, parsed.lines
    return parsed.lines[0]


def kinds(line: BulkLine) -> list[str]:
    return [problem.kind for problem in line.problems]


@pytest.mark.parametrize(
    ("text", "first", "last", "email", "password"),
    [
        ("Ann Lee,ann@acme.org", "Ann", "Lee", "ann@acme.org", None),
        ("  Ann   Lee  ,  ann@acme.org  ", "Ann", "Lee", "ann@acme.org", None),
        ("Ann Marie Lee,ann@acme.org", "Ann", "Marie Lee", "ann@acme.org", None),
        ("Cher,cher@acme.org", "Cher", "", "cher@acme.org", None),
        ('"Lee, Ann",ann@acme.org', "Lee,", "Ann", "ann@acme.org", None),
        ('"Ann ""Nan"" Lee",ann@acme.org', "Ann", '"Nan" Lee', "ann@acme.org", None),
        ("Ann Lee\tann@acme.org", "Ann", "Lee", "ann@acme.org", None),
        ("Ann Lee\tann@acme.org\t" + GOOD, "Ann", "Lee", "ann@acme.org", GOOD),
        ("Ann Lee,ANN@ACME.ORG", "Ann", "Lee", "ANN@acme.org", None),
        ("Jürgen Groß,juergen@münchen.de", "Jürgen", "Groß", "juergen@münchen.de", None),
        (f"Ann Lee,ann@acme.org,  {GOOD}  ", "Ann", "Lee", "ann@acme.org", GOOD),
        (
            'Ann Lee,ann@acme.org,"pass, with comma"',
            "Ann",
            "Lee",
            "ann@acme.org",
            "pass, with comma",
        ),
        ("Ann Lee,ann@acme.org,P@ss w0rd ;'\\", "Ann", "Lee", "ann@acme.org", "P@ss w0rd ;'\\"),
        ("Ann Lee,ann@acme.org,", "Ann", "Lee", "ann@acme.org", None),
        ("Ann Lee,ann@acme.org,,,", "Ann", "Lee", "ann@acme.org", None),
    ],
)
def test_valid_lines(text: str, first: str, last: str, email: str, password: str | None) -> None:
    line = only(text)
    assert line.ok, line.error
    assert (line.first_name, line.last_name, line.email, line.password) == (
        first,
        last,
        email,
        password,
    )
    assert line.line == 1


@pytest.mark.parametrize(
    ("text", "mode", "expected", "words"),
    [
        ("Bob Stone,bob@acme", "random", ["email"], "invalid email"),
        ("Bob Stone,bob@@acme.org", "random", ["email"], "invalid email"),
        ("Bob Stone", "random", ["email"], "missing email address"),
        ("Bob Stone,", "random", ["email"], "missing email address"),
        ("bob@acme.org", "random", ["name"], "missing name"),
        (",bob@acme.org", "random", ["name"], "missing name"),
        ("Bob Stone,bob@acme.org,pw,extra", "random", ["fields"], "too many fields (4"),
        ("Bob Stone,bob@acme.org", "given", ["password"], "missing password"),
        ("Bob Stone,bob@acme.org,   ", "given", ["password"], "missing password"),
        ("Bob Stone,bob@acme.org,short", "given", ["password"], "at least 8 characters"),
        ("Bob Stone,bob@acme.org,password", "given", ["password"], "too common"),
        ("Bob Stone,bob@acme.org,bob@acme.org", "given", ["password"], "email address or name"),
        ("Bob Stone,bob@acme.org,Bob Stone", "given", ["password"], "email address or name"),
        ("A" * 101 + " B,bob@acme.org", "random", ["name"], "longer than 100"),
        (",bob@acme", "given", ["name", "email", "password"], "missing name; invalid email"),
    ],
)
def test_problem_lines(text: str, mode: PasswordMode, expected: list[str], words: str) -> None:
    line = only(text, mode)
    assert kinds(line) == expected
    assert words in line.error


def test_a_password_on_a_line_is_ignored_but_shown_as_given_outside_given_mode() -> None:
    for mode in ("random", "same"):
        line = only(f"Ann Lee,ann@acme.org,{GOOD}", mode)
        assert line.ok
        assert line.password == GOOD


def test_duplicates_keep_the_first_line_and_report_the_others() -> None:
    parsed = parse_bulk_lines(
        "Ann Lee,ann@acme.org\nBob Stone,bob@acme.org\n\nAnn Again,ANN@Acme.org\nAnn 3,ann@acme.org"
    )
    assert [line.line for line in parsed.ready] == [1, 2]
    assert [(line.line, line.error) for line in parsed.problems] == [
        (4, "duplicate of line 1 (ANN@acme.org)"),
        (5, "duplicate of line 1 (ann@acme.org)"),
    ]


def test_line_numbers_count_blank_lines_and_every_kind_of_line_end() -> None:
    text = "\ufeff\nAnn Lee,ann@acme.org\r\n\r\nBob Stone,bob@acme\rCy Young,cy@acme.org\n\n"
    parsed = parse_bulk_lines(text)
    assert [(line.line, line.ok) for line in parsed.lines] == [(2, True), (4, False), (5, True)]
    assert split_lines(text)[3] == "Bob Stone,bob@acme"


def test_lines_of_only_separators_are_blank() -> None:
    parsed = parse_bulk_lines("\t\t\n,,,\n  \nAnn Lee,ann@acme.org")
    assert [line.line for line in parsed.lines] == [4]


@pytest.mark.parametrize(
    "header",
    [
        "First name,Last name,Email,Password",
        "first,last,e-mail,password",
        "FIRST_NAME\tLAST_NAME\tEMAIL ADDRESS\tPASSWORD",
        "Forename,Surname,Mail,PW",
    ],
)
def test_header_rows_with_separate_columns_are_honoured(header: str) -> None:
    delimiter = "\t" if "\t" in header else ","
    row = delimiter.join(["Ann Marie", "Lee", "ann@acme.org", GOOD])
    parsed = parse_bulk_lines(f"{header}\n{row}", "given")
    assert parsed.header_line == 1
    (line,) = parsed.lines
    assert line.ok, line.error
    assert (line.line, line.first_name, line.last_name, line.email, line.password) == (
        2,
        "Ann Marie",
        "Lee",
        "ann@acme.org",
        GOOD,
    )


def test_header_columns_in_any_order_with_extra_columns_ignored() -> None:
    text = "Department\tEmail\tName\nSales\tann@acme.org\tAnn Lee\nIT\tbob@acme.org\t\n"
    parsed = parse_bulk_lines(text)
    assert parsed.columns == ("", "email", "name")
    assert [(ln.line, ln.first_name, ln.last_name, ln.error) for ln in parsed.lines] == [
        (2, "Ann", "Lee", ""),
        (3, "", "", "missing name"),
    ]


def test_a_row_longer_than_its_header_has_too_many_fields() -> None:
    parsed = parse_bulk_lines("name,email\nAnn Lee,ann@acme.org,surprise")
    (line,) = parsed.lines
    assert kinds(line) == ["fields"]
    assert "expected at most 2" in line.error


def test_a_first_line_with_an_address_is_data_not_a_header() -> None:
    parsed = parse_bulk_lines("email,ann@acme.org\nBob Stone,bob@acme.org")
    assert parsed.header_line is None
    assert [line.line for line in parsed.lines] == [1, 2]


def test_only_the_first_line_can_be_a_header() -> None:
    parsed = parse_bulk_lines("Ann Lee,ann@acme.org\nname,email")
    assert parsed.header_line is None
    assert [(line.line, kinds(line)) for line in parsed.lines] == [(1, []), (2, ["email"])]


def test_reports_never_show_a_password() -> None:
    secret = "my secret passphrase"
    parsed = parse_bulk_lines(
        f"Ann Lee,bad-address,{secret}\nBob Stone,bob@acme.org,{secret},more\n"
        f"Cy,cy@x.org,short\nDi Ax,di@x.org,{secret}",
        "given",
    )
    for line in parsed.lines:
        assert secret not in line.input
        assert secret not in line.error
        assert secret not in repr(line)
        assert "short" not in line.input
    assert parsed.lines[0].input == f"Ann Lee,bad-address,{MASK}"
    assert parsed.lines[1].input == f"Bob Stone,bob@acme.org,{MASK},{MASK}"


def test_input_shows_control_characters_as_symbols() -> None:
    line = only("Bob Stone,\x1b[2Jbob@acme\x07")
    assert line.input == "Bob Stone,\u241b[2Jbob@acme\u2407"
    assert kinds(line) == ["email"]
    assert "ESCAPE (U+001B), at position 1" in line.error


def test_a_name_with_an_escape_sequence_is_refused_not_stored() -> None:
    line = only("Ann\x1b[31m Lee,ann@acme.org")
    assert kinds(line) == ["name"]
    assert line.error == "name contains a control character, ESCAPE (U+001B), at position 4"
    assert (line.first_name, line.last_name) == ("Ann", "Lee")


def test_mark_existing_adds_already_exists_once() -> None:
    parsed = parse_bulk_lines("Ann Lee,ann@acme.org\nBob Stone,bob@acme.org\nCy,bad")
    marked = mark_existing(parsed, {"ann@acme.org", "bad"})
    again = mark_existing(marked, {"ann@acme.org"})
    assert [(line.line, kinds(line)) for line in again.lines] == [
        (1, ["exists"]),
        (2, []),
        (3, ["email"]),
    ]
    assert again.ready_count == 1


def test_split_name() -> None:
    assert split_name("  Mary  Ann Lee ") == ("Mary", "Ann Lee")
    assert split_name("Cher") == ("Cher", "")
    assert split_name("") == ("", "")


def test_ten_thousand_lines_parse_well_under_a_second_of_work() -> None:
    text = "\n".join(
        f"User{i} Name{i},user{i}@example.org,pw-{i}-long-enough" for i in range(10_000)
    )
    started = time.process_time()
    parsed = parse_bulk_lines(text, "random")
    spent = time.process_time() - started
    assert parsed.ready_count == 10_000
    assert all(line.password for line in parsed.lines)  # the third field is read (and masked)
    # Not a timing assertion on the wall clock: a generous bound on CPU spent, which catches an
    # accidental quadratic step (that would take minutes), not a slow machine. The strength
    # estimate of "given" passwords (zxcvbn, a few ms each) is counted in the next test.
    assert spent < 10


def test_given_passwords_cost_one_estimate_each_and_a_reparse_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = passwords._estimate

    def counted(candidate: str, context: tuple[str, ...]) -> tuple[int, str]:
        calls.append(len(candidate))
        return real(candidate, context)

    monkeypatch.setattr(passwords, "_estimate", counted)
    monkeypatch.setattr(passwords, "_remembered", {})
    text = "\n".join(f"User{i} Name{i},user{i}@example.org,pw-{i}-long-enough" for i in range(300))
    parsed = parse_bulk_lines(text, "given")
    assert parsed.ready_count == 300
    assert len(calls) == 300, "one estimate a line: linear work"
    assert parse_bulk_lines(text + "\nZed Ox,zed@example.org,pw-zed-long-enough", "given")
    assert len(calls) == 301, "re-parsing as the admin types estimates only the new line"


# ------------------------------------------------------------------ properties

names = st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=12)
junk = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="@\r\n\x0b\x0c"),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["same", "random", "given"]))
def test_parser_never_raises(text: str, mode: PasswordMode) -> None:
    parsed = parse_bulk_lines(text, mode)
    rows = split_lines(text)
    for line in parsed.lines:
        assert 1 <= line.line <= len(rows)
        assert rows[line.line - 1].strip()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(names, names), min_size=1, max_size=15),
    st.lists(st.tuples(st.integers(min_value=0, max_value=40), junk), max_size=10),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_a_valid_line_is_never_dropped_and_keeps_its_line_number(
    people: list[tuple[str, str]],
    noise: list[tuple[int, str]],
    newline: str,
    tabs: bool,
) -> None:
    separator = "\t" if tabs else ","
    rows = [
        f"{first} {last}{separator}user{i}@example.org" for i, (first, last) in enumerate(people)
    ]
    # Junk goes after the first row (a first row could otherwise be taken for a header).
    for position, text in noise:
        rows.insert(1 + position % len(rows), text)
    parsed = parse_bulk_lines(newline.join(rows))
    expected = {
        f"user{i}@example.org": (rows.index(f"{first} {last}{separator}user{i}@example.org") + 1)
        for i, (first, last) in enumerate(people)
    }
    found = {line.email: line for line in parsed.ready}
    for email, number in expected.items():
        assert email in found, f"{email} dropped"
        line = found[email]
        assert line.line == number
        first, last = people[int(email[4 : email.index("@")])]
        assert (line.first_name, line.last_name) == (first, last)
