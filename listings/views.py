"""Listing rows to response bodies. The public view never carries the reserve, its salt or the seed."""

from __future__ import annotations

from datetime import datetime

from exchange.money import format_yuan
from exchange.settlement_terms import terms_to_json
from listings.attributes import UNITS
from listings.models import Listing as ListingRow
from listings.schemas import Listing, ListingStaffView, ScheduleOut
from listings.services import seller_of, terms_of


def _schedule(row: ListingRow) -> ScheduleOut:
    return ScheduleOut(
        announce_at=row.announce_at,
        registration_opens_at=row.registration_opens_at,
        registration_closes_at=row.registration_closes_at,
        bidding_opens_at=row.bidding_opens_at,
        bidding_closes_at=row.bidding_closes_at,
        extension_seconds=row.extension_seconds,
    )


def public_view(row: ListingRow, now: datetime) -> Listing:
    return Listing(
        id=row.id,
        asset_class=row.asset_class,
        method=row.method,
        title=row.title,
        description=row.description,
        attributes=row.attributes,
        status=row.status,
        start_price=format_yuan(row.start_price),
        increment=format_yuan(row.increment),
        deposit=format_yuan(row.deposit),
        has_reserve=row.reserve_price is not None,
        schedule=_schedule(row),
        price_unit=UNITS[row.asset_class].price_unit,
        server_time=now,
        qualification=row.qualification,  # type: ignore[arg-type]
        region=row.region,
        price_cap=format_yuan(row.price_cap) if row.price_cap is not None else None,
        method_params=dict(row.method_params),
        seed_commitment=row.seed_commitment,
        reserve_commitment=row.reserve_commitment,
        reserve_committed_at=row.reserve_committed_at,
        status_reason=row.status_reason,
        published_at=row.published_at,
        seller=seller_of(row),
        announcement_number=row.announcement_number,
        publicity_working_days=row.publicity_working_days,
        payment_terms=terms_to_json(terms_of(row)),
        bid_signatures=row.bid_signatures,  # type: ignore[arg-type]
    )


def staff_view(row: ListingRow, now: datetime) -> ListingStaffView:
    public = public_view(row, now)
    return ListingStaffView(
        **{f: getattr(public, f) for f in public.__struct_fields__},
        reserve_price=format_yuan(row.reserve_price) if row.reserve_price is not None else None,
        created_by=row.created_by,
    )
