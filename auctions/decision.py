"""One decision for every bid: what the auction row, the terms, the key's earlier bid and the instant say.

A bid is decided here and nowhere else. The two bid stores
(``auctions.store_pg``, asyncpg, PostgreSQL's usual bid; ``auctions.store_orm``,
SQLAlchemy, SQLite and every other case) lock the auction row, hand what they
read to ``decide`` and carry out its answer; the order of the checks is this
module's, so both stores answer every bid alike (``tests/integration/test_bid_stores.py``
runs generated scripts through both and compares every answer, row and audit
entry). The order, first to last:

1. the caller's account still stands behind its token (401 ``token_revoked``);
2. the listing has an auction (404);
3. an earlier bid under the same Idempotency-Key: the same body is replayed
   (200, also after the close), another body is 409 ``idempotency_conflict``;
4. the auction is open (409 ``auction_not_open``);
5. the caller is qualified (403 ``not_qualified``);
6. the mechanism's own rules (``Mechanism.accept``), deadlines due at ``now``
   included.

No I/O and no clock: ``now`` is the instant the store took after the lock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from auctions.mechanisms import AuctionState, Bid, Event, Params, Rejection, mechanism_for
from auctions.mechanisms.codec import to_json
from exchange.errors import ExchangeError
from exchange.identity.standing import Standing, check_standing
from exchange.identity.tokens import Principal, TokenError
from exchange.money import format_yuan

REJECTION_STATUS: Final = {
    "auction_not_open": 409,
    "already_leading": 409,
    "already_bid": 409,
    "not_qualified": 403,
    "bid_below_minimum": 422,
    "bid_not_on_increment": 422,
    "bid_above_cap": 422,
    "quantity_invalid": 422,
    "price_mismatch": 422,
    "nonce_required": 422,
    "guarantee_exceeded": 422,
}
"""The contract's status of each of the mechanisms' rejection codes."""

PRICE_KEYS: Final = ("current_price", "next_min_bid")


@dataclass(frozen=True, slots=True)
class Attempt:
    """A bid as it arrived: who, how much, under which key."""

    listing_id: int
    bidder: Principal
    amount: int
    quantity: int | None
    key: str
    nonce: str | None = None
    """The bidder's sealed entropy for a draw (``auctions.mechanisms.draw``)."""

    @property
    def digest(self) -> str:
        """What a replay must match: the body, not the key."""
        return body_digest(self.amount, self.quantity, self.nonce)


def body_digest(amount: int, quantity: int | None, nonce: str | None = None) -> str:
    body = f"{amount}:{quantity}" if nonce is None else f"{amount}:{quantity}:{nonce}"
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Locked:
    """What a store read of the auction under its row lock, with the listing's terms."""

    status: str
    phase: str
    state: AuctionState
    ends_at: datetime | None
    last_seq: int
    bid_number: str | None
    """The caller's bid number if its application is qualified."""
    params: Params
    asset_class: str


@dataclass(frozen=True, slots=True)
class Prior:
    """The bid stored earlier under this bidder and Idempotency-Key."""

    bid_id: int
    seq: int
    amount: int
    quantity: int | None
    accepted_at: datetime
    body_sha256: str
    phase: str
    """The phase the bid was taken in: a replayed acceptance of the cap answers as it did."""


class Unread:
    """The store has not read the key's earlier bid (``store_pg`` reads it only when it matters)."""


UNREAD: Final = Unread()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as both stores write it: numbered, JSON data, the rule's instant."""

    seq: int
    kind: str
    data: dict[str, Any]
    public: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class Accept:
    state: AuctionState
    events: tuple[StoredEvent, ...]
    bid_seq: int
    """The event that carries the bid (a lottery opt-in or a dutch accept has no ``bid`` event)."""
    phase: str
    """The phase the bid was taken in."""
    last_seq: int
    now: datetime

    @property
    def ends_auction(self) -> bool:
        return self.state.outcome is not None


@dataclass(frozen=True, slots=True)
class Replay:
    prior: Prior


@dataclass(frozen=True, slots=True)
class Refuse:
    error: ExchangeError


class NeedPrior:
    """The answer depends on the key's earlier bid: read it, then decide again."""


NEED_PRIOR: Final = NeedPrior()

Decision = Accept | Replay | Refuse | NeedPrior


def decide(
    standing: Standing | None,
    locked: Locked | None,
    attempt: Attempt,
    prior: Prior | Unread | None,
    now: datetime,
) -> Decision:
    """The answer to ``attempt`` (module docstring: the order of the checks).

    With ``prior`` unread, an acceptance stands only if the key was not used
    before: the store's write must refuse a used key (a unique constraint),
    read the earlier bid and decide again.
    """
    try:
        check_standing(attempt.bidder, standing)
    except TokenError as exc:
        return Refuse(ExchangeError(exc.message, code=exc.code, status=401))
    if locked is None:
        return Refuse(
            ExchangeError(
                "no auction for this listing (bidding has not opened)", code="not_found", status=404
            )
        )
    if isinstance(prior, Prior):
        if prior.body_sha256 != attempt.digest:
            return Refuse(
                ExchangeError(
                    "this Idempotency-Key was used with another body", code="idempotency_conflict", status=409
                )
            )
        return Replay(prior)
    decision = _judge(locked, attempt, now)
    if isinstance(decision, Refuse) and isinstance(prior, Unread):
        return NEED_PRIOR
    return decision


def _judge(locked: Locked, attempt: Attempt, now: datetime) -> Accept | Refuse:
    params = locked.params
    if locked.status != "open":
        return Refuse(not_open(locked.status))
    if not locked.bid_number:
        return Refuse(
            ExchangeError("only qualified bidders of this listing may bid", code="not_qualified", status=403)
        )
    mechanism = mechanism_for(params.method)
    bid = Bid(locked.bid_number, attempt.amount, attempt.quantity, attempt.nonce)
    result = mechanism.accept(params, locked.state, bid, now)
    if isinstance(result, Rejection):
        return Refuse(rejected(result, params, locked.state, now))
    events = numbered(result.events, locked.last_seq)
    # a lottery opt-in or a dutch accept that ended the clock carries no bid event
    carrier = next((e for e in events if e.kind == "bid"), events[-1])
    phase = str(carrier.data.get("phase", locked.phase))
    return Accept(result.state, events, carrier.seq, phase, events[-1].seq, now)


def audit_payload(attempt: Attempt, locked: Locked, accept: Accept) -> dict[str, Any]:
    """The ``bid.accepted`` audit entry, from which ``exchange audit replay`` repeats the bid.

    The nonce is in it (staff may read the log; the public and the other bidders may not):
    a replay needs it to redo a draw.
    """
    payload: dict[str, Any] = {
        "seq": accept.bid_seq,
        "bid_number": locked.bid_number,
        "amount": attempt.amount,
        "quantity": attempt.quantity,
        "at": accept.now.isoformat(),
    }
    if attempt.nonce is not None:
        payload["nonce"] = attempt.nonce
    return payload


def numbered(events: Iterable[Event], last_seq: int) -> tuple[StoredEvent, ...]:
    """Events as stored: the auction's next gapless sequence numbers, data as JSON."""
    return tuple(
        StoredEvent(last_seq + i, e.kind, to_json(e.data), e.public, e.at) for i, e in enumerate(events, 1)
    )


def not_open(status: str) -> ExchangeError:
    return ExchangeError(f"the auction is {status}", code="auction_not_open", status=409)


def rejected(rejection: Rejection, params: Params, state: AuctionState, now: datetime) -> ExchangeError:
    """A mechanism's rejection as the API's error. An open auction that shows its price
    (not a sealed one) says the price to beat, as ``GET /auctions/{id}`` would: a bidder's
    software needs no second request to try again."""
    error = ExchangeError(
        rejection.detail, code=rejection.code, status=REJECTION_STATUS.get(rejection.code, 422)
    )
    mechanism = mechanism_for(params.method)
    if not mechanism.sealed:
        view = mechanism.view(params, state, now)
        error.extra = {key: format_yuan(v) for key in PRICE_KEYS if isinstance(v := view.get(key), int)}
    return error


def sealed_receipt(params: Params, seq: int, phase: str) -> int | None:
    """The id a sealed quote or an acceptance of the cap price (``phase`` ``lottery``) is
    acknowledged with, or ``None`` for an open auction's bid.

    A bid's row id counts every bid of every auction and its ``seq`` every event of
    this one, so either would tell a sealed bidder how many quotes came before its
    own, and an acceptor how many accepted before it. The receipt is a keyed hash of
    the bid's ``seq`` under the listing's secret seed (revealed only with the
    result): the same for every replay, on either store, and meaningless to anyone else.
    """
    if not mechanism_for(params.method).sealed and phase != "lottery":
        return None
    digest = hmac.new(params.seed or b"", f"bid:{seq}".encode(), hashlib.sha256).hexdigest()
    return int(digest[:13], 16) + 1  # 52 bits: JavaScript reads it exactly
