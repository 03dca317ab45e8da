"""The architecture holds in every module, not only the ones a test happens to import:
import-linter reads the whole tree against the contracts in pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

from .helpers import ROOT


def test_every_module_keeps_the_layering_contracts() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_architecture_md_names_every_module_of_the_tree() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(ROOT))
        for package in ("store", "signup_server")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__init__.py" and path.name not in text
    ]
    assert missing == [], "ARCHITECTURE.md's tree misses these modules"


OUTSIDE = "../" + "shared"
"""The design folder beside the checkout (spelt in two parts so this file does not match)."""


def test_nothing_in_the_repository_points_outside_it() -> None:
    """Users of Usher have only the repository: the design it was built from is described in
    ARCHITECTURE.md, never referred to by a path outside the tree."""
    result = subprocess.run(
        ["git", "grep", "-l", "-e", OUTSIDE, "--", ".", ":!.ci"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == []


def test_the_console_app_is_what_screens_read_as_the_console(tmp_path: Path) -> None:
    """Screens know the app only as `console.context.Console` (mypy checks the assignment
    below; `console_of` checks at run time): a member renamed in one and not the other fails."""
    from console.app import UsherApp
    from console.context import Console, console_of
    from store import Settings

    app = UsherApp(Settings(db=str(tmp_path / "usher.db")))
    console: Console = app
    assert console_of(app) is console


def test_screens_and_dialogs_keep_their_layout_in_tcss_files_beside_them() -> None:
    """Layout is read in one kind of file: a screen's or dialog's `.tcss` beside it (widgets keep
    their intrinsic DEFAULT_CSS), and every CSS_PATH named is there."""
    inline, missing = [], []
    for folder in ("screens", "dialogs"):
        for path in sorted((ROOT / "console" / folder).glob("*.py")):
            text = path.read_text(encoding="utf-8")
            if "DEFAULT_CSS" in text:
                inline.append(path.name)
            for name in re.findall(r'CSS_PATH = "([^"]+)"', text):
                if not (path.parent / name).is_file():
                    missing.append(f"{path.name}: {name}")
    assert inline == [], "layout written inline instead of in a .tcss file"
    assert missing == []


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of modules that import each other, round a loop (Tarjan's strongly connected
    components), counting imports made only for type checking too."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in graph.modules:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_round_a_loop() -> None:
    """No import cycle anywhere in the three packages, not even one for type checking: each
    module's dependencies can be read in one direction."""
    graph = grimp.build_graph("store", "console", "signup_server", cache_dir=None)
    assert _cycles(graph) == []
