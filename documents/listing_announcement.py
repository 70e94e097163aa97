"""出让公告 (转让公告, 许可公告, 交易公告): the listing announcement, issued once the listing's
announcement date has come."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from documents import data
from documents.drafts import Draft, document_number, listing_info, lot_quantity
from documents.terms_text import describe
from listings.attribute_fields import document_rows
from listings.models import Listing
from listings.services import decimal_text, schedule_of


def key(listing_id: int) -> str:
    return f"listing_announcement:{listing_id}"


def _attributes(listing: Listing) -> tuple[data.Attribute, ...]:
    """Every attribute with its Chinese label and unit from ``listings.attribute_fields`` (the one
    vocabulary), its value as people read it; never a raw key."""
    return tuple(
        data.Attribute(label=label, value="\n".join(lines))
        for label, lines in document_rows(listing.asset_class, listing.attributes)
    )


def announcement(listing: Listing) -> data.ListingAnnouncement:
    """The reserve amount is not even an input: only whether there is one, and its commitment."""
    terms = listing.payment_terms or {}
    return data.ListingAnnouncement(
        listing=listing_info(listing),
        description=listing.description,
        attributes=_attributes(listing),
        start_price=listing.start_price,
        increment=listing.increment,
        deposit=listing.deposit,
        has_reserve=listing.reserve_price is not None,
        schedule=data.Schedule(**msgspec.structs.asdict(schedule_of(listing))),
        seed_commitment=listing.seed_commitment,
        reserve_commitment=listing.reserve_commitment,
        award_rule=listing.method_params.get("award_rule"),
        price_cap=listing.price_cap,
        cap_rule=listing.method_params.get("cap_rule"),
        max_bidder_share=_ratio(listing, "max_bidder_share"),
        bid_guarantee_ratio=_ratio(listing, "bid_guarantee_ratio"),
        qualification=listing.qualification,
        quantity=lot_quantity(listing),
        payment_terms=describe(terms),
        contract_working_days=_whole(terms.get("contract_working_days")) if terms else None,
    )


def _ratio(listing: Listing, name: str) -> Decimal | None:
    value = listing.method_params.get(name)
    return None if value is None else Decimal(decimal_text(value))


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def draft(listing: Listing) -> Draft:
    info = listing_info(listing)
    return Draft(
        key(listing.id),
        "listing_announcement",
        info.words.announcement,
        announcement(listing),
        number=document_number(info, "listing_announcement"),
    )
