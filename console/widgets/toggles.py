"""Radio buttons and checkboxes whose state shows without colour: `(•)`/`( )` and `[x]`/`[ ]`.

Textual draws both states with the same glyph in different colours, which vanishes under
`NO_COLOR` or a 16-colour palette that maps them alike.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox, RadioButton


class Choice(RadioButton):
    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        return Content.assemble(("(•)" if self.value else "( )", style))


class Tick(Checkbox):
    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        return Content.assemble(("[x]" if self.value else "[ ]", style))
