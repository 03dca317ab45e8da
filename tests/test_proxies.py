"""`USHER_TRUSTED_PROXIES`: addresses and networks (IPv4 and IPv6) are accepted, a host name is
an error when the settings are read (never a silent no-match), and `X-Forwarded-For` is believed
only from a trusted peer, read from the right."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import Settings, SettingsError, load_settings
from store.accounts.audit import web_actor
from store.service.proxies import client_address, parse_trusted_proxies

from .fixtures_security import FORM_FIELDS, open_world
from .helpers import run_usher


def test_addresses_and_networks_of_both_families_are_accepted() -> None:
    networks = parse_trusted_proxies(
        ["10.0.0.5", "192.168.0.0/16", "::1", "[2001:db8::7]", "fd00::/8", " 127.0.0.1 "]
    )
    assert [str(n) for n in networks] == [
        "10.0.0.5/32",
        "192.168.0.0/16",
        "::1/128",
        "2001:db8::7/128",
        "fd00::/8",
        "127.0.0.1/32",
    ]
    settings = load_settings({}, environ={"USHER_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8"})
    assert settings.trusted_proxies == ["10.0.0.0/8", "fd00::/8"]


@pytest.mark.parametrize("entry", ["proxy.internal", "localhost", "caddy"])
def test_a_host_name_is_an_error_when_settings_are_read(entry: str) -> None:
    with pytest.raises(SettingsError, match="host name") as caught:
        load_settings({}, environ={"USHER_TRUSTED_PROXIES": f"127.0.0.1,{entry}"})
    assert "USHER_TRUSTED_PROXIES" in str(caught.value)
    assert repr(entry) in str(caught.value)


@pytest.mark.parametrize("entry", ["10.0.0.300", "10.0.0.0/33", "fe80::1::2"])
def test_a_malformed_address_is_an_error(entry: str) -> None:
    with pytest.raises(SettingsError, match="not an IP address or network"):
        load_settings({"trusted_proxies": [entry]}, environ={})


def test_serve_with_a_host_name_proxy_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_usher(
        "serve",
        "--db",
        str(tmp_path / "u.db"),
        "--port",
        "0",
        USHER_TRUSTED_PROXIES="proxy.example.org",
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "usher: error: trusted_proxies" in result.stderr
    assert "'proxy.example.org' is a host name" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "u.db").exists()  # refused before anything was opened


def test_ipv6_peers_and_networks() -> None:
    trusted = ["::1", "2001:db8:1::/48"]
    assert client_address("::1", ["2001:db8:99::5"], trusted) == "2001:db8:99::5"
    assert client_address("2001:db8:1::9", ["203.0.113.4"], trusted) == "203.0.113.4"
    # An untrusted IPv6 peer cannot choose its own address.
    assert client_address("2001:db8:2::9", ["203.0.113.4"], trusted) == "2001:db8:2::9"
    # A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6; they match IPv4 entries.
    assert client_address("::ffff:10.1.2.3", ["198.51.100.8"], ["10.0.0.0/8"]) == "198.51.100.8"
    assert client_address("10.1.2.3", ["198.51.100.8"], ["::ffff:10.0.0.0/104"]) == "198.51.100.8"


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    trusted = ["10.0.0.0/8", "fd00::/8"]
    # client wrote 1.2.3.4 itself; the edge proxy appended what it saw; an inner proxy appended
    # the edge proxy's address.
    hops = ["1.2.3.4, 198.51.100.1", "fd00::2"]
    assert client_address("10.0.0.1", hops, trusted) == "198.51.100.1"
    assert client_address("10.0.0.1", ["garbage, 10.0.0.4"], trusted) == "10.0.0.4"
    assert client_address("10.0.0.1", [], trusted) == "10.0.0.1"
    assert client_address("", [], trusted) == "unknown"


async def test_the_audit_names_the_forwarded_client_only_behind_a_trusted_proxy(
    settings: Settings,
) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.77"}
    for proxies, expected in (
        (["127.0.0.0/8"], "203.0.113.77"),
        (["10.0.0.0/8"], "127.0.0.1"),
    ):
        async with open_world(
            settings, trusted_proxies=proxies, peer="127.0.0.1", signed_in=False
        ) as world:
            token = await world.token()
            response = await world.client.post(
                world.path("/join/{token:str}"),
                data={**FORM_FIELDS["/join/{token:str}"], "_csrf_token": token},
                headers=forwarded,
                follow_redirects=False,
            )
            assert response.status_code == 303, response.text
            actors = await world.store.engine.fetchall(
                "SELECT actor FROM audit WHERE action = 'signed_up' AND subject = 'new@example.org'"
            )
            assert [row["actor"] for row in actors] == [web_actor(expected)]
        Path(settings.db).unlink()
