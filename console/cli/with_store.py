"""One way for a command to reach the database: open the store (no change feed: a command
does one thing and ends), run the work, close it, whatever happens; a refusal (any
`store.domain.refusal.Refused`, or the acting admin's role) becomes a one-line error (exit status
2), never a traceback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from store import Settings, Store
from store.accounts.acting import NotAllowed
from store.domain.refusal import Refused
from store.service.served_url import current_server, settings_for_links

from .errors import CliError

T = TypeVar("T")


def with_store(
    settings: Settings,
    work: Callable[[Store], Awaitable[T]],
    refusals: tuple[type[Exception], ...] = (),
) -> T:
    """`work(store)` on a freshly opened store, from synchronous command code.

    `store.settings` carry the public URL of a signup server running on this database
    (store.service.served_url). Every `Refused` (input the store will not take), `NotAllowed` (the
    acting admin's role) and the exceptions in `refusals` become a `CliError` with their
    message."""

    async def run() -> T:
        async with await Store.open(settings, watch=False) as store:
            # Links and emails use the URL of the server running on this database, if any.
            store.settings = settings_for_links(settings, await current_server(store))
            return await work(store)

    caught: tuple[type[Exception], ...] = (Refused, NotAllowed, *refusals)
    try:
        return asyncio.run(run())
    except caught as error:
        raise CliError(str(error)) from None
