"""Usher's core: records, rules, the outbox and the change feed. No UI or web imports here."""

from .core import Store, StoreError
from .settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "Store", "StoreError", "load_settings"]
