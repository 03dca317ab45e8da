"""Who is acting in this process, and what their role lets them do.

One admin acts per process: a console served over SSH runs as its own process for one admin
(`establish` once at start), while the local CLI and a local console act as an owner named
after the OS user. Every mutating operation in `store/` starts with one `require(action)` line,
so a role is enforced in the core whichever face called it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final, Literal, get_args

import msgspec

from store.domain.text import clean_line, with_article

Role = Literal["owner", "manager", "approver"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

Action = Literal[
    "admins", "erasure", "links", "invitations", "users", "bulk", "outbox", "approvals"
]

_RANK: Final[dict[Role, int]] = {"approver": 1, "manager": 2, "owner": 3}

NEEDS: Final[dict[Action, Role]] = {
    "admins": "owner",
    "erasure": "owner",
    "links": "manager",
    "invitations": "manager",
    "users": "manager",
    "bulk": "manager",
    "outbox": "manager",
    "approvals": "approver",
}
"""The least role each action needs; reading needs only a registered admin."""

_DOING: Final[dict[Action, str]] = {
    "admins": "managing admins",
    "erasure": "erasing people",
    "links": "changing invite links",
    "invitations": "sending or changing invitations",
    "users": "adding or changing users",
    "bulk": "creating accounts in bulk",
    "outbox": "sending mail from the outbox",
    "approvals": "approving or rejecting signups",
}


class NotAllowed(PermissionError):
    """The acting admin's role does not allow the action; the message names the role needed."""


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """An admin acting in this process: registered (`fingerprint` set) or the local OS user."""

    name: str
    role: Role
    fingerprint: str = ""
    peer: str = ""

    @property
    def label(self) -> str:
        """How the audit log names them: `alice (key SHA256:…, ssh 10.0.0.7)`."""
        if not self.fingerprint:
            return self.name
        where = f", ssh {self.peer}" if self.peer else ""
        return f"{self.name} (key {self.fingerprint}{where})"


_acting: Actor | None = None


def establish(actor: Actor | None) -> None:
    """Set the admin acting in this process (None: back to the local owner)."""
    global _acting
    _acting = (
        None
        if actor is None
        else msgspec.structs.replace(
            actor, name=clean_line(actor.name), peer=clean_line(actor.peer)
        )
    )


def current() -> Actor | None:
    """The registered admin acting here, or None for the local OS user (an owner)."""
    return _acting


@contextlib.contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    """Act as `actor` for a block (tests; a one-off command), then restore."""
    before = _acting
    establish(actor)
    try:
        yield
    finally:
        establish(before)


def allows(role: Role, action: Action) -> bool:
    return _RANK[role] >= _RANK[NEEDS[action]]


def allows_admins() -> bool:
    """Whether the acting admin may manage admins (the console shows the Admins screen)."""
    return _acting is None or allows(_acting.role, "admins")


def require(action: Action) -> None:
    """Raise NotAllowed unless the acting admin's role allows `action` (the local user may)."""
    actor = _acting
    if actor is None or allows(actor.role, action):
        return
    needed = NEEDS[action]
    raise NotAllowed(
        f"{_DOING[action]} needs the {needed} role"
        f"{' or above' if needed != 'owner' else ''}; {actor.name} is {with_article(actor.role)}"
    )
