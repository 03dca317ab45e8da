"""A QR code as terminal text: two modules per character cell with half blocks, dark on light
(scanners need the quiet zone and the contrast, whatever the terminal's own colours)."""

from __future__ import annotations

import segno
from rich.text import Text

QR_STYLE = "#000000 on #ffffff"


def qr_lines(data: str, *, border: int = 2) -> list[str]:
    """Rows of `█▀▄ ` for the code of `data` (error correction M), quiet zone included."""
    code = segno.make(data, error="m", micro=False)
    matrix = [[bool(module) for module in row] for row in code.matrix_iter(scale=1, border=border)]
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    glyphs = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}
    return [
        "".join(glyphs[(top, bottom)] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(matrix[::2], matrix[1::2], strict=True)
    ]


def qr_text(data: str) -> Text:
    return Text("\n".join(qr_lines(data)), style=QR_STYLE, no_wrap=True, overflow="crop")
