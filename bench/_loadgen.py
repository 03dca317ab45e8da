"""A small HTTP/1.1 load generator, run as a SEPARATE process by bench_signup.py so that the
server's event loop is not also the client's.

Plain asyncio streams over keep-alive connections rather than httpx: on a 2-core machine the
generator shares the cores with the server, and a lean client leaves more of them to the thing
being measured (httpx spends several times the CPU per request). It keeps each connection's
cookies, like a browser, so the CSRF cookie goes back with every request.

    python bench/_loadgen.py get URL --requests N --concurrency C
    python bench/_loadgen.py signup URL --requests N --concurrency C --tag T

`get` sends N GETs of URL; `signup` makes N accounts, each a GET of the join page (reading its
CSRF token) then a POST of the form, and counts the 303s. Prints one JSON object on stdout:
`{"seconds": wall, "cpu_seconds": its own CPU time, "done": N ok, "statuses": {...},
"p50_ms": …, "p95_ms": …}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import time
from collections import Counter
from urllib.parse import urlencode, urlsplit

CSRF_INPUT = re.compile(rb'name="_csrf_token" value="([^"]+)"')


class Connection:
    """One keep-alive connection with its own cookie jar."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = ""
    ) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if body or method == "POST":
            lines.append(f"Content-Type: {content_type}")
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
            elif name == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, cookie = pair.partition("=")
                self.cookies[key.strip()] = cookie.strip()
        body_in = await self._chunked() if chunked else await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, body_in

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await self.reader.readline()
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def run(mode: str, url: str, requests: int, concurrency: int, tag: str) -> dict[str, object]:
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    done = 0
    next_index = 0

    def take() -> int | None:
        nonlocal next_index
        if next_index >= requests:
            return None
        next_index += 1
        return next_index - 1

    async def get_worker(connection: Connection) -> None:
        nonlocal done
        while take() is not None:
            started = time.perf_counter()
            status, _ = await connection.request("GET", path)
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            done += status == 200

    async def signup_worker(connection: Connection) -> None:
        nonlocal done
        while (index := take()) is not None:
            started = time.perf_counter()
            status, page = await connection.request("GET", path)
            statuses[status] += 1
            found = CSRF_INPUT.search(page)
            if status != 200 or found is None:
                continue
            password = f"plum-{tag}-{index}-harbour-lantern"
            form = urlencode(
                {
                    "_csrf_token": found.group(1).decode(),
                    "email": f"bench-{tag}-{index}@example.org",
                    "first_name": "Bench",
                    "last_name": f"Person {index}",
                    "password": password,
                    "password_confirm": password,
                }
            ).encode()
            status, _ = await connection.request(
                "POST", path, form, "application/x-www-form-urlencoded"
            )
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            done += status == 303

    worker = get_worker if mode == "get" else signup_worker
    connections = [Connection(host, port) for _ in range(concurrency)]
    times, started = os.times(), time.perf_counter()
    try:
        await asyncio.gather(*(worker(connection) for connection in connections))
    finally:
        seconds = time.perf_counter() - started
        after = os.times()
        for connection in connections:
            await connection.close()
    ordered = sorted(latencies) or [0.0]
    return {
        "seconds": seconds,
        "cpu_seconds": (after.user + after.system) - (times.user + times.system),
        "done": done,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP load for bench_signup.py")
    parser.add_argument("mode", choices=["get", "signup"])
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tag", default="0", help="makes signup addresses unique per run")
    args = parser.parse_args()
    result = asyncio.run(run(args.mode, args.url, args.requests, args.concurrency, args.tag))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
