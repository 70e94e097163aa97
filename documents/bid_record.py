"""竞价记录: the bid record of a finished auction, every accepted bid with the winners named.

Bids signed by their bidders (``auctions.bid_signatures``) are listed with their signatures and
the bidders' public keys, so the record alone lets anyone check that each bidder made its bids:
a bidder cannot deny one, and the exchange cannot invent one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.models import Auction, BidRow
from documents import data
from documents.drafts import Draft, document_number, listing_info, quantity, winner_lines
from documents.results import is_opt_in, outcome_of, winner_names
from exchange.identity.models import BidderKey
from listings.models import Listing


@dataclass(frozen=True, slots=True)
class BidSignatureLine:
    """A signed bid's signature, by the bid's 序号 in the record (among the lottery entries for
    an acceptance of the cap price, ``entry``)."""

    seq: int
    bid_number: str
    idempotency_key: str
    kid: str
    algorithm: str
    value: str
    last_seq: int
    nonce_sha256: str | None = None
    """SHA-256 (hex) of the bid's nonce, as signed; None: the bid had none."""
    entry: bool = False
    """An acceptance of the cap price (a lottery entry), numbered with the entries."""


@dataclass(frozen=True, slots=True)
class SignedKey:
    kid: str
    algorithm: str
    public_key: str
    """SubjectPublicKeyInfo, DER, base64."""
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    """When the key was revoked, if it was: a bid accepted after it would show."""


@dataclass(frozen=True, slots=True)
class SignedBidRecord(data.BidRecord):
    """The bid record with its bids' signatures and the keys that made them."""

    signatures: tuple[BidSignatureLine, ...] = ()
    keys: tuple[SignedKey, ...] = ()


ALGORITHM_NAMES = {"ES256": "椭圆曲线数字签名（P-256，SHA-256）", "Ed25519": "Ed25519"}


def _lines(bids: Iterable[BidRow], *, entry: bool) -> list[BidSignatureLine]:
    return [
        BidSignatureLine(
            seq=number,
            bid_number=b.bid_number,
            idempotency_key=b.idempotency_key,
            kid=str(b.signature["kid"]),
            algorithm=ALGORITHM_NAMES.get(str(b.signature["algorithm"]), str(b.signature["algorithm"])),
            value=str(b.signature["value"]),
            last_seq=int(b.signature["last_seq"]),
            nonce_sha256=str(digest) if (digest := b.signature.get("nonce_sha256")) is not None else None,
            entry=entry,
        )
        for number, b in enumerate(bids, 1)
        if b.signature is not None
    ]


async def _signatures(
    session: AsyncSession, bids: list[BidRow], entries: list[BidRow]
) -> tuple[tuple[BidSignatureLine, ...], tuple[SignedKey, ...]]:
    lines = (*_lines(bids, entry=False), *_lines(entries, entry=True))
    if not lines:
        return (), ()
    query = select(BidderKey).where(BidderKey.kid.in_({line.kid for line in lines})).order_by(BidderKey.kid)
    keys = tuple(
        SignedKey(
            k.kid, ALGORITHM_NAMES.get(k.algorithm, k.algorithm), k.public_key, k.created_at, k.revoked_at
        )
        for k in (await session.execute(query)).scalars()
    )
    return lines, keys


def key(listing_id: int) -> str:
    return f"bid_record:{listing_id}"


async def draft(session: AsyncSession, listing: Listing, auction: Auction) -> Draft:
    outcome = outcome_of(listing, auction)
    rows = list(
        (await session.execute(select(BidRow).where(BidRow.listing_id == listing.id).order_by(BidRow.seq)))
        .scalars()
        .all()
    )
    # 序号 counts the bids from 1 (BidRow.seq numbers the auction's events, the opening first);
    # acceptances of the cap price are lottery entries, listed apart and not counted (bid_count).
    bids = [b for b in rows if not is_opt_in(b)]
    entries = [b for b in rows if is_opt_in(b)]
    signatures, keys = await _signatures(session, bids, entries)
    record = SignedBidRecord(
        listing=listing_info(listing),
        opened_at=auction.opened_at,
        closed_at=auction.closed_at or listing.bidding_closes_at,
        outcome=outcome.status,
        bids=tuple(
            data.BidLine(
                seq=number,
                at=b.accepted_at,
                bid_number=b.bid_number,
                amount=b.amount,
                quantity=quantity(listing.asset_class, b.quantity),
            )
            for number, b in enumerate(bids, 1)
        ),
        winners=winner_lines(listing, outcome, await winner_names(session, listing.id)),
        opt_ins=tuple(
            data.BidLine(seq=number, at=b.accepted_at, bid_number=b.bid_number, amount=b.amount)
            for number, b in enumerate(entries, 1)
        ),
        signatures=signatures,
        keys=keys,
    )
    number = document_number(record.listing, "bid_record")
    return Draft(key(listing.id), "bid_record", "竞价记录", record, number=number)
