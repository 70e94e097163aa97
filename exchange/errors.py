"""Every failure as an RFC 9457 problem document with a stable ``code``.

Clients (bidders' software, the pages, acceptance checks) branch on ``code``;
``detail`` is for people and may change wording. Domain code raises
``ExchangeError`` (or a subclass); framework errors are mapped here so a 404,
405 or a malformed body looks exactly like a domain error.

``detail`` and each ``errors[].message`` are in the request's language
(``exchange.messages.language``: ``?lang=``, else ``Accept-Language``, Chinese
first): Chinese from the catalogue (``exchange.messages``), English the raiser's
own sentence where it wrote one. ``code`` and the status never change with it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qs

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap, Scope
from sqlalchemy.exc import DBAPIError

from exchange import messages
from exchange.messages import Lang

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


def field_error(field: str, message: str, code: str = "invalid", **params: Any) -> dict[str, Any]:
    """One field's problem; ``message`` is English, ``params`` (e.g. ``min_length``) fill the
    catalogue's sentence and are members of the error, for programs too."""
    return {"field": field, "code": code, "message": message, **params}


def request_language(request: Request[Any, Any, Any]) -> Lang:
    return messages.language(request.query_params.get("lang"), request.headers.get("accept-language"))


def scope_language(scope: Scope) -> Lang:
    """``request_language`` of a raw ASGI scope (the bid lane answers before Litestar)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[0]
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    header = next((v.decode("latin-1") for k, v in headers if k == b"accept-language"), None)
    return messages.language(query, header)


def localized_errors(
    errors: Sequence[Mapping[str, Any]], lang: Lang, *, english_given: bool = True
) -> list[dict[str, Any]]:
    """Each field error's ``message`` in ``lang``; in English the raiser's own when
    ``english_given`` (a domain's, written for people), else the catalogue's."""
    out = []
    for error in errors:
        item = dict(error)
        field, code = str(item.get("field", "")), str(item.get("code", ""))
        if lang == "zh" or not english_given or not item.get("message"):
            item["message"] = messages.field_message(code, field, lang, item)
        out.append(item)
    return out


def localized_detail(
    status: int,
    code: str,
    lang: Lang,
    *,
    given: str | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The detail in ``lang``: the field errors' messages when there are any (they say
    what to fix), else the catalogue's sentence; in English ``given`` wins when set."""
    if lang == "en" and given:
        return given
    if errors:
        return ("；" if lang == "zh" else "; ").join(str(e["message"]) for e in errors)
    return messages.detail(code, lang, extra, status)


def problem(
    status: int,
    code: str,
    lang: Lang,
    *,
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    given: str | None = None,
) -> Response[dict[str, Any]]:
    """A framework error's answer: its words from the catalogue in ``lang``; in English
    ``given``, the library's own sentence, where it says what was wrong."""
    errors = localized_errors(errors or (), lang, english_given=False)
    detail = localized_detail(status, code, lang, given=given, errors=errors, extra=extra)
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


def error_document(exc: ExchangeError, path: str, lang: Lang = "zh") -> dict[str, Any]:
    """The problem document of a domain error in ``lang``; its headers are ``error_headers``."""
    errors = localized_errors(exc.errors, lang)
    detail = localized_detail(exc.status, exc.code, lang, given=exc.detail, errors=errors, extra=exc.extra)
    return problem_document(exc.status, exc.code, detail, instance=path, errors=errors, extra=exc.extra)


def error_headers(exc: ExchangeError) -> dict[str, str]:
    if exc.status == 401:
        return {"WWW-Authenticate": "Bearer", **exc.headers}
    return exc.headers


def _on_exchange_error(request: Request[Any, Any, Any], exc: ExchangeError) -> Response[Any]:
    body = error_document(exc, request.url.path, request_language(request))
    return Response(body, status_code=exc.status, media_type=PROBLEM_JSON, headers=error_headers(exc))


MAX_JSON_DEPTH = 32
"""Nesting of arrays and objects a JSON body may have; the deepest the API reads is 4.

msgspec decodes recursively, so a body nested about a thousand deep hits Python's
recursion limit: a 500 with a traceback, from anyone, on every JSON endpoint.
"""

_JSON_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_JSON_STRING = re.compile(rb'"[^"]*"')  # once escapes are gone: linear, no backtracking
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests deeper than ``limit``, brackets inside strings not counted."""
    if body.count(b"[") + body.count(b"{") <= limit:  # the usual body: no need to look closer
        return False
    brackets = _JSON_STRING.sub(b"", _JSON_ESCAPE.sub(b"", body)).translate(None, _NOT_A_BRACKET)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def _integral(value: Any) -> Any:
    """JSON's ``300.0`` is the integer 300 (JSON Schema agrees); msgspec's strict mode would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


class JSONRequest(Request[Any, Any, Any]):
    """Every JSON body the app reads through Litestar: refused when too deep, then typed strictly.

    Litestar converts a decoded body to the handler's type leniently: ``"active": 0``
    became ``False``, ``"min_bidders": "3"`` became 3. A body is what its JSON says,
    so one that needs such coercion is 400 ``validation_failed``, as the schema promises.
    """

    async def json(self) -> Any:
        if json_too_deep(await self.body()):
            raise ExchangeError(
                f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels",
                code="malformed_request",
                status=400,
            )
        value = await super().json()
        data = self.route_handler.parsed_fn_signature.parameters.get("data")
        if data is not None:
            try:
                msgspec.convert(_integral(value), data.annotation, strict=True)
            except msgspec.ValidationError as exc:
                raise ValidationException(detail=str(exc), extra=[{"message": str(exc)}]) from exc
            except TypeError:  # a type only Litestar can build (none of the JSON bodies today)
                pass
        return value


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_AT_PATH = re.compile(r"- at `\$\.(.+)`$")


def _field_of(item: Mapping[str, Any]) -> str:
    message = str(item.get("message", ""))
    key = item.get("key")
    if not key or key == "data":  # "data" is the whole request body
        unknown = _UNKNOWN_FIELD.search(message)
        missing = _MISSING_FIELD.search(message)
        at_path = _AT_PATH.search(message)
        if unknown:
            key = unknown.group(1)
        elif missing:
            key = f"{at_path.group(1)}.{missing.group(1)}" if at_path else missing.group(1)
        else:
            key = at_path.group(1) if at_path else "body"
    source = item.get("source")
    source = getattr(source, "value", source)  # Litestar's ParamType enum: "path", "query", ...
    return str(key) if source in (None, "body") else f"{source}.{key}"


_FIELD_CODES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"missing required|of length >= 1\b"), "required"),
    (re.compile(r"unknown field"), "unknown_field"),
    (re.compile(r"Invalid enum value|Expected `(?:str|int)` (?:equal|in)\b"), "choice_invalid"),
    (re.compile(r"of length <="), "too_long"),
    (re.compile(r"of length >="), "too_short"),
    (re.compile(r"Expected `\w+` [<>]=?|Expected `\w+` (?:of length )?[<>]"), "out_of_range"),
    (re.compile(r"Expected `[^`]+`, got `[^`]+`"), "type_invalid"),
)
"""msgspec's and Litestar's sentences as field-error codes, so each has its own words."""


def _field_code(message: str) -> str:
    return next((code for pattern, code in _FIELD_CODES if pattern.search(message)), "invalid")


def _validation_errors(exc: ValidationException) -> list[dict[str, Any]]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    items = [item for item in extra if isinstance(item, Mapping)]
    if not items:
        items = [{"message": str(exc.detail)}]
    errors = []
    for item in items:
        message = _AT_PATH.sub("", str(item.get("message") or "invalid value")).strip()
        errors.append(field_error(_field_of(item), message, _field_code(message)))
    return errors


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    path = request.url.path
    lang = request_language(request)
    if isinstance(exc, ValidationException):
        return problem(400, "validation_failed", lang, instance=path, errors=_validation_errors(exc))
    if isinstance(exc, NotFoundException):
        return problem(404, "not_found", lang, instance=path)
    if isinstance(exc, MethodNotAllowedException):
        headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
        return problem(405, "method_not_allowed", lang, instance=path, headers=headers)
    if isinstance(exc, NotAuthorizedException):
        return problem(401, "unauthenticated", lang, instance=path, headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, PermissionDeniedException):
        return problem(403, "forbidden", lang, instance=path)
    status = exc.status_code
    if status == 400:  # what the parser said helps whoever wrote the request: English only
        return problem(400, "malformed_request", lang, instance=path, given=str(exc.detail))
    if status >= 500:
        log.error("HTTP %s on %s: %s", status, path, exc.detail)
        return problem(status, "internal_error", lang, instance=path)
    code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    return problem(status, code, lang, instance=path, headers=exc.headers, given=str(exc.detail))


# PostgreSQL refusing a NUL: in a text column (22021), in JSON such as an audit payload (22P05).
_NUL_SQLSTATES = frozenset({"22021", "22P05"})


def _on_database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    """Text PostgreSQL cannot store (a NUL character) is the client's fault, not ours."""
    if getattr(exc.orig, "sqlstate", None) in _NUL_SQLSTATES or "0x00" in str(exc.orig):
        return problem(
            400,
            "malformed_request",
            request_language(request),
            instance=request.url.path,
            given="text may not contain NUL characters",
        )
    return _on_unexpected(request, exc)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal_error", request_language(request), instance=request.url.path)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ExchangeError: _on_exchange_error,
    HTTPException: _on_http_exception,
    DBAPIError: _on_database_error,
    Exception: _on_unexpected,
}
