"""deploy/usher.service: systemd accepts it (`systemd-analyze verify`, where installed), it asks
for the hardening the README promises, and `usher serve` speaks its `Type=notify` protocol:
READY=1 once it answers, STOPPING=1 on SIGTERM, then a clean exit 0."""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from .helpers import ROOT, start_serve

UNIT = ROOT / "deploy" / "usher.service"


def unit_settings() -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return {section: dict(parser[section]) for section in parser.sections()}


def test_the_unit_asks_for_a_user_a_state_directory_restarts_and_hardening() -> None:
    service = unit_settings()["Service"]
    assert service["Type"] == "notify"
    assert service["ExecStart"].endswith("/bin/usher serve")
    assert service["User"] == "usher"
    assert service["StateDirectory"] == "usher"
    assert service["Environment"] == "USHER_DB=/var/lib/usher/usher.db"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/usher",
        "UMask": "0077",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, key


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    # The unit names /opt/usher; verify checks that ExecStart exists, so point it at this tree.
    unit = tmp_path / "usher.service"
    unit.write_text(UNIT.read_text().replace("/opt/usher", str(ROOT)))
    assert (ROOT / ".venv" / "bin" / "usher").exists()
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "usher" in line]
    assert result.returncode == 0, result.stderr
    assert ours == []  # unknown keys and bad values are only warnings: there are none


def test_serve_notifies_systemd_when_ready_and_when_stopping(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(60)
        proc, url = start_serve(tmp_path / "usher.db", NOTIFY_SOCKET=address)
        try:
            ready = listener.recv(4096).decode()
            assert ready.splitlines()[0] == "READY=1"
            assert f"STATUS={url}" in ready
            # Ready means ready: it answers now, without waiting.
            with urllib.request.urlopen(f"{url}/readyz", timeout=10) as response:  # noqa: S310
                assert response.status == 200
            proc.send_signal(signal.SIGTERM)
            assert listener.recv(4096).decode() == "STOPPING=1"
            assert proc.wait(timeout=30) == 0
            _, err = proc.communicate(timeout=5)
            assert "Traceback" not in err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)


def test_without_notify_socket_nothing_is_sent() -> None:
    from signup_server.systemd import notify

    saved = os.environ.pop("NOTIFY_SOCKET", None)
    try:
        assert notify("READY=1") is False
    finally:
        if saved is not None:
            os.environ["NOTIFY_SOCKET"] = saved


def test_the_server_wrapper_reads_the_service_settings() -> None:
    """deploy/usher (installed as /usr/local/bin/usher) is valid sh, executable, and gives the
    console and `usher check` the service's environment file and database."""
    wrapper = ROOT / "deploy" / "usher"
    assert os.access(wrapper, os.X_OK)
    assert subprocess.run(["sh", "-n", str(wrapper)], timeout=30).returncode == 0
    text = wrapper.read_text()
    assert ". /etc/usher/usher.env" in text
    assert unit_settings()["Service"]["EnvironmentFile"] == "-/etc/usher/usher.env"
    assert 'USHER_DB="${USHER_DB:-/var/lib/usher/usher.db}"' in text
    assert text.rstrip().endswith('exec /opt/usher/.venv/bin/usher "$@"')
