"""What every page handler uses: render with the shared context, who is logged in, HTML errors."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from exchange.clock import utcnow
from exchange.errors import ExchangeError
from exchange.identity.guards import session_principal
from exchange.identity.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    csrf_cookie,
    csrf_matches,
    new_csrf_token,
)
from exchange.identity.tokens import Principal, Role
from exchange.web.i18n import LANG_COOKIE, lang_of, translator

log = logging.getLogger("exchange.web")

_YEAR = 365 * 24 * 3600


class LoginRequired(Exception):
    """A page needs a logged-in user; answered with a redirect to the login page."""


def web_user(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The user of the session cookie, or ``None`` when there is none, it has expired or was revoked."""
    return session_principal(connection)


def require_user(connection: ASGIConnection[Any, Any, Any, Any], *roles: Role) -> Principal:
    """The logged-in user with one of ``roles`` (any role when none are given)."""
    user = web_user(connection)
    if user is None:
        raise LoginRequired
    if roles and user.role not in roles:
        raise ExchangeError("this page is not for your role", code="forbidden", status=403)
    return user


def check_form_csrf(request: Request[Any, Any, Any], form: dict[str, Any]) -> None:
    """Page forms that change something carry the CSRF token as a hidden field."""
    if not csrf_matches(request, form.get(CSRF_FIELD)):
        raise ExchangeError(
            "the form has expired; reload the page and try again", code="csrf_failed", status=403
        )


def page(
    request: Request[Any, Any, Any], template_name: str, *, status_code: int = 200, **context: Any
) -> Template:
    """Render ``template_name`` with the language, the user and the CSRF token every layout needs."""
    lang = lang_of(request)
    csrf = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
    cookies: list[Cookie] = []
    if CSRF_COOKIE not in request.cookies:
        cookies.append(csrf_cookie(request, csrf))
    if "lang" in request.query_params:
        cookies.append(Cookie(key=LANG_COOKIE, value=lang, path="/", max_age=_YEAR, samesite="lax"))
    shared = {
        "lang": lang,
        "tr": translator(lang),
        "user": web_user(request),
        "csrf_token": csrf,
        "csrf_field": CSRF_FIELD,
        "path": request.url.path,
        "query": request.url.query,
        "server_time": utcnow(),
    }
    return Template(
        template_name=template_name,
        context={**shared, **context},
        status_code=status_code,
        cookies=cookies,
        headers={"Cache-Control": "no-store", **security_headers(request)},
    )


def security_headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Pages load only their own scripts, styles and sockets, and are never framed.

    Scripts and styles come from /static only (no inline code), so an injected
    tag cannot run even if escaping ever failed; the feed's WebSocket is the
    one connection to this same host.
    """
    host = request.headers.get("host", "")
    sockets = f"ws://{host} wss://{host}" if host else ""
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {sockets}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def _login_redirect(request: Request[Any, Any, Any], _: LoginRequired) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)


def _error_page(request: Request[Any, Any, Any], status: int, code: str, detail: str) -> Response[Any]:
    return page(request, "web/error.html", status_code=status, status=status, code=code, detail=detail)


def _on_exchange_error(request: Request[Any, Any, Any], exc: ExchangeError) -> Response[Any]:
    return _error_page(request, exc.status, exc.code, exc.detail)


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotFoundException):
        return _error_page(request, 404, "not_found", "No such page.")
    if exc.status_code >= 500:
        log.error("HTTP %s on page %s: %s", exc.status_code, request.url.path, exc.detail)
        return _error_page(request, exc.status_code, "internal_error", "Internal error.")
    return _error_page(request, exc.status_code, "bad_request", str(exc.detail))


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on page %s %s", request.method, request.url.path, exc_info=exc)
    return _error_page(request, 500, "internal_error", "Internal error.")


PAGE_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    LoginRequired: _login_redirect,
    ExchangeError: _on_exchange_error,
    HTTPException: _on_http_exception,
    Exception: _on_unexpected,
}
"""Page routes answer errors with an HTML page (the API keeps problem+json)."""
