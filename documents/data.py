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

from documents.wording import Wording, wording_for
from exchange.vocabulary import AuctionResult

DocumentKind: TypeAlias = Literal[
    "listing_announcement",
    "result_announcement",
    "confirmation",
    "bid_record",
    "refund_notice",
    "payment_reminder",
    "objection_decision",
    "transaction_certificate",
    "delivery_record",
    "registry_certificate",
]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = (
    "listing_announcement",
    "result_announcement",
    "confirmation",
    "bid_record",
    "refund_notice",
    "payment_reminder",
    "objection_decision",
    "transaction_certificate",
    "delivery_record",
    "registry_certificate",
)
Ratio: TypeAlias = Fraction | Decimal | int
"""Exact ratios (cover ratio, HHI, shares); formatted, never computed in floats."""
Quantity: TypeAlias = Decimal | int
"""An amount of a divisible right in the listing's unit."""


@dataclass(frozen=True, slots=True)
class Party:
    """A party named in a document: the seller (出让人 / 转让方), a buyer, the exchange."""

    name: str | None
    """``None`` on listings created before parties were recorded: printed as "—"."""
    credit_code: str | None = None
    address: str | None = None
    contact: str | None = None


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
    """The listing's public number (标的编号), if it has one besides its id."""
    code: str | None = None
    """The listing's code (``documents.drafts.listing_code``: ``2026-00042``), the stem of its
    documents' numbers; ``None``: the id alone."""
    unit: str | None = None
    """Unit of quantity for divisible rights (``t/a``, ``m3/a``); ``None`` for a single lot."""
    unit_zh: str | None = None
    """The same unit as the documents print it (吨/年, 立方米/年), from ``listings.attribute_fields``."""
    wording: Wording | None = None
    """``None``: the class's default words (:func:`documents.wording.wording_for`)."""
    seller: Party | None = None
    announcement_number: str | None = None
    """文号 of the announcement (苏地网挂〔2026〕12号); ``None`` on old listings: printed as "—"."""
    publicity_working_days: int | None = None
    """公示 period of the result in working days; ``None``: not recorded (old listings)."""

    @property
    def words(self) -> Wording:
        return self.wording or wording_for(self.asset_class)

    @property
    def quantity_unit(self) -> str:
        return self.unit_zh or self.unit or ""


@dataclass(frozen=True, slots=True)
class Attribute:
    """One row of the attributes table, already labelled by the caller (宗地面积, 用途, ...)."""

    label: str
    value: str
    """One line, or several separated by newlines (one per mixed use, indicator, corner point)."""

    @property
    def lines(self) -> list[str]:
        return self.value.split("\n")


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
    """Who to ask (the operator's desk), printed as given."""
    qualification: str = "pre"
    """``pre`` (资格前审) | ``post`` (资格后审: admitted on the full deposit, reviewed after the close)."""
    payment_terms: tuple[str, ...] = ()
    """The listing's payment terms in words (首期 50% 于合同签订后 1 个月内 ...)."""
    contract_working_days: int | None = None
    """The contract is to be signed within this many working days of the confirmation."""


@dataclass(frozen=True, slots=True)
class WinnerLine:
    bid_number: str
    name: str
    price: int
    """What this winner pays per unit (uniform price) or in total (single lot)."""
    quantity: Quantity | None = None
    unit_price: Ratio | None = None
    """Fen per unit of quantity (divisible rights): the price itself for uniform price, the price
    divided by the quantity for a whole lot sold at one price (a Dutch clock)."""
    total: int | None = None
    """Fen this winner pays in all (unit price x quantity for uniform price)."""


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
    publicity_ends_at: datetime | None = None
    """The end of the 公示 (``Settlement.publicity_ends_at``) once known."""
    opt_ins: int = 0
    """Acceptances of the cap price (lottery entries), not counted as bids."""

    @property
    def premium_rate(self) -> Fraction | None:
        """溢价率: (price - start) / start, exact; none below the start price (see ``discount_rate``)."""
        if self.price is None or self.start_price <= 0 or self.price < self.start_price:
            return None
        return Fraction(self.price - self.start_price, self.start_price)

    @property
    def discount_rate(self) -> Fraction | None:
        """降价率 of a price below the start price (Dutch): (start - price) / start; Chinese exchanges
        publish no negative 溢价率."""
        if self.price is None or self.start_price <= 0 or self.price >= self.start_price:
            return None
        return Fraction(self.start_price - self.price, self.start_price)


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
    buyer: Party | None = None
    """The winner as a party (name, credit code, address); ``winner_name`` is its name."""
    confirmed_at: datetime | None = None
    """When the 公示 ended clear (``Settlement.confirmed_at``)."""
    publicity_ends_at: datetime | None = None
    fee_paid_from_deposit: bool = True
    """The fee is taken from the winner's deposit at the close (``settlement.closing``)."""
    payment_account: str | None = None
    """The winner's own payment account number for the balance."""
    payment_terms: tuple[str, ...] = ()
    collected_by_authority: bool = False
    """Land and mining: the price is paid to the tax bureau per its 缴款通知 (财综〔2021〕19号), the
    fee to the exchange's ``payment_account``."""

    @property
    def dated(self) -> date:
        """The exchange's date on it: the confirmation (the end of the 公示), else the close."""
        moment = self.confirmed_at or self.decided_at
        return _shanghai_date(moment)

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
    opt_ins: tuple[BidLine, ...] = ()
    """Acceptances of the cap price (lottery entries): listed apart, not counted as bids."""


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


@dataclass(frozen=True, slots=True)
class PaymentReminder:
    """催缴通知书: one overdue instalment of a winner (a ``payment_reminders`` row)."""

    listing: ListingInfo
    buyer: Party
    bid_number: str | None
    installment_label: str
    due_date: date
    issued_on: date
    overdue_amount: int
    days_overdue: int
    late_fee_accrued: int
    late_fee_per_mille: Ratio
    grace_days: int
    payment_account: str | None
    rescission_proposed: bool = False
    """``kind`` ``rescission_proposed``: the grace is over and rescission was put to the operator."""
    collected_by_authority: bool = False
    """The overdue amount is price of a land or mining right, paid to the collecting authority per
    its 缴款通知 (财综〔2021〕19号), not to the exchange; the service fee is always paid to the exchange."""
    authority: str | None = None
    """The collecting authority if known (国家税务总局苏州市税务局); ``None``: 税务部门."""


@dataclass(frozen=True, slots=True)
class ObjectionDecision:
    """异议处理决定书: the answer to an objection, or the resolution of an upheld one."""

    listing: ListingInfo
    objection_id: int
    filed_at: datetime
    reasons: str | None
    """The objection's reasons; ``None`` in a public document (the resolution)."""
    decision: str
    """``dismissed`` | ``upheld`` (an answer) | ``stands`` | ``annulled`` (a resolution)."""
    text: str
    """The operator's answer, or the resolution's reason."""
    decided_at: datetime
    resolution: bool = False
    public: bool = False
    """Published on the platform (the resolution), else addressed to the filer (the answer)."""


@dataclass(frozen=True, slots=True)
class TransactionCertificate:
    """交易鉴证书: the exchange certifies a transaction fully paid."""

    listing: ListingInfo
    buyer: Party
    bid_number: str
    decided_at: datetime
    price: int
    paid: int
    paid_in_full_on: date
    unit_price: Ratio | None = None
    quantity: Quantity | None = None
    contract_signed_on: date | None = None


DocumentData: TypeAlias = (
    ListingAnnouncement
    | ResultAnnouncement
    | Confirmation
    | BidRecord
    | RefundNotice
    | PaymentReminder
    | ObjectionDecision
    | TransactionCertificate
)


def _shanghai_date(moment: datetime) -> date:
    from listings.workdays import local_date

    return local_date(moment)


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
    """``<base_url>/verify`` (no hash: a PDF cannot contain its own digest)."""
    issuer: str = "公共资源交易平台"
    office: Office | None = None
    qr_svg: str = ""
    """The QR code of ``number_url`` as inline SVG (``documents.qr``)."""

    @property
    def number_url(self) -> str:
        """The page that looks the printed number up: what the QR code holds."""
        from urllib.parse import quote

        return f"{self.verify_url}?number={quote(self.number, safe=':')}"


@dataclass(frozen=True, slots=True)
class Office:
    """The exchange as its documents name it, and where deposits are paid."""

    name: str = "公共资源交易平台"
    deposit_bank: str | None = None
    deposit_account_name: str | None = None
    contact: str | None = None
    sandbox: bool = False
    """Issued under the sandbox profile: a test document, whose working days are seconds."""
