"""Recompute an auction's outcome from its audit log alone and compare it with the stored one.

The log holds the opening (who was qualified, with the terms each bid number bids
under: uniform price's groups and guarantees), every bidder admitted later (挂牌
with late registration) and every accepted bid with its instant, every resumption
with the length of its pause, and the close. Replaying them through the pure mechanism must give
the stored outcome: anyone with the log can check the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.mechanisms import (
    Bid,
    BidderTerms,
    Params,
    ReplayStep,
    outcome_from_json,
    outcome_to_json,
    replay,
)
from auctions.mechanisms.pause import paused_params
from auctions.models import Auction
from auctions.terms import params_of
from exchange.audit.models import AuditEntry
from exchange.errors import NotFound
from listings.models import Listing


@dataclass(frozen=True)
class ReplayReport:
    listing_id: int
    bids: int
    """The bids the replay counted (the mechanism's ``bid_count``): acceptances of the cap price are
    logged as ``bid.accepted`` but are lottery entries, not bids, as on the result page, in the CSV
    and the result announcement (``documents.results.bid_count``)."""
    stored: dict[str, Any] | None
    replayed: dict[str, Any] | None
    entries: int = 0
    """``bid.accepted`` entries replayed, lottery entries included."""

    @property
    def matches(self) -> bool:
        return self.stored == self.replayed


@dataclass(frozen=True)
class ReplayInputs:
    """What a replay starts from, read from the audit log: the offline bundle
    (``documents.bundle``) publishes the same, so both replay one sequence of steps."""

    params: Params
    """The listing's terms as they were at the opening (every pause moved them on later)."""
    qualified: frozenset[str]
    """The bid numbers qualified at the opening."""
    steps: tuple[ReplayStep, ...]
    """Bids, admissions and pauses in the order of the log, then the close's timer."""
    terms: dict[str, BidderTerms]
    entries: int
    """``bid.accepted`` entries, lottery entries included."""


REPLAYED_ACTIONS = ("auction.opened", "bid.accepted", "auction.admitted", "auction.resumed")
"""The entries a replay reads; a listing's stream also holds its applications, payments and documents."""


async def replay_inputs(session: AsyncSession, listing: Listing, auction: Auction) -> ReplayInputs:
    query = (
        select(AuditEntry)
        .where(AuditEntry.stream == listing.stream, AuditEntry.action.in_(REPLAYED_ACTIONS))
        .order_by(AuditEntry.seq)
    )
    entries = list((await session.execute(query)).scalars())
    opened = next((e for e in entries if e.action == "auction.opened"), None)
    if opened is None:
        raise NotFound(f"the audit log of listing {listing.id} has no opening")
    steps: list[ReplayStep] = []
    terms = {t["bidder"]: BidderTerms(**t) for t in opened.payload.get("terms", ())}
    entries_replayed = 0
    paused = timedelta(0)
    for entry in entries:
        p = entry.payload
        if entry.action == "bid.accepted":
            entries_replayed += 1
            steps.append(
                (
                    "bid",
                    Bid(p["bid_number"], p["amount"], p.get("quantity"), p.get("nonce")),
                    datetime.fromisoformat(p["at"]),
                )
            )
        elif entry.action == "auction.admitted":
            steps.append(("admit", p["bid_number"], datetime.fromisoformat(p["at"])))
            if "terms" in p:
                terms[p["bid_number"]] = BidderTerms(**p["terms"])
        elif entry.action == "auction.resumed":
            pause = timedelta(microseconds=p["pause_us"])
            paused += pause
            steps.append(("pause", pause))
    if auction.closed_at is not None:
        steps.append(("timer", auction.closed_at))
    # The listing's dates moved with every pause: the replay starts from the terms at the opening.
    at_opening = paused_params(params_of(listing), -paused)
    return ReplayInputs(
        at_opening, frozenset(opened.payload["qualified"]), tuple(steps), terms, entries_replayed
    )


async def replay_listing(session: AsyncSession, listing_id: int) -> ReplayReport:
    listing = await session.get(Listing, listing_id)
    auction = await session.get(Auction, listing_id)
    if listing is None or auction is None:
        raise NotFound(f"listing {listing_id} has no auction")
    inputs = await replay_inputs(session, listing, auction)
    state, outcome = replay(inputs.params, inputs.qualified, inputs.steps, inputs.terms)
    bids = outcome.bid_count if outcome is not None else state.bid_count
    replayed = outcome_to_json(outcome) if outcome is not None else None
    # read back through the current Outcome: an outcome stored before a field was added lacks it
    stored = outcome_to_json(outcome_from_json(auction.outcome)) if auction.outcome is not None else None
    return ReplayReport(listing_id, bids, stored, replayed, inputs.entries)
