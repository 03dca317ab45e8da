"""User-provided text: which characters Usher refuses in names, labels and messages, and how any
text is made safe to show.

A stranger's name is shown in an admin's terminal, in emails and in pages. Control characters
(C0, DEL, C1: ESC starts the sequences that retitle or recolour a terminal, write its clipboard
or clear it) and invisible formatting characters (the bidi embeddings, overrides, isolates and
marks that reorder what is shown — "Trojan Source", CVE-2021-42574 —, zero-width spaces, the
"tag" characters that smuggle hidden ASCII) must never be stored as part of a name. Whitespace
of any kind (tabs, line breaks, no-break and wide spaces) is only spacing: one-line fields fold
it into single spaces. What is refused is decided by `refused_at` alone: every entry point (web
forms, the console, the CLI) asks `text_problem` and shows its sentence, and `visible` draws
those characters (and any other control character) as symbols. `clean_text` and `clean_line`
only make text (also text stored before these rules) safe to print.
"""

from __future__ import annotations

import re
import unicodedata

ZERO_WIDTH_JOINERS = frozenset("\u200c\u200d")
"""ZWNJ and ZWJ: needed inside words of Persian, Indic and other scripts and in emoji
sequences, so they are allowed between two visible characters (RFC 5892's CONTEXTJ idea)."""

_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_WHITESPACE = re.compile(f"[{_SPACES}]+")
_LINE_BREAKS = re.compile("\r\n|[\r\n\v\f\x85\u2028\u2029]")

# Escape sequences are removed whole, so stripping "ESC [31m" leaves no "[31m" behind:
# CSI (ESC [ or C1 CSI … final byte), OSC/DCS/SOS/PM/APC strings (… BEL or ST), two-byte escapes.
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[\x20-\x3f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
_DISPLAY_STRIP = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_DISPLAY_STRIP_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_space(char: str) -> bool:
    return _WHITESPACE.fullmatch(char) is not None


def _kind(char: str) -> str | None:
    """What kind of refused character `char` is, out of context (None: an ordinary one)."""
    category = unicodedata.category(char)
    if category == "Cc":
        return "a control character"
    if category == "Cs":
        return "a character that is not valid text"
    if char in _BIDI:
        return "a text-direction character"
    if category == "Cf":
        return "an invisible formatting character"
    return None


def refused_at(value: str) -> int | None:
    """The index of the first character of `value` that Usher refuses, or None.

    Refused: C0/C1 controls and DEL, lone surrogates, and every format character (Unicode
    category Cf: bidi controls, zero-width spaces, word joiners, BOM, soft hyphen, tags…)
    except ZWNJ/ZWJ between two visible characters. Whitespace is not refused: one-line fields
    fold it (`one_line`), multi-line ones keep their line breaks (`paragraphs`).
    """
    if value.isascii() and value.isprintable():
        return None
    for index, char in enumerate(value):
        if " " <= char <= "~" or _is_space(char):
            continue
        if char in ZERO_WIDTH_JOINERS and _joins(value, index):
            continue
        if _kind(char) is not None:
            return index
    return None


def _joins(value: str, index: int) -> bool:
    if index == 0 or index == len(value) - 1:
        return False
    before, after = value[index - 1], value[index + 1]
    return all(not _is_space(c) and _kind(c) is None for c in (before, after))


def character_name(char: str) -> str:
    """`ESCAPE (U+001B)`, `RIGHT-TO-LEFT OVERRIDE (U+202E)`, `U+009B` for the unnamed."""
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        picture = chr(0x2400 + code) if code < 0x20 else "\u2421"
        name = unicodedata.name(picture).removeprefix("SYMBOL FOR ")
    else:
        name = unicodedata.name(char, "")
    return f"{name} (U+{code:04X})" if name else f"U+{code:04X}"


def text_problem(value: str) -> str | None:
    """Why `value` cannot be kept, as the end of a sentence ("contains a control character,
    ESCAPE (U+001B), at position 4"), or None. Positions count characters from 1, in `value`
    as given."""
    index = refused_at(value)
    if index is None:
        return None
    char = value[index]
    kind = _kind(char) or "an invisible formatting character"
    return f"contains {kind}, {character_name(char)}, at position {index + 1}"


def one_line(value: str) -> str:
    """Every run of whitespace (tabs, line breaks, no-break and wide spaces) as one space,
    the ends trimmed: the stored form of a one-line field once `text_problem` has passed it."""
    if value.isascii() and value.isprintable():  # the common case, ~5x faster
        return " ".join(value.split())
    return _WHITESPACE.sub(" ", value).strip()


def paragraphs(value: str) -> str:
    """Multi-line text with its line breaks as `\\n`, other spacing kept, ends trimmed."""
    return _LINE_BREAKS.sub("\n", value).strip()


def strip_unsafe(value: str, *, multiline: bool = False) -> str:
    """`value` without escape sequences (removed whole) and without any character Usher
    refuses: for free text an admin typed, where dropping them loses nothing meant."""
    if value.isascii() and value.isprintable():
        return " ".join(value.split()) if not multiline else value.strip()
    text = _SEQUENCES.sub("", value)
    text = paragraphs(text) if multiline else one_line(text)
    while (index := refused_at(text)) is not None:
        text = text[:index] + text[index + 1 :]
    return text.strip()


_PICTURES = {code: 0x2400 + code for code in range(0x20)} | {0x7F: 0x2421}


def visible(value: str) -> str:
    """`value` with every character a terminal would obey or hide replaced, one for one, by a
    visible symbol: C0 controls by their Control Pictures (ESC → ␛), C1 controls, lone
    surrogates and format characters (bidi controls, zero-width spaces) by U+FFFD. For text
    boxes, which show their value as it is (tabs, new lines and ZWNJ/ZWJ between visible
    characters are kept)."""
    if value.isprintable():
        return value
    chars = list(value)
    for index, char in enumerate(chars):
        code = ord(char)
        if char in "\t\n":
            continue
        if code in _PICTURES:
            chars[index] = chr(_PICTURES[code])
        elif char in ZERO_WIDTH_JOINERS and _joins(value, index):
            continue
        elif _kind(char) is not None:
            chars[index] = "\ufffd"
    return "".join(chars)


def clean_text(value: str) -> str:
    """For display and logs: strip C0/C1 controls (ESC included), bidi controls and lone
    surrogates, but keep new lines and tabs."""
    return _DISPLAY_STRIP.sub("", value)


def clean_line(value: str) -> str:
    """Like `clean_text`, new lines included: for one-line fields and log lines."""
    return _DISPLAY_STRIP_LINE.sub("", value)


def with_article(word: str) -> str:
    """`a member`, `an admin`, `an owner`: English's indefinite article by the first letter
    (right for every level and role; emails use their translated phrases instead)."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def like_pattern(term: str) -> str:
    """`%term%` with LIKE's wildcards escaped (use with `ESCAPE '\\'`): a search for `50%` or
    `a_b` finds those characters, not everything."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
