"""zxcvbn's dictionary matcher with the same answers in one pass instead of seven.

zxcvbn 4.5 looks every substring of a password up in each of its word lists in turn (six fixed
lists and the person's own words: seven passes over ~500 substrings, run again for the reversed
and each l33t-decoded password) — over half of a signup's strength check, ~3 ms of CPU beside a
~17 ms hash. This looks each substring up once, in an index of the fixed lists built on first
use (word → every list that has it, in zxcvbn's order) and in the person's words, and skips
substrings longer than any listed word. `install()` puts it in zxcvbn's place;
tests/test_password_matching.py proves it returns zxcvbn's own matches, in zxcvbn's order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from zxcvbn import matching

USER_INPUTS = "user_inputs"
"""The list zxcvbn rebuilds on every call from the person's words (never indexed)."""

Ranked = Mapping[str, int]
Hit = tuple[int, str, int]
"""(the list's place in zxcvbn's order, its name, the word's rank in it)."""

zxcvbn_dictionary_match: Callable[..., Any] = matching.dictionary_match
"""zxcvbn's own matcher: the reference the tests compare with, and the fallback."""


class _Index:
    """The fixed lists merged, valid for one set of list objects in one order."""

    def __init__(self, dictionaries: Mapping[str, Ranked]) -> None:
        self.signature = _signature(dictionaries)
        merged: dict[str, list[Hit]] = {}
        for order, (name, ranked) in enumerate(dictionaries.items()):
            if name == USER_INPUTS:
                continue
            for word, rank in ranked.items():
                merged.setdefault(word, []).append((order, name, rank))
        self.hits = {word: tuple(hits) for word, hits in merged.items()}
        self.longest = max((len(word) for word in self.hits), default=0)


def _signature(dictionaries: Mapping[str, Ranked]) -> tuple[tuple[str, int, int], ...]:
    """Which list objects, in which order, of which size (a list swapped, reordered or grown
    by `matching.add_frequency_lists` makes a new index)."""
    return tuple(
        (name, 0, 0) if name == USER_INPUTS else (name, id(ranked), len(ranked))
        for name, ranked in dictionaries.items()
    )


_index: _Index | None = None
_index_lock = threading.Lock()


def _index_for(dictionaries: Mapping[str, Ranked]) -> _Index:
    global _index
    with _index_lock:
        if _index is None or _index.signature != _signature(dictionaries):
            _index = _Index(dictionaries)
        return _index


def dictionary_match(
    password: str, _ranked_dictionaries: Mapping[str, Ranked] = matching.RANKED_DICTIONARIES
) -> list[dict[str, Any]]:
    """`zxcvbn.matching.dictionary_match`'s result: every (substring, list) hit, ordered by
    start, end, then the lists' order."""
    length = len(password)
    lowered = password.lower()
    if len(lowered) != length:  # lower() lengthened a character: keep zxcvbn's own indexing
        theirs: list[dict[str, Any]] = zxcvbn_dictionary_match(password, _ranked_dictionaries)
        return theirs
    index = _index_for(_ranked_dictionaries)
    own = _own_hits(lowered, _ranked_dictionaries)
    static, longest = index.hits, index.longest
    matches: list[dict[str, Any]] = []
    for i in range(length):
        own_here = own.get(i)
        for j in range(i, min(length, max(i + longest, own_here[-1][0] + 1 if own_here else 0))):
            word = lowered[i : j + 1]
            if word in static:  # most substrings are in no list: one `in`, no call
                hits = static[word]
            elif not own_here:
                continue
            else:
                hits = ()
            if own_here:
                mine = [hit for end, hit in own_here if end == j]
                if mine:
                    hits = tuple(sorted((*hits, *mine)))
            for _, name, rank in hits:
                matches.append(
                    {
                        "pattern": "dictionary",
                        "i": i,
                        "j": j,
                        "token": password[i : j + 1],
                        "matched_word": word,
                        "rank": rank,
                        "dictionary_name": name,
                        "reversed": False,
                        "l33t": False,
                    }
                )
    return matches


def _own_hits(lowered: str, dictionaries: Mapping[str, Ranked]) -> dict[int, list[tuple[int, Hit]]]:
    """Where the person's own words occur: start → [(end, hit)] by end (a handful of words,
    found with `str.find` rather than looked up for every substring)."""
    own = dictionaries.get(USER_INPUTS)
    if not own:
        return {}
    order = list(dictionaries).index(USER_INPUTS)
    found: dict[int, list[tuple[int, Hit]]] = {}
    for word, rank in own.items():
        if not word:
            continue
        start = lowered.find(word)
        while start != -1:
            found.setdefault(start, []).append((start + len(word) - 1, (order, USER_INPUTS, rank)))
            start = lowered.find(word, start + 1)
    for hits in found.values():
        hits.sort()
    return found


def install() -> None:
    """Use this matcher in zxcvbn (its reverse and l33t matchers call the module's name)."""
    matching.dictionary_match = dictionary_match  # type: ignore[assignment]
