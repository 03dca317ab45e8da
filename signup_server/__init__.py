"""The invitee's side of Usher: small HTML forms on Litestar, served in the console's event loop."""

from .app import create_app

__all__ = ["create_app"]
