"""A document ready to issue, and the parts of a listing that every kind of document prints."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import exists

from auctions.mechanisms import Outcome
from auctions.terms import quantity_scale
from documents import data
from documents.data import DocumentData, DocumentKind
from documents.models import Document
from documents.numbers import RESOLUTION_ABBREVIATION, document_number, listing_code
from documents.wording import wording_for
from listings.attribute_fields import QUANTITY_KEYS, quantity_unit_zh
from listings.attributes import UNITS
from listings.models import Listing

__all__ = ["RESOLUTION_ABBREVIATION", "Draft", "document_number", "listing_code"]


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
    number: str | None = None
    """The printed document number (文件编号, :func:`document_number`); ``None``: the key."""

    @property
    def printed_number(self) -> str:
        return self.number or self.key

    @property
    def listing_id(self) -> int:
        return self.data.listing.listing_id

    @property
    def title(self) -> str:
        return f"{self.data.listing.title} {self.name}"

    @property
    def public(self) -> bool:
        return self.owner_id is None


def seller_of(listing: Listing) -> data.Party:
    """The seller (出让人 / 转让方) as the listing names it (all ``None`` on listings from before issue 16)."""
    return data.Party(
        name=listing.seller_name,
        credit_code=listing.seller_credit_code,
        address=listing.seller_address,
        contact=listing.seller_contact,
    )


def listing_info(listing: Listing) -> data.ListingInfo:
    code = listing_code(listing.id, listing.created_at)
    return data.ListingInfo(
        listing_id=listing.id,
        code=code,
        reference=code,
        title=listing.title,
        asset_class=listing.asset_class,
        method=listing.method,
        region=listing.region,
        unit=UNITS[listing.asset_class].quantity_unit,
        unit_zh=quantity_unit_zh(listing.asset_class),
        wording=wording_for(listing.asset_class, listing.attributes),
        seller=seller_of(listing),
        announcement_number=listing.announcement_number,
        publicity_working_days=listing.publicity_working_days,
    )


def lot_quantity(listing: Listing) -> Decimal | None:
    """The whole quantity a listing of a divisible right offers (attributes or method terms)."""
    key = QUANTITY_KEYS.get(listing.asset_class)
    value = listing.method_params.get("quantity") or (listing.attributes.get(key) if key else None)
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def quantity(asset_class: str, units: int | None) -> Decimal | None:
    """A stored quantity (integer units of the class's fixed scale) in the listing's unit: 6000 -> 6.000."""
    if units is None:
        return None
    places = len(str(quantity_scale(asset_class))) - 1
    return Decimal(units).scaleb(-places)


def winner_lines(listing: Listing, outcome: Outcome, names: dict[str, str]) -> tuple[data.WinnerLine, ...]:
    """Each winner with what it pays: for a divisible right its quantity, unit price and total
    (uniform price: the price is per unit; a whole lot at one price, a Dutch clock: per lot)."""
    unit = UNITS[listing.asset_class].quantity_unit is not None
    lines = []
    for w in outcome.winners:
        amount = quantity(listing.asset_class, w.quantity)
        unit_price: Fraction | None = None
        total: int | None = w.price
        if unit and amount is not None:
            unit_price = Fraction(w.price)
            total = round(Fraction(w.price) * Fraction(amount))
        elif unit:
            amount = lot_quantity(listing)
            unit_price = Fraction(w.price) / Fraction(amount) if amount else None
        lines.append(
            data.WinnerLine(
                bid_number=w.bidder,
                name=names.get(w.bidder, ""),
                price=w.price,
                quantity=amount,
                unit_price=unit_price,
                total=total,
            )
        )
    return tuple(lines)


def not_issued(key: Any) -> Any:
    """SQL: no document has this key (a column expression) yet."""
    return ~exists().where(Document.key == key)
