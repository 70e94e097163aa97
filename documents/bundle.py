"""The verifiable bundle of a published result (``GET /api/v1/results/{id}/bundle``).

A bundle is ``{"format", "record", "signature", "key"}``: the record holds everything needed to
check the result offline (``exchange verify``, ``exchange/verifier.py``): the mechanism's
parameters, the reserve opened with its salt and commitment, the seed's commitment, the bids in
the order they were accepted, the outcome as the mechanism decided it and the result as
published, the SHA-256 of every public document and the listing's audit head at the close. The
signature is the exchange's Ed25519 over ``canonical_json(record)`` (``exchange.signing``); ``key``
describes the public key that made it, as ``GET /api/v1/keys`` publishes it.

Beside the record, ``transparency`` carries what the transparency log (``exchange.transparency``)
says of it: the latest signed tree head and, for the record's audit head and each of its documents,
the leaf's data, its index and its inclusion proof against that head; what the sequencer has not
logged yet is listed as ``pending``. It is outside the signed record: the tree head is signed on
its own and the proofs prove themselves against it. Since anyone can change or drop that block,
the signed record says (``log``) when the close committed and the log's interval: the verifier
fails a block that calls a leaf pending beside a head signed well after the leaf was due.

The record is built afresh on every request, from the rows the result page reads and the audit
log that ``exchange audit replay`` reads (``auctions.audit_replay.replay_inputs``), so it grows
with the documents issued after the close and says ``annulled`` once a sale is annulled. Its shape
is in ``docs/verification.md``; ``documents.bundle_record`` writes and reads the replay part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.audit_replay import replay_inputs
from auctions.controllers import published_signatures
from auctions.mechanisms import Outcome, outcome_to_json
from auctions.models import Auction, BidRow
from documents.bundle_record import (
    FORMAT,
    PublishedBid,
    RecordError,
    instant,
    nonce_is_published,
    parameters_json,
    replay_json,
)
from documents.models import Document
from documents.results import OPT_IN_PHASE, finished, reserve_reveal, result_of
from exchange.errors import Conflict, NotFound
from exchange.signing import SigningKey, sign
from exchange.transparency import log
from exchange.transparency.leaves import Kind
from exchange.transparency.models import SignedHead
from listings.models import Listing


async def bundle_of(session: AsyncSession, listing_id: int, key: SigningKey) -> dict[str, Any]:
    """The signed bundle of a published result: 404 ``not_found`` as the result itself, 409
    ``result_not_verifiable`` for a result without the inputs a replay needs."""
    listing, auction = await finished(session, listing_id)
    # read once: the record lists these documents and the log's block proves these same ones, so
    # a document issued while the bundle is built is in neither, never in one only
    documents = await _document_rows(session, listing.id)
    head = await log.latest_head(session)
    record = await record_of(session, listing, auction, documents, head)
    return {
        "format": FORMAT,
        "record": record,
        "signature": dict(sign(key, record)),
        "key": dict(key.public.description()),
        "transparency": await transparency_of(session, listing.id, [d.key for d in documents], head),
    }


async def transparency_of(
    session: AsyncSession, listing_id: int, document_keys: Sequence[str], head: SignedHead | None
) -> dict[str, Any]:
    """The log's word on the result: ``status`` ``logged`` (every leaf proven against
    ``tree_head``), ``partial`` or ``pending`` (some or all not logged yet: ``pending`` names them).

    The leaves are the close's audit head, then the record's documents (``document_keys``) in the
    record's order.
    """
    wanted: list[tuple[Kind, str]] = [
        ("audit_head", str(listing_id)),
        *(("document", k) for k in document_keys),
    ]
    found = {
        ("audit_head", s): e for s, e in (await log.logged(session, "audit_head", [str(listing_id)])).items()
    }
    found.update(
        {("document", s): e for s, e in (await log.logged(session, "document", list(document_keys))).items()}
    )
    size = head.tree_size if head is not None else 0
    proven = [found[w] for w in wanted if w in found and found[w].leaf_index < size]
    pending = [
        {"kind": kind, "subject": s}
        for kind, s in wanted
        if (kind, s) not in found or found[(kind, s)].leaf_index >= size
    ]
    entries = []
    if head is not None and proven:
        for inclusion in await log.inclusions(session, proven, size):
            shown = inclusion.json()
            entries.append({name: shown[name] for name in ("index", "data", "inclusion_proof")})
    return {
        "status": "pending" if not entries else "partial" if pending else "logged",
        "tree_head": dict(log.head_json(head)) if head is not None else None,
        "entries": entries,
        "pending": pending,
    }


def _not_verifiable(why: str) -> Conflict:
    return Conflict(f"this result cannot be verified offline: {why}", code="result_not_verifiable")


async def record_of(
    session: AsyncSession,
    listing: Listing,
    auction: Auction,
    documents: Sequence[DocumentRow],
    head: SignedHead | None,
) -> dict[str, Any]:
    outcome = auction.decoded_outcome
    if outcome is None:
        raise _not_verifiable("the auction recorded no outcome")
    reveal = reserve_reveal(listing)
    if reveal is None:
        raise _not_verifiable("its bidding opened before reserves were committed")
    try:
        inputs = await replay_inputs(session, listing, auction)
    except NotFound:  # an auction opened before its opening was audited
        raise _not_verifiable("its audit log has no opening to replay from") from None
    rows = (
        await session.execute(
            select(BidRow.seq, BidRow.phase).where(BidRow.listing_id == listing.id).order_by(BidRow.seq)
        )
    ).all()
    published = [
        PublishedBid(seq, "lottery_entry" if phase == OPT_IN_PHASE else "bid") for seq, phase in rows
    ]
    try:
        replay = replay_json(
            inputs.qualified,
            inputs.steps,
            published,
            lambda bid: nonce_is_published(inputs.params, outcome, bid),
        )
    except RecordError as error:  # the audit log and the bid rows disagree: `exchange audit verify`
        raise _not_verifiable(str(error)) from None
    result = await result_of(session, listing, auction)
    return {
        "listing": {
            "id": listing.id,
            "title": listing.title,
            "asset_class": listing.asset_class,
            "method": listing.method,
            "region": listing.region,
        },
        "parameters": parameters_json(inputs.params),
        "reserve": {
            "price": reveal.reserve_price,
            "salt": reveal.salt,
            "commitment": reveal.commitment,
        },
        "seed_commitment": listing.seed_commitment,
        **replay,
        "outcome": _outcome_json(outcome),
        "result": {
            "outcome": result.outcome,
            "reason": result.reason,
            "price": result.price,
            "winners": result.winners,
            "bids": result.bids,
            "annulled": result.annulled,
            "annulled_reason": result.annulled_reason,
        },
        "documents": [d.json() for d in documents],
        "audit_head": result.audit_head,
        "bid_signatures": await _bid_signatures(session, listing, auction),
        "log": {
            # when the close committed, and the log's interval: a head signed more than two
            # intervals after it must prove the audit head (exchange.verifier, docs/verification.md)
            "close_committed_at": instant(
                auction.close_committed_at or auction.closed_at or auction.opened_at
            ),
            # whole milliseconds: canonical JSON has no floats
            "interval_ms": round(head.interval_seconds * 1000) if head is not None else None,
        },
    }


async def _bid_signatures(session: AsyncSession, listing: Listing, auction: Auction) -> dict[str, Any]:
    """The listing's policy, the signatures of its signed bids (by ``seq``, with what the bidder
    signed besides the bid: its idempotency key, its ``last_seq``, its nonce's digest) and the keys
    that made them, as the bid history publishes them after the close (``published_signatures``)."""
    rows = (await session.execute(select(BidRow).where(BidRow.listing_id == listing.id))).scalars().all()
    published = await published_signatures(session, auction, rows)
    signatures, keys = [], {}
    for row in sorted(rows, key=lambda r: r.seq):
        signed = published.get(row.id)
        if signed is None:
            continue
        signatures.append(
            {
                "seq": row.seq,
                "kid": signed.kid,
                "algorithm": signed.algorithm,
                "value": signed.value,
                "last_seq": signed.last_seq,
                "nonce_sha256": signed.nonce_sha256,
                "idempotency_key": row.idempotency_key,
            }
        )
        keys[signed.kid] = {
            "kid": signed.kid,
            "algorithm": signed.algorithm,
            "public_key": signed.public_key,
            "created_at": instant(signed.key_created_at),
            "revoked_at": instant(signed.key_revoked_at) if signed.key_revoked_at is not None else None,
        }
    return {"policy": listing.bid_signatures, "signatures": signatures, "keys": list(keys.values())}


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    data = outcome_to_json(outcome)
    assert isinstance(data, dict)
    return data


@dataclass(frozen=True)
class DocumentRow:
    """A public document of the listing as the record lists it, with its key in the log."""

    key: str
    id: int
    kind: str
    number: str | None
    sha256: str
    created_at: datetime

    def json(self) -> dict[str, Any]:
        """As the result lists it, with the name the download gives its file (``documents.controllers``)."""
        return {
            "kind": self.kind,
            "number": self.number,
            "file": f"{self.kind}-{self.id}.pdf",
            "url": f"/api/v1/documents/{self.id}",
            "sha256": self.sha256,
            "issued_at": instant(self.created_at),
        }


async def _document_rows(session: AsyncSession, listing_id: int) -> list[DocumentRow]:
    """Every public document of the listing issued so far, in the order they were issued."""
    query = (
        select(
            Document.key, Document.id, Document.kind, Document.number, Document.sha256, Document.created_at
        )
        .where(Document.listing_id == listing_id, Document.public.is_(True))
        .order_by(Document.id)
    )
    return [DocumentRow(*row) for row in (await session.execute(query)).all()]
