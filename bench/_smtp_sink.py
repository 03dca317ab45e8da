"""A local SMTP server (aiosmtpd) that accepts and counts messages, run as its own process by
bench_mail.py so that the server does not share the sender's event loop or GIL.

Prints `ready PORT` once listening. Each line read on stdin is answered with one JSON line,
`{"messages": N, "connections": M}` (totals so far); end of input stops it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class Counting:
    """aiosmtpd handler: accept everything, keep nothing but the count."""

    def __init__(self) -> None:
        self.messages = 0
        self.connections = 0

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.messages += 1
        return "250 2.0.0 Message accepted"


async def serve() -> None:
    handler = Counting()
    loop = asyncio.get_running_loop()

    def connection() -> SMTP:
        handler.connections += 1
        # A fixed host name: the default asks DNS for this machine's FQDN on every connection.
        return SMTP(handler, hostname="bench.invalid", enable_SMTPUTF8=True)

    server = await loop.create_server(connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"ready {port}", flush=True)
    try:
        while await asyncio.to_thread(sys.stdin.readline):
            counts = {"messages": handler.messages, "connections": handler.connections}
            print(json.dumps(counts), flush=True)
    finally:
        server.close()
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(serve())
