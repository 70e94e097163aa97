"""What each document prints: plain, typed, picklable data the caller fills in.

The caller (settlement / the close of an auction) maps its rows and outcomes to
these classes; templates only format them. Money is integer fen, instants are
aware datetimes (printed in Asia/Shanghai), quantities are exact numbers in
the listing's unit (``Decimal("6.000")`` t/a, not the stored 6000 thousandths). The listing
announcement cannot carry the reserve price: it has ``has_reserve`` and the reserve's
commitment, no amount field at all, so a template cannot leak it. Only the result
announcement reveals it (``ReserveReveal``), once the auction is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Literal, TypeAlias

from exchange.vocabulary import AuctionResult

DocumentKind: TypeAlias = Literal[
    "listing_announcement", "result_announcement", "confirmation", "bid_record", "refund_notice"
]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = (
    "listing_announcement",
    "result_announcement",
    "confirmation",
    "bid_record",
    "refund_notice",
)
Ratio: TypeAlias = Fraction | Decimal | int
"""Exact ratios (cover ratio, HHI, shares); formatted, never computed in floats."""
Quantity: TypeAlias = Decimal | int
"""An amount of a divisible right in the listing's unit."""


@dataclass(frozen=True, slots=True)
class ListingInfo:
    """The listing a document is about, as every document heads it."""

    listing_id: int
    title: str
    asset_class: str
    """An ``exchange.vocabulary.AssetClass``."""
    method: str
    """An ``exchange.vocabulary.Method``."""
    region: str | None = None
    reference: str | None = None
    """The listing's public number (公告编号), if it has one besides its id."""
    unit: str | None = None
    """Unit of quantity for divisible rights (``t/a``, ``m3/a``); ``None`` for a single lot."""


@dataclass(frozen=True, slots=True)
class Attribute:
    """One row of the attributes table, already labelled by the caller (宗地面积, 用途, ...)."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Schedule:
    announce_at: datetime
    registration_opens_at: datetime
    registration_closes_at: datetime
    bidding_opens_at: datetime
    bidding_closes_at: datetime
    extension_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class ListingAnnouncement:
    """出让公告."""

    listing: ListingInfo
    description: str
    attributes: tuple[Attribute, ...]
    start_price: int
    increment: int
    deposit: int
    has_reserve: bool
    schedule: Schedule
    seed_commitment: str | None = None
    """SHA-256 of the draw seed, published before bidding (lottery / residual lots)."""
    reserve_commitment: str | None = None
    """The reserve's commitment (``listings.reserve``) once frozen: at publication for mining
    rights; otherwise it is published when bidding opens, and the announcement says so."""
    award_rule: str | None = None
    """sealed_bid: ``highest`` | ``closest_to_average`` (the announcement states the fallback)."""
    price_cap: int | None = None
    cap_rule: str | None = None
    quantity: Quantity | None = None
    max_bidder_share: Ratio | None = None
    """uniform_price: the share of the offer one group of affiliated bidders may bid for."""
    bid_guarantee_ratio: Ratio | None = None
    """uniform_price: the share of its bids' value a bidder's deposit must cover."""
    contact: str | None = None
    qualification: str = "pre"
    """``pre`` (资格前审) | ``post`` (资格后审: admitted on the full deposit, reviewed after the close)."""
    """Who to ask (the operator's desk), printed as given."""


@dataclass(frozen=True, slots=True)
class WinnerLine:
    bid_number: str
    name: str
    price: int
    """What this winner pays per unit (uniform price) or in total (single lot)."""
    quantity: Quantity | None = None


@dataclass(frozen=True, slots=True)
class UniformPriceStatistics:
    """The WCI / EU style result report of a multi-unit auction."""

    clearing_price: int | None
    volume_offered: Quantity
    volume_sold: Quantity
    total_bid_volume: Quantity
    qualified_bid_volume: Quantity
    cover_ratio: Ratio
    bidders: int
    winners: int
    hhi: Ratio


@dataclass(frozen=True, slots=True)
class DrawInputs:
    """Everything needed to recompute a draw (see ``auctions/mechanisms/draw.py``)."""

    purpose: str
    """``lottery`` | ``residual_lots``."""
    seed_hex: str
    commitment: str
    candidates: tuple[str, ...]
    keys: tuple[str, ...]
    order: tuple[str, ...]
    procedure: str
    nonces: tuple[str, ...] = ()
    """Each candidate's own nonce, in the order of ``candidates``."""
    entropy: str = ""
    """``E``: the seed mixed with the nonces, the input of every key."""


@dataclass(frozen=True, slots=True)
class ReserveReveal:
    """The committed reserve opened: anyone can recompute ``commitment`` from the other two."""

    reserve_price: int | None
    """Fen; ``None``: the listing had no reserve (committed as ``none``)."""
    salt: str
    commitment: str
    committed_at: datetime


@dataclass(frozen=True, slots=True)
class ResultAnnouncement:
    """成交公示 (or 流拍公告 when the outcome is ``failed``)."""

    listing: ListingInfo
    outcome: AuctionResult
    decided_at: datetime
    start_price: int
    bid_count: int
    price: int | None = None
    winners: tuple[WinnerLine, ...] = ()
    failure_reason: str | None = None
    statistics: UniformPriceStatistics | None = None
    draw: DrawInputs | None = None
    average_quote: Ratio | None = None
    """Closest-to-average sealed bids: the mean of the valid quotes."""
    award_rule: str | None = None
    """sealed_bid: the rule that chose the winner (``highest`` | ``closest_to_average``)."""
    award_fallback: bool = False
    """closest_to_average with fewer than three valid quotes: awarded to the highest."""
    reserve: ReserveReveal | None = None

    @property
    def premium_rate(self) -> Fraction | None:
        """溢价率: (price - start) / start, exact."""
        if self.price is None or self.start_price <= 0:
            return None
        return Fraction(self.price - self.start_price, self.start_price)


@dataclass(frozen=True, slots=True)
class Installment:
    label: str
    due: date
    amount: int


@dataclass(frozen=True, slots=True)
class Confirmation:
    """成交确认书, issued to the winner (one per winner for multi-unit results)."""

    listing: ListingInfo
    winner_name: str
    bid_number: str
    decided_at: datetime
    price: int
    """The total the winner owes for the right (unit price x quantity for divisible rights)."""
    deposit_applied: int
    fee: int
    payment_schedule: tuple[Installment, ...]
    credit_code: str | None = None
    unit_price: int | None = None
    quantity: Quantity | None = None
    contract_due: date | None = None
    """Sign the transfer contract by this day (land: within 10 WD)."""

    @property
    def balance(self) -> int:
        """What remains of the price once the deposit counts towards it."""
        return self.price - self.deposit_applied


@dataclass(frozen=True, slots=True)
class BidLine:
    seq: int
    at: datetime
    bid_number: str
    amount: int
    quantity: Quantity | None = None
    round: int | None = None


@dataclass(frozen=True, slots=True)
class BidRecord:
    """竞价记录: every accepted bid by bid number; winners are named, losers stay numbers."""

    listing: ListingInfo
    opened_at: datetime | None
    closed_at: datetime
    outcome: AuctionResult
    bids: tuple[BidLine, ...]
    winners: tuple[WinnerLine, ...] = ()


@dataclass(frozen=True, slots=True)
class RefundNotice:
    """保证金退还通知 to one bidder, or 价款退还通知 to a winner in default."""

    listing: ListingInfo
    bidder_name: str
    amount: int
    reason: str
    """``not_won`` | ``failed`` | ``cancelled`` | ``late_payment`` | ``rejected`` | ``excess`` |
    ``default`` or free text."""
    released_at: datetime
    refund_due: date
    """Latest day the money is back (5 WD after the release)."""
    refunded: Literal["deposit", "payments"] = "deposit"
    """What comes back: the deposit, or what a winner in default paid towards the price and fee
    (its deposit is forfeited)."""
    bid_number: str | None = None
    account: str | None = None
    """The account refunded to, already masked by the caller (e.g. ``**** 1234``)."""
    credit_code: str | None = None


DocumentData: TypeAlias = ListingAnnouncement | ResultAnnouncement | Confirmation | BidRecord | RefundNotice

PDF_TEMPLATE_BY_KIND: dict[DocumentKind, str] = {kind: f"{kind}.html" for kind in DOCUMENT_KINDS}


@dataclass(frozen=True, slots=True)
class Stamp:
    """What the store adds to every document: its number, the chain head, where to verify."""

    number: str
    """The document number (文件编号): the idempotency key, known before rendering."""
    kind: DocumentKind
    title: str
    audit_head: str
    issued_at: datetime
    verify_url: str
    """``<base_url>/api/v1/documents/verify`` (no hash: a PDF cannot contain its own digest)."""
    issuer: str = "公共资源交易平台"
