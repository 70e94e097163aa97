"""Role guards and the ``principal`` dependency shared by every controller.

A missing token on a guarded endpoint is 401 ``unauthenticated``; a present
but bad token is 401 ``token_invalid``/``token_expired``/``token_revoked``
everywhere, even on public endpoints, so a client never silently acts
anonymously; a valid token with the wrong role is 403 ``forbidden``. Browsers authenticate with the
session cookie instead (``exchange.identity.session``), CSRF-checked on writes.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Guard, Receive, Scope, Send

from exchange.errors import Forbidden, Unauthenticated
from exchange.identity.session import CSRF_HEADER, csrf_matches, is_unsafe, session_token
from exchange.identity.standing import admit
from exchange.identity.tokens import Principal, Role, TokenError, read_token

_UNSET = object()
_CREDENTIALS = "credentials"

Checked = Principal | TokenError | None
"""A token's verdict: whom it speaks for, why it does not, or no token at all."""


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; ``None`` for any other shape."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _check(scope: Scope, token: str | None) -> Checked:
    if not token:
        return None
    state = scope["app"].state
    try:
        principal = read_token(token, state.settings.security.secret_key)
        async with state.sessions() as session:
            return await admit(session, principal)
    except TokenError as exc:
        return exc


def credentials_middleware(app: ASGIApp) -> ASGIApp:
    """Checks the request's bearer token and session cookie against their accounts, once.

    Guards and pages are synchronous and ask for the caller many times a request;
    what they need from the database (``exchange.identity.standing``) is read here
    and kept in the connection's state as ``(bearer, cookie)`` verdicts.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        header = connection.headers.get("authorization")
        scope["state"][_CREDENTIALS] = (
            await _check(scope, bearer_token(header) if header else None),
            await _check(scope, session_token(connection)),
        )
        await app(scope, receive, send)

    return middleware


def _verdict(connection: ASGIConnection[Any, Any, Any, Any], which: int) -> Checked:
    checked: tuple[Checked, Checked] | None = connection.state.get(_CREDENTIALS)
    if checked is None:  # a route outside the middleware (none today): refuse rather than trust
        raise Unauthenticated("the credentials were not checked", code="token_invalid")
    return checked[which]


def session_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The page user of the session cookie; ``None`` when absent, expired or revoked."""
    verdict = _verdict(connection, 1)
    return verdict if isinstance(verdict, Principal) else None


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The caller of the API, cached on the connection state: the bearer token, else the cookie."""
    cached = connection.state.get("principal", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    header = connection.headers.get("authorization")
    if header:
        if bearer_token(header) is None:
            raise Unauthenticated("use 'Authorization: Bearer <token>'", code="token_invalid")
        verdict = _verdict(connection, 0)
    elif session_token(connection):
        if is_unsafe(connection) and not csrf_matches(connection, connection.headers.get(CSRF_HEADER)):
            raise Forbidden("a browser session must send its CSRF token in X-CSRF-Token", code="csrf_failed")
        verdict = _verdict(connection, 1)
    else:
        verdict = None
    if isinstance(verdict, TokenError):
        raise Unauthenticated(verdict.message, code=verdict.code)
    connection.state["principal"] = verdict
    return verdict


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The peer's address (behind a proxy, the server must be told to trust its forwarding headers)."""
    return connection.client.host if connection.client else "unknown"


def requires(*roles: Role) -> Guard:
    """Guard admitting only the given roles."""
    allowed = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if principal is None:
            raise Unauthenticated("this endpoint needs a bearer token")
        if principal.role not in allowed:
            raise Forbidden(f"role '{principal.role}' may not do this")

    guard.__name__ = f"requires_{'_'.join(sorted(allowed))}"
    return guard


def authenticated(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if principal_of(connection) is None:
        raise Unauthenticated("this endpoint needs a bearer token")


async def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    return principal_of(request)


async def provide_user(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """For handlers behind a guard: the caller, never ``None``."""
    principal = principal_of(request)
    if principal is None:
        raise Unauthenticated("this endpoint needs a bearer token")
    return principal
