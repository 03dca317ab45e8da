"""Jinja2 set-up and the one helper handlers use to answer with a page."""

from __future__ import annotations

import html
import weakref
from collections.abc import Hashable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from jinja2 import Environment, FileSystemLoader
from litestar import Request
from litestar.enums import MediaType
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Response, Template
from litestar.template import TemplateConfig
from litestar.template.base import csrf_token

from store import Settings
from store.domain.languages import COOKIE, SHIPPED, ContextLike, choose, install
from store.domain.text import visible
from store.domain.tokens import SET_PASSWORD_VALID
from store.onboarding.signup import CONFIRM_VALID

from .deps import settings_from
from .language_switch import asked_language, flow_language

__all__ = [
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "cached_page",
    "echoed",
    "page",
    "page_language",
    "switched_language",
    "template_config",
    "written_for",
]

FormT = TypeVar("FormT", bound=msgspec.Struct)

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"


def echoed(form: FormT) -> FormT:
    """A refused form's text fields as they go back into the page: any control character shown
    as a visible symbol (␛), so the person sees what the error's "at position N" points at."""
    changes = {
        name: visible(value)
        for name in form.__struct_fields__
        if isinstance(value := getattr(form, name), str) and "password" not in name
    }
    return msgspec.structs.replace(form, **changes)


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
    environment.globals["contact"] = settings.contact
    # The lifetimes pages promise are the store's (store.onboarding.signup, store.domain.tokens).
    environment.globals["confirm_hours"] = int(CONFIRM_VALID.total_seconds() // 3600)
    environment.globals["set_password_hours"] = int(SET_PASSWORD_VALID.total_seconds() // 3600)

    def language_of(context: ContextLike) -> str:
        """A cached page names its language; any other page asks its request."""
        named = context.get(LANGUAGE_KEY)
        if isinstance(named, str):
            return named
        request = context.get("request")
        if request is not None:
            return page_language(request, settings)
        return choose(configured=settings.language)

    install(environment, language_of)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


LANGUAGE_KEY = "usher_language"


_SET_FOR = "usher_set_for"
"""The request state's key for the language `written_for` names."""


def written_for(request: Request[Any, Any, Any], language: str | None) -> None:
    """Name the language the admin set for what this request shows (its link's or
    invitation's), or the one stored with the account it is about; None: none was set (the
    browser decides, whatever an earlier page of the flow said). Call it before rendering."""
    request.state[_SET_FOR] = language or ""


def switched_language(request: Request[Any, Any, Any]) -> str | None:
    """The invitee's own choice: a switcher link's `?lang=` (its cookie is only read from the
    next page), else the cookie it set; None when they never switched."""
    asked = asked_language(request.scope.get("query_string", b"")) or request.cookies.get(COOKIE)
    return asked if asked in SHIPPED else None


def page_language(request: Request[Any, Any, Any], settings: Settings) -> str:
    """The language this request's page is written in (`store.domain.languages.choose`): a
    switcher link's `?lang=` first, as the cookie it sets is only read from the next page;
    then what `written_for` named, else the language of the signup this browser is in the
    middle of (`flow_language`, set by the join and confirmation forms)."""
    state = request.state
    set_for = state.get(_SET_FOR) if _SET_FOR in state else flow_language(request, settings)
    return choose(
        switched=switched_language(request),
        set_for=set_for or None,
        configured=settings.language,
        accept_language=request.headers.get("accept-language"),
    )


def page(template_name: str, /, *, status_code: int = 200, **context: Any) -> Template:
    """A rendered page, e.g. `page("join.html", status_code=400, errors=errors, email=email)`."""
    return Template(
        template_name=template_name,
        context=context,
        status_code=status_code,
        media_type=MediaType.HTML,
    )


_CSRF_MARK = "\x00usher-csrf-input\x00"
"""Stands in for the CSRF field while a cached page is rendered (`{{ csrf_input | safe }}`)."""
_CACHED_PAGES = 256
_cache: weakref.WeakKeyDictionary[object, dict[Hashable, tuple[str, ...]]] = (
    weakref.WeakKeyDictionary()
)
"""Per template engine (so per app: each has its own `org`), the cached pages split around
the CSRF field."""


def cached_page(
    request: Request[Any, Any, Any],
    template_name: str,
    /,
    *,
    cache_key: Hashable | None = None,
    **context: Any,
) -> Response[str]:
    """`page()` for a form that is the same for everyone but its CSRF token (the signup page):
    rendered once per app and context, after that only the token goes in. Same HTML, same
    headers as `page()`, without running the template again on every request.

    Only for pages whose context is plain data that its `repr` describes fully (str, bool,
    None, dicts, msgspec structs), and whose template reads neither `request` nor anything
    that changes with time; never for pages that show what someone typed (unbounded keys).
    `cache_key`, when given, stands for the whole context (the caller vouches that equal keys
    mean equal contexts): it spares the context's `repr` on every request (~2 us).
    """
    engine = request.app.template_engine
    assert engine is not None
    pages = _cache.get(engine)  # not setdefault: on a WeakKeyDictionary it makes a weakref
    if pages is None:
        pages = _cache[engine] = {}
    # The context's repr in its own order (each caller passes it in one order; another order
    # is only one more entry): sorting it first took 4.8 us of a 50 us page.
    language = context[LANGUAGE_KEY] = page_language(request, settings_from(request.app))
    key = (
        template_name + repr(context) if cache_key is None else (template_name, language, cache_key)
    )
    parts = pages.get(key)
    if parts is None:
        rendered = engine.get_template(template_name).render(**context, csrf_input=_CSRF_MARK)
        parts = tuple(rendered.split(_CSRF_MARK))
        if len(pages) >= _CACHED_PAGES:
            pages.clear()
        pages[key] = parts
    token = html.escape(csrf_token({"request": request}))
    # Exactly the field Litestar's `Template` response puts in `csrf_input`.
    field = f'<input type="hidden" name="_csrf_token" value="{token}" />'
    return Response(field.join(parts), media_type=MediaType.HTML)
