"""What the header says about the embedded signup server."""

from __future__ import annotations

from typing import Literal

import msgspec

State = Literal["off", "starting", "up", "down", "elsewhere", "gone"]


class ServerState(msgspec.Struct, frozen=True):
    """`elsewhere`: this console serves nothing, another process does (store.service.served_url);
    `gone`: nobody serves the database now."""

    state: State
    url: str = ""
    reason: str = ""

    @property
    def label(self) -> str:
        if self.state == "up":
            return f"serving {self.url}"
        if self.state == "starting":
            return f"starting {self.url}"
        if self.state == "elsewhere":
            return f"served by another process · {self.url}"
        if self.state == "gone":
            return f"no server running · links use {self.url}"
        if self.state == "down":
            return f"server down: {self.reason}"
        return "server stopped"
