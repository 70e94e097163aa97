"""Role guards and the ``principal`` dependency shared by every controller.

A missing token on a guarded endpoint is 401 ``unauthenticated``; a present
but bad token is 401 ``token_invalid``/``token_expired`` everywhere, even on
public endpoints, so a client never silently acts anonymously; a valid token
with the wrong role is 403 ``forbidden``. Browsers authenticate with the
session cookie instead (``exchange.web.session``), CSRF-checked on writes.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from exchange.errors import Forbidden, Unauthenticated
from exchange.identity.tokens import Principal, Role, TokenError, read_token
from exchange.web.session import CSRF_HEADER, csrf_matches, is_unsafe, session_token

_UNSET = object()


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The caller, decoded once per request and cached on the connection state."""
    cached = connection.state.get("principal", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    header = connection.headers.get("authorization")
    token: str | None = None
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use 'Authorization: Bearer <token>'", code="token_invalid")
    elif (
        (token := session_token(connection))
        and is_unsafe(connection)
        and not csrf_matches(connection, connection.headers.get(CSRF_HEADER))
    ):
        raise Forbidden("a browser session must send its CSRF token in X-CSRF-Token", code="csrf_failed")
    principal: Principal | None = None
    if token:
        try:
            principal = read_token(token.strip(), connection.app.state.settings.security.secret_key)
        except TokenError as exc:
            raise Unauthenticated(exc.message, code=exc.code) from exc
    connection.state["principal"] = principal
    return principal


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
