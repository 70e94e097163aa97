"""Plain data of the auction core: parameters, bids, state, events, outcomes.

Money is integer fen. Quantities are integers in the fixed scale the listing
chose (lots, thousandths of a tonne, ...); the core never multiplies a price
by a quantity, so it does not need to know the scale. Every datetime is
timezone-aware UTC. Everything here is immutable, so a state object can be
shared, compared and replayed without defensive copies. The words the rest of the
exchange shares (methods, phases, sold or failed) come from ``exchange.vocabulary``: plain
``Literal`` types, so the core still imports no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any, Final, Literal, TypeAlias

from exchange.vocabulary import AuctionPhase, AuctionResult, Method

EventKind: TypeAlias = Literal[
    "phase", "bid", "extended", "price", "opt_in", "closed", "failed", "suspended", "resumed", "cancelled"
]

RejectionCode: TypeAlias = Literal[
    "auction_not_open",
    "not_qualified",
    "already_leading",
    "bid_below_minimum",
    "bid_not_on_increment",
    "bid_above_cap",
    "quantity_invalid",
    "already_bid",
    "price_mismatch",
    "nonce_required",
    "guarantee_exceeded",
]
REJECTION_CODES: Final[tuple[RejectionCode, ...]] = (
    # from the public contract
    "auction_not_open",
    "not_qualified",
    "already_leading",
    "bid_below_minimum",
    "bid_not_on_increment",
    "bid_above_cap",
    "quantity_invalid",
    # added by the core: a second sealed quote or lottery opt-in by one bidder
    "already_bid",
    # added by the core: a dutch accept or lottery opt-in at another price
    "price_mismatch",
    # added by the core: an acceptance of the cap price without its sealed nonce (draw.py)
    "nonce_required",
    # added by the core: uniform-price bids worth more than the bidder's deposit covers
    "guarantee_exceeded",
)

FailureReason: TypeAlias = Literal[
    "too_few_bidders",
    "no_bids",
    "below_reserve",
    "undersubscribed",
    "no_acceptance",
    "no_lottery_entrants",
    "winner_disqualified",
]
FAILURE_REASONS: Final[tuple[FailureReason, ...]] = (
    "too_few_bidders",
    "no_bids",
    "below_reserve",
    "undersubscribed",
    "no_acceptance",
    "no_lottery_entrants",
    # no mechanism's: the winner failed its review after the close (资格后审, settlement.review)
    "winner_disqualified",
)

JSON: TypeAlias = Any
"""A value made only of dict, list, str, int, float, bool and None."""


@dataclass(frozen=True, slots=True)
class Params:
    """Everything a mechanism needs to know about one auction, fixed before it opens.

    `params_problems` (params.py) says which combinations are accepted.
    """

    method: Method
    opens_at: datetime
    """Scheduled opening (`bidding_opens_at`); the dutch clock counts from here."""
    closes_at: datetime
    """Scheduled close (`bidding_closes_at`): english/sealed/uniform end, listing close."""
    start_price: int
    """Fen. First valid bid; lowest sealed quote; dutch clock start."""
    increment: int
    """Fen, >= 1. Bid step; sealed price tick; dutch clock step."""
    reserve_price: int | None = None
    """Fen, hidden. Below it nothing sells (uniform: bids below it are ignored)."""
    price_cap: int | None = None
    """Fen. Highest valid bid; a bid equal to it ends money bidding."""
    cap_rule: Literal["lottery"] | None = None
    """With "lottery": after the cap, a draw among those who accept the cap price."""
    lottery_window_seconds: int = 0
    """How long qualified bidders may accept the cap price."""
    extension_seconds: int = 0
    """english countdown extension; listing timed window; dutch clock step length."""
    min_bidders: int = 1
    """Fewer qualified bidders at the opening fails the auction (mining: 3)."""
    freeze_seconds: int = 0
    """listing: no quotes taken during this last part of the listing period."""
    award_rule: Literal["highest", "closest_to_average"] = "highest"
    """sealed_bid only."""
    quantity: int | None = None
    """uniform_price: volume offered, in the listing's fixed quantity scale."""
    lot: int = 1
    """uniform_price: every bid quantity and allocation is a multiple of this."""
    max_bidder_share: Fraction | None = None
    """uniform_price: the bids of a group of affiliated bidders (`BidderTerms.group`) may total
    at most floor(share * quantity)."""
    bid_guarantee_ratio: Fraction | None = None
    """uniform_price: a bidder's bids, priced, times this ratio must not exceed its deposit
    (`BidderTerms.deposit`); None: no guarantee (a listing created before the rule)."""
    quantity_scale: int = 1
    """uniform_price: quantity units per unit the price is quoted for (1000 for t/a with three
    decimals): a bid is worth `amount * quantity / quantity_scale` fen."""
    undersubscribed: Literal["cancel", "sell_available"] = "cancel"
    """uniform_price: what happens when valid bids do not cover the offer."""
    pricing: Literal["uniform", "pay_as_bid"] = "uniform"
    """uniform_price: everyone pays the clearing price, or each its own bid."""
    seed: bytes | None = None
    """Secret draw seed (>= 16 bytes), committed by its SHA-256 before bidding;
    keep it out of every public view until the result is published."""
    late_registration: bool = False
    """listing: registration runs into the quote phase. Bidders who qualify meanwhile join
    the running auction (`Mechanism.admit`), and `min_bidders` is counted when the first
    deadline passes instead of at the opening."""


@dataclass(frozen=True, slots=True)
class Bid:
    """A bid as submitted. For dutch it is the accept, in a lottery the opt-in;
    both are told apart by the phase, so no extra field is needed."""

    bidder: str
    amount: int
    quantity: int | None = None
    nonce: str | None = None
    """The bidder's own entropy for a draw (draw.py): required with an acceptance of the
    cap price under `cap_rule: lottery`, kept with a uniform-price bid, ignored otherwise."""


@dataclass(frozen=True, slots=True)
class AcceptedBid:
    seq: int
    bidder: str
    amount: int
    quantity: int | None
    accepted_at: datetime
    phase: AuctionPhase
    nonce: str | None = None
    """The bid's nonce, private until the result (`Bid.nonce`)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    code: RejectionCode
    detail: str


@dataclass(frozen=True, slots=True)
class Event:
    """Something the service records and, when `public`, pushes to the feed.

    `at` is the instant the rule fixes (the boundary, the bid time), not the
    instant the service happened to call, so late timers give the same log.
    """

    kind: EventKind
    at: datetime
    data: dict[str, JSON] = field(default_factory=dict)
    public: bool = True


@dataclass(frozen=True, slots=True)
class Winner:
    bidder: str
    price: int
    quantity: int | None = None


@dataclass(frozen=True, slots=True)
class DrawRecord:
    """Everything needed to recompute a draw; see `draw.py` for the procedure."""

    purpose: Literal["lottery", "residual_lots"]
    seed_hex: str
    commitment: str
    candidates: tuple[str, ...]
    keys: tuple[str, ...]
    order: tuple[str, ...]
    procedure: str
    nonces: tuple[str, ...] = ()
    """The candidates' nonces, in the order of `candidates`."""
    entropy: str = ""
    """`E` in hex: the seed mixed with the nonces, from which every key is computed."""


@dataclass(frozen=True, slots=True)
class Statistics:
    """Result report of a multi-unit auction (WCI / EU style).

    `cover_ratio` is qualified bid volume / offered volume. `hhi` is the
    exact Herfindahl-Hirschman index of the allocation on the 0..10000
    scale, 10000 * sum(share_i ** 2), kept as a Fraction so nothing is
    rounded before publication.
    """

    clearing_price: int | None
    volume_offered: int
    volume_sold: int
    total_bid_volume: int
    qualified_bid_volume: int
    cover_ratio: Fraction
    bidders: int
    winners: int
    hhi: Fraction


@dataclass(frozen=True, slots=True)
class Outcome:
    status: AuctionResult
    reason: FailureReason | None
    decided_at: datetime
    price: int | None = None
    winners: tuple[Winner, ...] = ()
    bid_count: int = 0
    statistics: Statistics | None = None
    average_quote: Fraction | None = None
    draw: DrawRecord | None = None
    award_rule: Literal["highest", "closest_to_average"] | None = None
    """sealed_bid: the rule that chose the winner; "highest" under closest_to_average means
    too few valid quotes for an average (the fallback the announcement states)."""


@dataclass(frozen=True, slots=True)
class BidderTerms:
    """What a bid number bids under, fixed when it enters the auction (the opening, or its
    admission): uniform_price's share limit and bid guarantee read it."""

    bidder: str
    group: str
    """An opaque label shared by the bid numbers of one group of affiliated bidders; never a
    credit code or a name, so the state links no bid number to an identity."""
    deposit: int
    """Fen the bidder had paid for this listing when it entered; paid later, it covers nothing."""


@dataclass(frozen=True, slots=True)
class AuctionState:
    """The whole mutable memory of one auction, stored as JSON by the service.

    `ends_at` is the deadline of the current phase (for dutch: of the current
    clock price); None once ended. Open mechanisms keep only what the rules
    need (the high bid, the count, listing's quoters) so the stored state
    does not grow with every bid; the bid history is the service's bid table.
    Sealed mechanisms keep every quote in `bids`, since the close needs them.
    Name tuples are sorted so that the JSON form is reproducible byte for byte.
    """

    method: Method
    phase: AuctionPhase
    qualified: tuple[str, ...]
    ends_at: datetime | None
    round: int = 1
    bid_count: int = 0
    high: AcceptedBid | None = None
    quoters: tuple[str, ...] = ()
    bids: tuple[AcceptedBid, ...] = ()
    entrants: tuple[str, ...] = ()
    seed_commitment: str | None = None
    outcome: Outcome | None = None
    entrant_nonces: tuple[str, ...] = ()
    """The sealed nonce of each of `entrants`, in the same order; private until the result."""
    terms: tuple[BidderTerms, ...] = ()
    """The terms of the bid numbers that brought any (`Mechanism.bidder_terms`), by bid number."""


@dataclass(frozen=True, slots=True)
class Step:
    state: AuctionState
    events: tuple[Event, ...] = ()
