"""Verifiable result bundles end to end (issue 20, items 1 and 4), on PostgreSQL and SQLite.

One sold auction per mechanism (english, listing, sealed bid, dutch, uniform price, english with
a cap lottery) through HTTP; each bundle from ``GET /api/v1/results/{id}/bundle``
verifies untouched, and tampering with each element in turn (a bid's amount, the price, the
reserve, the salt, the seed, a document's digest, the signature) makes the verifier name that
mismatch, and so does a log entry of the transparency log changed. The command runs in a subprocess twice: ``exchange verify`` as installed, and the
verifier module with SQLAlchemy and Litestar unimportable (it needs neither), on a PDF with one
byte changed.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from exchange.app import create_app
from exchange.settings import Settings
from exchange.signing import generate_development_key
from exchange.verifier import keys_from_json, verify_bundle
from tests.support.api import Client, staff
from tests.support.auctions import auction_view, bid, live_auction
from tests.support.flow import wait_status

pytestmark = pytest.mark.databases()

ROOT = Path(__file__).resolve().parents[2]
EXCHANGE = Path(sys.executable).with_name("exchange")
Bundle = dict[str, Any]


@pytest.fixture
async def pclient(db: str, settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(replace(settings, issue_documents=True))) as client:
        yield client


def nonce() -> str:
    return secrets.token_hex(16)


async def _post(client: Client, headers: dict[str, str], lid: int, body: dict[str, Any]) -> None:
    response = await client.post(
        f"/api/v1/auctions/{lid}/bids",
        json=body,
        headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert response.status_code == 201, response.text


async def _wait_phase(client: Client, lid: int, phase: str, timeout: float = 15) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (view := await auction_view(client, lid))["phase"] != phase:
        assert loop.time() < deadline, f"phase stayed {view['phase']}"
        await asyncio.sleep(0.05)
    return view


# --- one sold result per mechanism ------------------------------------------------------------


async def english(client: Client, suspended: bool = False) -> int:
    # a third bidder qualifies and never bids: the bundle counts it, without its bid number
    listing, (alice, bob, _) = await live_auction(client, 3, closes_in=4 if suspended else 2)
    lid = listing["id"]
    await _post(client, alice, lid, {"amount": "1000000.00"})
    if suspended:  # 中止 and 恢复 while bidding runs: the replay moves every later time by the pause
        operator = await staff(client, "operator")
        for action, body in (("suspend", {"reason": "系统维护"}), ("resume", {})):
            response = await client.post(f"/api/v1/listings/{lid}/{action}", json=body, headers=operator)
            assert response.status_code == 200, response.text
        await wait_status(client, lid, "bidding")
    await _post(client, bob, lid, {"amount": "1200000.00"})
    return int(lid)


async def listing_method(client: Client) -> int:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=2.5, extension=2, method="listing")
    lid = listing["id"]
    await _post(client, alice, lid, {"amount": "1000000.00"})
    await _post(client, bob, lid, {"amount": "1010000.00"})
    await _wait_phase(client, lid, "timed")
    await _post(client, alice, lid, {"amount": "1100000.00"})
    return int(lid)


async def sealed(client: Client) -> int:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=2.5, method="sealed_bid")
    lid = listing["id"]
    await _post(client, alice, lid, {"amount": "1200000.00"})
    await _post(client, bob, lid, {"amount": "1300000.00"})
    return int(lid)


async def dutch(client: Client) -> int:
    listing, (_, bob) = await live_auction(client, 2, closes_in=30, extension=2, method="dutch")
    lid = listing["id"]
    await _wait_phase(client, lid, "clock")
    for _ in range(5):  # the clock may tick between reading its price and accepting it
        price = (await auction_view(client, lid))["current_price"]
        accepted = await bid(client, bob, lid, price)
        if accepted.status_code == 201:
            return int(lid)
        assert accepted.json()["code"] == "price_mismatch", accepted.text
    raise AssertionError("never accepted the clock price")


async def uniform(client: Client) -> int:
    listing, heads = await live_auction(
        client,
        3,
        closes_in=3,
        asset_class="emission_right",
        method="uniform_price",
        start_price="100.00",
        increment="1.00",
        deposit="50.00",
    )
    lid = listing["id"]
    for headers, price, quantity in zip(
        heads, ("120.00", "110.00", "105.00"), ("6.000", "6.000", "3.000"), strict=True
    ):
        await _post(client, headers, lid, {"amount": price, "quantity": quantity})
    return int(lid)


async def cap_lottery(client: Client) -> int:
    listing, (alice, bob, _) = await live_auction(
        client,
        3,
        closes_in=20,
        price_cap="1100000.00",
        cap_rule="lottery",
        lottery_window_seconds=2,
        reserve_price="1000000.00",
    )
    lid = listing["id"]
    await _post(client, alice, lid, {"amount": "1100000.00", "nonce": nonce()})
    await _wait_phase(client, lid, "lottery")
    await _post(client, bob, lid, {"amount": "1100000.00", "nonce": nonce()})
    return int(lid)


MECHANISMS: dict[str, Callable[[Client], Any]] = {
    "english": english,
    "listing": listing_method,
    "sealed_bid": sealed,
    "dutch": dutch,
    "uniform_price": uniform,
    "cap_lottery": cap_lottery,
}


async def _closed(client: Client, run: Callable[[Client], Any]) -> int:
    lid: int = await run(client)
    await wait_status(client, lid, "closed", timeout=30)
    return lid


async def _documents(client: Client, lid: int, kinds: set[str], timeout: float = 90) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not kinds <= {d["kind"] for d in (await client.get(f"/api/v1/results/{lid}")).json()["documents"]}:
        assert loop.time() < deadline, f"documents {kinds} never issued"
        await asyncio.sleep(0.5)


# --- tampering ----------------------------------------------------------------------------------


def _winning_bid(record: dict[str, Any]) -> dict[str, Any]:
    """A bid that made its bidder a winner at its own amount (uniform price: one at the clearing
    price), or a lottery entry that won the draw."""
    won = {(w["bidder"], w["price"]) for w in record["outcome"]["winners"]}
    winners = {bidder for bidder, _ in won}
    return next(
        b
        for b in reversed(record["bids"])
        if (b["bid_number"], b["amount"]) in won
        or (b["kind"] == "lottery_entry" and b["bid_number"] in winners)
    )


def _flip(text: str) -> str:
    return ("1" if text[0] != "1" else "2") + text[1:]


def tampered(bundle: Bundle) -> dict[str, tuple[Bundle, str]]:
    """Each published element changed in turn, with the check that must name it."""
    cases: dict[str, tuple[Bundle, str]] = {}

    def case(name: str, check: str, change: Callable[[Bundle], None]) -> None:
        copied = copy.deepcopy(bundle)
        change(copied)
        cases[name] = (copied, check)

    case(
        "bid amount",
        "replay",
        lambda b: _winning_bid(b["record"]).update(amount=_winning_bid(b["record"])["amount"] + 1),
    )
    case("published price", "result", lambda b: b["record"]["result"].update(price="1.00"))
    case(
        "outcome price",
        "replay",
        lambda b: b["record"]["outcome"].update(price=b["record"]["outcome"]["price"] + 100),
    )
    case(
        "reserve",
        "reserve",
        lambda b: b["record"]["reserve"].update(price=(b["record"]["reserve"]["price"] or 0) + 100),
    )
    case(
        "salt", "reserve", lambda b: b["record"]["reserve"].update(salt=_flip(b["record"]["reserve"]["salt"]))
    )
    if bundle["record"]["outcome"]["draw"] is not None:
        case(
            "seed",
            "draw",
            lambda b: b["record"]["outcome"]["draw"].update(
                seed_hex=_flip(b["record"]["outcome"]["draw"]["seed_hex"])
            ),
        )
    if bundle["record"]["documents"]:
        case(
            "document digest",
            "documents",
            lambda b: b["record"]["documents"][0].update(sha256="not-a-digest"),
        )
    return cases


def assert_names_each_tampering(bundle: Bundle) -> None:
    for name, (changed, check) in tampered(bundle).items():
        report = verify_bundle(changed)
        assert not report.verified, name
        assert report.failed(check), (name, report.lines())
        assert report.failed("signature"), name  # the record is no longer what was signed
    forged = copy.deepcopy(bundle)
    forged["signature"]["signature"] = _flip(forged["signature"]["signature"])
    report = verify_bundle(forged)
    assert [c.name for c in report.failures] == ["signature"], report.lines()
    if bundle["transparency"]["entries"]:  # a log entry: outside the signed record, proven on its own
        rewritten = copy.deepcopy(bundle)
        rewritten["transparency"]["entries"][0]["data"]["audit_head"] = "e" * 64
        report = verify_bundle(rewritten)
        assert [c.name for c in report.failures] == ["transparency"], report.lines()
        # the block dropped, or its leaves called pending: never VERIFIED, exit code 2
        stripped, pending = copy.deepcopy(bundle), copy.deepcopy(bundle)
        del stripped["transparency"]
        said = [{"kind": "audit_head"}, *({"kind": "document"} for _ in bundle["record"]["documents"])]
        pending["transparency"].update(status="pending", entries=[], pending=said)
        for report in (verify_bundle(stripped), verify_bundle(pending)):
            assert not report.verified and report.exit_code == 2, report.lines()


# --- the tests ----------------------------------------------------------------------------------


async def _bundle(client: Client, lid: int) -> Bundle:
    response = await client.get(f"/api/v1/results/{lid}/bundle")
    assert response.status_code == 200, response.text
    bundle: Bundle = response.json()
    key = (await client.get("/api/v1/keys")).json()["keys"][0]
    assert bundle["format"] == "exchange-result-bundle/1" and bundle["key"] == key
    assert bundle["signature"]["kid"] == key["kid"] and bundle["signature"]["development"] is True
    record = bundle["record"]
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    for name in ("outcome", "reason", "price", "winners", "bids", "annulled", "annulled_reason"):
        assert record["result"][name] == result[name], name
    assert record["audit_head"] == result["audit_head"]
    assert record["reserve"]["commitment"] == result["reserve_commitment"]
    assert record["result"]["outcome"] == "sold"
    return bundle


@pytest.mark.databases("postgresql")
async def test_every_mechanism_verifies_and_each_tampering_is_named(client: Client) -> None:
    """The mechanisms besides english (english: the next test, on both databases)."""
    runs = {name: run for name, run in MECHANISMS.items() if name != "english"}
    # one after the other: the test client's calls block the test's event loop, so seeders run
    # side by side can wait on one another's transactions for good
    ids = [await _closed(client, run) for run in runs.values()]
    keys = keys_from_json((await client.get("/api/v1/keys")).json())
    # the log takes the closes in (its timer: a minute); before, a bundle is INCOMPLETE, not verified
    assert (await client.app.state.transparency_sequencer.run_once()).head is not None
    bundles = {name: await _bundle(client, lid) for name, lid in zip(runs, ids, strict=True)}
    for name, bundle in bundles.items():
        for report in (verify_bundle(bundle), verify_bundle(bundle, keys)):
            assert report.verified, (name, report.lines())
        assert_names_each_tampering(bundle)
    lottery = bundles["cap_lottery"]["record"]
    assert lottery["outcome"]["draw"]["purpose"] == "lottery"
    assert [b["kind"] for b in lottery["bids"]] == ["bid", "lottery_entry"]
    assert all(b["nonce"] for b in lottery["bids"])  # both entered the draw: their nonces are its inputs
    assert all(b["nonce"] is None for b in bundles["uniform_price"]["record"]["bids"])  # no draw


async def test_an_english_result_verifies_offline(pclient: Client, tmp_path: Path) -> None:
    lid = await _closed(pclient, lambda client: english(client, suspended=True))
    await _documents(pclient, lid, {"result_announcement", "bid_record"})
    # the transparency log takes the close and the documents in (its timer: a minute)
    assert (await pclient.app.state.transparency_sequencer.run_once()).head is not None
    keys = (await pclient.get("/api/v1/keys")).json()
    (key,) = keys["keys"]
    assert key["algorithm"] == "Ed25519" and key["development"] is True  # none configured in the tests
    bundle = await _bundle(pclient, lid)
    record = bundle["record"]
    assert record["entrants"]["others"] == 1 and len(record["entrants"]["bid_numbers"]) == 2
    (pause,) = [i for i in record["interruptions"] if i["kind"] == "resumed"]
    assert pause["after_seq"] == record["bids"][0]["seq"] and pause["pause_microseconds"] > 0
    assert all(b["nonce"] is None for b in record["bids"])  # no draw, no cap: nonces stay private
    assert {d["kind"] for d in record["documents"]} >= {
        "listing_announcement",
        "result_announcement",
        "bid_record",
    }
    for report in (verify_bundle(bundle), verify_bundle(bundle, keys_from_json(keys))):
        assert report.verified, report.lines()
    assert_names_each_tampering(bundle)
    stranger = verify_bundle(bundle, [generate_development_key().public])
    # the tree head is signed with the same key: the stranger's fails it too
    assert [c.name for c in stranger.failures] == ["signature", "transparency"]
    assert "not among" in stranger.failures[0].detail
    assert bundle["transparency"]["status"] == "logged" and len(bundle["transparency"]["entries"]) == 1 + len(
        record["documents"]
    )
    missing = await pclient.get("/api/v1/results/999999/bundle")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    page = await pclient.get(f"/results/{lid}", headers={"Accept": "text/html"})
    assert f'href="/api/v1/results/{lid}/bundle"' in page.text  # the result page links it

    # offline, as anyone would: the saved bundle, the published keys and the downloaded PDFs
    folder = tmp_path / "documents"
    folder.mkdir()
    for document in record["documents"]:
        (folder / document["file"]).write_bytes((await pclient.get(document["url"])).content)
    (tmp_path / "bundle.json").write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "keys.json").write_text(json.dumps(keys), encoding="utf-8")
    command = [str(EXCHANGE), "verify", "bundle.json", "--key", "keys.json", "--documents", "documents"]
    verified = subprocess.run(
        command, cwd=tmp_path, capture_output=True, encoding="utf-8", timeout=120, check=False
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip().endswith("通过 / VERIFIED") and "不通过" not in verified.stdout

    # one byte of a PDF changed, checked by the verifier alone with SQLAlchemy and Litestar unimportable
    pdf = folder / next(d["file"] for d in record["documents"] if d["kind"] == "result_announcement")
    content = bytearray(pdf.read_bytes())
    content[len(content) // 2] ^= 0x01
    pdf.write_bytes(bytes(content))
    blocked = (
        "import sys, runpy; sys.modules.update(dict.fromkeys(('sqlalchemy', 'litestar', 'asyncpg', 'aiosqlite')));"
        " runpy.run_module('exchange.verifier', run_name='__main__')"
    )
    failed = subprocess.run(
        [sys.executable, "-c", blocked, "bundle.json", "--key", "keys.json", "--documents", "documents"],
        cwd=tmp_path,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8", "PATH": "/usr/bin:/bin"},
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    lines = [line for line in failed.stdout.splitlines() if line.startswith("不通过 / FAILED")]
    assert len(lines) == 1 and lines[0].startswith("不通过 / FAILED: documents: ") and pdf.name in lines[0], (
        failed.stdout
    )
