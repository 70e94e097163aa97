"""The pages' share of the app: templates, static files and every page route, behind HTML errors."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from jinja2.runtime import Context
from litestar import Router
from litestar.file_system import BaseLocalFileSystem
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler, FileInfo, PathType

from documents.formatting import local, yuan
from exchange.vocabulary import LABELS, label
from exchange.web.bidder.pages import PAGES as BIDDER_PAGES
from exchange.web.catalogue.pages import PAGES as CATALOGUE_PAGES
from exchange.web.console.listing_pages import PAGES as LISTING_CONSOLE
from exchange.web.console.settlement_pages import PAGES as SETTLEMENT_CONSOLE
from exchange.web.hall.pages import PAGES as HALL_PAGES
from exchange.web.login.pages import PAGES as LOGIN_PAGES
from exchange.web.pages import PAGE_EXCEPTION_HANDLERS
from exchange.web.registry.pages import PAGES as REGISTRY_PAGES
from exchange.web.results.pages import PAGES as RESULT_PAGES
from exchange.web.verify.pages import PAGES as VERIFY_PAGES

# Beside this file, so an installed package finds them as a checkout does (package-data in pyproject).
WEB = Path(__file__).resolve().parent
FEATURES = ("login", "catalogue", "hall", "bidder", "results", "console", "verify", "registry")
TEMPLATE_DIRECTORIES = [WEB / "templates", *(WEB / feature / "templates" for feature in FEATURES)]
# Each feature keeps its scripts and styles, all served flat under /static/ (names must not repeat).
STATIC_DIRECTORIES = [WEB / "static", *(WEB / feature / "static" for feature in FEATURES)]


def local_time(value: datetime | None) -> str:
    """Beijing time to the second, as bidders read it: ``2026-11-25 18:05:09``."""
    return "" if value is None else f"{local(value):%Y-%m-%d %H:%M:%S}"


def money(value: int | str | Decimal | None) -> str:
    """Fen (int) or a yuan string from the API, grouped: ``1,250,000.00``."""
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        return yuan(value)
    return f"{Decimal(value):,.2f}"


@jinja2.pass_context
def word(context: Context, table: str, key: str | None) -> str:
    """``key`` as the page's language calls it, from a table of ``exchange.vocabulary.LABELS``:
    ``word("method", listing.method)``."""
    return label(LABELS[table], key, context.get("lang", "zh"))


@jinja2.pass_context
def words(context: Context, table: str) -> dict[str, str]:
    """A whole table in the page's language, for a page script (``words("auction_status") | tojson``)."""
    lang = context.get("lang", "zh")
    return {key: found.in_language(lang) for key, found in LABELS[table].items()}


def _register(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(local_time=local_time, money=money)
    engine.engine.globals.update(word=word, words=words)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=[d for d in TEMPLATE_DIRECTORIES if d.is_dir()],
        engine=JinjaTemplateEngine,
        engine_callback=_register,
    )


class _StaticDirectory(BaseLocalFileSystem):
    """A path the operating system cannot even look up names no file: 404, not 500.

    Litestar turns only ``FileNotFoundError`` into a 404; a NUL in the path
    (``ValueError``), a name too long or a file used as a directory (``OSError``)
    came out as 500s.
    """

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        try:
            return await super().info(path, **kwargs)
        except (ValueError, OSError) as exc:
            raise FileNotFoundError(path) from exc


def static_files() -> ControllerRouterHandler:
    return create_static_files_router(
        path="/static",
        directories=[d for d in STATIC_DIRECTORIES if d.is_dir()],
        file_system=_StaticDirectory(),
        cache_control=None,
        include_in_schema=False,
    )


def pages_router() -> Router:
    handlers: list[ControllerRouterHandler] = [
        *LOGIN_PAGES,
        *CATALOGUE_PAGES,
        *HALL_PAGES,
        *BIDDER_PAGES,
        *RESULT_PAGES,
        *VERIFY_PAGES,
        *LISTING_CONSOLE,
        *SETTLEMENT_CONSOLE,
        *REGISTRY_PAGES,
    ]
    return Router(
        path="/", route_handlers=handlers, exception_handlers=PAGE_EXCEPTION_HANDLERS, include_in_schema=False
    )
