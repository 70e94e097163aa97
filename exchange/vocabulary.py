"""The exchange's words, each defined once with its Chinese and English label: asset classes,
methods, the statuses of listings, applications, auctions and settlements, auction phases and
outcomes.

A ``Literal`` says which values exist (the API's schemas, the mechanisms' types, the database's
check constraints through :func:`sql_in`); the table beside it says what each is called, and
must list exactly those values in the same order (checked on import). They live in the kernel
because the settlement terms (``exchange.settlement_terms``) key their defaults by asset class;
every domain, page and document imports them from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple, get_args

__all__ = [
    "APPLICATION_OUTCOMES",
    "APPLICATION_OUTCOME_LABELS",
    "APPLICATION_STATUSES",
    "APPLICATION_STATUS_LABELS",
    "ASSET_CLASSES",
    "ASSET_CLASS_LABELS",
    "AUCTION_PHASES",
    "AUCTION_PHASE_LABELS",
    "AUCTION_RESULTS",
    "AUCTION_STATUSES",
    "AUCTION_STATUS_LABELS",
    "INSTALLMENT_STATUSES",
    "INSTALLMENT_STATUS_LABELS",
    "LABELS",
    "LINE_STATUSES",
    "LISTING_OUTCOMES",
    "LISTING_OUTCOME_LABELS",
    "LISTING_STATUSES",
    "LISTING_STATUS_LABELS",
    "METHODS",
    "METHOD_LABELS",
    "OBJECTION_STATUSES",
    "OBJECTION_STATUS_LABELS",
    "REMINDER_KINDS",
    "REMINDER_KIND_LABELS",
    "SETTLEMENT_STATUSES",
    "SETTLEMENT_STATUS_LABELS",
    "ApplicationOutcome",
    "ApplicationStatus",
    "AssetClass",
    "AuctionPhase",
    "AuctionResult",
    "AuctionStatus",
    "InstallmentStatus",
    "Label",
    "LineStatus",
    "ListingOutcome",
    "ListingStatus",
    "Method",
    "ObjectionStatus",
    "ReminderKind",
    "SettlementStatus",
    "label",
    "sql_in",
]


class Label(NamedTuple):
    zh: str
    en: str

    def in_language(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


def _labels(literal: Any, table: dict[str, tuple[str, str]]) -> Mapping[str, Label]:
    """``table`` as labels, once it is known to name exactly the values of ``literal``, in order."""
    if tuple(table) != get_args(literal):
        raise AssertionError(f"labels {tuple(table)} do not match {get_args(literal)}")
    return {key: Label(*words) for key, words in table.items()}


AssetClass = Literal["land_use_right", "mining_right", "emission_right", "water_right", "technology"]
ASSET_CLASSES: tuple[AssetClass, ...] = get_args(AssetClass)
ASSET_CLASS_LABELS = _labels(
    AssetClass,
    {
        "land_use_right": ("国有建设用地使用权", "Land-use right"),
        "mining_right": ("矿业权", "Mining right"),
        "emission_right": ("排污权", "Emission right"),
        "water_right": ("用水权", "Water right"),
        "technology": ("技术产权", "Technology / IP"),
    },
)

Method = Literal["english", "listing", "sealed_bid", "uniform_price", "dutch"]
METHODS: tuple[Method, ...] = get_args(Method)
METHOD_LABELS = _labels(
    Method,
    {
        "english": ("网上拍卖（限时竞价）", "Online auction with rolling countdown"),
        "listing": ("网上挂牌（限时竞价）", "Listing, then timed bidding"),
        "sealed_bid": ("一次性报价", "One-time sealed quote"),
        "uniform_price": ("统一价格密封竞价", "Uniform-price sealed auction"),
        "dutch": ("降价拍卖", "Descending-clock auction"),
    },
)

ListingStatus = Literal[
    "draft", "announced", "registration", "bidding", "closed", "failed", "cancelled", "suspended"
]
LISTING_STATUSES: tuple[ListingStatus, ...] = get_args(ListingStatus)
LISTING_STATUS_LABELS = _labels(
    ListingStatus,
    {
        "draft": ("草稿", "Draft"),
        "announced": ("已公告", "Announced"),
        "registration": ("报名中", "Registration open"),
        "bidding": ("竞价中", "Bidding"),
        "closed": ("已成交", "Sold"),
        "failed": ("流拍", "Failed"),
        "cancelled": ("已终止", "Cancelled"),
        "suspended": ("已中止", "Suspended"),
    },
)

ApplicationStatus = Literal["pending", "approved", "rejected", "qualified", "closed"]
APPLICATION_STATUSES: tuple[ApplicationStatus, ...] = get_args(ApplicationStatus)
APPLICATION_STATUS_LABELS = _labels(
    ApplicationStatus,
    {
        "pending": ("待审核", "Pending review"),
        "approved": ("已通过", "Approved"),
        "rejected": ("未通过", "Rejected"),
        "qualified": ("已取得竞买资格", "Qualified"),
        "closed": ("已结束", "Closed"),
    },
)

ApplicationOutcome = Literal["won", "pending_review", "lost", "failed", "cancelled", "annulled"]
"""How an application ended, for its bidder (``/me``): 竞得, 待资格审查 (资格后审: won, the winner's
review pending), 未竞得, 流拍, 终止, 成交无效."""
APPLICATION_OUTCOMES: tuple[ApplicationOutcome, ...] = get_args(ApplicationOutcome)
APPLICATION_OUTCOME_LABELS = _labels(
    ApplicationOutcome,
    {
        "won": ("竞得", "Won"),
        "pending_review": ("待资格审查", "Won, awaiting the winner's review"),
        "lost": ("未竞得", "Not won"),
        "failed": ("流拍", "Failed (no sale)"),
        "cancelled": ("终止", "Cancelled"),
        "annulled": ("成交无效", "Sale annulled"),
    },
)

AuctionStatus = Literal["open", "closed", "failed", "cancelled", "suspended"]
AUCTION_STATUSES: tuple[AuctionStatus, ...] = get_args(AuctionStatus)
AUCTION_STATUS_LABELS = _labels(
    AuctionStatus,
    {
        "open": ("竞价中", "Open"),
        "closed": ("已成交", "Sold"),
        "failed": ("流拍", "Failed"),
        "cancelled": ("已终止", "Cancelled"),
        "suspended": ("已中止", "Suspended"),
    },
)

AuctionPhase = Literal["bidding", "quote", "frozen", "timed", "sealed", "clock", "lottery", "ended"]
"""``ended`` is terminal: the auction's state then carries its outcome."""
AUCTION_PHASES: tuple[AuctionPhase, ...] = get_args(AuctionPhase)
AUCTION_PHASE_LABELS = _labels(
    AuctionPhase,
    {
        "bidding": ("竞价", "Bidding"),
        "quote": ("挂牌报价期", "Quotation period"),
        "frozen": ("报价冻结", "Frozen"),
        "timed": ("限时竞价", "Timed bidding"),
        "sealed": ("密封报价", "Sealed quotes"),
        "clock": ("降价竞价", "Descending clock"),
        "lottery": ("限价摇号报名", "Lottery opt-in"),
        "ended": ("已结束", "Ended"),
    },
)

ListingOutcome = Literal["sold", "failed", "cancelled"]
"""How a listing ended: its auction decided ``sold`` or ``failed`` (an ``AuctionResult``), or an
operator's 终止 made it ``cancelled``."""
LISTING_OUTCOMES: tuple[ListingOutcome, ...] = get_args(ListingOutcome)
LISTING_OUTCOME_LABELS = _labels(
    ListingOutcome,
    {"sold": ("成交", "Sold"), "failed": ("流拍", "Failed"), "cancelled": ("终止", "Cancelled")},
)
AuctionResult = Literal["sold", "failed"]
AUCTION_RESULTS: tuple[AuctionResult, ...] = get_args(AuctionResult)

SettlementStatus = Literal[
    "review",
    "publicity",
    "on_hold",
    "awaiting_contract",
    "pending_payment",
    "paid",
    "rescinded",
    "default",
    "annulled",
    "released",
]
"""``review``: a sale under post-qualification (资格后审) waits for its winner's review; ``publicity``:
the result is on display (公示); ``on_hold``: an upheld objection suspends it; ``awaiting_contract``:
confirmed, the contract is to be signed (payments count from it); ``rescinded``: the contract was
rescinded after the grace (解除); ``default``: the instant default of old rows, kept readable;
``annulled``: an upheld objection made the sale fail (成交无效)."""
SETTLEMENT_STATUSES: tuple[SettlementStatus, ...] = get_args(SettlementStatus)
SETTLEMENT_STATUS_LABELS = _labels(
    SettlementStatus,
    {
        "review": ("待资格审查", "Winner under review"),
        "publicity": ("公示中", "Result on display"),
        "on_hold": ("异议处理中", "On hold: objection upheld"),
        "awaiting_contract": ("待签合同", "Awaiting the contract"),
        "pending_payment": ("待付款", "Awaiting payment"),
        "paid": ("已付清", "Paid"),
        "rescinded": ("已解除", "Rescinded"),
        "default": ("违约", "In default"),
        "annulled": ("成交无效", "Sale annulled"),
        "released": ("已退还", "Released"),
    },
)
LineStatus = Literal["pending_payment", "paid", "rescinded", "default", "annulled"]
"""A winner's line: a settlement's statuses but ``review`` and ``released`` (labelled as the settlement's)."""
LINE_STATUSES: tuple[LineStatus, ...] = get_args(LineStatus)

InstallmentStatus = Literal["pending", "paid", "void"]
INSTALLMENT_STATUSES: tuple[InstallmentStatus, ...] = get_args(InstallmentStatus)
INSTALLMENT_STATUS_LABELS = _labels(
    InstallmentStatus,
    {"pending": ("未到期", "Pending"), "paid": ("已付清", "Paid"), "void": ("作废", "Void")},
)

ReminderKind = Literal["reminder", "rescission_proposed"]
"""A row of ``payment_reminders``: a 催缴通知书, or the proposal of rescission after the grace."""
REMINDER_KINDS: tuple[ReminderKind, ...] = get_args(ReminderKind)
REMINDER_KIND_LABELS = _labels(
    ReminderKind,
    {
        "reminder": ("催缴通知", "Payment reminder"),
        "rescission_proposed": ("拟解除合同", "Rescission proposed"),
    },
)

ObjectionStatus = Literal["filed", "dismissed", "upheld", "stands", "annulled"]
"""An objection (异议) to a result under 公示: ``filed`` waits for an answer; ``upheld`` waits for its
resolution (the sale ``stands`` or is ``annulled``); ``dismissed`` is final."""
OBJECTION_STATUSES: tuple[ObjectionStatus, ...] = get_args(ObjectionStatus)
OBJECTION_STATUS_LABELS = _labels(
    ObjectionStatus,
    {
        "filed": ("待答复", "Awaiting an answer"),
        "dismissed": ("异议不成立", "Dismissed"),
        "upheld": ("异议成立，处理中", "Upheld, under review"),
        "stands": ("异议处理完毕，成交有效", "Resolved: the sale stands"),
        "annulled": ("异议成立，成交无效", "Resolved: the sale is annulled"),
    },
)

LABELS: Mapping[str, Mapping[str, Label]] = {
    "asset_class": ASSET_CLASS_LABELS,
    "method": METHOD_LABELS,
    "listing_status": LISTING_STATUS_LABELS,
    "application_status": APPLICATION_STATUS_LABELS,
    "application_outcome": APPLICATION_OUTCOME_LABELS,
    "auction_status": AUCTION_STATUS_LABELS,
    "auction_phase": AUCTION_PHASE_LABELS,
    "outcome": LISTING_OUTCOME_LABELS,
    "settlement_status": SETTLEMENT_STATUS_LABELS,
    "installment_status": INSTALLMENT_STATUS_LABELS,
    "reminder_kind": REMINDER_KIND_LABELS,
    "objection_status": OBJECTION_STATUS_LABELS,
}
"""Every table by name, for the pages' templates (``label("method", key)``)."""


def label(table: Mapping[str, Label], key: str | None, lang: str = "zh") -> str:
    """``key``'s label in ``lang``; an unknown key is shown as it is, an absent one as nothing."""
    if key is None:
        return ""
    found = table.get(key)
    return found.in_language(lang) if found else key


def sql_in(column: str, values: Iterable[str]) -> str:
    """A check constraint's text: ``status IN ('draft', 'announced', ...)``."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"
