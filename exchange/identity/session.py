"""The browser session: the access token in an HttpOnly cookie, plus a CSRF token.

The JSON API stays bearer-first. A browser has no header to send, so the
session cookie stands in for it; because a cookie travels on cross-site
requests too, every state-changing request that authenticates by cookie
must also echo the CSRF token in ``X-CSRF-Token`` (or the ``csrf_token``
form field of a page form). A cross-site page can neither read the token
nor send a custom header without a CORS preflight, which the exchange
refuses (``allow_origins=[]``); ``SameSite=Strict`` is the second fence.

It sits beside the guards, which read the cookie and check the token on
every API write; the pages (``exchange.web``) only issue and clear it, and
the kernel must not import the web layer.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType

SESSION_COOKIE = "exchange_session"
CSRF_COOKIE = "exchange_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return connection.cookies.get(SESSION_COOKIE) or None


def csrf_matches(connection: ASGIConnection[Any, Any, Any, Any], submitted: str | None) -> bool:
    expected = connection.cookies.get(CSRF_COOKIE)
    return bool(expected) and bool(submitted) and hmac.compare_digest(str(expected), str(submitted))


def is_unsafe(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return (
        connection.scope["type"] == ScopeType.HTTP
        and connection.scope.get("method", "GET") not in SAFE_METHODS
    )


def _secure(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return connection.url.scheme == "https"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_cookie(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> Cookie:
    return Cookie(
        key=CSRF_COOKIE,
        value=token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(connection),
    )


def login_cookies(
    connection: ASGIConnection[Any, Any, Any, Any], token: str, ttl_seconds: int
) -> list[Cookie]:
    """A fresh CSRF token at every login, so one seen before the login is worth nothing after it."""
    return [
        Cookie(
            key=SESSION_COOKIE,
            value=token,
            path="/",
            max_age=ttl_seconds,
            httponly=True,
            samesite="strict",
            secure=_secure(connection),
        ),
        csrf_cookie(connection, new_csrf_token()),
    ]


def logout_cookies() -> list[Cookie]:
    return [
        Cookie(key=SESSION_COOKIE, value="", path="/", max_age=0, httponly=True, samesite="strict"),
        Cookie(key=CSRF_COOKIE, value="", path="/", max_age=0, httponly=True, samesite="strict"),
    ]
