"""Jinja2 set-up and the one helper handlers use to answer with a page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from litestar.enums import MediaType
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig

from store import Settings

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "page", "template_config"]

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"


def template_config(
    settings: Settings, *, debug: bool = False
) -> TemplateConfig[JinjaTemplateEngine]:
    """An environment of our own, so autoescape is visibly on and `org` is a global.

    Litestar adds `request` and `csrf_input` to every `Template` response's context; `org` comes
    from here, so no handler has to pass it (and error pages, rendered outside any route, get
    it too).
    """
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=debug,
    )
    environment.globals["org"] = settings.org
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def page(template_name: str, /, *, status_code: int = 200, **context: Any) -> Template:
    """A rendered page, e.g. `page("join.html", status_code=400, errors=errors, email=email)`."""
    return Template(
        template_name=template_name,
        context=context,
        status_code=status_code,
        media_type=MediaType.HTML,
    )
