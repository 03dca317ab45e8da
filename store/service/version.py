"""The installed Usher's version: `usher --version`, `/healthz` and the metrics all say the same."""

from __future__ import annotations

import functools
import importlib.metadata

__all__ = ["usher_version"]


@functools.cache
def usher_version() -> str:
    """The installed distribution's version, read once (monitoring compares it after deploys)."""
    try:
        return importlib.metadata.version("usher")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
