"""Usher's core: records, rules, the outbox and the change feed. No UI or web imports here."""

from store.database.core import Store, StoreError
from store.service.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "Store", "StoreError", "load_settings"]
