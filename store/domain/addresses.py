"""Email addresses as Usher accepts them: validated by email-validator (syntax only, no DNS),
normalised once, compared by one key. Every parser and form uses this one check.

The decision (README, "Addresses"): the part before the @ must be plain ASCII. Usher's relay
and most receiving servers do not speak SMTPUTF8, so such an address could never be delivered,
and ASCII-only local parts also rule out lookalikes (fullwidth U+FF41, Cyrillic U+0430) that would
otherwise pass for someone else's address. Internationalised domains are accepted: they are
stored readable (`bücher.de`) and sent as punycode (`xn--bcher-kva.de`).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import idna
from email_validator import EmailNotValidError, validate_email

from store.domain.refusal import Refused


class AddressProblem(Refused, ValueError):
    """Why an address is refused, in words for people (e.g. "the domain has no dot")."""


class UndeliverableAddress(AddressProblem):
    """Well-formed, but outside what Usher accepts (a non-ASCII local part): forms show this
    message as it is, not as a format error."""


def normalise_address(text: str) -> str:
    """The address in the form we store (domain lower-cased, IDN kept readable).

    Raises AddressProblem with email-validator's explanation, first letter lower-cased so it
    reads well after a line number or a field name, or with `local_part_problem`'s.
    """
    candidate = text.strip()
    if not candidate:
        raise AddressProblem("the address is empty")
    if len(candidate) > 254:
        raise AddressProblem("the address is longer than 254 characters")
    local = candidate.rpartition("@")[0]
    problem = local_part_problem(local)
    if problem:
        raise UndeliverableAddress(problem)
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        message = str(error).rstrip(".")
        raise AddressProblem(message[:1].lower() + message[1:]) from None
    return str(result.normalized)


_LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁԛԝАВЕКМНОРСТХІЈЅαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdqwABEKMHOPCTXIJSabeiknoptuxABEZHIKMNOPTYX",
)
"""Cyrillic and Greek letters that pass for Latin ones (a few of Unicode's confusables)."""


def _describe(char: str) -> str:
    shown = f"'{char}' " if char.isprintable() and not char.isspace() else ""
    name = unicodedata.name(char, "an unnamed character")
    folded = unicodedata.normalize("NFKC", char).translate(_LOOKALIKES)
    hint = f", which looks like '{folded}'" if folded != char and folded.isascii() else ""
    return f"{shown}(U+{ord(char):04X} {name}{hint})"


def local_part_problem(local: str) -> str | None:
    """Why the part before the @ cannot be accepted, or None: any non-ASCII character.

    This one rule refuses undeliverable addresses (no SMTPUTF8) and lookalikes at once: a
    fullwidth or Cyrillic letter in an otherwise Latin name is named in the message instead
    of being silently folded into someone else's address.
    """
    for char in local:
        if not char.isascii():
            return (
                "Usher can't deliver to addresses with non-ASCII characters before the @ "
                f"(found {_describe(char)}): type that part in plain ASCII letters"
            )
    return None


def _fold(text: str) -> str:
    """NFKC + casefold, in Unicode's order for identifiers (NFKC(casefold(NFKD(casefold(NFD)))),
    definition D146): a single NFKC + casefold is not stable, folding its own output again
    can change it (e.g. U+01F0), and a key must be the same however often it is taken."""
    nfd = unicodedata.normalize("NFD", text).casefold()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", nfd).casefold())


@lru_cache(maxsize=4096)
def _domain_key(domain: str) -> str:
    """The domain in IDNA form (UTS 46 mapping: case, width; punycode): `faß.de` stays apart
    from `fass.de`, as IDNA 2008 has it. Where IDNA refuses the domain (a stored row from
    before, a word that is not an address) it is folded like a local part."""
    folded = _fold(domain)
    for candidate in (domain, folded):
        try:
            return idna.encode(candidate, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            continue
    return folded


def address_key(address: str) -> str:
    """The form two addresses are compared in, and the unique key of `users.email_key`:
    the part before the @ NFKC-casefolded, the domain IDNA-normalised (punycode).

    Total: any string gets a key (stored rows from before the ASCII rule, words that are not
    addresses), so fullwidth `\uff21lice@Acme.ORG`, `alice@acme.org` and `ALICE@acme.org`
    share one.
    """
    local, at, domain = address.rpartition("@")  # callers strip: folding may add spaces
    if not at:
        return _fold(domain)
    return _fold(local) + "@" + _domain_key(domain)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].casefold()
