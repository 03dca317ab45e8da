"""The embedded server's own bound socket must give accepted connections TCP_NODELAY, as
asyncio does for sockets it creates itself; without it every two-write response waited for the
client's delayed ACK (~40 ms a request, found by bench/bench_signup.py)."""

from __future__ import annotations

import asyncio
import socket

from signup_server.runner import bind_socket, bound_port


async def test_accepted_connections_get_tcp_nodelay() -> None:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    listening = bind_socket("127.0.0.1", 0)
    server = await asyncio.start_server(connected, sock=listening)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", bound_port(listening))
        assert await asyncio.wait_for(accepted, timeout=5) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
