"""The transparency log end to end (issue 20, item 3), on PostgreSQL and SQLite.

A sold english auction, a document and a registry movement: before the sequencer runs, the
result's bundle says its leaves are pending and the verifier says the log is not checked yet;
after a round, the bundle proves the close's audit head and the document against a signed tree
head and verifies; the day's registry batch follows once the day is over; the endpoints serve the
heads, an entry's inclusion proof and a consistency proof that a mirror checks. A leaf rewritten
in the database stops the sequencer, and a log that signs over it anyway is caught by a mirror's
saved head and by the bundle.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from documents.models import Document
from documents.transparency_leaves import BEIJING, SOURCES
from exchange.clock import fixed, utcnow
from exchange.db import unit_of_work
from exchange.transparency import merkle
from exchange.transparency.leaves import audit_head_leaf
from exchange.transparency.log import LogRewritten
from exchange.transparency.sequencer import Sequencer
from exchange.verifier import keys_from_json, verify_bundle, verify_consistency_of
from tests.support.api import Client
from tests.support.auctions import bid, live_auction
from tests.support.flow import wait_status
from tests.support.registry import issued

pytestmark = pytest.mark.databases()


async def _sold(client: Client) -> int:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=2)
    lid = int(listing["id"])
    for who, amount in ((alice, "1000000.00"), (bob, "1200000.00")):
        assert (await bid(client, who, lid, amount)).status_code == 201
    await wait_status(client, lid, "closed", timeout=30)
    return lid


async def _document(client: Client, lid: int, public: bool = True) -> str:
    """A document of the listing, stored as the issuer stores one (no PDF rendered: fast)."""
    pdf = b"%PDF-1.7 " + secrets.token_bytes(16)
    async with unit_of_work(client.app.state.sessions) as session:
        session.add(
            Document(
                listing_id=lid,
                kind="bid_record",
                key=f"bid_record:{lid}" if public else f"notice:{lid}:{secrets.token_hex(4)}",
                sha256=hashlib.sha256(pdf).hexdigest(),
                size=len(pdf),
                pdf=pdf,
                title="竞价记录",
                meta={},
                public=public,
                owner_id=None,
                audit_head="0" * 64,
                created_at=utcnow(),
            )
        )
    return hashlib.sha256(pdf).hexdigest()


async def _json(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status_code == status, response.text
    return response.json()


async def test_the_log_proves_a_result_and_a_mirror_sees_a_rewrite(client: Client) -> None:
    sequencer: Sequencer = client.app.state.transparency_sequencer
    keys = keys_from_json(await _json(client, "/api/v1/keys"))
    assert (await _json(client, "/api/v1/transparency/tree-heads/latest", 404))["code"] == "not_found"
    lid = await _sold(client)

    # closed, not yet logged: said so, and not passed
    bundle = await _json(client, f"/api/v1/results/{lid}/bundle")
    assert bundle["transparency"] == {
        "status": "pending",
        "tree_head": None,
        "entries": [],
        "pending": [{"kind": "audit_head", "subject": str(lid)}],
    }
    report = verify_bundle(bundle, keys)
    assert report.incomplete and report.exit_code == 2, report.lines()  # not VERIFIED
    assert [c.name for c in report.unchecked] == ["transparency"], report.lines()
    assert bundle["record"]["log"]["interval_ms"] is None  # no head yet: no deadline to hold it to

    digest = await _document(client, lid)
    await issued(client, None, 1000)  # a registry movement today: its day is not over
    # two instances at once: one appends, the other waits for the lock and finds nothing new
    other = Sequencer(client.app.state.sessions, client.app.state.signing_key, SOURCES)
    rounds = await asyncio.gather(sequencer.run_once(), other.run_once())
    assert sorted(r.leaves for r in rounds) == [0, 2] and sum(r.head is not None for r in rounds) == 1
    (first,) = [r for r in rounds if r.head is not None]
    assert first.head is not None and first.head["tree_size"] == 2
    saved = await _json(client, "/api/v1/transparency/tree-heads/latest")  # a mirror keeps it
    assert saved == dict(first.head)

    bundle = await _json(client, f"/api/v1/results/{lid}/bundle")
    block = bundle["transparency"]
    assert block["status"] == "logged" and block["pending"] == [] and block["tree_head"] == saved
    assert [(e["index"], e["data"]["kind"]) for e in block["entries"]] == [(0, "audit_head"), (1, "document")]
    assert block["entries"][0]["data"]["audit_head"] == bundle["record"]["audit_head"]
    assert block["entries"][1]["data"]["sha256"] == digest
    report = verify_bundle(bundle, keys)
    assert report.verified and not report.unchecked, report.lines()
    assert report.lines()[-1] == "通过 / VERIFIED"
    for change in (
        lambda t: t["entries"][0]["data"].update(audit_head="e" * 64),
        lambda t: t["entries"][1]["inclusion_proof"].__setitem__(0, "0" * 64),
        lambda t: t["tree_head"].update(root_hash="0" * 64),
    ):
        tampered = json.loads(json.dumps(bundle))
        change(tampered["transparency"])
        assert [c.name for c in verify_bundle(tampered, keys).failures] == ["transparency"]

    # the Beijing day is over: its registry movements go in as one leaf
    second = await sequencer.run_once(now=utcnow() + timedelta(days=1))
    assert second.leaves == 1 and second.head is not None and second.head["tree_size"] == 3
    # a head signed long after the close beside a block that calls the close pending: withheld
    bundle = await _json(client, f"/api/v1/results/{lid}/bundle")
    assert bundle["record"]["log"]["interval_ms"] == round(sequencer.interval_seconds * 1000)
    bundle["transparency"].update(
        status="partial", entries=bundle["transparency"]["entries"][1:], pending=[{"kind": "audit_head"}]
    )
    report = verify_bundle(bundle, keys)
    assert [c.name for c in report.failures] == ["transparency"], report.lines()
    assert "the audit head: due from" in report.failures[0].detail
    entry = await _json(client, "/api/v1/transparency/entries/2")
    assert entry["kind"] == "registry_day" and entry["data"]["movements"] >= 2 and entry["tree_size"] == 3
    merkle.verify_inclusion(
        bytes.fromhex(entry["leaf_hash"]),
        2,
        3,
        [bytes.fromhex(p) for p in entry["inclusion_proof"]],
        bytes.fromhex(second.head["root_hash"]),
    )
    older = await _json(client, "/api/v1/transparency/entries/0?tree_size=2")
    assert older["data"]["listing_id"] == lid and older["tree_size"] == 2
    assert (await sequencer.run_once()).head is None  # nothing new, and no head due yet

    newer = await _json(client, "/api/v1/transparency/tree-heads/latest")
    assert await _json(client, "/api/v1/transparency/tree-heads/2") == saved
    proof = await _json(client, "/api/v1/transparency/consistency?first=2&second=3")
    assert verify_consistency_of(saved, newer, proof, keys).verified
    for path, status, code in (
        ("/api/v1/transparency/consistency?first=3&second=2", 422, "proof_unavailable"),
        ("/api/v1/transparency/consistency?first=2&second=9", 422, "proof_unavailable"),
        ("/api/v1/transparency/entries/2?tree_size=2", 422, "proof_unavailable"),
        ("/api/v1/transparency/entries/9", 404, "not_found"),
        ("/api/v1/transparency/tree-heads/9", 404, "not_found"),
    ):
        assert (await _json(client, path, status))["code"] == code, path

    # someone with the database rewrites the close's leaf: the sequencer refuses to sign over it
    forged = audit_head_leaf(lid, "e" * 64, utcnow())
    async with unit_of_work(client.app.state.sessions) as session:
        await session.execute(
            text("UPDATE transparency_entries SET data = :data, leaf_hash = :hash WHERE leaf_index = 0"),
            {"data": forged.encoded().decode(), "hash": forged.hash().hex()},
        )
    await _document(client, lid + 1_000_000)
    with pytest.raises(LogRewritten):
        await sequencer.run_once()
    # and a log that hides its old heads and signs anyway: the mirror's saved head shows the rewrite
    async with unit_of_work(client.app.state.sessions) as session:
        await session.execute(text("DELETE FROM transparency_tree_heads"))
    resigned = await sequencer.run_once()
    assert resigned.head is not None and resigned.head["tree_size"] == 4
    proof = await _json(client, "/api/v1/transparency/consistency?first=2&second=4")
    report = verify_consistency_of(saved, dict(resigned.head), proof, keys)
    assert [c.name for c in report.failures] == ["consistency"], report.lines()
    report = verify_bundle(await _json(client, f"/api/v1/results/{lid}/bundle"), keys)
    assert [c.name for c in report.failures] == ["transparency"], report.lines()
    assert "not the record's" in report.failures[0].detail


async def test_heads_at_each_interval_late_movements_and_private_documents(client: Client) -> None:
    sequencer: Sequencer = client.app.state.transparency_sequencer
    interval = timedelta(seconds=sequencer.interval_seconds)
    stamped = utcnow()
    day = stamped.astimezone(BEIJING).date().isoformat()
    await issued(client, None, 1000)
    first = await sequencer.run_once(now=stamped + timedelta(days=1))  # the day is over: logged
    assert first.leaves == 1 and first.head is not None
    # a movement stamped on that day whose transaction commits after the day was logged
    with fixed(stamped + timedelta(seconds=1)):
        await issued(client, None, 777)
    later = stamped + timedelta(days=1, seconds=1)
    late = await sequencer.run_once(now=later)
    assert late.leaves == 1 and late.head is not None and late.head["tree_size"] == 2
    entry = await _json(client, "/api/v1/transparency/entries/1")
    assert entry["subject"] == f"{day}#2" and entry["data"]["date"] == day and entry["data"]["movements"] >= 1

    # nothing new (the late movement is covered, once): no head until the next is due, then a
    # fresh head all the same, so a mirror sees the log alive
    quiet = await sequencer.run_once(now=later + interval / 4)
    assert quiet.leaves == 0 and quiet.head is None
    alive = await sequencer.run_once(now=later + interval)
    assert alive.head is not None and alive.head["tree_size"] == 2
    assert alive.head["timestamp"] > late.head["timestamp"]
    assert await _json(client, "/api/v1/transparency/tree-heads/2") == dict(alive.head)

    # a private document: only its digest, under its digest; and a clock behind the last head's
    digest = await _document(client, 1, public=False)
    behind = await sequencer.run_once(now=stamped)
    assert behind.head is not None and behind.head["tree_size"] == 3
    assert behind.head["timestamp"] > alive.head["timestamp"]  # never backwards
    entry = await _json(client, "/api/v1/transparency/entries/2")
    assert entry["subject"] == digest and entry["data"] == {"kind": "document", "sha256": digest}
