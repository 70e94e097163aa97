"""A listing's terms as the mechanism reads them: its row as ``Params`` (money in fen, quantities in
the fixed scale of its asset class). Checking ``Params`` is the mechanisms' own (``mechanisms/params.py``)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from auctions.mechanisms import Params
from listings.attributes import UNITS
from listings.models import Listing


def quantity_scale(asset_class: str) -> int:
    places: int = UNITS[asset_class].quantity_places or 0
    return int(10**places)


def to_units(asset_class: str, text: str | Decimal) -> int:
    """``"12.500"`` t/a -> 12500 (three places for emission rights)."""
    scaled = Decimal(text) * quantity_scale(asset_class)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text} has more decimal places than {asset_class} quantities allow")
    return int(scaled)


def from_units(asset_class: str, units: int) -> str:
    places = UNITS[asset_class].quantity_places or 0
    return f"{Decimal(units) / quantity_scale(asset_class):.{places}f}"


def params_of(listing: Listing) -> Params:
    extra = listing.method_params
    share = extra.get("max_bidder_share")
    ratio = extra.get("bid_guarantee_ratio")
    quantity = extra.get("quantity")
    lot = extra.get("lot")
    return Params(
        method=listing.method,  # type: ignore[arg-type]
        opens_at=listing.bidding_opens_at,
        closes_at=listing.bidding_closes_at,
        start_price=listing.start_price,
        increment=listing.increment,
        reserve_price=listing.reserve_price,
        price_cap=listing.price_cap,
        cap_rule=extra.get("cap_rule"),
        lottery_window_seconds=int(extra.get("lottery_window_seconds") or 0),
        extension_seconds=listing.extension_seconds,
        min_bidders=int(extra.get("min_bidders") or 1),
        freeze_seconds=int(extra.get("freeze_seconds") or 0),
        award_rule=extra.get("award_rule") or "highest",
        quantity=to_units(listing.asset_class, quantity) if quantity is not None else None,
        lot=to_units(listing.asset_class, lot) if lot is not None else 1,
        max_bidder_share=Fraction(share) if share is not None else None,
        bid_guarantee_ratio=Fraction(ratio) if ratio is not None else None,
        quantity_scale=quantity_scale(listing.asset_class),
        undersubscribed=extra.get("undersubscribed") or "cancel",
        pricing=extra.get("pricing") or "uniform",
        seed=bytes.fromhex(listing.seed) if listing.seed else None,
        # 挂牌 registration running into the listing period (``listings.registration_window``)
        late_registration=listing.registration_closes_at > listing.bidding_opens_at,
    )
