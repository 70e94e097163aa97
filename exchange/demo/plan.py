"""What the demo sells: one lot per asset class and mechanism, staggered in time.

Offsets are seconds at ``time_scale`` 1 (a newcomer watching in real time);
the tests run the same plan at a small scale. Every lot is sold by sandbox
rules, so periods as short as a second are accepted; the 公示 (publicity) of a
result is counted in seconds too. Every lot names its seller and its 文号.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from listings.samples import attributes_of, seller_of


@dataclass(frozen=True)
class Lot:
    key: str
    """Short name used in the progress output."""
    asset_class: str
    method: str
    title: str
    opens_after: float
    """Seconds from the end of seeding to the opening of bidding (scaled)."""
    runs_for: float
    """Seconds the bidding runs before its scheduled close (scaled)."""
    extension: float
    """english/listing countdown extension, dutch clock step (scaled, at least 1 s)."""
    budgets: tuple[str, ...]
    """What each bot will pay at most (yuan; per unit for uniform price)."""
    body: dict[str, Any] = field(default_factory=dict)
    """Mechanism fields of the listing body: prices, reserve, cap, quantity."""
    for_guest: bool = False
    """The lot the printed guest bidder is qualified in."""
    publicity: float = 0
    """Seconds (scaled) its result stays on display (公示) after the close, open to objections:
    the sandbox counts ``publicity_working_days`` as seconds; 0 confirms the sale at once."""
    registration_at_least: float = 0
    """Seconds (not scaled: a person types at one speed) its registration stays open at least,
    from the end of seeding: the lot a newcomer applies to by hand."""


LOTS: tuple[Lot, ...] = (
    Lot(
        "A",
        "land_use_right",
        "english",
        "苏州工业园区星湖街地块（英式拍卖）",
        opens_after=30,
        runs_for=180,
        extension=30,
        budgets=("1150000.00", "1230000.00", "1300000.00"),
        body={
            "start_price": "1000000.00",
            "increment": "10000.00",
            "deposit": "200000.00",
            "reserve_price": "1100000.00",
        },
        publicity=90,  # the first sale: time for a newcomer to file an objection on its result page
    ),
    Lot(
        "B",
        "emission_right",
        "uniform_price",
        "宁夏化学需氧量排污权（统一价格拍卖）",
        opens_after=40,
        runs_for=120,
        extension=30,
        budgets=("21500.00", "23000.00", "24500.00"),
        body={
            "start_price": "20000.00",
            "increment": "100.00",
            "deposit": "50000.00",
            "quantity": "12.500",
            "lot": "0.500",
            "unit": "t/a",
            "max_bidder_share": "0.5",
            "bid_guarantee_ratio": "0.2",  # the deposit covers bids worth five times it
        },
    ),
    Lot(
        "C",
        "technology",
        "sealed_bid",
        "一种储能电池热管理方法专利独占许可（密封报价）",
        opens_after=45,
        runs_for=120,
        extension=30,
        budgets=("520000.00", "585000.00", "640000.00"),
        body={"start_price": "500000.00", "increment": "5000.00", "deposit": "50000.00"},
    ),
    Lot(
        "D",
        "mining_right",
        "listing",
        "建筑用花岗岩采矿权（挂牌）",
        opens_after=50,
        runs_for=180,
        extension=30,
        budgets=("8400000.00", "8700000.00", "9100000.00"),
        body={
            "start_price": "8000000.00",
            "increment": "100000.00",
            "deposit": "1600000.00",
            "reserve_price": "8000000.00",
        },
    ),
    Lot(
        "E",
        "water_right",
        "dutch",
        "黄河干流取水权（荷兰式拍卖）",
        opens_after=60,
        runs_for=600,
        extension=15,
        budgets=("2500000.00", "2650000.00", "2400000.00"),
        body={
            "start_price": "3000000.00",
            "increment": "50000.00",
            "deposit": "300000.00",
            "reserve_price": "2000000.00",
        },
    ),
    Lot(
        "F",
        "land_use_right",
        "english",
        "苏州工业园区港田路地块（限价摇号）",
        opens_after=75,
        runs_for=240,
        extension=30,
        budgets=("1200000.00", "1200000.00", "1150000.00"),
        body={
            "start_price": "1000000.00",
            "increment": "10000.00",
            "deposit": "200000.00",
            "reserve_price": "1000000.00",
            "price_cap": "1200000.00",
            "cap_rule": "lottery",
            "lottery_window_seconds": 30,
        },
    ),
    Lot(
        "G",
        "technology",
        "english",
        "新型催化剂制备工艺专利独占许可（英式拍卖，留给您出价）",
        opens_after=300,
        runs_for=600,
        extension=60,
        budgets=("330000.00", "360000.00", "345000.00"),
        body={"start_price": "300000.00", "increment": "5000.00", "deposit": "30000.00"},
        for_guest=True,
        publicity=120,  # the guest's lot: its winner watches its 公示 on /me
    ),
    Lot(
        "H",
        "technology",
        "english",
        "工业废水零排放处理系统专利独占许可（英式拍卖，留给您报名）",
        opens_after=1200,
        runs_for=600,
        extension=60,
        budgets=("230000.00", "260000.00", "245000.00"),
        body={"start_price": "200000.00", "increment": "5000.00", "deposit": "20000.00"},
        # in registration for 20 minutes (15 at any time scale): a newcomer reads the guide,
        # registers or logs in, applies by hand and pays the deposit with the sandbox's bank
        registration_at_least=900,
    ),
)


def scaled(seconds: float, scale: float, floor: float = 1.0) -> float:
    return max(floor, seconds * scale)


SOFT_CLOSE_FLOOR = 5.0
"""Seconds: a countdown extension shorter than a bot's look-and-bid on a loaded machine would
end an auction the bots still contest (below its reserve, in a sped-up demo)."""


def extension_seconds(lot: Lot, scale: float) -> int:
    """The lot's extension as sent: an ascending lot's soft close is at least SOFT_CLOSE_FLOOR."""
    floor = SOFT_CLOSE_FLOOR if lot.method in ("english", "listing") else 1.0
    return round(scaled(lot.extension, scale, floor))


def publicity_seconds(lot: Lot, scale: float) -> int:
    """The lot's 公示 in seconds as the sandbox counts it (its ``publicity_working_days``)."""
    return round(scaled(lot.publicity, scale)) if lot.publicity else 0


def listing_body(lot: Lot, now: datetime, scale: float, lead: float, seeding: float) -> dict[str, Any]:
    """The POST /api/v1/listings body of ``lot``: registration opens ``lead`` seconds after
    ``now`` (publication comes first) and stays open until bidding opens, ``seeding`` seconds
    (not scaled: the time to qualify the bots) plus the lot's offset (or its
    ``registration_at_least``) later."""
    offset = max(scaled(lot.opens_after, scale), lot.registration_at_least)
    opens = now + timedelta(seconds=lead + seeding + offset)
    closes = opens + timedelta(seconds=scaled(lot.runs_for, scale))
    body: dict[str, Any] = {
        "asset_class": lot.asset_class,
        "title": lot.title,
        "description": f"演示标的 {lot.key}：由演示程序创建，机器人竞买人按真人节奏出价。",
        "attributes": attributes_of(lot.asset_class),
        "method": lot.method,
        "seller": seller_of(lot.asset_class),
        "announcement_number": f"演示公告〔{now.year}〕{ord(lot.key) - ord('A') + 1}号",  # 文号
        "publicity_working_days": publicity_seconds(lot, scale),
        "schedule": {
            "announce_at": now.isoformat(),
            "registration_opens_at": (now + timedelta(seconds=lead)).isoformat(),
            "registration_closes_at": opens.isoformat(),
            "bidding_opens_at": opens.isoformat(),
            "bidding_closes_at": closes.isoformat(),
            "extension_seconds": extension_seconds(lot, scale),
        },
        **lot.body,
    }
    if "lottery_window_seconds" in body:
        body["lottery_window_seconds"] = round(scaled(body["lottery_window_seconds"], scale))
    return body
