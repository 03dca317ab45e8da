"""The console's screens and the F-keys that reach them (each screen is a Textual mode, so it
keeps its cursor and filters while you look elsewhere). Later screens register here."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from textual.screen import Screen


class Destination(msgspec.Struct, frozen=True):
    key: str
    mode: str
    label: str
    factory: Callable[[], Screen[None]]


def destinations() -> list[Destination]:
    """Every screen in F-key order (imported here to keep start-up imports in one place)."""
    from .screens.add_user import AddUserScreen
    from .screens.approvals import ApprovalsScreen
    from .screens.audit import AuditScreen
    from .screens.bulk import BulkScreen
    from .screens.dashboard import DashboardScreen
    from .screens.invitations import InvitationsScreen
    from .screens.invite import InviteScreen
    from .screens.links import LinksScreen
    from .screens.outbox import OutboxScreen
    from .screens.server_log import ServerLogScreen
    from .screens.users import UsersScreen

    return [
        Destination("f1", "home", "Home", DashboardScreen),
        Destination("f2", "approvals", "Approvals", ApprovalsScreen),
        Destination("f3", "links", "Links", LinksScreen),
        Destination("f4", "invite", "Invite", InviteScreen),
        Destination("f5", "invitations", "Invitations", InvitationsScreen),
        Destination("f6", "add_user", "Add user", AddUserScreen),
        Destination("f7", "bulk", "Bulk", BulkScreen),
        Destination("f8", "users", "Users", UsersScreen),
        Destination("f9", "outbox", "Outbox", OutboxScreen),
        Destination("f10", "audit", "Audit", AuditScreen),
        Destination("f12", "log", "Log", ServerLogScreen),
    ]
