"""Erasing a person from the console: ask once (the confirm dialog), then erase in a worker and
say what happened. Used by the Users screen's erase key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from store.accounts.audit import console_actor
from store.accounts.erasure import erase_users
from store.accounts.users import get_user
from store.domain.text import clean_line

from .ask import AskDialog

if TYPE_CHECKING:
    from ..screens.base import UsherScreen


def erase_message(name: str, email: str) -> str:
    who = f"{name} <{email}>" if name else email
    return (
        f"Erase {who}?\n\nTheir account, sessions, invitations and messages are deleted; the "
        "audit log keeps the events under a pseudonym (user#ID). This cannot be undone."
    )


async def ask_and_erase(screen: UsherScreen, user_id: int) -> None:
    """Ask once whether to erase user `user_id`; on yes, erase and notify."""
    store = screen.usher.store
    if store is None:
        return
    user = await get_user(store.engine, user_id)
    if user is None:
        screen.notify("That user is gone already.", severity="warning")
        return

    who = clean_line(user.email)

    async def answered(yes: bool | None) -> None:
        current = screen.usher.store
        if not yes or current is None:
            return
        try:
            report = await erase_users(current, [user_id], actor=console_actor())
        except Exception as error:  # shown, never a traceback
            screen.notify(f"Could not erase: {error}", severity="error", markup=False)
            return
        if report.erased:
            alias = report.erased[0].pseudonym
            # Named from what was read before the erasure: the data itself is gone now.
            screen.notify(
                f"Erased {who} (user #{user_id}); the audit log now says {alias}.", markup=False
            )
        else:
            screen.notify("That user is gone already.", severity="warning")

    dialog = AskDialog(
        "Erase user",
        erase_message(clean_line(user.name), clean_line(user.email)),
        "Erase",
        destructive=True,
    )
    screen.app.push_screen(dialog, answered)
