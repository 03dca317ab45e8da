"""The one way the store says no to what it was given: `Refused`, whose message a person can
read as it is. Every refusal of input derives from it (links, users, invitations, admins,
outbox, bulk, passwords, addresses, exports, forms), so a face catches `Refused` once and shows
the message; the subclasses keep their names so a caller can still tell them apart."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FormRefused", "Refused"]

WHOLE_FORM = "_"
"""The field name of a refusal about the whole form, not one field."""


class Refused(Exception):
    """Input the store will not take; `str(refused)` is the message for people.

    `field` names the form field at fault when there is one. `errors` maps field names to
    messages, in page order (a key starting with "_" is about the whole form)."""

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.errors: dict[str, str] = {field or WHOLE_FORM: message} if message else {}

    @property
    def message(self) -> str:
        return str(self)


class FormRefused(Refused):
    """The form cannot be accepted; `errors` maps field names to messages for people.

    Fields come in page order; a key starting with "_" is about the whole form.
    """

    def __init__(self, errors: Mapping[str, str]) -> None:
        fields = dict(errors)
        super().__init__("; ".join(fields.values()), field=next(iter(fields), None))
        self.errors = fields
