"""requirements.lock: every runtime dependency of pyproject.toml pinned with hashes, the pins
inside pyproject's ranges, and this environment built from it (what the tests run is what a
deployment installs). Upper bounds where we touch private APIs."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = (ROOT / "requirements.lock").read_text()


def locked() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes), from pip-compile's `name==version \\ --hash=…` entries."""
    entries: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            entries[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return entries


def runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]


def test_every_runtime_dependency_is_pinned_with_hashes_within_its_range() -> None:
    entries = locked()
    assert entries
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{name} is not in requirements.lock (make lock)"
        version, _ = entries[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside pyproject's {requirement.specifier} (make lock)"
        )
    for locked_name, (_, pins) in entries.items():
        assert pins, f"{locked_name} has no hash"
    assert "pytest" not in entries  # runtime only: the test extra is not deployed


def test_this_environment_was_installed_from_the_lock() -> None:
    for name, (version, _) in locked().items():
        assert importlib.metadata.version(name) == version, f"{name}: make reinstalls from lock"


def test_dependencies_whose_private_api_we_use_have_an_upper_bound() -> None:
    by_name: dict[str, Requirement] = {canonicalize_name(r.name): r for r in runtime_requirements()}
    for name in ("aiosqlite", "textual"):
        specifier = by_name[name].specifier
        assert any(spec.operator in ("<", "<=", "==") for spec in specifier), name
    assert (
        "_execute" in (ROOT / "store" / "database" / "engine.py").read_text()
    )  # why aiosqlite is bounded
