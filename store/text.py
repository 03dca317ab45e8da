"""Making user-provided text safe to show: no control characters reach a terminal or a log."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_AND_NEWLINES = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(value: str) -> str:
    """Strip C0/C1 controls (ESC included) but keep new lines and tabs."""
    return _CONTROL.sub("", value)


def clean_line(value: str) -> str:
    """Strip every control character, new lines included: for one-line fields and log lines."""
    return _CONTROL_AND_NEWLINES.sub("", value)
