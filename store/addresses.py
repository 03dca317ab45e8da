"""Email addresses as Usher accepts them: validated by email-validator (syntax only, no DNS),
normalised once, compared case-insensitively. Every parser and form uses this one check."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class AddressProblem(ValueError):
    """Why an address is refused, in words for people (e.g. "the domain has no dot")."""


def normalise_address(text: str) -> str:
    """The address in the form we store (domain lower-cased, IDN kept readable).

    Raises AddressProblem with email-validator's explanation, first letter lower-cased so it
    reads well after a line number or a field name.
    """
    candidate = text.strip()
    if not candidate:
        raise AddressProblem("the address is empty")
    if len(candidate) > 254:
        raise AddressProblem("the address is longer than 254 characters")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        message = str(error).rstrip(".")
        raise AddressProblem(message[:1].lower() + message[1:]) from None
    return str(result.normalized)


def address_key(address: str) -> str:
    """The form two addresses are compared in (case-insensitive, as the database does)."""
    return address.casefold()


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].casefold()
