"""Nonsense in, a clear 4xx problem out, and nothing changed (issue 13, item 7).

Each of these was a 500 (or a quiet acceptance) before: a JSON body nested a
thousand deep, an upload without its file part, a NUL in a static path or in
listing attributes, and amounts beyond what a BIGINT of fen holds.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from exchange.app import create_app
from exchange.clock import utcnow
from exchange.errors import MAX_JSON_DEPTH
from exchange.migrate import upgrade
from exchange.money import MAX_FEN, format_yuan
from exchange.settings import DatabaseSettings, RedisSettings, Settings
from listings.models import Listing
from settlement.bank import BankNotice
from tests.support.api import Client, bidder, staff
from tests.support.auctions import live_auction
from tests.support.bank import deliver, notice
from tests.support.flow import apply, open_registration
from tests.support.listings import listing_body, statutory_schedule

BEYOND = format_yuan(MAX_FEN + 1)
INT64_OVERFLOW = "92233720368547758.08"  # 2^63 fen: not even a BIGINT


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b'{"a":' * depth + inner + b"}" * depth


def assert_problem(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not logged, [r.getMessage() for r in logged]


async def count(client: Client, model: type) -> int:
    async with client.app.state.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


# --- JSON nested too deep ----------------------------------------------------------------------


async def test_json_nested_a_thousand_deep_is_400_on_every_json_endpoint(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    operator = await staff(client, "operator")
    buyer = await bidder(client)
    json_type = {"Content-Type": "application/json"}
    calls = [
        ("/api/v1/auth/token", {}),  # anonymous
        ("/api/v1/auth/register", {}),  # anonymous
        ("/api/v1/listings", operator),
        ("/api/v1/listings/1/cancel", operator),
        ("/api/v1/applications/1/decision", operator),
        ("/api/v1/refunds/1/paid", operator),
        # a bidder's bid: the fast lane cannot decode it and hands it to the route
        ("/api/v1/auctions/1/bids", {**buyer, "Idempotency-Key": "deep-1"}),
    ]
    for body in (b"[" * 1000 + b"]" * 1000, nested(1000), b'{"username": ' + b"[" * 5000):
        for path, headers in calls:
            response = await client.post(path, content=body, headers={**json_type, **headers})
            assert_problem(response, 400, "malformed_request")
    no_tracebacks(caplog)


async def test_the_depth_limit_counts_nesting_not_brackets_in_text(client: Client) -> None:
    json_type = {"Content-Type": "application/json"}
    at_limit = await client.post("/api/v1/auth/token", content=nested(MAX_JSON_DEPTH), headers=json_type)
    over = await client.post("/api/v1/auth/token", content=nested(MAX_JSON_DEPTH + 1), headers=json_type)
    assert_problem(at_limit, 400, "validation_failed")  # decoded, then refused for its shape
    assert_problem(over, 400, "malformed_request")
    brackets = '[{"\\' * 64  # more openers than the limit, all inside strings (quotes escaped)
    text = await client.post("/api/v1/auth/token", json={"username": brackets[:64], "password": brackets})
    assert text.status_code == 401, text.text  # plain (wrong) credentials, not a malformed body


async def test_a_body_is_what_its_json_says_not_what_it_can_be_coerced_to(client: Client) -> None:
    """``"approve": 0`` was a rejection and ``"min_bidders": "3"`` a 3: Litestar converts leniently."""
    operator = await staff(client, "operator")
    admin = await staff(client, "admin")
    listing = await open_registration(client, operator)
    application = await apply(client, listing["id"], await bidder(client))
    decision = f"/api/v1/applications/{application['id']}/decision"
    for approve in (0, 1, "true", "false"):
        response = await client.post(decision, json={"approve": approve}, headers=operator)
        assert_problem(response, 400, "validation_failed", field="approve")
    assert (await client.get(f"/api/v1/applications/{application['id']}", headers=operator)).json()[
        "status"
    ] == "pending"
    body = listing_body("mining_right", min_bidders="3")
    response = await client.post("/api/v1/listings", json=body, headers=operator)
    assert_problem(response, 400, "validation_failed", field="min_bidders")
    body = listing_body("land_use_right")
    body["schedule"]["extension_seconds"] = "300"
    response = await client.post("/api/v1/listings", json=body, headers=operator)
    assert_problem(response, 400, "validation_failed", field="schedule.extension_seconds")
    me = (await client.get("/api/v1/users/me", headers=operator)).json()
    response = await client.patch(f"/api/v1/users/{me['id']}", json={"active": 0}, headers=admin)
    assert_problem(response, 400, "validation_failed", field="active")
    assert (await client.get("/api/v1/users/me", headers=operator)).status_code == 200  # still active


# --- an upload without its file part -----------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def test_an_upload_without_its_file_part_is_400_and_attaches_nothing(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    headers = await bidder(client)
    application = await apply(client, listing["id"], headers)
    url = f"/api/v1/applications/{application['id']}/documents"
    text_only = await client.post(url, files={"note": (None, "no file here")}, headers=headers)
    assert_problem(text_only, 400, "validation_failed", field="file")
    other_name = await client.post(url, files={"upload": ("a.pdf", PDF, "application/pdf")}, headers=headers)
    assert_problem(other_name, 400, "validation_failed", field="file")
    not_a_file = await client.post(url, files={"file": (None, "just text")}, headers=headers)
    assert_problem(not_a_file, 400, "validation_failed", field="file")
    empty = await client.post(url, content=b"", headers={**headers, "Content-Type": "multipart/form-data"})
    assert_problem(empty, 400, "validation_failed", field="file")
    view = (await client.get(f"/api/v1/applications/{application['id']}", headers=headers)).json()
    assert view.get("documents", []) == []
    attached = await client.post(url, files={"file": ("标书.pdf", PDF, "application/pdf")}, headers=headers)
    assert attached.status_code == 201, attached.text
    assert attached.json()["filename"] == "标书.pdf" and attached.json()["content_type"] == "application/pdf"


# --- static files ------------------------------------------------------------------------------


async def test_static_paths_the_os_cannot_look_up_are_404(client: Client) -> None:
    assert (await client.get("/static/site.css")).status_code == 200
    for path in ("/static/%00", "/static/site%00.css", "/static/site.css/inside", "/static/" + "a" * 5000):
        response = await client.get(path)
        assert_problem(response, 404, "not_found")


# --- NUL in listing attributes -----------------------------------------------------------------


async def test_a_nul_in_listing_attributes_is_422_with_the_field(client: Client) -> None:
    operator = await staff(client, "operator")
    body = listing_body("land_use_right")
    body["attributes"]["parcel_code"] = "苏园土挂\x00(2026)12号"
    response = await client.post("/api/v1/listings", json=body, headers=operator)
    assert_problem(response, 422, "listing_invalid", field="attributes.parcel_code")
    body = listing_body("land_use_right")
    body["attributes"]["plot_ratio"]["min\x00"] = "1.0"
    response = await client.post("/api/v1/listings", json=body, headers=operator)
    assert response.status_code == 422 and response.json()["code"] == "listing_invalid", response.text
    assert await count(client, Listing) == 0
    created = await client.post("/api/v1/listings", json=listing_body("land_use_right"), headers=operator)
    assert created.status_code == 201, created.text


async def test_a_nul_in_a_reason_is_400_and_changes_nothing(client: Client) -> None:
    """A reason goes into the audit log's JSON, where PostgreSQL refuses a NUL differently (a 500)."""
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    url = f"/api/v1/listings/{listing['id']}"
    for action in ("suspend", "cancel"):
        response = await client.post(f"{url}/{action}", json={"reason": "规划\x00调整"}, headers=operator)
        assert_problem(response, 400, "malformed_request")
    assert (await client.get(url)).json()["status"] == "registration"


# --- amounts beyond a BIGINT of fen ------------------------------------------------------------


@pytest.fixture(params=["postgresql", "sqlite"])
async def any_client(
    request: pytest.FixtureRequest, db: str, settings: Settings, tmp_path: Path, redis_prefix: str
) -> AsyncIterator[Client]:
    """The app on the test PostgreSQL database, then on a fresh SQLite file."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'exchange.db'}"
        await asyncio.to_thread(upgrade, url)
        settings = replace(
            settings,
            database=DatabaseSettings(url=url),
            redis=RedisSettings(url=settings.redis.url, prefix=f"{redis_prefix}-sqlite"),
        )
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


async def test_a_bank_notice_beyond_the_maximum_is_422_and_books_nothing(
    any_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client = any_client
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    application = await apply(client, listing["id"], await bidder(client))
    for account in (application["deposit_account"], "6200000000000000000"):
        for amount in (INT64_OVERFLOW, BEYOND, "9" * 400):
            response = await deliver(client, notice(account, amount, utcnow()))
            assert_problem(response, 422, "notice_invalid", field="amount")
    assert await count(client, BankNotice) == 0
    most = await deliver(client, notice("6200000000000000000", format_yuan(MAX_FEN), utcnow()))
    assert most.status_code == 200 and most.json()["reason"] == "unknown_account", most.text
    no_tracebacks(caplog)


async def test_listing_money_beyond_the_maximum_is_422_with_the_field(any_client: Client) -> None:
    """Listings were bounded already (``listings.methods.MAX_FEN``); now where the money is parsed too."""
    client = any_client
    operator = await staff(client, "operator")
    for field in ("start_price", "increment", "deposit", "reserve_price"):
        for amount in (INT64_OVERFLOW, BEYOND):
            body = listing_body("land_use_right", **{field: amount})
            response = await client.post("/api/v1/listings", json=body, headers=operator)
            assert_problem(response, 422, "listing_invalid", field=field)
    assert await count(client, Listing) == 0
    body = listing_body("land_use_right", schedule=statutory_schedule("land_use_right"))
    draft = await client.post("/api/v1/listings", json=body, headers=operator)
    assert draft.status_code == 201, draft.text
    listing_id = draft.json()["id"]
    for amount in (INT64_OVERFLOW, BEYOND):
        reserve = await client.put(
            f"/api/v1/listings/{listing_id}/reserve", json={"reserve_price": amount}, headers=operator
        )
        assert_problem(reserve, 422, "listing_invalid", field="reserve_price")
        edit = await client.patch(
            f"/api/v1/listings/{listing_id}", json={"start_price": amount}, headers=operator
        )
        assert_problem(edit, 422, "listing_invalid", field="start_price")
    stored = (await client.get(f"/api/v1/listings/{listing_id}", headers=operator)).json()
    assert stored["start_price"] == "1000000.00" and stored["reserve_price"] == "1100000.00"


async def test_a_bid_beyond_the_maximum_is_422_with_the_field(client: Client) -> None:
    listing, (head,) = await live_auction(client, 1)
    url = f"/api/v1/auctions/{listing['id']}/bids"
    for amount in (INT64_OVERFLOW, BEYOND):
        response = await client.post(
            url, json={"amount": amount}, headers={**head, "Idempotency-Key": secrets.token_hex(8)}
        )
        assert_problem(response, 422, "validation_failed", field="amount")
    assert (await client.get(url)).json() == []
