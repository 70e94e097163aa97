"""Every failure as an RFC 9457 problem document with a stable ``code``.

Clients (bidders' software, the pages, acceptance checks) branch on ``code``;
``detail`` is for people and may change wording. Domain code raises
``ExchangeError`` (or a subclass); framework errors are mapped here so a 404,
405 or a malformed body looks exactly like a domain error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("exchange.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://exchange.example.org/problems/"


class ExchangeError(Exception):
    """A failure the client caused or must know about, with its stable code."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.errors = list(errors) if errors else []
        self.headers = dict(headers or {})
        self.extra = extra


class NotFound(ExchangeError):
    status = 404
    code = "not_found"


class Conflict(ExchangeError):
    status = 409
    code = "conflict"


class Unprocessable(ExchangeError):
    status = 422
    code = "validation_failed"


class Unauthenticated(ExchangeError):
    status = 401
    code = "unauthenticated"


class Forbidden(ExchangeError):
    status = 403
    code = "forbidden"


class RateLimited(ExchangeError):
    status = 429
    code = "rate_limited"


def field_error(field: str, message: str, code: str = "invalid") -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    body = problem_document(status, code, detail, instance=instance, errors=errors, extra=extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def problem_document(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return body


def error_document(exc: ExchangeError, path: str) -> dict[str, Any]:
    """The problem document of a domain error; its headers are ``error_headers``."""
    return problem_document(
        exc.status, exc.code, exc.detail, instance=path, errors=exc.errors, extra=exc.extra
    )


def error_headers(exc: ExchangeError) -> dict[str, str]:
    if exc.status == 401:
        return {"WWW-Authenticate": "Bearer", **exc.headers}
    return exc.headers


def _on_exchange_error(request: Request[Any, Any, Any], exc: ExchangeError) -> Response[Any]:
    body = error_document(exc, request.url.path)
    return Response(body, status_code=exc.status, media_type=PROBLEM_JSON, headers=error_headers(exc))


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_AT_PATH = re.compile(r"- at `\$\.(.+)`$")


def _field_of(item: Mapping[str, Any]) -> str:
    message = str(item.get("message", ""))
    key = item.get("key")
    if not key or key == "data":  # "data" is the whole request body
        unknown = _UNKNOWN_FIELD.search(message)
        at_path = _AT_PATH.search(message)
        key = unknown.group(1) if unknown else at_path.group(1) if at_path else "body"
    source = item.get("source")
    return str(key) if source in (None, "body") else f"{source}.{key}"


def _validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    items = [item for item in extra if isinstance(item, Mapping)]
    if not items:
        items = [{"message": str(exc.detail)}]
    return [field_error(_field_of(item), str(item.get("message") or "invalid value")) for item in items]


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    path = request.url.path
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
        return problem(400, "validation_failed", detail, instance=path, errors=errors)
    if isinstance(exc, NotFoundException):
        return problem(404, "not_found", "No such resource.", instance=path)
    if isinstance(exc, MethodNotAllowedException):
        headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
        return problem(405, "method_not_allowed", str(exc.detail), instance=path, headers=headers)
    if isinstance(exc, NotAuthorizedException):
        return problem(
            401,
            "unauthenticated",
            str(exc.detail),
            instance=path,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(exc, PermissionDeniedException):
        return problem(403, "forbidden", str(exc.detail), instance=path)
    status = exc.status_code
    if status == 400:
        return problem(400, "malformed_request", str(exc.detail), instance=path)
    if status >= 500:
        log.error("HTTP %s on %s: %s", status, path, exc.detail)
        return problem(status, "internal_error", "Internal error.", instance=path)
    code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    return problem(status, code, str(exc.detail), instance=path, headers=exc.headers)


def _on_database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    """Text PostgreSQL cannot store (a NUL character) is the client's fault, not ours."""
    if "invalid byte sequence" in str(exc.orig) or "0x00" in str(exc.orig):
        return problem(
            400, "malformed_request", "text may not contain NUL characters", instance=request.url.path
        )
    return _on_unexpected(request, exc)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal_error", "Internal error; it has been logged.", instance=request.url.path)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ExchangeError: _on_exchange_error,
    HTTPException: _on_http_exception,
    DBAPIError: _on_database_error,
    Exception: _on_unexpected,
}
