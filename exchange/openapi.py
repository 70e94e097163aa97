"""The OpenAPI document: configuration, and every error documented as a problem document."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    Reference,
    Schema,
    SecurityScheme,
    Tag,
)
from litestar.openapi.spec.enums import OpenAPIType

from exchange.errors import PROBLEM_JSON

TAGS = [
    Tag(name="identity", description="Registration, tokens and accounts (身份与角色)"),
    Tag(name="audit", description="Hash-chained audit log (审计日志)"),
    Tag(name="listings", description="Listings and the public catalogue (交易公告)"),
    Tag(name="registration", description="Applications, qualification and bid numbers (报名与资格审查)"),
    Tag(name="settlement", description="Deposits, the ledger and refunds (保证金与结算)"),
    Tag(name="auctions", description="Live auctions and bids (网上竞价)"),
    Tag(name="documents", description="PDF documents and their verification (文书与验真)"),
    Tag(name="results", description="Published results and open data (成交公示)"),
    Tag(name="operations", description="Health and operations"),
]

ERROR_STATUSES = {
    "400": "Malformed request or body that does not match the schema",
    "401": "Missing, invalid or expired bearer token, or wrong credentials",
    "403": "The caller's role may not do this",
    "404": "No such resource",
    "405": "Method not allowed",
    "409": "Conflicts with the current state",
    "422": "Valid shape, but breaks a rule of the exchange",
    "429": "Rate limited or locked for a while",
}

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


def openapi_config(extra_tags: list[Tag] | None = None) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Public Resource Trading Exchange API (公共资源交易平台)",
        version="1.0.0",
        path="/schema",
        tags=TAGS + (extra_tags or []),
        render_plugins=[JsonRenderPlugin(), ScalarRenderPlugin(path="/"), SwaggerRenderPlugin()],
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")},
            schemas={"Problem": PROBLEM_SCHEMA},
        ),
        security=[{"bearer": []}],
    )


def document_problems(app: Litestar) -> None:
    """Declare RFC 9457 error responses on every operation (Litestar documents plain JSON)."""
    document = app.openapi_schema
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
