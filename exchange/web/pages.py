"""What every page handler uses: render with the shared context, who is logged in, HTML errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandler, ExceptionHandlersMap

from exchange.clock import utcnow
from exchange.errors import EXCEPTION_HANDLERS, ExchangeError
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
        "user": context.pop("user") if "user" in context else web_user(request),
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


def _login_redirect(request: Request[Any, Any, Any], _: Exception | None = None) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)


def wants_page(request: Request[Any, Any, Any]) -> bool:
    """A browser navigating (its Accept names ``text/html`` before any JSON) off the API.

    JSON is offered first, so ``*/*``, a missing header and every program keep the problem document;
    ``/api/`` answers JSON whatever a browser asks, as its OpenAPI document promises.
    """
    if request.url.path.startswith("/api/") or "accept" not in request.headers:
        return False
    return request.accept.best_match(["application/json", "text/html"]) == "text/html"


def _known_user(request: Request[Any, Any, Any]) -> Principal | None:
    """The user, when the credentials middleware has run: an address no route matches never reaches
    it (nothing was checked), so its error page shows the frame as to an anonymous visitor."""
    try:
        return web_user(request)
    except ExchangeError:
        return None


_KEPT_HEADERS = frozenset({"allow", "retry-after"})
"""The problem's headers a page keeps (405's ``Allow``, 429's ``Retry-After``)."""


def _error_page(request: Request[Any, Any, Any], problem: Response[Any]) -> Response[Any]:
    """The problem document the API would answer, as a page in the site's frame, with its status.

    One mapping from exceptions to status, code and detail (``exchange.errors``) serves both: a
    page never disagrees with the API about what went wrong. A 401 sends the visitor to log in.
    """
    status = problem.status_code or 500
    if status == 401:
        return _login_redirect(request)
    body: Mapping[str, Any] = problem.content if isinstance(problem.content, Mapping) else {}
    response = page(
        request,
        "web/error.html",
        status_code=status,
        user=_known_user(request),
        status=status,
        code=str(body.get("code") or "internal_error"),
        detail=str(body.get("detail") or ""),
    )
    kept = {k: v for k, v in (problem.headers or {}).items() if k.lower() in _KEPT_HEADERS}
    response.headers.update(kept)
    return response


def _always_page(handler: ExceptionHandler[Exception]) -> ExceptionHandler[Exception]:
    def answer(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        return _error_page(request, handler(request, exc))

    return answer


def _page_for_browsers(handler: ExceptionHandler[Exception]) -> ExceptionHandler[Exception]:
    def answer(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        problem = handler(request, exc)
        return _error_page(request, problem) if wants_page(request) else problem

    return answer


def for_browsers(handlers: ExceptionHandlersMap) -> ExceptionHandlersMap:
    """The app's error handlers (``exchange.errors.EXCEPTION_HANDLERS``) with a page for a browser.

    Registered on the app, they answer what no page route raised: an address nothing matches
    (``/nothing``), a method a route does not take (405), an error of the API's routes. A browser
    off ``/api/`` gets the page, with the same status; programs get problem+json as before.
    """
    return {key: _page_for_browsers(handler) for key, handler in handlers.items()}


PAGE_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    **{key: _always_page(handler) for key, handler in EXCEPTION_HANDLERS.items()},
    LoginRequired: _login_redirect,
}
"""Page routes answer every error with an HTML page (their callers are browsers and the pages'
tests); the status, code and detail are those of the API's problem document."""
