"""A document ready to issue, and the parts of a listing that every kind of document prints."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import exists

from auctions.mechanisms import Outcome
from auctions.terms import quantity_scale
from documents import data
from documents.data import DocumentData, DocumentKind
from documents.models import Document
from listings.attributes import UNITS
from listings.models import Listing


@dataclass(frozen=True)
class Draft:
    """What ``documents.store.issue`` is given to render and store, except how to render it."""

    key: str
    """The document's number, unique: issuing the same key again returns the stored document."""
    kind: DocumentKind
    name: str
    """What the document is called (``成交公示``); its title is the listing's title and this."""
    data: DocumentData
    owner_id: int | None = None
    """The bidder it is addressed to. Such a document is private: only that bidder and the staff
    may download it; every other one is public."""

    @property
    def listing_id(self) -> int:
        return self.data.listing.listing_id

    @property
    def title(self) -> str:
        return f"{self.data.listing.title} {self.name}"

    @property
    def public(self) -> bool:
        return self.owner_id is None


def listing_info(listing: Listing) -> data.ListingInfo:
    return data.ListingInfo(
        listing_id=listing.id,
        title=listing.title,
        asset_class=listing.asset_class,
        method=listing.method,
        region=listing.region,
        unit=UNITS[listing.asset_class].quantity_unit,
    )


def quantity(asset_class: str, units: int | None) -> Decimal | None:
    """A stored quantity (integer units of the class's fixed scale) in the listing's unit: 6000 -> 6.000."""
    if units is None:
        return None
    places = len(str(quantity_scale(asset_class))) - 1
    return Decimal(units).scaleb(-places)


def winner_lines(listing: Listing, outcome: Outcome, names: dict[str, str]) -> tuple[data.WinnerLine, ...]:
    return tuple(
        data.WinnerLine(
            bid_number=w.bidder,
            name=names.get(w.bidder, ""),
            price=w.price,
            quantity=quantity(listing.asset_class, w.quantity),
        )
        for w in outcome.winners
    )


def not_issued(key: Any) -> Any:
    """SQL: no document has this key (a column expression) yet."""
    return ~exists().where(Document.key == key)
