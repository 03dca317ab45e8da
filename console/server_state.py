"""What the header says about the embedded signup server."""

from __future__ import annotations

from typing import Literal

import msgspec

State = Literal["off", "starting", "up", "down", "external"]


class ServerState(msgspec.Struct, frozen=True):
    state: State
    url: str = ""
    reason: str = ""

    @property
    def label(self) -> str:
        if self.state == "up":
            return f"serving {self.url}"
        if self.state == "starting":
            return f"starting {self.url}"
        if self.state == "external":
            return f"no server here · links use {self.url}"
        if self.state == "down":
            return f"server down: {self.reason}"
        return "server stopped"
