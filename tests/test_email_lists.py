"""The pasted-list parser against real-world pastes, and its properties (hypothesis): it never
raises, never loses a valid address, and puts every address on the right line."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from store.domain.addresses import AddressProblem, address_key, normalise_address
from store.onboarding.email_lists import ParsedList, lines_to_fix, parse_email_list, split_name


def found(parsed: ParsedList) -> list[tuple[int, str, str]]:
    return [(entry.line, entry.address, entry.name) for entry in parsed.entries]


def problems(parsed: ParsedList) -> list[tuple[int, str, str]]:
    return [(p.line, p.kind, p.text) for p in parsed.problems]


# --- real-world pastes ---------------------------------------------------------------------------

PASTES: list[tuple[str, str, list[tuple[int, str, str]]]] = [
    (
        "outlook, quoted last-first names and semicolons",
        '"Lee, Ann" <ann@x.org>; Bob <bob@y.org>',
        [(1, "ann@x.org", "Lee, Ann"), (1, "bob@y.org", "Bob")],
    ),
    (
        "outlook, unquoted last-first names",
        "Lee, Ann <ann@x.org>; Stone, Bob <bob@y.org>;",
        [(1, "ann@x.org", "Lee, Ann"), (1, "bob@y.org", "Stone, Bob")],
    ),
    (
        "outlook, single-quoted names and the address as its own name",
        "'Ann Lee' <ann@x.org>; bob@y.org <bob@y.org>",
        [(1, "ann@x.org", "Ann Lee"), (1, "bob@y.org", "")],
    ),
    (
        "gmail's To field",
        "Ann Lee <ann@x.org>, Bob Stone <bob@y.org>, cy@z.org",
        [(1, "ann@x.org", "Ann Lee"), (1, "bob@y.org", "Bob Stone"), (1, "cy@z.org", "")],
    ),
    (
        "gmail, one per line with quoted names",
        '"Ann Lee" <ann@x.org>,\n"Bob Stone" <bob@y.org>',
        [(1, "ann@x.org", "Ann Lee"), (2, "bob@y.org", "Bob Stone")],
    ),
    (
        "excel column pasted with its header",
        "Email\nann@x.org\nbob@y.org\n\ncy@z.org\n",
        [(2, "ann@x.org", ""), (3, "bob@y.org", ""), (5, "cy@z.org", "")],
    ),
    (
        "excel columns (tabs) with a header naming first, last and email",
        "First Name\tLast Name\tEmail\tRole\nAnn\tLee\tann@x.org\tStudent\nBob\tStone\tbob@y.org\t",
        [(2, "ann@x.org", "Ann Lee"), (3, "bob@y.org", "Bob Stone")],
    ),
    (
        "excel columns without a header",
        "Ann Lee\tann@x.org\nBob Stone\tbob@y.org",
        [(1, "ann@x.org", "Ann Lee"), (2, "bob@y.org", "Bob Stone")],
    ),
    (
        "csv with header name,email and a quoted name with a comma",
        'name,email\n"Lee, Ann",ann@x.org\nBob Stone,bob@y.org\r\n',
        [(2, "ann@x.org", "Lee, Ann"), (3, "bob@y.org", "Bob Stone")],
    ),
    (
        "csv with the email column first and a second address column ignored",
        "Email,Name,Manager email\nann@x.org,Ann Lee,boss@x.org\n",
        [(2, "ann@x.org", "Ann Lee")],
    ),
    (
        "european csv (semicolons) with a header",
        "Name;E-mail\nAnn Lee;ann@x.org",
        [(2, "ann@x.org", "Ann Lee")],
    ),
    (
        "mixed separators",
        "a@x.org, b@x.org; c@x.org\td@x.org e@x.org\n\n  f@x.org  ,,;\n",
        [
            (1, "a@x.org", ""),
            (1, "b@x.org", ""),
            (1, "c@x.org", ""),
            (1, "d@x.org", ""),
            (1, "e@x.org", ""),
            (3, "f@x.org", ""),
        ],
    ),
    (
        "words before a bare address are its name",
        "Ann Lee ann@x.org\nBob bob@y.org Cy Young cy@z.org",
        [(1, "ann@x.org", "Ann Lee"), (2, "bob@y.org", "Bob"), (2, "cy@z.org", "Cy Young")],
    ),
    (
        "a comment after the address names it",
        "ann@x.org (Ann Lee)",
        [(1, "ann@x.org", "Ann Lee")],
    ),
    (
        "unicode names",
        'José Müller <jose@x.org>, "山田 太郎" <taro@x.jp>; Zoë Ångström zoe@x.se',
        [
            (1, "jose@x.org", "José Müller"),
            (1, "taro@x.jp", "山田 太郎"),
            (1, "zoe@x.se", "Zoë Ångström"),
        ],
    ),
    (
        "IDN domains, in Unicode or in punycode",
        "ann@bücher.de\nbob@xn--bcher-kva.de\nyonghu@例子.广告",  # local parts: ASCII only
        [(1, "ann@bücher.de", ""), (2, "bob@bücher.de", ""), (3, "yonghu@例子.广告", "")],
    ),
    (
        "mailto links and a byte-order mark",
        "\ufeffmailto:ann@x.org, <mailto:bob@y.org>",
        [(1, "ann@x.org", ""), (1, "bob@y.org", "")],
    ),
    (
        "a whole CSV field quoted, address inside",
        '"Ann Lee <ann@x.org>","bob@y.org"',
        [(1, "ann@x.org", "Ann Lee"), (1, "bob@y.org", "")],
    ),
    (
        "an unclosed quote does not swallow the rest",
        '"Lee, Ann <ann@x.org>, bob@y.org',
        [(1, "ann@x.org", "Lee, Ann"), (1, "bob@y.org", "")],
    ),
    (
        "domain case is normalised, local part kept",
        "Ann@EXAMPLE.ORG",
        [(1, "Ann@example.org", "")],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in PASTES], ids=[n for n, _, _ in PASTES]
)
def test_real_world_pastes(text: str, expected: list[tuple[int, str, str]]) -> None:
    parsed = parse_email_list(text)
    assert found(parsed) == expected
    assert parsed.problems == []


def test_header_line_is_reported_and_only_the_first_line_can_be_one() -> None:
    parsed = parse_email_list("\n\nEmail address\nann@x.org\nemail\n")
    assert parsed.header_line == 3
    assert found(parsed) == [(4, "ann@x.org", "")]
    assert problems(parsed) == [(5, "invalid", "email")]


def test_a_first_line_that_is_not_a_header_is_a_problem() -> None:
    parsed = parse_email_list("Spring class\nann@x.org")
    assert parsed.header_line is None
    assert problems(parsed) == [(1, "invalid", "Spring class")]
    assert parsed.problems[0].reason == "no email address found"


def test_invalid_entries_carry_line_and_reason() -> None:
    text = "ann@x.org\nbob@@acme.org\nbob.acme.org\n\ncy@acme\nJust A Name\nok@x.org, @x.org"
    parsed = parse_email_list(text)
    assert found(parsed) == [(1, "ann@x.org", ""), (7, "ok@x.org", "")]
    assert problems(parsed) == [
        (2, "invalid", "bob@@acme.org"),
        (3, "invalid", "bob.acme.org"),
        (5, "invalid", "cy@acme"),
        (6, "invalid", "Just A Name"),
        (7, "invalid", "@x.org"),
    ]
    reasons = {p.line: p.reason for p in parsed.problems}
    assert "@" in reasons[2]
    assert reasons[3] == "an email address must have an @-sign"
    assert "period" in reasons[5]
    assert reasons[7] == "there must be something before the @-sign"


def test_a_mistyped_address_among_good_ones_is_not_taken_as_a_name() -> None:
    parsed = parse_email_list("ann@x.org, bob.acme.org, cy@z.org")
    assert found(parsed) == [(1, "ann@x.org", ""), (1, "cy@z.org", "")]
    assert problems(parsed) == [(1, "invalid", "bob.acme.org")]


def test_duplicates_are_compared_case_insensitively_and_point_at_the_first() -> None:
    parsed = parse_email_list("ann@x.org\nBob <bob@y.org>\nANN@X.ORG; ann@x.org")
    assert found(parsed) == [(1, "ann@x.org", ""), (2, "bob@y.org", "Bob")]
    assert [(p.line, p.kind, p.first_line) for p in parsed.duplicates] == [
        (3, "duplicate", 1),
        (3, "duplicate", 1),
    ]
    assert parsed.duplicates[0].reason == "already in this list (line 1)"


def test_names_with_control_characters_are_refused_and_names_are_capped() -> None:
    long_name = "A" * 300
    parsed = parse_email_list(f"\x1b[31mEvil\x1b[0m <e@x.org>\n{long_name} <l@x.org>")
    [problem] = parsed.problems
    assert problem.line == 1 and problem.text == "\u241b[31mEvil\u241b[0m <e@x.org>"
    assert problem.reason == "the name contains a control character, ESCAPE (U+001B), at position 1"
    [entry] = parsed.entries
    assert entry.address == "l@x.org" and len(entry.name) == 100


def test_empty_and_blank_input() -> None:
    for text in ("", "\n\n", "  \t ,;  \n"):
        parsed = parse_email_list(text)
        assert parsed.entries == [] and parsed.problems == []


def test_line_numbers_follow_every_kind_of_line_break() -> None:
    parsed = parse_email_list("a@x.org\r\nb@x.org\rc@x.org\nd@x.org")
    assert [e.line for e in parsed.entries] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ann Lee", ("Ann", "Lee")),
        ("Lee, Ann", ("Ann", "Lee")),
        ("Ann Marie van Dyke", ("Ann", "Marie van Dyke")),
        ("Cher", ("Cher", "")),
        ("", ("", "")),
        ("ann@x.org", ("", "")),
    ],
)
def test_split_name(name: str, expected: tuple[str, str]) -> None:
    assert split_name(name) == expected


def test_ten_thousand_lines_parse_completely() -> None:
    lines = [f"Person {i} <p{i}@example.org>" for i in range(10_000)]
    parsed = parse_email_list("\n".join(lines))
    assert len(parsed.entries) == 10_000
    assert parsed.entries[-1].line == 10_000


# --- properties ----------------------------------------------------------------------------------

LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=12)
DOMAIN = st.sampled_from(["example.org", "x.co.uk", "bücher.de", "sub.example.com", "例子.广告"])
SEPARATOR = st.sampled_from([", ", ";", "; ", "\t", " ", "  ", "\n", ",\n", "\r\n", " ,\t"])
NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÄéß 山田'-", min_size=1, max_size=15)


def valid_address(local: str, domain: str) -> str | None:
    try:
        return normalise_address(f"{local}@{domain}")
    except AddressProblem:
        return None


@st.composite
def address_lists(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Valid addresses, some written as `Name <addr>` or `"Last, First" <addr>`, joined by any
    mix of separators."""
    addresses: list[str] = []
    parts: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        address = valid_address(draw(LOCAL), draw(DOMAIN))
        if address is None:
            continue
        addresses.append(address)
        form = draw(st.sampled_from(["bare", "angle", "quoted", "angle-only"]))
        name = draw(NAME).strip().strip("'-") or "Ann"
        written = {
            "bare": address,
            "angle": f"{name} <{address}>",
            "quoted": f'"{name}, Jr" <{address}>',
            "angle-only": f"<{address}>",
        }[form]
        if parts:
            parts.append(draw(SEPARATOR))
        parts.append(written)
    return "".join(parts), addresses


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_never_raises_on_any_text(text: str) -> None:
    parsed = parse_email_list(text)
    line_count = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    for entry in parsed.entries:
        assert 1 <= entry.line <= line_count
        assert normalise_address(entry.address) == entry.address
    for problem in parsed.problems:
        assert 1 <= problem.line <= line_count
        assert problem.reason


@settings(max_examples=300, deadline=None)
@given(address_lists())
def test_never_loses_a_valid_address(case: tuple[str, list[str]]) -> None:
    text, addresses = case
    assume(addresses)
    parsed = parse_email_list(text)
    assert parsed.invalid == []
    kept = {address_key(entry.address) for entry in parsed.entries}
    assert kept == {address_key(address) for address in addresses}
    # `ann@x.org <ann@x.org>` (Outlook's way of naming nobody) is one entry, not a duplicate
    assert len(parsed.entries) + len(parsed.duplicates) <= len(addresses)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(LOCAL, DOMAIN), min_size=0, max_size=4), max_size=15))
def test_line_numbers_are_right(lines: list[list[tuple[str, str]]]) -> None:
    expected: dict[str, int] = {}
    written_lines: list[str] = []
    for number, pairs in enumerate(lines, start=1):
        written: list[str] = []
        for local, domain in pairs:
            address = valid_address(local, domain)
            if address is None:
                continue
            expected.setdefault(address_key(address), number)
            written.append(address)
        written_lines.append(", ".join(written))
    parsed = parse_email_list("\n".join(written_lines))
    assert {address_key(e.address): e.line for e in parsed.entries} == expected
    for duplicate in parsed.duplicates:
        assert duplicate.first_line == expected[address_key(duplicate.text)]
        assert address_key(duplicate.text) in {
            address_key(a) for a in written_lines[duplicate.line - 1].split(", ") if a
        }


def test_lines_to_fix_keeps_only_what_is_not_an_address_and_the_header() -> None:
    text = "Name,Email\r\nAnn,ann@x.org\nBob,bob@@y.org\n\nCy,cy@z.org\nAnn,ann@x.org"
    assert lines_to_fix(text, parse_email_list(text)) == "Name,Email\nBob,bob@@y.org"
    loose = "ann@x.org; bad@@x.org\nbob@y.org\nann@x.org"
    # issue 16: the address sent from that line does not stay in the box
    assert lines_to_fix(loose, parse_email_list(loose)) == "bad@@x.org"
    mixed = "ann@example.org, bob@\nAnn <ann2@example.org>\nbob@ cy@x.org example.org"
    assert lines_to_fix(mixed, parse_email_list(mixed)) == "bob@\nbob@, example.org"
    assert lines_to_fix("ann@x.org\nann@x.org", parse_email_list("ann@x.org\nann@x.org")) == ""
