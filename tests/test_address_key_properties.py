"""Properties of the address rules (hypothesis): the key every uniqueness check and lookup uses
is stable, agrees with what Usher accepts, and folds case and width; every refused local part
is refused for the character it names."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from store.domain.addresses import (
    AddressProblem,
    UndeliverableAddress,
    address_key,
    normalise_address,
)

ATOM = st.from_regex(r"[A-Za-z0-9_+=-]{1,8}(\.[A-Za-z0-9_+=-]{1,8}){0,2}", fullmatch=True)
"""Local parts made of plain ASCII (dot-atoms)."""

LABEL = st.sampled_from(
    ["acme", "ACME", "Bücher", "xn--bcher-kva", "例子", "müNCHEN", "faß", "fass", "x1", "straße"]
)
TLD = st.sampled_from(["org", "de", "ORG", "广告", "xn--6frz82g"])
DOMAIN = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(LABEL, min_size=1, max_size=2), TLD
)
ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", ATOM, DOMAIN)

SETTINGS = settings(deadline=None, max_examples=200)


def nocase(text: str) -> str:
    """What SQLite's COLLATE NOCASE compares: ASCII letters folded, nothing else."""
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@SETTINGS
@given(st.text(max_size=40))
def test_the_key_is_stable_and_total(text: str) -> None:
    key = address_key(text)
    assert address_key(key) == key


@SETTINGS
@given(ADDRESS)
def test_accepted_addresses_have_ascii_local_parts_and_keep_their_key(address: str) -> None:
    stored = normalise_address(address)
    assert stored.rpartition("@")[0].isascii()
    assert normalise_address(stored) == stored
    assert address_key(stored) == address_key(address)
    assert address_key(stored).isascii()  # punycode domain, ASCII local part


@SETTINGS
@given(ADDRESS, ADDRESS)
def test_the_key_and_the_databases_nocase_agree_on_accepted_addresses(a: str, b: str) -> None:
    """For everything Usher now accepts, `users.email_key` and `users.email COLLATE NOCASE`
    draw the same line: one never lets in what the other refuses."""
    first, second = normalise_address(a), normalise_address(b)
    assert (address_key(first) == address_key(second)) == (nocase(first) == nocase(second))


@SETTINGS
@given(ADDRESS)
def test_case_and_width_variants_share_the_key(address: str) -> None:
    local, _, domain = address.rpartition("@")
    key = address_key(address)
    assert address_key(f"{local.upper()}@{domain}") == key
    assert address_key(f"{local.swapcase()}@{domain}") == key
    if domain.upper().lower() == domain.lower():  # not `ß` -> `SS`, which is another domain
        assert address_key(f"{local}@{domain.upper()}") == key
    wide = f"{fullwidth(local)}@{domain}"
    assert address_key(wide) == key  # so the unique key catches it even where it was stored
    with pytest.raises(UndeliverableAddress, match="FULLWIDTH"):
        normalise_address(wide)  # and no entry point stores it


@SETTINGS
@given(ATOM, st.characters(min_codepoint=0x80, exclude_categories=["Cs"]), ATOM, DOMAIN)
def test_non_ascii_local_parts_are_refused_naming_the_character(
    before: str, char: str, after: str, domain: str
) -> None:
    address = f"{before}{char}{after}@{domain}"
    assume(address.strip() == address)  # a trailing space would be stripped first
    with pytest.raises(AddressProblem) as refused:
        normalise_address(address)
    if len(address) <= 254:
        assert isinstance(refused.value, UndeliverableAddress)
        assert f"U+{ord(char):04X} {unicodedata.name(char, 'an unnamed character')}" in str(
            refused.value
        )
