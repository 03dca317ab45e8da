"""SECURITY.md names a test for every promise: each name must be a test that exists."""

from __future__ import annotations

import re

from .helpers import ROOT

REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)?)::(test_\w+)`")


def test_every_test_named_in_security_md_exists() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    checked = 0
    for line in text.splitlines():
        current = ""
        for path, name in REFERENCE.findall(line):
            current = path or current
            assert current, f"{name}: no file named before it on its line"
            source = (ROOT / current).read_text(encoding="utf-8")
            assert re.search(rf"^(async )?def {name}\(", source, re.M), f"{current}::{name}"
            checked += 1
    assert checked >= 40
