"""The offline verifier on bundles built from pure mechanism runs: what the HTTP tests cannot
produce cheaply (late registrants and a suspension in the replay, a residual-lot draw, a
closest-to-average award), that it imports nothing impure, and the signing key's setting."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auctions.bid_signatures import bid_message, parse_public_key
from auctions.mechanisms import Bid, Params, ReplayStep, outcome_to_json, replay, seed_commitment
from documents.bundle_record import (
    FORMAT,
    PublishedBid,
    nonce_is_published,
    parameters_json,
    replay_json,
)
from exchange.app import development_signing_key
from exchange.money import format_yuan
from exchange.settings import load_settings
from exchange.signing import TreeHead, generate_development_key, sign, sign_tree_head, verify
from exchange.transparency import merkle
from exchange.transparency.leaves import audit_head_leaf
from exchange.verifier import keys_from_json, run, verify_bundle
from listings.reserve_commitment import commitment

ROOT = Path(__file__).resolve().parents[2]
T = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
KEY = generate_development_key()
SALT = "ab" * 32
SEED = bytes(range(32))


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def bundle_of(
    params: Params, qualified: set[str], steps: list[ReplayStep], kinds: dict[int, str] | None = None
) -> dict[str, Any]:
    """What ``documents.bundle`` publishes, built from a pure run of the mechanism."""
    _, outcome = replay(params, qualified, steps)
    assert outcome is not None
    bid_steps = [s for s in steps if s[0] == "bid"]
    kinds = kinds or {}
    published = [
        PublishedBid(i, "lottery_entry" if kinds.get(i) else "bid") for i in range(1, len(bid_steps) + 1)
    ]
    scale = params.quantity_scale
    record = {
        "listing": {
            "id": 1,
            "title": "测试",
            "asset_class": "emission_right",
            "method": params.method,
            "region": None,
        },
        "parameters": parameters_json(params),
        "reserve": {
            "price": params.reserve_price,
            "salt": SALT,
            "commitment": commitment(params.reserve_price, SALT),
        },
        "seed_commitment": seed_commitment(params.seed) if params.seed else None,
        **replay_json(qualified, steps, published, lambda bid: nonce_is_published(params, outcome, bid)),
        "outcome": outcome_to_json(outcome),
        "result": {
            "outcome": outcome.status,
            "reason": outcome.reason,
            "price": format_yuan(outcome.price) if outcome.price is not None else None,
            "winners": [
                {
                    "bid_number": w.bidder,
                    "name": "某公司",
                    "price": format_yuan(w.price),
                    "quantity": None if w.quantity is None else str(Decimal(w.quantity) / scale),
                }
                for w in outcome.winners
            ],
            "bids": outcome.bid_count,
            "annulled": False,
            "annulled_reason": None,
        },
        "documents": [],
        "audit_head": "0" * 64,
    }
    # the transparency log holds the close's audit head: a tree of one leaf, an empty proof
    leaf = audit_head_leaf(1, "0" * 64, T)
    head = sign_tree_head(KEY, TreeHead(1, T, merkle.root([leaf.hash()])))
    return {
        "format": FORMAT,
        "record": record,
        "signature": dict(sign(KEY, record)),
        "key": dict(KEY.public.description()),
        "transparency": {
            "status": "logged",
            "tree_head": dict(head),
            "entries": [{"index": 0, "data": leaf.data, "inclusion_proof": []}],
            "pending": [],
        },
    }


def late_listing() -> dict[str, Any]:
    """A 挂牌 with late registration: one bidder at the opening, two admitted later (one never
    bids; all three count for min_bidders), a suspension of 30 s, then the timed phase among the
    two quoters, which 1001 wins."""
    params = Params(
        "listing", at(0), at(100), 100_000, 1_000, extension_seconds=10, min_bidders=3, late_registration=True
    )
    steps: list[ReplayStep] = [
        ("bid", Bid("1001", 100_000), at(1)),
        ("admit", "1002", at(5)),
        ("admit", "1003", at(6)),
        ("pause", timedelta(seconds=30)),
        ("bid", Bid("1002", 101_000), at(40)),
        ("bid", Bid("1001", 102_000), at(131)),
        ("timer", at(141)),
    ]
    return bundle_of(params, {"1001"}, steps)


def residual_draw() -> dict[str, Any]:
    """Uniform price where three bidders tie at the clearing price for 12 lots of 10: 3 each pro
    rata, the last lot by the draw; a fourth bid below the price keeps its nonce private."""
    params = Params(
        "uniform_price", at(0), at(60), 100, 1, quantity=10, lot=1, seed=SEED, bid_guarantee_ratio=None
    )
    steps: list[ReplayStep] = [
        ("bid", Bid(n, 110, 4, f"nonce-{n}"), at(i)) for i, n in enumerate(("2001", "2002", "2003"), 1)
    ]
    steps += [("bid", Bid("2004", 105, 2, "private-nonce"), at(5)), ("timer", at(60))]
    return bundle_of(params, {"2001", "2002", "2003", "2004"}, steps)


def closest_to_average() -> dict[str, Any]:
    params = Params("sealed_bid", at(0), at(60), 100_000, 1_000, award_rule="closest_to_average", seed=SEED)
    steps: list[ReplayStep] = [
        ("bid", Bid("3001", 100_000), at(1)),
        ("bid", Bid("3002", 130_000), at(2)),
        ("bid", Bid("3003", 118_000), at(3)),
        ("timer", at(60)),
    ]
    return bundle_of(params, {"3001", "3002", "3003"}, steps)


def too_few_bidders() -> dict[str, Any]:
    """Failed at the opening: two qualified where the listing asks for three (neither bid)."""
    params = Params("english", at(0), at(60), 100_000, 1_000, min_bidders=3, reserve_price=150_000)
    return bundle_of(params, {"4001", "4002"}, [("timer", at(0))])


def below_reserve() -> dict[str, Any]:
    params = Params("english", at(0), at(60), 100_000, 1_000, extension_seconds=5, reserve_price=150_000)
    steps: list[ReplayStep] = [("bid", Bid("5001", 100_000), at(1)), ("timer", at(60))]
    return bundle_of(params, {"5001", "5002"}, steps)


@pytest.mark.parametrize(
    "build", [late_listing, residual_draw, closest_to_average, too_few_bidders, below_reserve]
)
def test_an_untouched_bundle_verifies(build: Any) -> None:
    bundle = build()
    report = verify_bundle(bundle)
    assert report.verified, report.lines()
    assert report.lines()[-1] == "通过 / VERIFIED"
    assert verify_bundle(bundle, keys_from_json({"keys": [bundle["key"]]})).verified


def test_failed_results_verify_and_keep_their_reason() -> None:
    few = too_few_bidders()["record"]
    assert few["outcome"]["reason"] == "too_few_bidders" and few["entrants"] == {
        "bid_numbers": [],
        "others": 2,
    }
    assert below_reserve()["record"]["result"]["reason"] == "below_reserve"
    lowered = below_reserve()
    lowered["record"]["reserve"]["price"] = 90_000  # a reserve the bid met would have sold
    report = verify_bundle(lowered)
    assert report.failed("reserve") and report.failed("replay"), report.lines()


def test_late_registrants_and_a_pause_are_published_without_the_silent_bidders_numbers() -> None:
    record = late_listing()["record"]
    assert record["entrants"] == {"bid_numbers": ["1001"], "others": 0}
    assert [(i["kind"], i["after_seq"], i.get("bid_number")) for i in record["interruptions"]] == [
        ("admitted", 1, "1002"),
        ("admitted", 1, None),  # 1003 qualified late and never bid
        ("resumed", 1, None),
    ]
    assert record["interruptions"][2]["pause_microseconds"] == 30_000_000


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda r: r["interruptions"].pop(2), "replay"),  # the suspension: every later time moves
        (lambda r: r["interruptions"].pop(1), "replay"),  # a silent late registrant: too few bidders
        (lambda r: r["bids"][1].update(at="2026-12-01T02:00:04Z"), "replay"),  # before its bidder joined
        (lambda r: r.update(parameters={**r["parameters"], "extension_seconds": 20}), "replay"),
        (lambda r: r.update(closed_at=None), "replay"),
        (lambda r: r["result"]["winners"][0].update(bid_number="1002"), "result"),
        (lambda r: r["result"].update(bids=2), "result"),
        (lambda r: r.update(audit_head="0" * 63), "audit"),
        (lambda r: r.pop("bids"), "replay"),
    ],
)
def test_tampering_with_the_replay_of_a_late_listing_is_named(change: Any, check: str) -> None:
    bundle = late_listing()
    change(bundle["record"])
    report = verify_bundle(bundle)
    assert report.failed(check) and report.failed("signature"), report.lines()


def test_a_residual_lot_draw_is_recomputed_and_its_seed_checked() -> None:
    bundle = residual_draw()
    record = bundle["record"]
    draw = record["outcome"]["draw"]
    assert draw["purpose"] == "residual_lots" and draw["candidates"] == ["2001", "2002", "2003"]
    assert [b["nonce"] for b in record["bids"]] == ["nonce-2001", "nonce-2002", "nonce-2003", None]
    assert sorted(w["quantity"] for w in record["outcome"]["winners"]) == [3, 3, 4]
    for field, value in (
        ("seed_hex", "00" * 32),
        ("order", list(reversed(draw["order"]))),
        ("nonces", ["x", "y", "z"]),
    ):
        changed = copy.deepcopy(bundle)
        changed["record"]["outcome"]["draw"][field] = value
        report = verify_bundle(changed)
        assert report.failed("draw") and report.failed("replay"), (field, report.lines())
    unsigned = copy.deepcopy(bundle)
    unsigned["record"]["seed_commitment"] = "0" * 64  # another commitment than the seed's
    assert verify_bundle(unsigned).failed("draw")


def test_the_replay_needs_no_seed_where_nothing_was_drawn() -> None:
    bundle = closest_to_average()
    assert bundle["record"]["outcome"]["award_rule"] == "closest_to_average"
    assert "seed" not in bundle["record"]["parameters"]  # revealed only with a draw
    changed = copy.deepcopy(bundle)
    changed["record"]["outcome"]["average_quote"] = "116001"
    assert verify_bundle(changed).failed("replay")


def test_a_stranger_key_and_a_broken_bundle() -> None:
    bundle = closest_to_average()
    other = generate_development_key()
    report = verify_bundle(bundle, [other.public])
    assert [c.name for c in report.failures] == ["signature", "transparency"]  # the tree head's key too
    resigned = copy.deepcopy(bundle)
    resigned["record"]["result"]["price"] = "1.00"
    resigned["signature"] = dict(sign(other, resigned["record"]))  # a forger signs with its own key
    assert verify_bundle(resigned, [KEY.public]).failed("signature")
    assert verify_bundle(resigned).failed("result")  # the embedded key (the forger's) proves nothing
    assert [c.name for c in verify_bundle({"format": FORMAT}).failures] == ["format"]
    wrong = copy.deepcopy(bundle)
    wrong["format"] = "exchange-result-bundle/2"
    assert [c.name for c in verify_bundle(wrong).failures] == ["format"]


def test_a_bundle_without_its_transparency_proof_is_incomplete_not_verified(tmp_path: Path) -> None:
    """The transparency block is outside the signed record: dropping it, or calling its leaves
    pending, must not give 通过 / VERIFIED and exit 0."""
    bundle = closest_to_average()
    assert run_file(bundle, tmp_path) == (0, "通过 / VERIFIED")
    stripped = copy.deepcopy(bundle)
    del stripped["transparency"]
    pending = copy.deepcopy(bundle)
    pending["transparency"].update(
        status="pending", entries=[], pending=[{"kind": "audit_head", "subject": "1"}]
    )
    for changed in (stripped, pending):
        code, verdict = run_file(changed, tmp_path)
        assert code == 2 and verdict.startswith("未完全核验 / INCOMPLETE: transparency"), verdict


def run_file(bundle: dict[str, Any], folder: Path) -> tuple[int, str]:
    """``exchange verify``'s exit code and its verdict line, on ``bundle`` saved."""
    path = folder / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    lines: list[str] = []
    return run(path, out=lines.append), lines[-1]


def test_documents_are_matched_with_the_files(tmp_path: Path) -> None:
    bundle = closest_to_average()
    pdf = b"%PDF-1.7 test"
    bundle["record"]["documents"] = [
        {
            "kind": "bid_record",
            "number": "N-1",
            "file": "bid_record-7.pdf",
            "url": "/x",
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "issued_at": "2026-12-01T02:00:00Z",
        }
    ]
    bundle["signature"] = dict(sign(KEY, bundle["record"]))
    # not in the transparency log yet: said, and not a failure
    bundle["transparency"].update(status="partial", pending=[{"kind": "document", "subject": "bid_record:1"}])
    assert not verify_bundle(bundle).failures and verify_bundle(bundle).incomplete
    (tmp_path / "renamed.pdf").write_bytes(pdf)  # found by its digest under another name
    assert not verify_bundle(bundle, documents=tmp_path).failures
    (tmp_path / "bid_record-7.pdf").write_bytes(pdf + b" ")  # the file the download names, changed
    report = verify_bundle(bundle, documents=tmp_path)
    assert [c.name for c in report.failures] == ["documents"] and "bid_record-7.pdf" in report.failures[
        0
    ].detail


def test_the_verifier_imports_no_database_and_no_web_framework() -> None:
    """In a fresh interpreter, with SQLAlchemy and Litestar unimportable: it loads and verifies."""
    code = (
        "import sys\n"
        "sys.modules.update(dict.fromkeys(('sqlalchemy', 'litestar', 'asyncpg', 'aiosqlite', 'redis')))\n"
        "import exchange.verifier\n"
        "assert not {m.split('.')[0] for m, v in sys.modules.items() if v} & {'sqlalchemy', 'litestar', 'redis'}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_signing_key_setting() -> None:
    key = generate_development_key()
    pem = load_settings({"EXCHANGE_SIGNING_KEY": key.pem()}).security.signing_key
    assert pem is not None and pem.kid == key.kid and not pem.development
    raw = key.private.private_bytes_raw()
    text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    loaded = load_settings({"EXCHANGE_SIGNING_KEY": text}).security.signing_key
    assert loaded is not None and loaded.kid == key.kid
    assert load_settings({}).security.signing_key is None  # the app generates a development key
    with pytest.raises(ValueError, match="EXCHANGE_SIGNING_KEY") as raised:
        load_settings({"EXCHANGE_SIGNING_KEY": "not-a-key-" + text})
    assert text not in str(raised.value)


def test_the_development_key_survives_a_restart(tmp_path: Path) -> None:
    """Without EXCHANGE_SIGNING_KEY the key is kept in var_dir: heads and bundles signed before a
    restart (or by another instance on the same directory) still verify after it."""
    var = tmp_path / "var"
    first = development_signing_key(var)
    again = development_signing_key(var)  # the next start
    assert first.development and again.development and again.kid == first.kid
    stored = var / "development-signing-key.pem"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert [p.name for p in var.iterdir()] == [stored.name]  # no draft left behind
    record = {"listing": {"id": 1}}
    verify(again.public, record, sign(first, record))


def with_signed_bids(bundle: dict[str, Any], policy: str = "required") -> dict[str, Any]:
    """The bundle with every bid signed by its bidder's own Ed25519 key, as the exchange publishes
    them after the close, and its record signed again."""
    record = bundle["record"]
    private = {bid["bid_number"]: Ed25519PrivateKey.generate() for bid in record["bids"]}
    keys = {}
    for number, key in private.items():
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        published = base64.b64encode(spki).decode()
        keys[number] = {
            "kid": parse_public_key(published).kid,
            "algorithm": "Ed25519",
            "public_key": published,
            "created_at": "2026-12-01T00:00:00Z",
            "revoked_at": None,
        }
    signatures = []
    for bid in record["bids"]:
        message = bid_message(
            listing_id=record["listing"]["id"],
            bidder_number=bid["bid_number"],
            amount=format_yuan(bid["amount"]),
            quantity=None,
            idempotency_key=f"key-{bid['seq']}",
            last_seq=bid["seq"] - 1,
        )
        value = base64.urlsafe_b64encode(private[bid["bid_number"]].sign(message)).rstrip(b"=").decode()
        signatures.append(
            {
                "seq": bid["seq"],
                "kid": keys[bid["bid_number"]]["kid"],
                "algorithm": "Ed25519",
                "value": value,
                "last_seq": bid["seq"] - 1,
                "nonce_sha256": None,
                "idempotency_key": f"key-{bid['seq']}",
            }
        )
    record["bid_signatures"] = {"policy": policy, "signatures": signatures, "keys": list(keys.values())}
    bundle["signature"] = dict(sign(KEY, record))
    return bundle


def _resigned(bundle: dict[str, Any], change: Any) -> dict[str, Any]:
    changed = copy.deepcopy(bundle)
    change(changed["record"]["bid_signatures"], changed["record"])
    changed["signature"] = dict(sign(KEY, changed["record"]))  # the exchange itself lying
    return changed


def test_bids_signed_by_their_bidders_are_checked_offline() -> None:
    bundle = with_signed_bids(late_listing())
    report = verify_bundle(bundle)
    assert report.verified, report.lines()
    assert next(c for c in report.checks if c.name == "bid_signatures").passed is True

    def forged(block: dict[str, Any], record: dict[str, Any]) -> None:
        block["signatures"][0]["value"] = block["signatures"][1]["value"]

    def invented(block: dict[str, Any], record: dict[str, Any]) -> None:
        block["signatures"].pop()  # a bid nobody signed, where signatures were required

    def after_revocation(block: dict[str, Any], record: dict[str, Any]) -> None:
        block["keys"][0]["revoked_at"] = "2026-12-01T02:00:00Z"  # before every bid

    def other_amount(block: dict[str, Any], record: dict[str, Any]) -> None:
        record["bids"][0]["amount"] += 1

    for change in (forged, invented, after_revocation, other_amount):
        tampered = verify_bundle(_resigned(bundle, change))
        assert tampered.failed("bid_signatures"), (change.__name__, tampered.lines())
    unsigned_optional = _resigned(
        bundle, lambda block, record: block.update(policy="optional", signatures=[])
    )
    assert not verify_bundle(unsigned_optional).failed("bid_signatures")
