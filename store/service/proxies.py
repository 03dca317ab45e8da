"""Which peers may tell us who the client is (`USHER_TRUSTED_PROXIES`), and who the client is.

The rate limit and the audit log key on the client's address. Behind a reverse proxy every
request comes from the proxy, so the real address is in `X-Forwarded-For` - but anyone can send
that header, so it is believed only from a configured proxy. Entries are addresses or networks
(IPv4 or IPv6); a host name is refused when the settings are read: it would never match a peer
(we do not resolve names), and a silent no-match leaves every client sharing the proxy's key.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

__all__ = [
    "IPAddress",
    "IPNetwork",
    "client_address",
    "parse_address",
    "parse_trusted_proxies",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(entries: Sequence[str]) -> tuple[IPNetwork, ...]:
    """The networks in `entries` (`10.0.0.5`, `10.0.0.0/8`, `::1`, `[::1]`, `fd00::/8`).

    Raises ValueError naming the first entry that is not an address or a network.
    """
    return _parse(tuple(entries))


@functools.lru_cache(maxsize=16)
def _parse(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        text = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(_why_not(entry)) from None
        if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:  # ::ffff:10.0.0.1 - compare as the IPv4 address it is
                networks.append(ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}"))
                continue
        networks.append(network)
    return tuple(networks)


def _why_not(entry: str) -> str:
    if all(c in "0123456789abcdefABCDEF:./[]" for c in entry):
        return f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)"
    hint = " (use 127.0.0.1 or ::1)" if entry.lower() == "localhost" else ""
    return (
        f"{entry!r} is a host name; give the proxy's address or network instead, "
        f"e.g. 10.0.0.5 or 10.0.0.0/8{hint} (names are not resolved)"
    )


def parse_address(text: str) -> IPAddress | None:
    """An address from one hop: `1.2.3.4`, `1.2.3.4:567`, `[::1]`, `[::1]:567`, `::1`.

    IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what a dual-stack socket reports) becomes IPv4."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def client_address(peer: str, forwarded_for: Iterable[str], trusted: Sequence[str]) -> str:
    """The address of the person at the other end.

    `peer` is the TCP peer, `forwarded_for` the `X-Forwarded-For` header values in order,
    `trusted` the configured proxies. From an untrusted peer the header is ignored. From a trusted
    one it is read from the right, skipping trusted hops: the rightmost untrusted entry was written
    by a proxy we trust, so it is the real client (whatever the client wrote further left is not
    believed). A hop that cannot be read stops the walk at the last address we could trust.
    """
    networks = parse_trusted_proxies(trusted)
    peer_address = parse_address(peer)
    if peer_address is None:
        return peer or "unknown"
    if not _trusted(peer_address, networks):
        return str(peer_address)
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    last_trusted = peer_address
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return str(last_trusted)
        if not _trusted(address, networks):
            return str(address)
        last_trusted = address
    return str(last_trusted)
