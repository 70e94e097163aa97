"""Validation of a listing's mechanism parameters (rules.md section 3).

Money arrives as integer fen (the API layer converts the yuan strings), so
every comparison here is exact. Each problem is a ``FieldError`` whose path is
the field of the listing body (``reserve_price``, ``schedule.extension_seconds``)
and whose code is stable; all problems are collected, not just the first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

from exchange.vocabulary import METHODS, Method
from listings.attributes import UNITS
from listings.fields import FieldError
from listings.profiles import excluded_method
from listings.qualification import QUALIFICATIONS, default_qualification

__all__ = [
    "DIVISIBLE_CLASSES",
    "MAX_FEN",
    "MethodParams",
    "validate_method",
]

AWARD_RULES = ("highest", "closest_to_average")
UNDERSUBSCRIBED = ("cancel", "sell_available")
PRICINGS = ("uniform", "pay_as_bid")
CAP_RULES = ("lottery",)

# Only rights sold by quantity can be cut into lots for a multi-unit auction.
DIVISIBLE_CLASSES = frozenset({"emission_right", "water_right"})
# The state sets a reserve (底价) for land (Order 39 art. 9) and mining
# rights (出让收益底价); a Dutch clock needs one as its floor.
RESERVE_REQUIRED_CLASSES = frozenset({"land_use_right", "mining_right"})
# The bid guarantee of a uniform-price auction covers the full value of the bids (17 CCR 95912(i),
# WCI); a listing may ask for less.
BID_GUARANTEE_RATIO = Fraction(1)
# Ten trillion yuan: far above any real price, far below BIGINT overflow even
# after adding increments, so arithmetic on fen never leaves int64.
MAX_FEN = 10**15
MAX_SECONDS = 7 * 24 * 3600

_Err = Callable[[str, str, str], None]
_ASCENDING: tuple[Method, ...] = ("english", "listing")
# A uniform-price auction may cap bids, but only single-winner sales draw lots.
_CAPPED: tuple[Method, ...] = ("english", "listing", "sealed_bid", "uniform_price")
_LOTTERY: tuple[Method, ...] = ("english", "listing", "sealed_bid")
_CLOCKED: tuple[Method, ...] = ("english", "listing", "dutch")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class MethodParams:
    """The mechanism part of a listing; money in fen, times in seconds."""

    method: str
    start_price: int
    increment: int  # bid step; the price tick of uniform_price; the clock step of dutch
    deposit: int
    reserve_price: int | None = None
    price_cap: int | None = None
    cap_rule: str | None = None
    lottery_window_seconds: int | None = None
    quantity: Decimal | None = None
    lot: Decimal | None = None
    unit: str | None = None
    max_bidder_share: Decimal | Fraction | None = None
    bid_guarantee_ratio: Decimal | Fraction | None = None
    extension_seconds: int | None = None  # schedule.extension_seconds in the API
    min_bidders: int = 1
    freeze_seconds: int | None = None
    award_rule: str | None = None
    undersubscribed: str | None = None
    pricing: str | None = None
    qualification: str | None = None  # 资格前审 or 资格后审; none: the class's default


def validate_method(asset_class: str, params: MethodParams) -> tuple[MethodParams | None, list[FieldError]]:
    """Check ``params`` for ``asset_class``.

    Returns the parameters with the mechanism's defaults filled in (award
    rule, pricing, ...) and no errors, or ``None`` and every error found.
    """
    errors: list[FieldError] = []

    def err(field: str, code: str, message: str) -> None:
        errors.append(FieldError(field, code, message))

    method = params.method
    if method not in METHODS:
        err("method", "method_invalid", f"{method!r} is not one of {', '.join(METHODS)}")
        return None, errors
    divisible = asset_class in DIVISIBLE_CLASSES
    if method == "uniform_price" and not divisible:
        err(
            "method",
            "method_not_allowed",
            f"uniform_price sells divisible rights, not {asset_class}",
        )
    excluded = excluded_method(asset_class, method)
    if excluded is not None:
        err("method", "method_not_allowed", excluded)

    _money(err, "start_price", params.start_price, "start_price_invalid", low=1)
    _money(err, "increment", params.increment, "increment_invalid", low=1)
    _money(err, "deposit", params.deposit, "deposit_invalid", low=0)
    start, step = params.start_price, params.increment
    prices_ok = not errors

    reserve = params.reserve_price
    if reserve is None:
        if method == "dutch":
            err("reserve_price", "reserve_required", "a Dutch auction needs a floor price")
        elif asset_class in RESERVE_REQUIRED_CLASSES:
            err("reserve_price", "reserve_required", f"{asset_class} listings need a reserve (底价)")
    elif _money(err, "reserve_price", reserve, "reserve_invalid", low=1) and prices_ok:
        if method == "dutch":
            if reserve > start:
                err("reserve_price", "reserve_above_start", "the floor is above the start price")
            elif (start - reserve) % step:
                err("reserve_price", "reserve_not_on_increment", _grid("the floor", start, step))
        elif reserve < start:
            err("reserve_price", "reserve_below_start", "the reserve is below the start price")

    _check_cap(err, params, prices_ok)
    if divisible or method != "uniform_price":  # else the lots have no unit to check
        _check_quantity(err, asset_class, params)

    ext = params.extension_seconds
    if method in _CLOCKED:
        if ext is None:
            err("schedule.extension_seconds", "extension_required", f"{method} needs it")
        elif not _seconds_ok(ext, 1):
            err("schedule.extension_seconds", "extension_invalid", _span(1))
    elif ext is not None and not _seconds_ok(ext, 0):
        # Sealed mechanisms ignore it, but a nonsense value is still an error.
        err("schedule.extension_seconds", "extension_invalid", _span(0))

    if isinstance(params.min_bidders, bool) or not 1 <= params.min_bidders <= 1000:
        err("min_bidders", "min_bidders_invalid", "must be between 1 and 1000")

    freeze = params.freeze_seconds
    if freeze is not None and method != "listing" and freeze != 0:
        err("freeze_seconds", "not_applicable", "applies only to the listing method")
    elif freeze is not None and not _seconds_ok(freeze, 0):
        err("freeze_seconds", "freeze_invalid", _span(0))

    award = _option(err, params, "award_rule", AWARD_RULES, ("sealed_bid",))
    undersubscribed = _option(err, params, "undersubscribed", UNDERSUBSCRIBED, ("uniform_price",))
    pricing = _option(err, params, "pricing", PRICINGS, ("uniform_price",))
    qualification = params.qualification or default_qualification(asset_class, method)
    if qualification not in QUALIFICATIONS:
        err("qualification", "qualification_invalid", f"{qualification!r} is not one of pre, post")
    elif qualification == "post" and method == "uniform_price":
        # The winner is reviewed after the close: a multi-unit auction has several, each with a share.
        err("qualification", "not_applicable", "post-qualification is for single-winner methods")

    if errors:
        return None, errors
    share, ratio = params.max_bidder_share, params.bid_guarantee_ratio
    if method == "uniform_price" and ratio is None:
        ratio = BID_GUARANTEE_RATIO
    return dataclasses.replace(
        params,
        award_rule=award,
        undersubscribed=undersubscribed,
        pricing=pricing,
        qualification=qualification,
        max_bidder_share=None if share is None else Fraction(share),  # exact, as auctions use it
        bid_guarantee_ratio=None if ratio is None else Fraction(ratio),
        unit=_UNIT_ALIASES.get(params.unit, params.unit) if params.unit else None,
    ), []


_UNIT_ALIASES = {"m³/a": "m3/a"}


def _check_cap(err: _Err, params: MethodParams, prices_ok: bool) -> None:
    cap, rule, method = params.price_cap, params.cap_rule, params.method
    window = params.lottery_window_seconds
    if cap is not None and method not in _CAPPED:
        err("price_cap", "not_applicable", f"applies only to {', '.join(_CAPPED)}")
    elif cap is not None and _money(err, "price_cap", cap, "cap_invalid", low=1) and prices_ok:
        start, reserve = params.start_price, params.reserve_price
        if cap <= start:
            err("price_cap", "cap_below_start", "the cap (限价) must be above the start price")
        elif reserve is not None and cap < reserve:
            err("price_cap", "cap_below_reserve", "the cap is below the reserve price")
        elif method in _ASCENDING and (cap - start) % params.increment:
            # Otherwise no valid step equals the cap and the cap rule never fires.
            err("price_cap", "cap_not_on_increment", _grid("the cap", start, params.increment))
    if rule is not None:
        if rule not in CAP_RULES:
            err("cap_rule", "cap_rule_invalid", f"{rule!r} is not one of {', '.join(CAP_RULES)}")
        elif method not in _LOTTERY:
            err("cap_rule", "not_applicable", f"applies only to {', '.join(_LOTTERY)}")
        elif method == "sealed_bid" and params.award_rule == "closest_to_average":
            # The winner is not whoever reaches the cap, so there is nobody to draw among.
            err("cap_rule", "cap_rule_conflict", "the cap lottery needs award_rule highest")
        elif cap is None:
            err("price_cap", "cap_required", "cap_rule needs a price_cap")
    if rule == "lottery":
        if window is None:
            err("lottery_window_seconds", "lottery_window_required", "the lottery needs it")
        elif not _seconds_ok(window, 1):
            err("lottery_window_seconds", "lottery_window_invalid", _span(1))
    elif window is not None and rule is None:
        err("lottery_window_seconds", "not_applicable", "applies only with cap_rule lottery")


def _check_quantity(err: _Err, asset_class: str, params: MethodParams) -> None:
    names = ("quantity", "lot", "unit", "max_bidder_share", "bid_guarantee_ratio")
    if params.method != "uniform_price":
        for name in names:
            if getattr(params, name) is not None:
                err(name, "not_applicable", "applies only to uniform_price")
        return
    info = UNITS.get(asset_class)
    places = info.quantity_places if info and info.quantity_places is not None else 0
    quantity = _amount(err, "quantity", params.quantity, places)
    lot = _amount(err, "lot", params.lot, places)
    if quantity is not None and lot is not None and quantity % lot:
        err(
            "quantity",
            "quantity_not_multiple_of_lot",
            f"{quantity} is not a whole number of lots of {lot}",
        )
    unit = _UNIT_ALIASES.get(params.unit or "", params.unit)
    expected = info.quantity_unit if info else None
    if unit is None:
        err("unit", "unit_required", f"give the quantity unit ({expected})")
    elif expected is not None and unit != expected:
        err("unit", "unit_invalid", f"{asset_class} is traded in {expected}, not {unit}")
    share = params.max_bidder_share
    if share is not None:
        if (isinstance(share, Decimal) and not share.is_finite()) or not 0 < share <= 1:
            err("max_bidder_share", "share_out_of_range", f"must be in (0, 1], got {share}")
        elif (
            quantity is not None and lot is not None and Fraction(share) * Fraction(quantity) < Fraction(lot)
        ):
            err("max_bidder_share", "share_below_lot", "no bidder could buy even one lot")
    ratio = params.bid_guarantee_ratio
    if ratio is not None and ((isinstance(ratio, Decimal) and not ratio.is_finite()) or not 0 < ratio <= 1):
        err("bid_guarantee_ratio", "guarantee_ratio_out_of_range", f"must be in (0, 1], got {ratio}")


def _amount(err: _Err, name: str, value: Decimal | None, places: int) -> Decimal | None:
    if value is None:
        err(name, f"{name}_required", "uniform_price needs it")
        return None
    exponent = value.as_tuple().exponent
    if not value.is_finite() or value <= 0:
        err(name, f"{name}_invalid", f"must be greater than 0, got {value}")
    elif isinstance(exponent, int) and -exponent > places:
        err(name, f"{name}_invalid", f"at most {places} decimal places (fixed scale)")
    else:
        return value
    return None


def _money(err: _Err, name: str, value: int, code: str, *, low: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        err(name, code, "must be an integer amount of fen")
        return False
    if not low <= value <= MAX_FEN:
        err(name, code, f"must be between {low} and {MAX_FEN} fen, got {value}")
        return False
    return True


def _seconds_ok(value: int, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= MAX_SECONDS


def _span(low: int) -> str:
    return f"must be a whole number of seconds between {low} and {MAX_SECONDS}"


def _grid(what: str, start: int, step: int) -> str:
    return f"{what} must be the start price plus a whole number of increments ({start} + k × {step})"


def _option(
    err: _Err, params: MethodParams, name: str, choices: tuple[str, ...], methods: tuple[str, ...]
) -> str | None:
    """A mechanism option: its default where it applies, an error elsewhere."""
    value = getattr(params, name)
    if params.method not in methods:
        if value is not None:
            err(name, "not_applicable", f"applies only to {', '.join(methods)}")
        return None
    if value is None:
        return choices[0]
    if value not in choices:
        err(name, f"{name}_invalid", f"{value!r} is not one of {', '.join(choices)}")
        return None
    return str(value)
