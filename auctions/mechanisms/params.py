"""Which parameter combinations a mechanism can run with.

The listing service can call `params_problems` at publication so that an
auction never fails at its opening because of a typo in its parameters.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from exchange.vocabulary import METHODS

from .draw import MIN_SEED_BYTES
from .types import Params


class ParamsError(ValueError):
    """The parameters cannot run; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def params_problems(p: Params) -> list[str]:
    problems: list[str] = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    need(p.method in METHODS, f"unknown method {p.method!r}")
    need(is_aware(p.opens_at) and is_aware(p.closes_at), "times must be timezone-aware")
    if problems:
        return problems
    need(p.closes_at > p.opens_at, "closes_at must be after opens_at")
    need(p.start_price >= 0, "start_price must be >= 0")
    need(p.increment >= 1, "increment must be >= 1 fen")
    need(p.reserve_price is None or p.reserve_price >= 0, "reserve_price must be >= 0")
    need(p.min_bidders >= 1, "min_bidders must be >= 1")
    need(p.extension_seconds >= 0, "extension_seconds must be >= 0")
    if p.price_cap is not None:
        need(p.price_cap >= p.start_price, "price_cap must be >= start_price")
        need(
            p.reserve_price is None or p.reserve_price <= p.price_cap,
            "reserve_price above price_cap can never sell",
        )
    if p.seed is not None:
        need(len(p.seed) >= MIN_SEED_BYTES, f"seed must have >= {MIN_SEED_BYTES} bytes")

    if p.cap_rule is not None:
        need(p.cap_rule == "lottery", f"unknown cap_rule {p.cap_rule!r}")
        need(p.price_cap is not None, "cap_rule needs price_cap")
        need(p.lottery_window_seconds > 0, "cap_rule lottery needs lottery_window_seconds > 0")
        need(p.seed is not None, "cap_rule lottery needs a committed seed")
        need(
            p.method in ("english", "listing") or (p.method == "sealed_bid" and p.award_rule == "highest"),
            "cap_rule lottery applies to english, listing and sealed_bid with award_rule highest",
        )

    if p.method == "listing":
        need(p.extension_seconds > 0, "listing needs extension_seconds > 0 for the timed phase")
        need(p.freeze_seconds >= 0, "freeze_seconds must be >= 0")
        need(
            p.closes_at - p.opens_at > timedelta(seconds=p.freeze_seconds),
            "freeze_seconds must leave part of the listing period open",
        )
    elif p.method == "sealed_bid":
        need(p.award_rule in ("highest", "closest_to_average"), "unknown award_rule")
    elif p.method == "dutch":
        need(p.extension_seconds > 0, "dutch needs extension_seconds > 0 (the clock step)")
        need(p.start_price >= 1, "dutch needs start_price >= 1")
        need(p.price_cap is None, "dutch takes no price_cap")
        need(
            p.reserve_price is None or p.reserve_price <= p.start_price,
            "dutch reserve_price must be <= start_price",
        )
    elif p.method == "uniform_price":
        need(p.price_cap is None or p.cap_rule is None, "uniform_price has no cap lottery")
        need(p.lot >= 1, "lot must be >= 1")
        need(
            p.quantity is not None and p.quantity >= p.lot and p.quantity % p.lot == 0,
            "quantity must be a positive multiple of lot",
        )
        need(
            p.max_bidder_share is None or 0 < p.max_bidder_share <= 1,
            "max_bidder_share must be in (0, 1]",
        )
        need(
            p.bid_guarantee_ratio is None or 0 < p.bid_guarantee_ratio <= 1,
            "bid_guarantee_ratio must be in (0, 1]",
        )
        need(p.quantity_scale >= 1, "quantity_scale must be >= 1")
        need(p.undersubscribed in ("cancel", "sell_available"), "unknown undersubscribed")
        need(p.pricing in ("uniform", "pay_as_bid"), "unknown pricing")
        need(p.seed is not None, "uniform_price needs a committed seed for tie-breaking")
    return problems


def check_params(p: Params) -> None:
    problems = params_problems(p)
    if problems:
        raise ParamsError(problems)
