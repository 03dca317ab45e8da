"""Radio buttons and checkboxes whose state shows without colour: `(•)`/`( )` and `[x]`/`[ ]`.

Textual draws both states with the same glyph in different colours, which vanishes under
`NO_COLOR` or a 16-colour palette that maps them alike.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.content import Content
from textual.widgets import Checkbox, RadioButton, RadioSet


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


def start_at_chosen(radio_sets: Iterable[RadioSet]) -> None:
    """Make the arrow keys start from the chosen button: Textual starts from the first one, so
    with Member third in the list, "right, enter" chose Viewer…, not the one after Member."""
    for choices in radio_sets:
        if choices.pressed_index >= 0:
            choices._selected = choices.pressed_index
