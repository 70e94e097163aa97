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
    "FAILURE_REASON_LABELS",
    "INSTALLMENT_LABEL_LABELS",
    "INSTALLMENT_STATUSES",
    "INSTALLMENT_STATUS_LABELS",
    "LABELS",
    "LEDGER_ACCOUNT_LABELS",
    "LEDGER_KIND_LABELS",
    "LEDGER_MEMO_LABELS",
    "LINE_STATUSES",
    "LISTING_OUTCOMES",
    "LISTING_OUTCOME_LABELS",
    "LISTING_STATUSES",
    "LISTING_STATUS_LABELS",
    "METHODS",
    "METHOD_LABELS",
    "OBJECTION_STATUSES",
    "OBJECTION_STATUS_LABELS",
    "QUANTITY_UNIT_LABELS",
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
    "installment_words",
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


def _words(table: dict[str, tuple[str, str]]) -> Mapping[str, Label]:
    """A table of words for values another package defines as plain strings (ledger kinds, reasons)."""
    return {key: Label(*words) for key, words in table.items()}


FAILURE_REASON_LABELS = _words(
    {
        "too_few_bidders": ("竞买人数不足", "Too few bidders"),
        "no_bids": ("无人报价", "No bids"),
        "below_reserve": ("最高报价未达到保留价", "The best bid was below the reserve"),
        "undersubscribed": ("有效申购量不足", "Undersubscribed"),
        "no_acceptance": ("降价至底价无人应价", "No one accepted down to the floor"),
        "no_lottery_entrants": ("无人参加摇号", "No one entered the lottery"),
        "winner_disqualified": ("竞得人资格审查未通过", "The winner failed its review"),
    }
)
"""Why an auction failed (``auctions.mechanisms.types.FailureReason``; the settlement's ``reason``)."""

LEDGER_KIND_LABELS = _words(
    {
        "deposit_received": ("保证金到账", "Deposit received"),
        "deposit_released": ("保证金退还", "Deposit released"),
        "deposit_applied": ("保证金转作价款", "Deposit applied to the price"),
        "deposit_forfeited": ("没收保证金", "Deposit forfeited"),
        "deposit_refunded": ("保证金退还", "Deposit refunded"),
        "suspense_received": ("待查收款", "Received into suspense"),
        "suspense_refund": ("待查款退还", "Suspense refunded"),
        "price_due": ("应收成交价款", "Price due"),
        "fee_charged": ("应收交易服务费", "Service fee charged"),
        "interest_charged": ("分期付款利息", "Instalment interest"),
        "late_fee_charged": ("计收违约金", "Late fees charged"),
        "late_fee_adjusted": ("违约金调整", "Late fees adjusted"),
        "late_fee_reversed": ("违约金冲回", "Late fees reversed"),
        "payment_received": ("收到价款", "Payment received"),
        "payment_tracked": ("税务部门征收价款", "Price collected by the tax bureau"),
        "payment_refunded": ("已付价款退还", "Payment refunded"),
        "tracked_reversed": ("征收机关退还价款", "Collected price refunded"),
        "sale_reversed": ("冲销成交", "Sale reversed"),
        "refund_paid": ("退款已付", "Refund paid out"),
    }
)
"""A ledger transaction's ``kind`` (``settlement.double_entry.post_once`` callers)."""

LEDGER_ACCOUNT_LABELS = _words(
    {
        "bank_clearing": ("银行存款（清算户）", "Bank clearing"),
        "suspense": ("待查款项", "Suspense"),
        "refunds_payable": ("应退款项", "Refunds payable"),
        "fee_revenue": ("交易服务费收入", "Fee revenue"),
        "deposit": ("竞买保证金", "Deposit"),
        "receivable": ("应收竞得人款项", "Receivable from the winner"),
        "seller_payable": ("应付出让人款项", "Payable to the seller"),
        "late_fee_payable": ("应付出让人违约金", "Late fees payable to the seller"),
    }
)
"""A ledger account by the part of its code before the first ``:`` (``deposit:<application>``)."""

LEDGER_MEMO_LABELS = _words(
    {
        "not a winner": ("未竞得，退还保证金", "Not a winner"),
        "deposit in excess of the price": (
            "保证金超出应付成交价款的部分予以退还",
            "Deposit in excess of the price",
        ),
        "application rejected": ("报名未获通过", "Application rejected"),
        "listing cancelled": ("本次交易终止", "Listing cancelled"),
        "listing failed": ("本次交易流拍", "Listing failed"),
        "listing closed": ("本次交易已结束", "Listing closed"),
        "instalment interest": ("分期付款利息", "Instalment interest"),
        "deposit forfeited to the seller": (
            "没收的保证金（定金）归出让人",
            "Deposit forfeited to the seller",
        ),
        "refunded by the collecting authority": ("由征收机关退还", "Refunded by the collecting authority"),
        "late fees reversed: the 定金 is applied instead (Civil Code art. 588)": (
            "违约金冲回：改按定金罚则处理（《民法典》第五百八十八条）",
            "Late fees reversed: the 定金 is applied instead (Civil Code art. 588)",
        ),
        "unknown_account": ("收款账号无对应报名", "No application has this account"),
        "application_rejected": ("报名未获通过", "The application was rejected"),
        "application_closed": ("报名已结束", "The application is closed"),
        "listing_cancelled": ("本次交易已终止", "The listing was cancelled"),
        "listing_failed": ("本次交易已流拍", "The listing failed"),
        "listing_closed": ("本次交易已结束", "The listing is over"),
        "after_deadline": ("保证金逾期到账", "Arrived after the deadline"),
        "overpaid": ("超额付款", "Overpaid"),
    }
)
"""The ledger's fixed memos (English in the database) and its suspense reasons, as people read them."""

INSTALLMENT_LABEL_LABELS = _words(
    {
        "contract": ("签订合同时（交易服务费）", "At the contract (service fee)"),
        "fee": ("交易服务费", "Service fee"),
        "service_fee": ("交易服务费", "Service fee"),
        "first": ("首期价款", "First instalment"),
        "balance": ("剩余价款", "Balance"),
        "full": ("全部价款及交易服务费", "Full price and fee"),
        "full_price": ("全部成交价款", "Full price"),
    }
)
"""A payment schedule line's ``label`` (``settlement.schedule``); ``rent_<n>`` is the n-th year's rent."""


def installment_words(key: str | None, lang: str = "zh") -> str:
    """An instalment's label in words: ``first`` -> 首期价款, ``rent_2`` -> 第 2 年租金 (a lease's
    yearly rent has one label per year, so it is no table entry)."""
    if key and key.startswith("rent_") and key[5:].isdigit():
        year = int(key[5:])
        return f"Rent, year {year}" if lang == "en" else f"第 {year} 年租金"
    found = INSTALLMENT_LABEL_LABELS.get(key or "")
    return found.in_language(lang) if found else (key or "")


QUANTITY_UNIT_LABELS = _words({"t/a": ("吨/年", "t/a"), "m3/a": ("立方米/年", "m³/a")})
"""A divisible right's quantity unit as the API spells it."""

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
    "failure_reason": FAILURE_REASON_LABELS,
    "ledger_kind": LEDGER_KIND_LABELS,
    "ledger_account": LEDGER_ACCOUNT_LABELS,
    "ledger_memo": LEDGER_MEMO_LABELS,
    "installment_label": INSTALLMENT_LABEL_LABELS,
    "quantity_unit": QUANTITY_UNIT_LABELS,
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
