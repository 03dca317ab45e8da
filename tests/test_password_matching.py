"""The one-pass dictionary matcher (store/domain/password_matching.py) gives zxcvbn's own matches in
zxcvbn's order, so a password's strength estimate — a security rule — is unchanged by it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zxcvbn import matching, zxcvbn

from store.domain import password_matching, passwords
from store.domain.password_matching import USER_INPUTS, dictionary_match, zxcvbn_dictionary_match

PIECES = [
    "password", "dragon", "harbour", "lantern", "plum", "correct", "horse", "battery",
    "staple", "Jennifer", "smith", "qwerty", "2024", "1987", "p@ssw0rd", "l3tm31n",
    "drowssap", "-", "_", "!", "42", "x", "İ", "ß", "é", "ann", "lee", "acme",
]  # fmt: skip
"""Words from zxcvbn's lists (also reversed and l33t), dates, names, a character whose
lower() is two (İ), and the people's own words below."""

OWN = ["ann", "lee", "acme", "ann.lee", "annlee", "example", "ann.lee@example.org"]

passwords_made = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(min_size=1, max_size=4)), max_size=10
).map("".join)
own_words = st.lists(st.one_of(st.sampled_from(OWN), st.text(max_size=8)), max_size=6)


@pytest.fixture(autouse=True)
def zxcvbn_matcher_restored() -> Iterator[None]:
    """Each test leaves zxcvbn's module as the store installs it."""
    yield
    password_matching.install()
    matching.RANKED_DICTIONARIES[USER_INPUTS] = {}


def with_own(words: list[str]) -> dict[str, Any]:
    dictionaries = matching.RANKED_DICTIONARIES
    dictionaries[USER_INPUTS] = matching.build_ranked_dict([w.lower() for w in words])
    return dictionaries


@given(passwords_made, own_words)
def test_the_same_matches_in_the_same_order_as_zxcvbns(password: str, own: list[str]) -> None:
    dictionaries = with_own(own)
    assert dictionary_match(password, dictionaries) == zxcvbn_dictionary_match(
        password, dictionaries
    )


def comparable(sequence: Any) -> list[dict[str, Any]]:
    """A match sequence with its `re.Match` objects (equal only to themselves) as their text."""
    return [
        {key: (v.group(0) if isinstance(v, re.Match) else v) for key, v in match.items()}
        for match in sequence
    ]


@given(passwords_made, own_words)
def test_the_whole_estimate_is_zxcvbns(password: str, own: list[str]) -> None:
    password = password[: passwords.MAX_ESTIMATED] or "x"  # zxcvbn fails on ""
    matching.dictionary_match = zxcvbn_dictionary_match
    theirs = zxcvbn(password, user_inputs=own)
    password_matching.install()
    ours = zxcvbn(password, user_inputs=own)
    assert ours["score"] == theirs["score"]
    assert ours["guesses"] == theirs["guesses"]
    assert comparable(ours["sequence"]) == comparable(theirs["sequence"])
    assert ours["feedback"] == theirs["feedback"]


def test_the_store_runs_it_and_a_new_list_is_indexed_again() -> None:
    assert matching.dictionary_match is dictionary_match  # installed by store.domain.passwords
    dictionaries = with_own([])
    assert dictionary_match("zqxjvkwords", dictionaries) == zxcvbn_dictionary_match(
        "zqxjvkwords", dictionaries
    )
    matching.add_frequency_lists({"extra": ["zqxjvk"]})
    try:
        found = dictionary_match("zqxjvkwords", dictionaries)
        assert any(m["dictionary_name"] == "extra" for m in found)
        assert found == zxcvbn_dictionary_match("zqxjvkwords", dictionaries)
    finally:
        del matching.RANKED_DICTIONARIES["extra"]
