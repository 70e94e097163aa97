"""Request and response bodies of the listing endpoints.

The public ``Listing`` has ``has_reserve`` and the reserve's commitment, never the
reserve price or its salt; only staff get ``ListingStaffView``. Keep it that way: the
reserve is secret until the close.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from exchange.vocabulary import AssetClass, ListingStatus, Method

AwareDateTime = Annotated[datetime, msgspec.Meta(tz=True)]
Money = Annotated[str, msgspec.Meta(pattern=r"^-?[0-9]+(\.[0-9]{1,2})?$", examples=["1250000.00"])]
Decimal_ = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]+)?$")]
BidSignatures = Literal["none", "optional", "required"]
"""Whether bids are signed by their bidders (``auctions.bid_signatures``)."""
Sort = Literal["id", "-id", "bidding_opens_at", "-bidding_opens_at", "start_price", "-start_price"]


class CatalogueFilters(msgspec.Struct, frozen=True):
    """What the catalogue (API and page) may be narrowed and ordered by."""

    asset_class: AssetClass | None = None
    status: ListingStatus | None = None
    method: Method | None = None
    region: str | None = None
    sort: Sort = "-id"
    q: str | None = None
    """Keywords: every word must occur in the title, the parcel code, the location or the seller
    (case-insensitive for ASCII letters)."""


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    announce_at: AwareDateTime
    registration_opens_at: AwareDateTime
    registration_closes_at: AwareDateTime
    bidding_opens_at: AwareDateTime
    bidding_closes_at: AwareDateTime
    extension_seconds: Annotated[int, msgspec.Meta(ge=1, le=86400)] = 300


SellerName = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
AnnouncementNumber = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, examples=["苏地网挂〔2026〕12号"])
]
PublicityDays = Annotated[int, msgspec.Meta(ge=0, le=250)]


class Seller(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """出让人 / 转让方: the organisation that sells, as the announcement and the confirmation name it."""

    name: SellerName
    credit_code: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    """统一社会信用代码 (GB 32100), checked; stored upper case without spaces."""
    address: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    contact: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    """Contact person and telephone, free text."""


class ListingCreate(msgspec.Struct, forbid_unknown_fields=True):
    asset_class: AssetClass
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    attributes: dict[str, Any]
    method: Method
    start_price: Money
    increment: Money
    deposit: Money
    schedule: ScheduleIn
    description: Annotated[str, msgspec.Meta(max_length=20000)] = ""
    reserve_price: Money | None = None
    price_cap: Money | None = None
    cap_rule: Literal["lottery"] | None = None
    lottery_window_seconds: Annotated[int, msgspec.Meta(ge=1)] | None = None
    quantity: Decimal_ | None = None
    lot: Decimal_ | None = None
    unit: str | None = None
    max_bidder_share: Decimal_ | None = None
    bid_guarantee_ratio: Decimal_ | None = None
    """uniform_price: a bidder's bids, priced, times this ratio must be covered by its deposit (default 1)."""
    min_bidders: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    freeze_seconds: Annotated[int, msgspec.Meta(ge=0)] | None = None
    award_rule: Literal["highest", "closest_to_average"] | None = None
    undersubscribed: Literal["cancel", "sell_available"] | None = None
    pricing: Literal["uniform", "pay_as_bid"] | None = None
    qualification: Literal["pre", "post"] | None = None
    """资格前审 or 资格后审; without it, the default of the asset class and method (``listings.qualification``)."""
    seller: Seller | None = None
    """出让人 / 转让方; required to publish under the statutory profile (422 ``seller_missing``)."""
    announcement_number: AnnouncementNumber | None = None
    """The announcement's 文号; required to publish under the statutory profile."""
    publicity_working_days: PublicityDays | None = None
    """公示 of the result in working days (sandbox: seconds); without it, the profile's default
    (statutory: mining rights 10, others 5; sandbox 0)."""
    payment_terms: dict[str, Any] | None = None
    """The JSON of the payment terms (``exchange.settlement_terms``); without it, the class default
    of the settings (leased land: an annual rent for its term)."""
    bid_signatures: BidSignatures | None = None
    """Bids signed by their bidders' registered keys: ``none`` (default), ``optional`` or ``required``.
    Where the deployment's ``EXCHANGE_SIGNED_BIDS_REQUIRED`` names the listing's class, the listing
    takes ``required`` whatever is sent (set when the listing is created or edited)."""


class ListingUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """A draft's edit, as a JSON merge patch (RFC 7396) of the creation fields but ``asset_class``.

    A field left out keeps its value; ``null`` clears an optional one (a reserve, a
    price cap, a parameter the new method does not take; ``description`` becomes
    empty). The fields a listing cannot be without take no ``null``. Unlike RFC
    7396, ``schedule`` and ``attributes`` are replaced whole, not merged: send them
    complete (a schedule without ``extension_seconds`` gets the default). The
    merged listing is validated as a whole. ``tests/integration/test_listings_api.py`` checks
    that these are the creation fields.
    """

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] | UnsetType = UNSET
    description: Annotated[str, msgspec.Meta(max_length=20000)] | UnsetType | None = UNSET
    attributes: dict[str, Any] | UnsetType = UNSET
    method: Method | UnsetType = UNSET
    start_price: Money | UnsetType = UNSET
    increment: Money | UnsetType = UNSET
    deposit: Money | UnsetType = UNSET
    schedule: ScheduleIn | UnsetType = UNSET
    reserve_price: Money | UnsetType | None = UNSET
    price_cap: Money | UnsetType | None = UNSET
    cap_rule: Literal["lottery"] | UnsetType | None = UNSET
    lottery_window_seconds: Annotated[int, msgspec.Meta(ge=1)] | UnsetType | None = UNSET
    quantity: Decimal_ | UnsetType | None = UNSET
    lot: Decimal_ | UnsetType | None = UNSET
    unit: str | UnsetType | None = UNSET
    max_bidder_share: Decimal_ | UnsetType | None = UNSET
    bid_guarantee_ratio: Decimal_ | UnsetType | None = UNSET
    min_bidders: Annotated[int, msgspec.Meta(ge=1, le=1000)] | UnsetType | None = UNSET
    freeze_seconds: Annotated[int, msgspec.Meta(ge=0)] | UnsetType | None = UNSET
    award_rule: Literal["highest", "closest_to_average"] | UnsetType | None = UNSET
    undersubscribed: Literal["cancel", "sell_available"] | UnsetType | None = UNSET
    pricing: Literal["uniform", "pay_as_bid"] | UnsetType | None = UNSET
    qualification: Literal["pre", "post"] | UnsetType | None = UNSET
    seller: Seller | UnsetType | None = UNSET
    announcement_number: AnnouncementNumber | UnsetType | None = UNSET
    publicity_working_days: PublicityDays | UnsetType | None = UNSET
    payment_terms: dict[str, Any] | UnsetType | None = UNSET
    bid_signatures: BidSignatures | UnsetType | None = UNSET

    def changes(self) -> dict[str, Any]:
        """The fields sent, with a cleared description as the empty text it is stored as."""
        sent = {k: v for k, v in msgspec.structs.asdict(self).items() if v is not UNSET}
        if "description" in sent and sent["description"] is None:
            sent["description"] = ""
        return sent


class Reason(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class Resume(msgspec.Struct, forbid_unknown_fields=True):
    schedule: ScheduleIn | None = None


class ReserveIn(msgspec.Struct, forbid_unknown_fields=True):
    reserve_price: Money | None


class ScheduleOut(msgspec.Struct):
    announce_at: datetime
    registration_opens_at: datetime
    registration_closes_at: datetime
    bidding_opens_at: datetime
    bidding_closes_at: datetime
    extension_seconds: int


class Listing(msgspec.Struct, omit_defaults=True):
    id: int
    asset_class: str
    method: str
    title: str
    description: str
    attributes: dict[str, Any]
    status: str
    start_price: str
    increment: str
    deposit: str
    has_reserve: bool
    schedule: ScheduleOut
    price_unit: str
    server_time: datetime
    qualification: Literal["pre", "post"]
    publicity_working_days: int
    """公示 of the result in working days (sandbox: seconds); 0: none."""
    region: str | None = None
    price_cap: str | None = None
    method_params: dict[str, Any] = msgspec.field(default_factory=dict)
    seed_commitment: str | None = None
    reserve_commitment: str | None = None
    """SHA-256 of ``"<reserve in fen | none>:<salt>"``, published when the reserve freezes (bidding
    opens; mining rights: publication); the result reveals reserve and salt (``listings.reserve``)."""
    reserve_committed_at: datetime | None = None
    status_reason: str | None = None
    published_at: datetime | None = None
    seller: Seller | None = None
    announcement_number: str | None = None
    payment_terms: dict[str, Any] = msgspec.field(default_factory=dict)
    """The payment terms in force (the class default for a listing stored before they existed)."""
    bid_signatures: BidSignatures = "none"
    """Whether a bid must (``required``) or may (``optional``) be signed by the bidder's registered
    key for this listing (``POST /api/v1/users/me/keys``); absent: ``none``, bids are not signed."""


class ListingStaffView(Listing, omit_defaults=True):
    """What operators, auditors and administrators see: the reserve too."""

    reserve_price: str | None = None
    created_by: int | None = None


class ListingPage(msgspec.Struct):
    items: list[Listing]
    page: int
    page_size: int
    total: int
