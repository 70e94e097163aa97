"""Statutory profile checks run when a listing is published (rules.md section 2).

Each rule has its own stable code, so the API can answer 422 with the code of
the rule a schedule breaks:

- ``schedule_time_invalid``: a time without a UTC offset (every profile).
- ``schedule_order_invalid``: announce <= registration opens < registration
  closes <= bidding opens < bidding closes (every profile).
- ``period_too_short``: registration or bidding shorter than one second
  (every profile; the sandbox floor).
- ``announcement_lead_too_short``: too little time between the announcement
  and the opening of bidding (statutory only).
- ``listing_period_too_short``: a 挂牌 listing of land or a mining right open
  for fewer than 10 working days (statutory only).
- ``deposit_below_minimum``: land deposit under 20% of the start price.
- ``min_bidders_too_low``: a mining auction admitting fewer than 3.
- ``calendar_not_covered``: a working-day period whose answer depends on days
  of a year no holiday table covers (statutory only; never guessed).

Periods are counted on Asia/Shanghai dates with the convention of
``listings.workdays``: the day of the earlier event is not counted, the day of
the later one is. "20 days before bidding opens" therefore means
``(opening date - announcement date).days >= 20`` and "20 working days" means
``working_days_between(announcement date, opening date) >= 20``.

A profile may also leave a method out for a class (``excluded_method``: a
mining right is not sold by a sealed quote); ``listings.methods`` refuses such
a listing when it is created or edited.

A working-day rule reads the calendar only as far as it must: up to the
earliest date the rule allows. Only when the schedule's own date lies at or
beyond a day no table covers is the answer unknown, and the rule reports
``calendar_not_covered`` naming that year; a date before such a day is
decided (too short) without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Literal

import msgspec

from exchange.money import format_yuan
from listings.registration_window import late_registration_problems, runs_into_bidding
from listings.workdays import (
    SHANGHAI,
    CalendarNotCovered,
    add_working_days,
    local_date,
    working_days_between,
)

__all__ = [
    "PROFILES",
    "PUBLICITY_MINIMUMS",
    "LeadRule",
    "Profile",
    "Schedule",
    "Violation",
    "bid_signatures",
    "check_profile",
    "default_publicity_working_days",
    "earliest_bidding_date",
    "earliest_listing_close",
    "excluded_method",
    "lead_rules",
    "party_violations",
    "publicity_minimum",
]

Profile = Literal["statutory", "sandbox"]
PROFILES: tuple[Profile, ...] = ("statutory", "sandbox")

LAND_DEPOSIT_MIN_PERCENT = 20  # 国土资发〔2010〕34号
MINING_MIN_BIDDERS = 3
MINING_RULES = "矿业权出让交易规则, 自然资规〔2023〕1号"
LISTING_MIN_WORKING_DAYS = 10  # 挂牌时间不得少于10个工作日
STATE_OWNED_LARGE_FEN = 10_000_000 * 100
"""A state-owned technology listing starting above this (10 million yuan) is disclosed 20 WD, else 10."""
STATE_OWNED_RULES = "信息披露, 企业国有资产交易监督管理办法 (32号令) art. 48"
_LISTING_CLASSES = frozenset({"land_use_right", "mining_right"})
# The auctions (拍卖) of a mining right; a 挂牌 listing has no minimum number of bidders.
_MINING_COMPETITIVE = frozenset({"english", "dutch"})
# Methods a class's profile leaves out, with the reason given to the operator.
_EXCLUDED_METHODS = {
    ("mining_right", "sealed_bid"): (
        "a mining right is sold here by auction (拍卖) or listing (挂牌); a tender (招标) is scored "
        f"on more than the price ({MINING_RULES}), so it is not run as a sealed price quote"
    ),
}
# 公示 of the result (rules §1.6): the statutory minimum in working days and its source.
PUBLICITY_MINIMUMS: dict[str, tuple[int, str]] = {
    "mining_right": (10, f"成交结果公示不少于10个工作日, {MINING_RULES}"),
}
STATE_OWNED_PUBLICITY = (5, "交易结果公示不少于5个工作日, 企业国有资产交易监督管理办法 (32号令)")
DEFAULT_PUBLICITY_WORKING_DAYS = 5
"""The 公示 of classes without a statutory minimum under the statutory profile (configurable per listing)."""
_ONE_SECOND = timedelta(seconds=1)
_ORDER = (
    "announce_at",
    "registration_opens_at",
    "registration_closes_at",
    "bidding_opens_at",
    "bidding_closes_at",
)


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """The dates of a listing; aware datetimes (stored UTC, read in Shanghai)."""

    announce_at: datetime
    registration_opens_at: datetime
    registration_closes_at: datetime
    bidding_opens_at: datetime
    bidding_closes_at: datetime


class Violation(msgspec.Struct, frozen=True):
    code: str
    message: str
    field: str  # dotted path in the listing body, e.g. "schedule.bidding_opens_at"


@dataclass(frozen=True, slots=True)
class LeadRule:
    """A minimum announcement lead: ``days`` calendar or working days."""

    days: int
    working: bool
    source: str  # the term and the rule it comes from, for the message


def excluded_method(asset_class: str, method: str) -> str | None:
    """Why the profile of ``asset_class`` does not sell by ``method``; None when it does."""
    return _EXCLUDED_METHODS.get((asset_class, method))


def lead_rules(
    asset_class: str, method: str, *, state_owned: bool = False, start_price: int = 0
) -> tuple[LeadRule, ...]:
    """The statutory announcement leads that apply; all of them must hold.

    ``start_price`` (fen) decides the disclosure period of state-owned
    technology: the listing's start price is its 转让底价, the price it is
    offered at.
    """
    if asset_class == "land_use_right":
        return (LeadRule(20, False, "出让公告, 国土资源部令第39号"),)
    if asset_class == "mining_right":
        return (LeadRule(20, True, f"出让公告, {MINING_RULES}"),)
    if asset_class == "technology" and state_owned:
        if start_price > STATE_OWNED_LARGE_FEN:
            return (LeadRule(20, True, f"{STATE_OWNED_RULES}: start price above 10,000,000 yuan"),)
        return (LeadRule(10, True, f"{STATE_OWNED_RULES}: start price up to 10,000,000 yuan"),)
    if asset_class == "technology":
        return (LeadRule(7, False, "拍卖公告, Auction Law art. 45"),)
    if asset_class == "emission_right":
        return (LeadRule(7, False, "出让公告, 宁排污出让告字〔2025〕10号"),)
    if asset_class == "water_right":
        return (LeadRule(7, False, "交易公告"),)
    raise ValueError(f"unknown asset class {asset_class!r}")


def earliest_bidding_date(
    asset_class: str, method: str, announced: date, *, state_owned: bool = False, start_price: int = 0
) -> date:
    """The first Shanghai date on which bidding may open under the statutory profile.

    Raises :class:`listings.workdays.CalendarNotCovered` when a working-day
    lead runs into a year no holiday table covers.
    """
    rules = lead_rules(asset_class, method, state_owned=state_owned, start_price=start_price)
    return max(_after(announced, rule) for rule in rules)


def earliest_listing_close(asset_class: str, method: str, opens: date) -> date | None:
    """The first date a 挂牌 listing may close, or None when no minimum applies.

    Raises :class:`listings.workdays.CalendarNotCovered` like :func:`earliest_bidding_date`.
    """
    rule = _listing_rule(asset_class, method)
    return None if rule is None else _after(opens, rule)


def _listing_rule(asset_class: str, method: str) -> LeadRule | None:
    if method != "listing" or asset_class not in _LISTING_CLASSES:
        return None
    source = MINING_RULES if asset_class == "mining_right" else "国土资源部令第39号 art. 17"
    return LeadRule(LISTING_MIN_WORKING_DAYS, True, f"挂牌时间不得少于10个工作日, {source}")


def check_profile(
    asset_class: str,
    method: str,
    schedule: Schedule,
    *,
    start_price: int,
    deposit: int,
    min_bidders: int,
    profile: str = "statutory",
    state_owned: bool = False,
    freeze_seconds: int = 0,
) -> list[Violation]:
    """Every rule of ``profile`` the listing breaks; empty when it may be published.

    ``start_price`` and ``deposit`` are fen; ``state_owned`` is the technology
    attribute of that name; ``freeze_seconds`` the 挂牌's (where its registration
    may run, ``listings.registration_window``). An unknown asset class or profile is a
    programming error and raises ``ValueError``.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    leads = lead_rules(asset_class, method, state_owned=state_owned, start_price=start_price)
    found: list[Violation] = []
    sound = _schedule_sound(schedule, found, method)
    if sound:
        found.extend(
            Violation(code, message, field)
            for code, message, field in late_registration_problems(
                asset_class,
                method,
                registration_opens_at=schedule.registration_opens_at,
                registration_closes_at=schedule.registration_closes_at,
                bidding_opens_at=schedule.bidding_opens_at,
                bidding_closes_at=schedule.bidding_closes_at,
                freeze_seconds=freeze_seconds,
                statutory=profile == "statutory",
            )
        )
    if sound and profile == "statutory":
        _check_leads(schedule, leads, found)
        _check_listing_period(asset_class, method, schedule, found)
    if asset_class == "land_use_right" and deposit * 100 < start_price * LAND_DEPOSIT_MIN_PERCENT:
        minimum = -(-start_price * LAND_DEPOSIT_MIN_PERCENT // 100)
        found.append(
            Violation(
                "deposit_below_minimum",
                f"the deposit (竞买保证金) of {format_yuan(deposit)} yuan is below "
                f"{LAND_DEPOSIT_MIN_PERCENT}% of the start price {format_yuan(start_price)}; "
                f"at least {format_yuan(minimum)} is required (国土资发〔2010〕34号)",
                "deposit",
            )
        )
    if asset_class == "mining_right" and method in _MINING_COMPETITIVE and min_bidders < MINING_MIN_BIDDERS:
        found.append(
            Violation(
                "min_bidders_too_low",
                f"a mining-right auction needs at least {MINING_MIN_BIDDERS} qualified bidders "
                f"(竞买人不足三人的终止, {MINING_RULES}), min_bidders is {min_bidders}",
                "min_bidders",
            )
        )
    return found


def _schedule_sound(schedule: Schedule, found: list[Violation], method: str) -> bool:
    """Offsets, order and the one-second floor; False stops the period rules.

    A 挂牌's registration may close after bidding opens: ``listings.registration_window`` says how late.
    """
    before = len(found)
    times = [(name, getattr(schedule, name)) for name in _ORDER]
    for name, moment in times:
        if moment.tzinfo is None or moment.utcoffset() is None:
            found.append(Violation("schedule_time_invalid", "must carry a UTC offset", f"schedule.{name}"))
    if len(found) > before:
        return False
    for (first, a), (second, b) in pairwise(times):
        if (first, second) == ("registration_closes_at", "bidding_opens_at") and runs_into_bidding(method):
            continue
        strict = second in ("registration_closes_at", "bidding_closes_at")
        if b < a or (strict and b == a):
            relation = "after" if strict else "at or after"
            found.append(
                Violation(
                    "schedule_order_invalid",
                    f"{second} ({_show(b)}) must be {relation} {first} ({_show(a)})",
                    f"schedule.{second}",
                )
            )
    if len(found) > before:
        return False
    for opens, closes, what in (
        ("registration_opens_at", "registration_closes_at", "registration"),
        ("bidding_opens_at", "bidding_closes_at", "bidding"),
    ):
        if getattr(schedule, closes) - getattr(schedule, opens) < _ONE_SECOND:
            found.append(
                Violation(
                    "period_too_short",
                    f"the {what} period must last at least one second",
                    f"schedule.{closes}",
                )
            )
    return len(found) == before


def _check_leads(schedule: Schedule, leads: tuple[LeadRule, ...], found: list[Violation]) -> None:
    announced = local_date(schedule.announce_at)
    opens = local_date(schedule.bidding_opens_at)
    for rule in leads:
        earliest = _earliest_if_short(announced, rule, opens, "schedule.bidding_opens_at", found)
        if earliest is None:
            continue
        have = working_days_between(announced, opens) if rule.working else (opens - announced).days
        unit = "working days" if rule.working else "days"
        found.append(
            Violation(
                "announcement_lead_too_short",
                f"bidding opens {opens}, {have} {unit} after the announcement on {announced}; "
                f"at least {rule.days} are required ({rule.source}); {_earliest_text('opening', earliest)}",
                "schedule.bidding_opens_at",
            )
        )


def _check_listing_period(asset_class: str, method: str, schedule: Schedule, found: list[Violation]) -> None:
    rule = _listing_rule(asset_class, method)
    if rule is None:
        return
    opens = local_date(schedule.bidding_opens_at)
    closes = local_date(schedule.bidding_closes_at)
    earliest = _earliest_if_short(opens, rule, closes, "schedule.bidding_closes_at", found)
    if earliest is None:
        return
    have = working_days_between(opens, closes)
    found.append(
        Violation(
            "listing_period_too_short",
            f"the listing period (挂牌期) ends {closes}, {have} working days after bidding opens "
            f"on {opens}; at least {rule.days} are required ({rule.source}); "
            f"{_earliest_text('closing', earliest)}",
            "schedule.bidding_closes_at",
        )
    )


def _earliest_if_short(
    start: date, rule: LeadRule, scheduled: date, field: str, found: list[Violation]
) -> date | CalendarNotCovered | None:
    """The earliest date ``rule`` allows when ``scheduled`` comes before it, else None.

    Where the calendar runs out first: if ``scheduled`` lies before the first
    uncovered day, the period is certainly too short and the gap is returned
    as its (unknown) earliest date; otherwise whether it is long enough is
    unknown, and ``calendar_not_covered`` is reported.
    """
    try:
        earliest = _after(start, rule)
    except CalendarNotCovered as gap:
        if scheduled < gap.day:
            return gap
        found.append(
            Violation(
                "calendar_not_covered",
                f"{rule.days} working days from {start} ({rule.source}) cannot be counted: {gap.detail}",
                field,
            )
        )
        return None
    return earliest if scheduled < earliest else None


def _earliest_text(what: str, earliest: date | CalendarNotCovered) -> str:
    if isinstance(earliest, CalendarNotCovered):
        return f"the earliest {what} date falls in {earliest.year}, for which no holiday schedule has been imported"
    return f"the earliest {what} date is {earliest}"


def _after(start: date, rule: LeadRule) -> date:
    if rule.working:
        return add_working_days(start, rule.days)
    return start + timedelta(days=rule.days)


def _show(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat()


# -- parties and the 公示 (issue 16) ----------------------------------------------------------------


def publicity_minimum(asset_class: str, *, state_owned: bool = False) -> tuple[int, str] | None:
    """The statutory minimum 公示 in working days and its source; None when the law sets none."""
    if asset_class in PUBLICITY_MINIMUMS:
        return PUBLICITY_MINIMUMS[asset_class]
    if asset_class == "technology" and state_owned:
        return STATE_OWNED_PUBLICITY
    return None


def default_publicity_working_days(asset_class: str, profile: str, *, state_owned: bool = False) -> int:
    """The 公示 a new listing starts with: the statutory minimum, else 5 WD; none under the sandbox."""
    if profile == "sandbox":
        return 0
    minimum = publicity_minimum(asset_class, state_owned=state_owned)
    return max(DEFAULT_PUBLICITY_WORKING_DAYS, minimum[0] if minimum else 0)


def party_violations(
    asset_class: str,
    *,
    seller_name: str | None,
    announcement_number: str | None,
    publicity_working_days: int,
    state_owned: bool = False,
    profile: str = "statutory",
) -> list[Violation]:
    """What the statutory profile requires of a listing's parties and 公示 before it is published.

    ``seller_missing``: no seller (出让人 / 转让方) or no 文号; ``publicity_too_short``: a 公示
    below the statutory minimum (mining rights 10 WD, state-owned technology 5 WD). The sandbox
    requires none of it.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    if profile == "sandbox":
        return []
    found: list[Violation] = []
    if not (seller_name or "").strip():
        found.append(
            Violation(
                "seller_missing",
                "the seller (出让人 / 转让方) must be named before publishing",
                "seller.name",
            )
        )
    if not (announcement_number or "").strip():
        found.append(
            Violation(
                "seller_missing",
                "the announcement number (文号) must be given before publishing",
                "announcement_number",
            )
        )
    minimum = publicity_minimum(asset_class, state_owned=state_owned)
    if minimum is not None and publicity_working_days < minimum[0]:
        found.append(
            Violation(
                "publicity_too_short",
                f"the result is on display (公示) {publicity_working_days} working days; "
                f"at least {minimum[0]} are required ({minimum[1]})",
                "publicity_working_days",
            )
        )
    return found


_SIGNATURE_ORDER = ("none", "optional", "required")


def bid_signatures(asset_class: str, chosen: str | None, required_for: frozenset[str] = frozenset()) -> str:
    """The listing's signature policy: the operator's ``chosen`` one (default ``none``), raised to
    ``required`` for the classes the deployment requires signed bids for (``required_for``:
    ``EXCHANGE_SIGNED_BIDS_REQUIRED``, see docs/bid-signatures.md).

    A setting of the deployment, not of the rule profile: the profiles differ only in their periods
    (the contract), and a province whose rules tie online land or mining sales to the bidder's own
    certificate (国有建设用地使用权网上交易, 矿业权网上交易) names those classes there."""
    if asset_class in required_for:
        return "required"
    policy = chosen or "none"
    return policy if policy in _SIGNATURE_ORDER else "none"
