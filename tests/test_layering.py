"""The architecture holds in every module, not only the ones a test happens to import:
import-linter reads the whole tree against the contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .helpers import ROOT


def test_every_module_keeps_the_layering_contracts() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
