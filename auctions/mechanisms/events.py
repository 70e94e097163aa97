"""Builders for events and outcomes shared by every mechanism."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from fractions import Fraction

from .codec import outcome_to_json
from .types import (
    AcceptedBid,
    AuctionState,
    DrawRecord,
    Event,
    EventKind,
    FailureReason,
    Outcome,
    Statistics,
    Step,
    Winner,
)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def phase_event(state: AuctionState, at: datetime) -> Event:
    return Event(
        "phase",
        at,
        {"phase": state.phase, "round": state.round, "ends_at": iso(state.ends_at)},
    )


def bid_event(bid: AcceptedBid, ends_at: datetime | None, *, public: bool = True) -> Event:
    return Event(
        "bid",
        bid.accepted_at,
        {
            "seq": bid.seq,
            "bidder": bid.bidder,
            "amount": bid.amount,
            "quantity": bid.quantity,
            "phase": bid.phase,
            "ends_at": iso(ends_at),
        },
        public=public,
    )


def extended_event(at: datetime, old: datetime, new: datetime) -> Event:
    return Event("extended", at, {"from": iso(old), "to": iso(new)})


def failed(state: AuctionState, reason: FailureReason, at: datetime) -> Outcome:
    return Outcome("failed", reason, at, bid_count=state.bid_count)


def sold(
    state: AuctionState,
    bidder: str,
    price: int,
    at: datetime,
    *,
    draw: DrawRecord | None = None,
    average_quote: Fraction | None = None,
) -> Outcome:
    return Outcome(
        "sold",
        None,
        at,
        price=price,
        winners=(Winner(bidder, price),),
        bid_count=state.bid_count,
        draw=draw,
        average_quote=average_quote,
    )


def multi_unit(
    state: AuctionState,
    at: datetime,
    winners: tuple[Winner, ...],
    statistics: Statistics,
    reason: FailureReason | None,
    draw: DrawRecord | None,
) -> Outcome:
    return Outcome(
        "failed" if reason is not None else "sold",
        reason,
        at,
        price=statistics.clearing_price if reason is None else None,
        winners=winners,
        bid_count=state.bid_count,
        statistics=statistics,
        draw=draw,
    )


def finish(state: AuctionState, outcome: Outcome) -> Step:
    ended = replace(state, phase="ended", ends_at=None, outcome=outcome)
    kind: EventKind = "closed" if outcome.status == "sold" else "failed"
    return Step(ended, (Event(kind, outcome.decided_at, {"outcome": outcome_to_json(outcome)}),))
