"""Email content: Jinja2 templates per kind, rendered at send time, and the MIME message built
from them with headers nobody can inject into.

Add a kind by adding three files to `store/messaging/emails/templates/`:

- `<kind>.subject.txt` — one line (line breaks in it are folded into spaces);
- `<kind>.txt` — `{% extends "_layout.txt" %}{% block body %}…{% endblock %}`;
- `<kind>.html` — `{% extends "_layout.html" %}{% block body %}…{% endblock %}` (autoescaped;
  `{% from "_macros.html" import button %}` gives a link styled as a button).

Every template sees `org`, `public_url`, `recipient`, `recipient_name`, `subject` (not in the
subject itself) and the values given to `store.messaging.outbox.enqueue`. A missing value is an
error (StrictUndefined), never an empty string in someone's inbox.
"""

from .message import (
    HeaderInjectionError,
    RenderedEmail,
    build_message,
    fold_header_text,
    message_bytes,
)
from .render import TemplateProblem, known_kinds, render

__all__ = [
    "HeaderInjectionError",
    "RenderedEmail",
    "TemplateProblem",
    "build_message",
    "fold_header_text",
    "known_kinds",
    "message_bytes",
    "render",
]
