"""Listing bodies that pass validation, for every asset class and method."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from exchange.clock import utcnow
from tests.support.attributes import VALID as VALID_ATTRIBUTES

SELLER = {
    "name": "苏州工业园区自然资源和规划局",
    "credit_code": "113205000141600402",
    "address": "苏州工业园区现代大道999号",
    "contact": "王先生 0512-66680000",
}
"""A seller (出让人) with a valid credit code (GB 32100)."""

DIVISIBLE = {"emission_right": ("12.500", "0.500", "t/a"), "water_right": ("500000", "1000", "m3/a")}


def attributes(asset_class: str) -> dict[str, Any]:
    return copy.deepcopy(VALID_ATTRIBUTES[asset_class])


def sandbox_schedule(
    start: datetime | None = None,
    *,
    registration: float = 1,
    registration_closes: float = 3,
    bidding: float = 4,
    closes: float = 60,
    extension: int = 5,
) -> dict[str, Any]:
    """Offsets in seconds from ``start`` (default: now)."""
    t0 = start or utcnow()

    def at(seconds: float) -> str:
        return (t0 + timedelta(seconds=seconds)).isoformat()

    return {
        "announce_at": at(0),
        "registration_opens_at": at(registration),
        "registration_closes_at": at(registration_closes),
        "bidding_opens_at": at(bidding),
        "bidding_closes_at": at(closes),
        "extension_seconds": extension,
    }


def statutory_schedule(asset_class: str) -> dict[str, Any]:
    """Comfortably inside every statutory profile (60 days' notice, a 20-day listing)."""
    t0 = utcnow()
    opens = t0 + timedelta(days=60)
    return {
        "announce_at": t0.isoformat(),
        "registration_opens_at": (t0 + timedelta(days=1)).isoformat(),
        "registration_closes_at": (opens - timedelta(days=2)).isoformat(),
        "bidding_opens_at": opens.isoformat(),
        "bidding_closes_at": (opens + timedelta(days=30)).isoformat(),
        "extension_seconds": 300,
    }


def listing_body(
    asset_class: str = "land_use_right",
    method: str = "english",
    *,
    schedule: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "asset_class": asset_class,
        "title": f"测试标的 {asset_class} {method}",
        "description": "测试用挂牌公告。",
        "attributes": attributes(asset_class),
        "method": method,
        "start_price": "1000000.00",
        "increment": "10000.00",
        "deposit": "200000.00",
        "schedule": schedule or sandbox_schedule(),
        # An operator decides each application (资格前审), as most tests expect; the defaults per class
        # and post-qualification have their own tests (test_post_qualification.py).
        "qualification": "pre",
    }
    if asset_class in ("land_use_right", "mining_right") or method == "dutch":
        body["reserve_price"] = "1100000.00" if method != "dutch" else "900000.00"
    if asset_class == "mining_right" and method in ("english", "dutch", "sealed_bid"):
        body["min_bidders"] = 3
    # The parties the statutory profile requires to publish (issue 16); their own tests: test_parties.py.
    body["seller"] = dict(SELLER)
    body["announcement_number"] = "测试公告〔2026〕1号"
    if method == "uniform_price":
        quantity, lot, unit = DIVISIBLE[asset_class]
        # a deposit covering bids worth 100 times it: tests of other rules bid freely on the one
        # deposit they pay (the guarantee has its own tests, test_uniform_groups_and_guarantee.py)
        body.update(quantity=quantity, lot=lot, unit=unit, max_bidder_share="0.5", bid_guarantee_ratio="0.01")
    body.update(overrides)
    return body
