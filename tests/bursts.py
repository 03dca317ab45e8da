"""Keys sent the way SSH and typing ahead deliver them: all at once, without waiting for the
console to handle one before the next arrives (`Pilot.press` waits for idle after every key, so
it never shows what a burst does)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from textual import events
from textual.app import App
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key


def key_event(key: str) -> events.Key:
    """The Key event a terminal sends for `key` (a Pilot key name or one character)."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    char: str | None
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


NAMED = re.compile(
    r"(enter|tab|escape|backspace|space|up|down|left|right|home|end|delete"
    r"|f\d+|(ctrl|shift)\+\w+)"
)


def keys_of(*parts: str) -> list[str]:
    """Pilot key names; any other part is typed character by character
    ("Cy", "enter", "cy@example.org" → C y enter c y @ …)."""
    keys: list[str] = []
    for part in parts:
        if NAMED.fullmatch(part):
            keys.append(part)
        else:
            keys.extend(part)
    return keys


def burst(app: App[Any], *parts: str) -> None:
    """Send every key of `parts` to `app` at once, as one read from the terminal."""
    driver = app._driver
    assert driver is not None
    for key in keys_of(*parts):
        event = key_event(key)
        event.set_sender(app)
        driver.send_message(event)
