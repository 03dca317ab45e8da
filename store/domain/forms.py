"""What people type into forms, checked once for every form that asks for it: a name, an email
address, a new password and its confirmation. The invitee's pages (link signup, invitation,
password change and reset) and the admin's forms (Add user, `users add`) ask the same
questions; only the voice differs — "Enter your first name" to the person, "Enter their first
name" to the admin about someone else."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from store.domain.addresses import (
    AddressProblem,
    UndeliverableAddress,
    domain_of,
    normalise_address,
)
from store.domain.passwords import problem_off_loop
from store.domain.text import one_line, text_problem
from store.onboarding.links import domain_allowed

__all__ = [
    "MAX_NAME",
    "PASSWORDS_DIFFER",
    "Voice",
    "check_email_address",
    "domains_words",
    "email_problem",
    "name_problem",
    "new_password_errors",
    "outside_domains",
    "own_names",
    "refuse",
]

MAX_NAME = 100
"""The longest first or last name (and display name in a pasted list), in characters."""

PASSWORDS_DIFFER = "The two passwords don't match: type the same one twice"

Voice = Literal["your", "their"]
"""Whom a message speaks to: the person filling in the form, or the admin about someone."""

_SUBJECT: dict[Voice, str] = {"your": "Your", "their": "The"}
_FORMAT: dict[Voice, str] = {
    "your": "Enter an email address in the correct format, like name@example.org ({problem})",
    "their": "Not an email address: {problem}",
}


def refuse(errors: dict[str, str], field: str, message: str) -> None:
    """Name what is wrong with `field` (a function, so a message about a password field is not
    read as a password written in the code)."""
    errors[field] = message


def name_problem(
    value: str,
    label: str,
    errors: dict[str, str],
    field: str,
    *,
    required: bool = True,
    voice: Voice = "your",
) -> str:
    """The name cleaned to one line; a problem goes into `errors[field]`. A last name may be
    empty (people with one name: "Sukarno"), on both sides."""
    cleaned = one_line(value)
    problem = text_problem(value)
    if problem:
        errors[field] = f"{_SUBJECT[voice]} {label} {problem}"
    elif not cleaned and required:
        errors[field] = f"Enter {voice} {label}"
    elif len(cleaned) > MAX_NAME:
        errors[field] = f"{_SUBJECT[voice]} {label} can be at most {MAX_NAME} characters"
    return cleaned


def check_email_address(text: str, *, voice: Voice = "your") -> str:
    """The normalised address (store.domain.addresses, no DNS), or AddressProblem (a ValueError)
    worded for the form."""
    if not text.strip():
        raise AddressProblem(f"Enter {voice} email address", field="email")
    try:
        return normalise_address(text)
    except UndeliverableAddress as problem:
        raise AddressProblem(str(problem), field="email") from None
    except AddressProblem as problem:
        raise AddressProblem(_FORMAT[voice].format(problem=problem), field="email") from None


def email_problem(text: str, *, voice: Voice = "your") -> str | None:
    """What is wrong with the typed address, or None."""
    try:
        check_email_address(text, voice=voice)
    except AddressProblem as problem:
        return str(problem)
    return None


def domains_words(domains: tuple[str, ...]) -> str:
    """`acme.org or any address ending .acme.org`: a link's domains in words."""
    words = [f"any address ending .{d[2:]}" if d.startswith("*.") else d for d in domains]
    return " or ".join(words)


def outside_domains(domains: tuple[str, ...], email: str) -> str | None:
    """Why `email` may not sign up by a link for `domains` only (the hint names them), or None
    when it may (a link without domains takes every address)."""
    if domain_allowed(domains, domain_of(email)):
        return None
    words = domains_words(domains)
    return f"Use an email address at {words}: this link is only for those addresses"


def own_names(first: str, last: str) -> tuple[str, ...]:
    """The person's own words a password must not be built on: each name and both together."""
    return tuple(n for n in (first, last, f"{first} {last}".strip()) if n)


async def new_password_errors(
    password: str,
    confirm: str,
    *,
    email: str,
    names: Iterable[str],
    org: str,
    errors: dict[str, str],
) -> None:
    """A new password's problem into `errors["password"]` (the policy, off the event loop),
    else a confirmation that differs into `errors["password_confirm"]`. An empty confirmation
    is a form with one password field (and a "show" button), not a mismatch."""
    if not password:
        errors["password"] = "Enter a password"  # noqa: S105 - a message, not a password
    else:
        problem = await problem_off_loop(password, email=email, names=names, org=org)
        if problem:
            errors["password"] = problem
    if "password" not in errors and confirm and password != confirm:
        errors["password_confirm"] = PASSWORDS_DIFFER
