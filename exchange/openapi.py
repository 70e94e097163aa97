"""The OpenAPI document: configuration, and every error documented as a problem document.

The document must say what the server does, for people and for schemathesis
(``tests/integration/test_api_schema.py``): who may call an operation (``security``), which
methods a path has (``Allow`` of a 405 and of OPTIONS), which fields a body may
carry, and the bounds of every parameter.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request, Response, Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
    Tag,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import PathParameter
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT
from swagger_ui_bundle import swagger_ui_path

from exchange.errors import PROBLEM_JSON, NotFound

TAGS = [
    Tag(name="identity", description="Registration, tokens and accounts (身份与角色)"),
    Tag(name="audit", description="Hash-chained audit log (审计日志)"),
    Tag(name="listings", description="Listings and the public catalogue (交易公告)"),
    Tag(name="registration", description="Applications, qualification and bid numbers (报名与资格审查)"),
    Tag(name="settlement", description="Deposits, the ledger and refunds (保证金与结算)"),
    Tag(name="auctions", description="Live auctions and bids (网上竞价)"),
    Tag(name="documents", description="PDF documents and their verification (文书与验真)"),
    Tag(name="results", description="Published results and open data (成交公示)"),
    Tag(
        name="registry",
        description="The rights registry: accounts, issuance, offers, agreements, delivery (排污权、用水权登记)",
    ),
    Tag(name="operations", description="Health and operations"),
]

# No 405: an operation is a path and a method the path has, so it never answers one.
# A method the path lacks is 405 with ``Allow`` listing the path's operations (and OPTIONS).
ERROR_STATUSES = {
    "400": "Malformed request or body that does not match the schema",
    "401": "Missing, invalid or expired bearer token, or wrong credentials",
    "403": "The caller's role may not do this",
    "404": "No such resource",
    "409": "Conflicts with the current state",
    "422": "Valid shape, but breaks a rule of the exchange",
    "429": "Rate limited or locked for a while",
}

BEARER = "bearer"
BANK_SIGNATURE = "bankSignature"
PUBLIC: list[dict[str, list[str]]] = []
"""``security`` of an operation anyone may call without credentials."""
OPTIONAL_BEARER: list[dict[str, list[str]]] = [{}, {BEARER: []}]
"""Anyone may call it; a bearer token shows more (a staff or owner view) and must then be valid."""

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "code", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "code": Schema(type=OpenAPIType.STRING, description="Stable machine-readable error code"),
        "detail": Schema(type=OpenAPIType.STRING),
        "instance": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={
                    "field": Schema(type=OpenAPIType.STRING),
                    "code": Schema(type=OpenAPIType.STRING),
                    "message": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
)


SCHEMA_PATH = "/schema"
ASSETS = "/assets"
"""Swagger UI's files, under the schema's path: ``/schema/assets/swagger-ui-bundle.js``."""
SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
"""What the page loads, and nothing else of the package (its index.html, source maps) is served."""


@cache
def _swagger_file(name: str) -> bytes:
    content: bytes = (swagger_ui_path / name).read_bytes()
    return content


class LocalSwagger(SwaggerRenderPlugin):
    """Swagger UI at ``/schema/`` and ``/schema/swagger`` from the files of the ``swagger-ui-bundle``
    package, served by the exchange itself.

    Litestar's render plugins load their scripts and styles from a CDN by default, so the API
    documents were blank without internet (an exchange's intranet, a laptop on a train). Scalar
    ships no such package, so it is gone; the OpenAPI document stays at ``/schema/openapi.json``.
    """

    def __init__(self) -> None:
        assets = SCHEMA_PATH + ASSETS
        super().__init__(
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            path=["/", "/swagger"],
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
        )

    def receive_router(self, router: Router) -> None:
        """Serve the files beside the page (Litestar's hook for a plugin's own routes)."""

        @get(f"{ASSETS}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
        def swagger_file(name: Annotated[str, PathParameter(max_length=64)]) -> Response[bytes]:
            media_type = SWAGGER_FILES.get(name)
            if media_type is None:
                raise NotFound("no such file")
            return Response(
                _swagger_file(name), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
            )

        router.register(swagger_file)


def openapi_config(extra_tags: list[Tag] | None = None) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Public Resource Trading Exchange API (公共资源交易平台)",
        version="1.0.0",
        path=SCHEMA_PATH,
        tags=TAGS + (extra_tags or []),
        render_plugins=[JsonRenderPlugin(), LocalSwagger()],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                BANK_SIGNATURE: SecurityScheme(
                    type="apiKey",
                    name="X-Signature",
                    security_scheme_in="header",
                    description="The bank's notices: hex HMAC-SHA256 of the raw body with EXCHANGE_BANK_SECRET",
                ),
            },
            schemas={"Problem": PROBLEM_SCHEMA},
        ),
        security=[{BEARER: []}],
    )


def document_problems(app: Litestar) -> None:
    """Declare RFC 9457 error responses on every operation (Litestar documents plain JSON)."""
    document = app.openapi_schema
    if document.components.schemas is not None:  # Litestar drops the configured schemas
        document.components.schemas.setdefault("Problem", PROBLEM_SCHEMA)
    problem = {PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))}
    for item in (document.paths or {}).values():
        for operation in (item.get, item.post, item.put, item.patch, item.delete):
            if operation is None:
                continue
            responses = operation.responses if operation.responses is not None else {}
            for status, description in ERROR_STATUSES.items():
                responses[status] = OpenAPIResponse(description=description, content=problem)
            operation.responses = responses


def views_as_any_of(app: Litestar) -> None:
    """A response that is one of several views (public or staff) is documented with ``anyOf``.

    Litestar writes a union as ``oneOf``, but a staff view carries every field of the
    public one, so a staff answer matches both and a validating client would reject it.
    """
    document = app.openapi_schema
    for item in (document.paths or {}).values():
        for operation in (item.get, item.post, item.put, item.patch, item.delete):
            for response in (operation.responses or {}).values() if operation is not None else ():
                for media in (getattr(response, "content", None) or {}).values():
                    schema = media.schema
                    if isinstance(schema, Schema) and schema.one_of:
                        schema.any_of, schema.one_of = schema.one_of, None


def _operations(app: Litestar) -> list[tuple[HTTPRouteHandler, Any]]:
    """Every documented operation with the handler behind it."""
    paths = app.openapi_schema.paths or {}
    found = []
    for route in app.routes:
        item = paths.get(route.path_format) if isinstance(route, HTTPRoute) else None
        if not isinstance(route, HTTPRoute) or item is None:
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None)
                if operation is not None:
                    found.append((handler, operation))
    return found


def _security(handler: HTTPRouteHandler) -> list[dict[str, list[str]]] | None:
    """What an operation needs; ``None`` for the document's default, a bearer token.

    Every guard of the exchange is a role guard, so an operation without one is
    public unless it asks for the ``user`` (401 without one); one that reads the
    optional ``principal`` shows the caller more.
    """
    parameters = handler.parsed_fn_signature.parameters
    if handler.resolve_guards() or "user" in parameters:
        return None
    own = [requirement for requirement in handler.resolve_security() if requirement]
    if own:  # a scheme of its own, such as the bank's signature
        return own
    return OPTIONAL_BEARER if "principal" in parameters else PUBLIC


def declare_security(app: Litestar) -> None:
    """Public operations say so: the document's default is a bearer token on every operation."""
    for handler, operation in _operations(app):
        security = _security(handler)
        if security is not None:
            operation.security = security


def _structs(annotation: Any) -> list[msgspec.inspect.StructType]:
    """Every Struct a body of this type may contain (itself, its fields', recursively)."""
    found: dict[type, msgspec.inspect.StructType] = {}

    def walk(info: msgspec.inspect.Type) -> None:
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in found:
                return
            found[info.cls] = info
            for field in info.fields:
                walk(field.type)
        for name in ("type", "item_type", "key_type", "value_type", "types", "item_types"):
            inner = getattr(info, name, None)
            for each in inner if isinstance(inner, tuple) else (inner,):
                if isinstance(each, msgspec.inspect.Type):
                    walk(each)

    try:
        walk(msgspec.inspect.type_info(annotation))
    except (TypeError, ValueError):  # not a msgspec type (an upload form, a raw body)
        return []
    return list(found.values())


_BOUNDS = {
    "ge": "minimum",
    "gt": "exclusive_minimum",
    "le": "maximum",
    "lt": "exclusive_maximum",
    "min_length": "min_length",
    "max_length": "max_length",
    "pattern": "pattern",
}


def _bound(schema: Schema, source: object) -> None:
    """Copy the constraints the server checks (``source``'s ``ge``, ``max_length``, ...) into ``schema``.

    Litestar leaves out a constraint whose value is falsy (``ge=0``: any negative
    number looked valid) and writes numbers as floats (``le=MAX_ID`` became 2^63,
    one too many); the server's own values replace both.
    """
    if isinstance(source, msgspec.inspect.UnionType):  # an optional field: Litestar bounds the union
        for member in source.types:
            _bound(schema, member)
        return
    for constraint, key in _BOUNDS.items():
        value = getattr(source, constraint, None)
        if value is None or isinstance(value, bool):
            continue
        current = getattr(schema, key, None)
        if current is None or (isinstance(current, float) and isinstance(value, int)):
            setattr(schema, key, value)


NO_NUL = "^[^\\x00]*$"
"""Text the exchange keeps is refused with a NUL in it (400 ``malformed_request``): PostgreSQL stores none."""
HASHED = frozenset({"password"})
"""Fields never kept as text, so any character goes."""


def _is_text(schema: Schema) -> bool:
    members = [schema, *(s for s in schema.one_of or [] if isinstance(s, Schema))]
    types = [
        t for member in members for t in (member.type if isinstance(member.type, list) else [member.type])
    ]
    return OpenAPIType.STRING in types


def _text_without_nul(schema: Schema) -> None:
    """Free text says it may not hold a NUL; patterned, enumerated and formatted text cannot anyway."""
    if _is_text(schema) and not (schema.pattern or schema.enum or schema.const or schema.format):
        schema.pattern = NO_NUL


RAW_BODY = "raw_body"
"""``opt`` key of a handler that reads its body itself (to check a signature over the raw bytes
first), naming the Struct the body must decode as, so the document describes it."""


def _schema_of(data: dict[str, Any]) -> Schema | Reference:
    """A JSON Schema from ``msgspec.json.schema_components`` as Litestar's spec objects."""
    if "$ref" in data:
        return Reference(ref=data["$ref"])
    aliases = Schema.field_aliases()
    fields: dict[str, Any] = {}
    for key, value in data.items():
        name = aliases.get(key, key)
        if name == "properties":
            value = {k: _schema_of(v) for k, v in value.items()}
        elif name in ("items", "additional_properties") and isinstance(value, dict):
            value = _schema_of(value)
        elif name in ("any_of", "one_of", "all_of"):
            value = [_schema_of(v) for v in value]
        elif name == "type":
            value = [OpenAPIType(v) for v in value] if isinstance(value, list) else OpenAPIType(value)
        fields[name] = value
    return Schema(**fields)


def _document_raw_body(app: Litestar, handler: HTTPRouteHandler, operation: Any) -> None:
    struct = handler.opt.get(RAW_BODY)
    if struct is None:
        return
    (reference,), components = msgspec.json.schema_components(
        [struct], ref_template="#/components/schemas/{name}"
    )
    schemas = app.openapi_schema.components.schemas
    if schemas is not None:
        for name, schema in components.items():
            converted = _schema_of(schema)
            if isinstance(converted, Schema):
                schemas.setdefault(name, converted)
    operation.request_body = RequestBody(
        content={"application/json": OpenAPIMediaType(schema=_schema_of(reference))}, required=True
    )


def bodies_as_accepted(app: Litestar) -> None:
    """Bodies and parameters as the server reads them.

    A Struct that forbids unknown fields answers 400 to an extra one, so its
    schema says ``additionalProperties: false``; every field and parameter carries
    the bounds the server checks (``_bound``), and free text says it holds no NUL.
    """
    components = app.openapi_schema.components.schemas or {}
    for handler, operation in _operations(app):
        _document_raw_body(app, handler, operation)
        signature = handler.parsed_fn_signature.parameters
        data = signature.get("data")
        body = data.annotation if data is not None else handler.opt.get(RAW_BODY)
        for struct in _structs(body) if body is not None else ():
            schema = components.get(struct.cls.__name__)
            if not isinstance(schema, Schema):
                continue
            if struct.forbid_unknown_fields:
                schema.additional_properties = False
            for field in struct.fields:
                inner = (schema.properties or {}).get(field.encode_name)
                if isinstance(inner, Schema):
                    _bound(inner, field.type)
                    if field.encode_name not in HASHED:
                        _text_without_nul(inner)
        for parameter in operation.parameters or ():
            if not isinstance(getattr(parameter, "schema", None), Schema):
                continue
            definition = signature.get(getattr(parameter, "name", ""))
            if definition is not None:
                _bound(parameter.schema, definition.kwarg_definition)
            _text_without_nul(parameter.schema)


IDEMPOTENCY_KEY = "idempotency-key"


def idempotent_replays(app: Litestar) -> None:
    """An operation taking ``Idempotency-Key`` answers a replay (same key, same body) with 200.

    The contract's convention (bids): the original answer again, also after the close.
    """
    for _, operation in _operations(app):
        keyed = any(
            getattr(p, "name", "").lower() == IDEMPOTENCY_KEY and getattr(p, "param_in", None) == "header"
            for p in operation.parameters or ()
        )
        created = (operation.responses or {}).get("201")
        if keyed and isinstance(created, OpenAPIResponse) and operation.responses is not None:
            operation.responses.setdefault(
                "200",
                OpenAPIResponse(
                    description="A replay: the same Idempotency-Key and body answer as the first time",
                    content=created.content,
                ),
            )


def document_as_served(app: Litestar) -> None:
    """The document as the server behaves: who may call, what bodies it takes, how it answers."""
    declare_security(app)
    bodies_as_accepted(app)
    idempotent_replays(app)


async def answer_options(request: Request[Any, Any, Any]) -> Response[None] | None:
    """OPTIONS lists every method of the path, as a 405's ``Allow`` does.

    Litestar 2 answers OPTIONS with the methods of the first handler registered
    on a path only (litestar#4169, fixed in Litestar 3): ``OPTIONS /api/v1/listings``
    said ``GET, OPTIONS`` though the path also takes POST.
    """
    if request.method != "OPTIONS":
        return None
    template = request.scope.get("path_template")
    methods = {"OPTIONS"}
    for route in request.app.routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            methods |= set(route.methods)
    return Response(None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": ", ".join(sorted(methods))})
