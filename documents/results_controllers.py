"""Results (成交公示) and the open-data export: public, no authentication."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import ResponseHeader, State
from litestar.params import PathParameter, QueryParameter
from sqlalchemy import select

from documents.bundle import bundle_of
from documents.models import Document
from documents.results import ResultRecord, all_finished, finished, result_of
from exchange.deps import MAX_ID, Session
from exchange.export_signature import HEADER, signature_header
from exchange.signing import SigningKey
from exchange.spreadsheet import MEDIA_TYPE, csv_response, csv_text, number_cell, text_cell

EXPORT_SCHEMA_VERSION = "1"
CSV_COLUMNS = (
    "listing_id",
    "title",
    "asset_class",
    "method",
    "region",
    "outcome",
    "reason",
    "price",
    "start_price",
    "premium_rate",
    "winners",
    "bids",
    "bidders",
    "extensions",
    "opened_at",
    "closed_at",
    "duration_seconds",
    "audit_head",
    "reserve_price",
    "reserve_salt",
    "reserve_commitment",
    "annulled",
    "annulled_reason",
    "discount_rate",
)
"""Programs read the columns by name: new ones go at the end, none is renamed or dropped."""
NUMBER_COLUMNS = frozenset(
    {
        "listing_id",
        "price",
        "start_price",
        "premium_rate",
        "discount_rate",
        "bids",
        "bidders",
        "extensions",
        "duration_seconds",
        "reserve_price",
    }
)
"""Written as numbers (``-11.67`` stays a number); every other column is text, guarded against formulas."""


EXPORT_SIGNATURE_NOTE = (
    "Signed by the exchange: the Exchange-Signature header holds a detached Ed25519 signature over the "
    "exact bytes of the body (canonical JSON {algorithm, development, kid, signature}, the signature "
    "base64url; the keys: GET /api/v1/keys). Check a saved copy offline with python -m "
    "exchange.export_signature FILE --signature @HEADERS --key keys.json (docs/signatures.md)."
)
SIGNATURE_HEADER = ResponseHeader(
    name=HEADER,
    documentation_only=True,
    required=True,
    description="The export's detached Ed25519 signature block, as canonical JSON: "
    '{"algorithm":"Ed25519","development":false,"kid":"<hex>","signature":"<base64url>"}, over the '
    "body's bytes as served (the CSV's byte-order mark included).",
)


class ResultDocument(msgspec.Struct):
    kind: str
    url: str
    sha256: str


class Result(msgspec.Struct):
    listing_id: int
    title: str
    asset_class: str
    method: str
    outcome: str
    price: str | None
    start_price: str
    premium_rate: str | None
    """溢价率: percent over the start price, two places; ``null`` for a price below the start
    price (a Dutch auction's), which is a ``discount_rate`` instead."""
    winners: list[dict[str, Any]]
    bids: int
    bidders: int
    extensions: int
    duration_seconds: int | None
    audit_head: str
    documents: list[ResultDocument]
    reason: str | None = None
    region: str | None = None
    statistics: dict[str, Any] | None = None
    draw: dict[str, Any] | None = None
    average_quote: str | None = None
    award_rule: str | None = None
    """sealed_bid: the rule that chose the winner, ``highest`` | ``closest_to_average``."""
    award_fallback: bool = False
    """closest_to_average awarded to the highest quote: fewer than three valid quotes."""
    reserve_price: str | None = None
    """The reserve (底价), revealed with the result; ``null`` with a salt: the listing had none."""
    reserve_salt: str | None = None
    reserve_commitment: str | None = None
    """SHA-256(utf8("<reserve in fen | none>:<reserve_salt>")), published before bidding."""
    annulled: bool = False
    """A sale annulled after the close (成交无效, an upheld objection): ``outcome`` stays ``sold``."""
    annulled_reason: str | None = None
    """Why it was annulled, as published."""
    discount_rate: str | None = None
    """降价率: percent below the start price, two places, for a price below it (Dutch)."""


async def public_documents(session: Session, listing_id: int) -> list[ResultDocument]:
    query = (
        select(Document.id, Document.kind, Document.sha256)
        .where(Document.listing_id == listing_id, Document.public.is_(True))
        .order_by(Document.id)
    )
    return [
        ResultDocument(kind=kind, url=f"/api/v1/documents/{doc_id}", sha256=sha)
        for doc_id, kind, sha in (await session.execute(query)).all()
    ]


def result_view(record: ResultRecord, documents: list[ResultDocument]) -> Result:
    fields = asdict(record)
    for key in ("opened_at", "closed_at", "documents"):
        fields.pop(key)
    return Result(**fields, documents=documents)


class ResultController(Controller):
    path = "/api/v1/results"
    tags = ["results"]
    security = [{}]

    @get("/", operation_id="listResults", summary="Published results, newest first (成交公示)")
    async def results(
        self,
        session: Session,
        page: Annotated[int, QueryParameter(ge=1, le=100000)] = 1,
        page_size: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> list[Result]:
        rows = await all_finished(session, (page - 1) * page_size, page_size)
        return [
            result_view(await result_of(session, row, auction), await public_documents(session, row.id))
            for row, auction in rows
        ]

    @get("/{listing_id:int}", operation_id="getResult", summary="The result of one listing")
    async def result(
        self, session: Session, listing_id: Annotated[int, PathParameter(ge=1, le=MAX_ID)]
    ) -> Result:
        listing, auction = await finished(session, listing_id)
        return result_view(
            await result_of(session, listing, auction), await public_documents(session, listing_id)
        )

    @get(
        "/{listing_id:int}/bundle",
        operation_id="getResultBundle",
        summary="The verifiable bundle of a result: its signed record, for exchange verify",
        description="Everything needed to check the result offline (exchange verify BUNDLE.json): the "
        "mechanism's parameters, the reserve with its salt and commitment, the bids in order, the outcome, "
        "the draw's inputs, the documents' SHA-256 and the audit head at the close, signed by the exchange "
        "(Ed25519 over the record's canonical JSON; the keys: GET /api/v1/keys). The format is in "
        "docs/verification.md. 404 as for the result; 409 result_not_verifiable for a result whose "
        "bidding opened before reserves were committed.",
    )
    async def bundle(
        self, session: Session, state: State, listing_id: Annotated[int, PathParameter(ge=1, le=MAX_ID)]
    ) -> dict[str, Any]:
        return await bundle_of(session, listing_id, state.signing_key)

    @get(
        "/export.json",
        operation_id="exportResultsJson",
        summary="Open data: every published result as JSON, signed (Exchange-Signature)",
        description=EXPORT_SIGNATURE_NOTE,
        response_headers=[SIGNATURE_HEADER],
    )
    async def export_json(self, session: Session, state: State) -> Response[dict[str, Any]]:
        records = [await result_of(session, row, auction) for row, auction in await all_finished(session)]
        body = msgspec.json.encode(
            {
                "schema_version": EXPORT_SCHEMA_VERSION,
                "results": [msgspec.to_builtins(asdict(r)) for r in records],
            }
        )
        return _signed(body, "application/json", state.signing_key, {})

    @get(
        "/export.csv",
        operation_id="exportResultsCsv",
        summary="Open data: every published result as CSV (UTF-8 with a BOM, one row per listing), signed",
        description="Opens in a spreadsheet as is: a UTF-8 byte-order mark first, CRLF lines, numbers "
        "as numbers, and a text cell that starts with = + - @, a tab or a carriage return gets a "
        "leading ' (no formulas). Columns are read by name; new ones are only ever added at the end. "
        + EXPORT_SIGNATURE_NOTE,
        media_type="text/csv",
        response_headers=[SIGNATURE_HEADER],
    )
    async def export_csv(self, session: Session, state: State) -> Response[str]:
        rows = []
        for listing, auction in await all_finished(session):
            row = asdict(await result_of(session, listing, auction))
            row["winners"] = "; ".join(
                f"{w['bid_number']} {w['name'] or ''} {w['price']}"
                + (f" x {w['quantity']}" if w["quantity"] else "")
                + _parties(w.get("consortium"))
                for w in row["winners"]
            )
            row["annulled"] = "true" if row["annulled"] else "false"
            rows.append([_cell(column, row[column]) for column in CSV_COLUMNS])
        spreadsheet = csv_response(csv_text(CSV_COLUMNS, rows), "results.csv")
        body = spreadsheet.content.encode("utf-8")  # the bytes Litestar would send for the text
        return _signed(body, MEDIA_TYPE, state.signing_key, dict(spreadsheet.headers))


def _parties(consortium: list[dict[str, Any]] | None) -> str:
    """A joint winner's parties in its winners cell: `` [credit code share%, ...]``, the lead first.
    In the cell rather than a new column: the export's columns end with ``discount_rate``."""
    if not consortium:
        return ""
    return " [" + ", ".join(f"{p['credit_code']} {p['share']}%" for p in consortium) + "]"


def _signed(body: bytes, media_type: str, key: SigningKey, headers: dict[str, str]) -> Response[Any]:
    """``body`` as served, with the signature of exactly these bytes.

    The handlers serialize the body themselves so the signature covers what leaves the server
    byte for byte; their annotations say what the bytes hold, for the OpenAPI document.
    """
    return Response(body, media_type=media_type, headers={**headers, HEADER: signature_header(key, body)})


def _cell(column: str, value: Any) -> str:
    if column in NUMBER_COLUMNS:
        return number_cell(value)
    return text_cell(value.isoformat() if hasattr(value, "isoformat") else value)
