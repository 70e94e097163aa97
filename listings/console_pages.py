"""Pages of this package (filled in by the pages work; listed in ``exchange.web.routes``)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

PAGES: list[ControllerRouterHandler] = []
