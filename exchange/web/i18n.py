"""Chinese-first pages with an English switch.

Templates carry both texts side by side, ``tr("竞价大厅", "Bidding hall")``,
so a page never shows a missing key and a reviewer reads both at once.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar.connection import ASGIConnection

Lang = Literal["zh", "en"]
LANG_COOKIE = "exchange_lang"


def lang_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Lang:
    """``?lang=`` wins (and is remembered by the caller), then the cookie, then Chinese."""
    asked = connection.query_params.get("lang") or connection.cookies.get(LANG_COOKIE)
    return "en" if asked == "en" else "zh"


def translator(lang: Lang) -> Any:
    def tr(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    return tr
