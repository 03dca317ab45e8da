"""Running the signup app under uvicorn on an event loop Usher owns (the console's or `serve`'s).

We bind the socket ourselves (uvicorn would `sys.exit(1)` inside our process on a bind error),
keep uvicorn from installing signal handlers, and redact tokens from its access log lines.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

ACCESS_LOGGER = "uvicorn.access"
_TOKEN_PATH = re.compile(r"^(/(?:join|confirm|invite|password/set)/)[^/?#\s]+")


class BindError(Exception):
    """The server's address cannot be bound; the message says why, for people."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 = any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose `proto` says TCP,
    # and accepted connections inherit it. With proto 0 every response whose headers and body
    # go out in two writes waited ~40 ms for the client's delayed ACK (bench/bench_signup.py).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            reason = f"port {port} on {host} is already in use"
        elif error.errno == errno.EACCES:
            reason = f"not allowed to listen on port {port}"
        elif error.errno == errno.EADDRNOTAVAIL:
            reason = f"address {host} is not available on this machine"
        else:
            reason = f"cannot listen on {host}:{port}: {error.strerror or error}"
        raise BindError(reason) from None
    except (socket.gaierror, UnicodeError) as error:
        sock.close()
        raise BindError(f"cannot listen on {host}:{port}: {error}") from None
    sock.set_inheritable(False)
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def redact_path(path: str) -> str:
    """`/join/abc…` → `/join/…`: tokens live in URLs and must never reach a log."""
    return _TOKEN_PATH.sub(r"\1…", path)


class RedactTokens(logging.Filter):
    """Rewrites uvicorn's access-log arguments so no token is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the owner of the loop decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        """Stop accepting connections; in-flight requests finish (graceful shutdown)."""
        self.should_exit = True


def make_server(app: Any, *, graceful_seconds: int = 10) -> EmbeddedServer:
    """A uvicorn server for `app` that logs through the stdlib loggers and not the terminal."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="info",
        access_log=True,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=graceful_seconds,
    )
    return EmbeddedServer(config)
