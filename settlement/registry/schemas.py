"""Request and response bodies of the registry's API (``settlement.registry.controllers``).

Quantities are integers of the instrument's smallest unit (kg/a for emission rights, m³/a for
water rights); prices are yuan strings with at most two decimals, as everywhere in the API.
Views name parties only to whom may see them: a holder sees its own account and its own
trades' counterparties, staff see everything, the public sees aggregates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from listings.schemas import Money

MAX_QUANTITY = 10**15
"""The largest quantity accepted (10^15 kg/a or m³/a): far above any lot, and small enough that
sums of many stay 64-bit integers on both databases (``exchange.money.MAX_FEN`` likewise)."""
MAX_ID = 2**63 - 1
Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY, description="Smallest units (kg/a, m3/a)")]
RegionCode = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9]{6}$", examples=["320500"], description="GB/T 2260 division code")
]
Basin = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["太湖流域"])]
CreditCode = Annotated[
    str, msgspec.Meta(min_length=1, max_length=32, examples=["91320594MA1MXXXX0X"], description="GB 32100")
]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
RightType = Literal["emission", "water"]
Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


class HolderCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Open a registry account (one per legal subject, rule 1).

    A bidder opens its own: its enterprise's credit code and name are taken from its account, so
    it sends only where it is. A registrar opens one for any enterprise and names it."""

    region_code: RegionCode
    basin: Basin | None = None
    credit_code: CreditCode | None = None
    """Registrar only (a bidder's own is used)."""
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    """Registrar only (a bidder's own is used)."""


class HolderView(msgspec.Struct):
    id: int
    credit_code: str
    name: str
    region_code: str
    basin: str | None
    created_at: datetime
    verified: bool
    """The registrar has confirmed the region and basin: until then the holder trades nothing."""
    verified_at: datetime | None


class HolderVerify(msgspec.Struct, forbid_unknown_fields=True):
    """The registrar confirms where a holder is, correcting what the enterprise declared."""

    region_code: RegionCode | None = None
    """Left out: the declared region stands."""
    basin: Basin | UnsetType | None = UNSET
    """Left out: the declared basin stands; null: the holder is in no basin."""


class InstrumentView(msgspec.Struct):
    """One lot of one right, as issued (rule 2)."""

    id: int
    right_type: str
    sub_type: str
    """Emission: the pollutant; water: the trade type."""
    region_code: str
    basin: str | None
    water_source: str | None
    unit: str
    valid_from: date
    valid_until: date
    """The first day the lot is no longer valid."""
    origin: str
    permit_reference: str | None


class InstrumentDetail(InstrumentView):
    """An instrument with its issuance record (staff and registrar)."""

    legal_basis: str = ""
    issued: int = 0
    """The cap: every unit of the instrument ever issued."""
    in_reserve: int = 0
    created_at: datetime | None = None


class HoldingView(msgspec.Struct):
    instrument: InstrumentView
    available: int
    """May be offered, pledged or surrendered now."""
    held: int
    """On offer or under an agreement."""
    pledged: int
    frozen: int
    total: int


class TradeView(msgspec.Struct):
    delivery_id: int
    instrument_id: int
    quantity: int
    price: str
    """The whole price, yuan."""
    via: Literal["auction", "agreement"]
    listing_id: int | None
    agreement_id: int | None
    counterparty: str | None
    """The other side; ``null``: the government's reserve."""
    status: str
    permit_change: str | None
    delivered_at: datetime | None


class PledgeLineView(msgspec.Struct):
    id: int
    instrument_id: int
    quantity: int
    pledgee_name: str
    contract_reference: str
    status: str
    created_at: datetime
    ended_at: datetime | None


class SurrenderLineView(msgspec.Struct):
    id: int
    obligation_id: int
    year: int
    instrument_id: int
    quantity: int
    created_at: datetime


class ComplianceView(msgspec.Struct):
    obligation_id: int
    year: int
    right_type: str
    sub_type: str
    verified: int
    surrendered: int
    shortfall: int
    compliant: bool


class GreenAccountView(msgspec.Struct):
    """绿色责任账户: one holder's holdings, trades, pledges, surrenders and compliance."""

    holder: HolderView
    holdings: list[HoldingView]
    acquisitions: list[TradeView]
    sales: list[TradeView]
    pledges: list[PledgeLineView]
    surrenders: list[SurrenderLineView]
    compliance: list[ComplianceView]
    compliant: bool
    """No obligation with a shortfall."""
    audit_head: str
    """The registry audit chain's head as of this statement."""


class MovementView(msgspec.Struct):
    entry_id: int
    transaction_id: int
    kind: str
    instrument_id: int
    account_kind: str
    amount: int
    """Signed: positive into the account."""
    memo: str
    at: datetime


class MovementPage(msgspec.Struct):
    items: list[MovementView]
    page: int
    page_size: int
    total: int


class IssuanceCreate(msgspec.Struct, forbid_unknown_fields=True):
    """An issuance (初始分配): a new instrument, its cap into the reserve, then to a holder if named."""

    right_type: RightType
    sub_type: Annotated[str, msgspec.Meta(min_length=1, max_length=32, examples=["cod"])]
    region_code: RegionCode
    valid_from: date
    valid_until: date
    origin: Literal["paid", "free"]
    legal_basis: Text
    """The decision or document the issuance rests on (文号)."""
    quantity: Quantity
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    """Idempotency key: the same reference issues once."""
    basin: Basin | None = None
    water_source: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    permit_reference: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    holder_credit_code: CreditCode | None = None
    """Allocate to this holder; none: the quantity stays in the reserve."""


class IssuanceView(msgspec.Struct):
    instrument: InstrumentView
    transaction_id: int


class OfferCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Offer part of a holding (a bidder, from its own) or of the reserve (a registrar)."""

    instrument_id: Id
    quantity: Quantity


class OfferView(msgspec.Struct):
    id: int
    holder_id: int | None
    """``null``: the reserve."""
    instrument_id: int
    quantity: int
    status: str
    listing_id: int | None
    created_at: datetime
    decided_at: datetime | None
    reason: str | None


class RegistryReason(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text


class AgreementCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A negotiated transfer (协议转让): a seller's quantity to a named buyer for a whole price."""

    buyer_credit_code: CreditCode
    instrument_id: Id
    quantity: Quantity
    price: Money
    """The whole price in yuan."""
    seller_credit_code: CreditCode | None = None
    """An operator acting for both parties names the seller; a bidder sells its own."""


class AgreementView(msgspec.Struct, omit_defaults=True):
    """An agreement under 公示 is public (parties, terms, dates); its payment account is the parties'."""

    id: int
    seller: str
    buyer: str
    instrument_id: int
    quantity: int
    price: str
    status: str
    publicity_ends_at: datetime
    created_at: datetime
    seller_credit_code: str | None = None
    buyer_credit_code: str | None = None
    """To the public only while the agreement is under 公示 or delivered (the parties and staff
    always): a cancelled negotiation keeps the parties' names, not their codes."""
    confirmed_at: datetime | None = None
    reason: str | None = None
    payment_account: str | None = None
    """To the parties and staff only: where the buyer pays."""


class AgreementObjectionCreate(msgspec.Struct, forbid_unknown_fields=True):
    reasons: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class AgreementObjectionAnswer(msgspec.Struct, forbid_unknown_fields=True):
    """``dismissed``: the 公示 goes on; ``upheld``: the agreement is cancelled and the quantity released."""

    decision: Literal["dismissed", "upheld"]
    answer: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class AgreementObjectionView(msgspec.Struct):
    id: int
    agreement_id: int
    status: str
    filed_at: datetime
    answer: str | None
    answered_at: datetime | None


class DeliveryView(msgspec.Struct):
    id: int
    reference: str
    listing_id: int | None
    agreement_id: int | None
    seller_id: int | None
    buyer_id: int
    instrument_id: int
    quantity: int
    price: str
    status: str
    permit_change: str | None
    created_at: datetime
    delivered_at: datetime | None


class PledgeCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A pledge (质押) of part of a holding to a named pledgee: frozen until released or enforced."""

    instrument_id: Id
    quantity: Quantity
    pledgee_name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    pledgee_code: CreditCode
    contract_reference: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    holder_credit_code: CreditCode | None = None
    """A registrar registering for a holder names it; a bidder pledges its own."""


class PledgeEnforce(msgspec.Struct, forbid_unknown_fields=True):
    """Enforcement: the pledged quantity moves to the creditor's holding."""

    creditor_credit_code: CreditCode


class PledgeView(msgspec.Struct):
    id: int
    holder_id: int
    instrument_id: int
    quantity: int
    pledgee_name: str
    pledgee_code: str
    contract_reference: str
    status: str
    created_at: datetime
    ended_at: datetime | None


class ObligationCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A holder's verified annual emissions or water use (核定排放量 / 用水量), entered by the registrar."""

    holder_credit_code: CreditCode
    right_type: RightType
    sub_type: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    quantity: Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)]


class ObligationView(msgspec.Struct):
    id: int
    holder_id: int
    right_type: str
    sub_type: str
    year: int
    verified_quantity: int
    created_at: datetime


SurrenderReference = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]


class SurrenderCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Surrender (履约) quantity of one instrument against one of the caller's obligations."""

    obligation_id: Id
    instrument_id: Id
    quantity: Quantity
    reference: SurrenderReference | None = None
    """The surrender's idempotency key, as the ``Idempotency-Key`` header: a repeat returns the
    surrender booked the first time."""


class SurrenderView(msgspec.Struct):
    id: int
    obligation_id: int
    instrument_id: int
    quantity: int
    transaction_id: int
    created_at: datetime


class StatisticsView(msgspec.Struct):
    """One right type, sub-type and region: public, naming nobody."""

    right_type: str
    sub_type: str
    region_code: str
    unit: str
    issued: int
    volume_traded: int
    value: str
    """Yuan paid for what was delivered."""
    average_unit_price: str | None
    """Yuan per unit, four places; ``null`` before the first trade."""
    trades: int
    holders: int
