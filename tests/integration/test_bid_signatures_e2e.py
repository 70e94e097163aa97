"""Bids signed by their bidders, end to end over HTTP on PostgreSQL and SQLite (issue 20, item 2).

A listing that requires signatures; two bidders register keys (ES256 as WebCrypto exports it,
Ed25519 as a JWK). An unsigned bid, a tampered amount, a revoked key, another bidder's key and
an unknown kid each get 422 ``signature_invalid`` naming the problem, and the auction is as it
was; a good signature counts, on either algorithm. After the close the bids carry their
signatures and keys, and those verify offline with ``verify_bid_signature``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
from datetime import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import select

from auctions.bid_signatures import bid_message, nonce_digest, verify_bid_signature
from auctions.models import Auction
from documents import bid_record
from exchange.audit.chain import verify_stream
from exchange.audit.models import AuditEntry
from exchange.identity import keys as key_rows
from exchange.verifier import verify_bundle
from listings.models import Listing
from tests.support.api import Client, staff
from tests.support.auctions import auction_view
from tests.support.flow import open_registration, qualified_bidder, start_bidding, wait_status

pytestmark = pytest.mark.databases()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Holder:
    """A bidder with its token, its bid number and one private key."""

    def __init__(self, headers: dict[str, str], number: str, algorithm: str, listing: int) -> None:
        self.headers, self.number, self.algorithm, self.listing = headers, number, algorithm, listing
        self.private: Any = (
            ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256" else Ed25519PrivateKey.generate()
        )
        self.kid = ""

    def registration(self) -> dict[str, Any]:
        public = self.private.public_key()
        if self.algorithm == "ES256":  # WebCrypto's exportKey("spki"), base64
            der = public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return {
                "listing_id": self.listing,
                "public_key": base64.b64encode(der).decode(),
                "label": "浏览器",
            }
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "ext": True, "key_ops": ["verify"]}
        return {"listing_id": self.listing, "jwk": jwk, "label": "program"}

    def sign(self, message: bytes) -> str:
        if self.algorithm == "ES256":
            r, s = decode_dss_signature(self.private.sign(message, ec.ECDSA(hashes.SHA256())))
            return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return b64url(self.private.sign(message))


async def register(client: Client, holder: Holder) -> dict[str, Any]:
    response = await client.post("/api/v1/users/me/keys", json=holder.registration(), headers=holder.headers)
    assert response.status_code == 201, response.text
    holder.kid = response.json()["kid"]
    return dict(response.json())


def signed_body(
    holder: Holder,
    lid: int,
    amount: str,
    key: str,
    last_seq: int,
    *,
    signer: Holder | None = None,
    signs: str = "",
    quantity: str | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """A bid of ``amount`` signed by ``signer`` (default: the holder) over ``signs`` (default: the
    same amount) with the bidder's own number; ``quantity`` as the exchange writes it."""
    signer = signer or holder
    message = bid_message(
        listing_id=lid,
        bidder_number=holder.number,
        amount=signs or amount,
        quantity=quantity,
        idempotency_key=key,
        last_seq=last_seq,
        nonce_sha256=nonce_digest(nonce),
    )
    signature = {"kid": signer.kid, "algorithm": signer.algorithm, "value": signer.sign(message)}
    body: dict[str, Any] = {"amount": amount, "last_seq": last_seq, "signature": signature}
    if nonce is not None:
        body["nonce"] = nonce
    return body


async def post(client: Client, holder: Holder, lid: int, body: dict[str, Any], key: str) -> Any:
    return await client.post(
        f"/api/v1/auctions/{lid}/bids", json=body, headers={**holder.headers, "Idempotency-Key": key}
    )


async def test_signed_bids_over_http(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(
        client, operator, closes=600, bidding=601, bidding_closes=605, extension=2, bid_signatures="required"
    )
    lid = int(listing["id"])
    assert (await client.get(f"/api/v1/listings/{lid}")).json()["bid_signatures"] == "required"
    (alice_h, alice_app), (bob_h, bob_app) = [
        await qualified_bidder(client, operator, listing) for _ in range(2)
    ]
    alice = Holder(alice_h, alice_app["bid_number"], "ES256", lid)
    bob = Holder(bob_h, bob_app["bid_number"], "Ed25519", lid)
    alice_key, bob_key = await register(client, alice), await register(client, bob)
    assert alice_key["algorithm"] == "ES256" and bob_key["algorithm"] == "Ed25519"
    assert alice_key["listing_id"] == lid
    # a key for another listing: it signs no bid here (one key on two listings would link the
    # bid numbers once the keys are published)
    elsewhere = await open_registration(client, operator, closes=600, bidding=601, bidding_closes=605)
    other = Holder(alice.headers, alice.number, "Ed25519", int(elsewhere["id"]))
    await register(client, other)
    nowhere = await client.post(
        "/api/v1/users/me/keys",
        json=Holder(alice.headers, "", "ES256", 2**62).registration(),
        headers=alice.headers,
    )
    assert nowhere.status_code == 404, nowhere.text
    listed = await client.get(f"/api/v1/users/me/keys?listing_id={lid}", headers=alice.headers)
    assert [k["kid"] for k in listed.json()] == [alice.kid]

    # the same key twice, a bad key, another bidder's revocation: refused
    again = await client.post("/api/v1/users/me/keys", json=alice.registration(), headers=bob.headers)
    assert again.status_code == 409 and again.json()["code"] == "key_already_registered"
    bad = await client.post(
        "/api/v1/users/me/keys", json={"listing_id": lid, "public_key": "bm90IGEga2V5"}, headers=bob.headers
    )
    assert bad.status_code == 422 and bad.json()["code"] == "key_invalid"
    theirs = await client.delete(f"/api/v1/users/me/keys/{alice.kid}", headers=bob.headers)
    assert theirs.status_code == 404
    mine = await client.get("/api/v1/users/me/keys", headers=bob.headers)
    assert [k["kid"] for k in mine.json()] == [bob.kid]

    # alice's second key, revoked
    old = Holder(alice.headers, alice.number, "ES256", lid)
    await register(client, old)
    revoked = await client.delete(f"/api/v1/users/me/keys/{old.kid}", headers=alice.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None

    await start_bidding(client, operator, lid, closes_in=4, extension=2)
    await wait_status(client, lid, "bidding", timeout=30)
    before = await auction_view(client, lid)
    assert before["bid_signatures"] == "required"
    seq = int(before["last_seq"])

    stranger = Holder(alice.headers, alice.number, "Ed25519", lid)
    stranger.kid = "0" * 32
    refusals = {  # the body, under the Idempotency-Key its signature covers
        "bid_signature_missing": ({"amount": "1000000.00"}, "k0"),
        "bid_signature_mismatch": (
            signed_body(alice, lid, "1010000.00", "k1", seq, signs="1000000.00"),
            "k1",
        ),
        "bid_signature_key_revoked": (signed_body(alice, lid, "1000000.00", "k2", seq, signer=old), "k2"),
        "bid_signature_key_not_yours": (signed_body(alice, lid, "1000000.00", "k3", seq, signer=bob), "k3"),
        "bid_signature_key_unknown": (
            signed_body(alice, lid, "1000000.00", "k4", seq, signer=stranger),
            "k4",
        ),
        "bid_signature_key_other_listing": (
            signed_body(alice, lid, "1000000.00", "k5", seq, signer=other),
            "k5",
        ),
        # the nonce is signed (as its SHA-256): one swapped in after signing does not verify
        "bid_signature_mismatch ": (
            {**signed_body(alice, lid, "1000000.00", "k6", seq, nonce="n" * 32), "nonce": "m" * 32},
            "k6",
        ),
    }
    for code, (body, key) in refusals.items():
        refused = await post(client, alice, lid, body, key)
        assert refused.status_code == 422, (code, refused.text)
        problem = refused.json()
        assert problem["code"] == "signature_invalid" and problem["errors"][0]["code"] == code.strip(), (
            problem
        )
        assert "未被计入" in problem["detail"]
    # bob's second key is revoked after the intake verified a bid it signed, before the bid takes
    # the lock: the store, under the lock, refuses it (PostgreSQL: WRITE's NOT EXISTS, then the
    # general store; SQLite: the general store)
    racer = Holder(bob.headers, bob.number, "ES256", lid)
    await register(client, racer)
    intake = client.app.state.bid_intake
    verified = intake._verified

    async def verified_then_revoked(*args: Any, **kwargs: Any) -> Any:
        signed = await verified(*args, **kwargs)
        async with client.app.state.sessions() as session:  # the bidder (args[0]) revokes it now
            gone = await key_rows.revoke_key(session, args[0], racer.kid)
        assert gone.revoked_at is not None
        return signed

    intake._verified = verified_then_revoked
    try:
        raced = await post(
            client, bob, lid, signed_body(bob, lid, "1000000.00", "r-1", seq, signer=racer), "r-1"
        )
    finally:
        intake._verified = verified
    assert raced.status_code == 422 and raced.json()["errors"][0]["code"] == "bid_signature_key_revoked", (
        raced.text
    )

    after = await auction_view(client, lid)
    assert (after["bid_count"], after["last_seq"], after["current_price"]) == (
        before["bid_count"],
        before["last_seq"],
        before["current_price"],
    )
    assert (await client.get(f"/api/v1/auctions/{lid}/bids")).json() == []

    good = signed_body(alice, lid, "1000000.00", "a-1", seq, nonce="9f86d081884c7d659a2feaa0c55ad015")
    accepted = await post(client, alice, lid, good, "a-1")
    assert accepted.status_code == 201, accepted.text
    replay = await post(client, alice, lid, good, "a-1")
    assert replay.status_code == 200 and replay.json()["bid_id"] == accepted.json()["bid_id"]
    # alice revokes her key; the answer to her bid was lost and her program retries it: the bid
    # counted, and the replay says so (200, the same bid); a new bid of a revoked key is refused (k2)
    revoked_alice = await client.delete(f"/api/v1/users/me/keys/{alice.kid}", headers=alice.headers)
    assert revoked_alice.status_code == 200
    replay = await post(client, alice, lid, good, "a-1")
    assert replay.status_code == 200 and replay.json()["bid_id"] == accepted.json()["bid_id"], replay.text
    view = await auction_view(client, lid)
    accepted = await post(
        client, bob, lid, signed_body(bob, lid, "1010000.00", "b-1", view["last_seq"]), "b-1"
    )
    assert accepted.status_code == 201, accepted.text
    # while bidding runs, the history shows no signature (its last_seq and key would name the bidder)
    running = (await client.get(f"/api/v1/auctions/{lid}/bids")).json()
    assert [b.get("signature") for b in running] == [None, None]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (await auction_view(client, lid))["status"] == "open":
        assert loop.time() < deadline, "the auction never closed"
        await asyncio.sleep(0.1)
    published = (await client.get(f"/api/v1/auctions/{lid}/bids")).json()
    assert [(b["bid_number"], b["signature"]["kid"]) for b in published] == [
        (alice.number, alice.kid),
        (bob.number, bob.kid),
    ]
    for published_bid in published:
        block = published_bid["signature"]
        verify_bid_signature(
            algorithm=block["algorithm"],
            public_key=block["public_key"],
            signature={k: block[k] for k in ("kid", "algorithm", "value")},
            listing_id=lid,
            bidder_number=published_bid["bid_number"],
            amount=published_bid["amount"],
            quantity=published_bid["quantity"],
            idempotency_key=published_bid["idempotency_key"],
            last_seq=block["last_seq"],
            nonce_sha256=block["nonce_sha256"],
        )
    alice_block, bob_block = (b["signature"] for b in published)
    assert alice_block["nonce_sha256"] == nonce_digest("9f86d081884c7d659a2feaa0c55ad015")
    # the keys' dates are published: alice's was revoked after her bid, bob's never
    assert alice_block["key_revoked_at"] is not None and bob_block["key_revoked_at"] is None
    created, accepted_at, revoked_at = (
        datetime.fromisoformat(t)
        for t in (alice_block["key_created_at"], published[0]["accepted_at"], alice_block["key_revoked_at"])
    )
    assert created < accepted_at < revoked_at

    # the bid record (竞价记录) lists the same signatures and the keys that made them
    async with client.app.state.sessions() as session:
        record = (
            await bid_record.draft(
                session,
                await session.get(Listing, lid),
                await session.get(Auction, lid),
            )
        ).data
        # the bid.accepted entries hold the signatures, and the chain holds with them (on PostgreSQL
        # the asyncpg statement hashed them, on SQLite the ORM)
        report = await verify_stream(session, f"listing:{lid}")
        entries = (
            await session.execute(
                select(AuditEntry.payload).where(
                    AuditEntry.stream == f"listing:{lid}", AuditEntry.action == "bid.accepted"
                )
            )
        ).scalars()
        logged = [entry["signature"]["value"] for entry in entries]
    assert report.ok, report
    assert logged == [b["signature"]["value"] for b in published]
    assert isinstance(record, bid_record.SignedBidRecord)
    assert [(g.bid_number, g.kid, g.value) for g in record.signatures] == [
        (b["bid_number"], b["signature"]["kid"], b["signature"]["value"]) for b in published
    ]
    assert {k.kid: k.public_key for k in record.keys} == {
        b["signature"]["kid"]: b["signature"]["public_key"] for b in published
    }

    # the verifiable bundle carries them, and the offline verifier checks each over the bid as published
    bundle = (await client.get(f"/api/v1/results/{lid}/bundle")).json()
    check = next(c for c in verify_bundle(bundle).checks if c.name == "bid_signatures")
    assert check.passed is True, check
    forged = copy.deepcopy(bundle)
    signatures = forged["record"]["bid_signatures"]["signatures"]
    signatures[0]["value"] = signatures[1]["value"]
    assert verify_bundle(forged).failed("bid_signatures")


async def test_a_signed_bid_with_a_quantity(client: Client) -> None:
    """A uniform-price quote signed over its quantity as the exchange writes it: sent as
    ``"1.0000"``, signed as ``"1.000"`` (emission rights have three places)."""
    operator = await staff(client, "operator")
    listing = await open_registration(
        client,
        operator,
        closes=600,
        bidding=601,
        bidding_closes=605,
        extension=2,
        method="uniform_price",
        asset_class="emission_right",
        bid_signatures="required",
    )
    lid = int(listing["id"])
    headers, application = await qualified_bidder(client, operator, listing)
    carol = Holder(headers, application["bid_number"], "Ed25519", lid)
    await register(client, carol)
    await start_bidding(client, operator, lid, closes_in=30, extension=2)
    await wait_status(client, lid, "bidding", timeout=30)
    seq = int((await auction_view(client, lid))["last_seq"])
    body = signed_body(carol, lid, "1000000.00", "q-1", seq, quantity="1.000", nonce="c" * 32)
    wrong = signed_body(carol, lid, "1000000.00", "q-2", seq, quantity="1.500")
    refused = await post(client, carol, lid, {**wrong, "quantity": "1.0000"}, "q-2")
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "bid_signature_mismatch"
    accepted = await post(client, carol, lid, {**body, "quantity": "1.0000"}, "q-1")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["quantity"] == "1.000"


async def test_signed_acceptances_of_the_cap_are_in_the_bid_record(client: Client) -> None:
    """A lottery entry (an acceptance of the cap price) signed by its bidder is listed with the
    signatures of the bid record, numbered among the entries."""
    operator = await staff(client, "operator")
    cap = "1100000.00"
    listing = await open_registration(
        client,
        operator,
        closes=600,
        bidding=601,
        bidding_closes=605,
        extension=1,
        price_cap=cap,
        cap_rule="lottery",
        lottery_window_seconds=1,
        bid_signatures="required",
    )
    lid = int(listing["id"])
    (alice_h, alice_app), (bob_h, bob_app) = [
        await qualified_bidder(client, operator, listing) for _ in range(2)
    ]
    alice = Holder(alice_h, alice_app["bid_number"], "Ed25519", lid)
    bob = Holder(bob_h, bob_app["bid_number"], "ES256", lid)
    await register(client, alice)
    await register(client, bob)
    await start_bidding(client, operator, lid, closes_in=2, extension=1)
    await wait_status(client, lid, "bidding", timeout=30)
    seq = int((await auction_view(client, lid))["last_seq"])
    capped = await post(client, alice, lid, signed_body(alice, lid, cap, "c-1", seq, nonce="a" * 32), "c-1")
    assert capped.status_code == 201, capped.text
    entry = await post(client, bob, lid, signed_body(bob, lid, cap, "c-2", seq + 1, nonce="b" * 32), "c-2")
    assert entry.status_code == 201, entry.text
    await wait_status(client, lid, "closed", timeout=30)
    async with client.app.state.sessions() as session:
        record = (
            await bid_record.draft(session, await session.get(Listing, lid), await session.get(Auction, lid))
        ).data
    assert isinstance(record, bid_record.SignedBidRecord)
    assert [(g.bid_number, g.entry, g.kid) for g in record.signatures] == [
        (alice.number, False, alice.kid),
        (bob.number, True, bob.kid),
    ]
    assert {k.kid for k in record.keys} == {alice.kid, bob.kid}
