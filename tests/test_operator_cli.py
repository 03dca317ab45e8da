"""Small things an operator trips on: `usher --version`, what `--port` says, `usher console`
without a terminal, and `USHER_LOG_FORMAT=json` for `usher serve`."""

from __future__ import annotations

import importlib.metadata
import json
import signal
import urllib.request
from pathlib import Path

import pytest

from store import SettingsError, load_settings

from .helpers import run_usher, start_serve


def test_version_prints_the_installed_version() -> None:
    result = run_usher("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"usher {importlib.metadata.version('usher')}"


@pytest.mark.parametrize("command", ["serve", "console"])
def test_port_help_names_the_variable_and_the_default(command: str) -> None:
    result = run_usher(command, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "USHER_PORT, default 8000" in text


@pytest.mark.parametrize("args", [(), ("console",)])
def test_console_without_a_terminal_says_so_and_exits_2(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = run_usher(*args, "--db", str(tmp_path / "u.db"), stdin="")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("usher: error: the console needs a terminal")
    assert result.stderr.strip().count("\n") == 0
    assert "\x1b" not in result.stdout  # nothing drawn


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(SettingsError, match="USHER_LOG_FORMAT"):
        load_settings({}, environ={"USHER_LOG_FORMAT": "xml"})


def test_serve_logs_one_json_object_a_line(tmp_path: Path) -> None:
    proc, url = start_serve(tmp_path / "usher.db", USHER_LOG_FORMAT="json")
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:  # noqa: S310
            assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        _, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"ts", "level", "logger", "message"} <= set(entry)
        assert entry["ts"].endswith("+00:00")
    assert any(
        e["logger"] == "uvicorn.access" and "GET /healthz" in e["message"] for e in entries
    ), entries
    assert any(e["logger"] == "usher.serve" and e["message"] == "stopped" for e in entries)
