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
- ``min_bidders_too_low``: a mining auction or tender admitting fewer than 3.

Periods are counted on Asia/Shanghai dates with the convention of
``listings.workdays``: the day of the earlier event is not counted, the day of
the later one is. "20 days before bidding opens" therefore means
``(opening date - announcement date).days >= 20`` and "20 working days" means
``working_days_between(announcement date, opening date) >= 20``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Literal

import msgspec

from exchange.money import format_yuan
from listings.workdays import (
    SHANGHAI,
    add_working_days,
    calendar_notes,
    local_date,
    working_days_between,
)

__all__ = [
    "PROFILES",
    "LeadRule",
    "Profile",
    "Schedule",
    "Violation",
    "check_profile",
    "earliest_bidding_date",
    "earliest_listing_close",
    "lead_rules",
    "schedule_notes",
]

Profile = Literal["statutory", "sandbox"]
PROFILES: tuple[Profile, ...] = ("statutory", "sandbox")

LAND_DEPOSIT_MIN_PERCENT = 20  # 国土资发〔2010〕34号
MINING_MIN_BIDDERS = 3
LISTING_MIN_WORKING_DAYS = 10  # 挂牌时间不得少于10个工作日
_LISTING_CLASSES = frozenset({"land_use_right", "mining_right"})
# Auction (拍卖) and tender (招标); a sealed one-time quote is how the exchange
# runs a mining tender. A 挂牌 listing has no minimum number of bidders.
_MINING_COMPETITIVE = frozenset({"english", "dutch", "sealed_bid"})
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


def lead_rules(asset_class: str, method: str, *, state_owned: bool = False) -> tuple[LeadRule, ...]:
    """The statutory announcement leads that apply; all of them must hold."""
    if asset_class == "land_use_right":
        return (LeadRule(20, False, "出让公告, 国土资源部令第39号"),)
    if asset_class == "mining_right":
        rules = [LeadRule(20, True, "出让公告, 自然资规〔2019〕7号")]
        if method == "sealed_bid":
            rules.append(LeadRule(30, False, "招标公告, tender"))
        return tuple(rules)
    if asset_class == "technology" and state_owned:
        return (LeadRule(20, True, "信息披露, state-owned assets"),)
    if asset_class == "technology":
        return (LeadRule(7, False, "拍卖公告, Auction Law art. 45"),)
    if asset_class == "emission_right":
        return (LeadRule(7, False, "出让公告, 宁排污出让告字〔2025〕10号"),)
    if asset_class == "water_right":
        return (LeadRule(7, False, "交易公告"),)
    raise ValueError(f"unknown asset class {asset_class!r}")


def earliest_bidding_date(
    asset_class: str, method: str, announced: date, *, state_owned: bool = False
) -> date:
    """The first Shanghai date on which bidding may open under the statutory profile."""
    return max(_after(announced, rule) for rule in lead_rules(asset_class, method, state_owned=state_owned))


def earliest_listing_close(asset_class: str, method: str, opens: date) -> date | None:
    """The first date a 挂牌 listing may close, or None when no minimum applies."""
    if method != "listing" or asset_class not in _LISTING_CLASSES:
        return None
    return add_working_days(opens, LISTING_MIN_WORKING_DAYS)


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
) -> list[Violation]:
    """Every rule of ``profile`` the listing breaks; empty when it may be published.

    ``start_price`` and ``deposit`` are fen; ``state_owned`` is the technology
    attribute of that name. An unknown asset class or profile is a
    programming error and raises ``ValueError``.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    leads = lead_rules(asset_class, method, state_owned=state_owned)
    found: list[Violation] = []
    if _schedule_sound(schedule, found) and profile == "statutory":
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
                f"a mining-right auction or tender needs at least {MINING_MIN_BIDDERS} "
                f"qualified bidders (竞买人不足三人的终止), min_bidders is {min_bidders}",
                "min_bidders",
            )
        )
    return found


def _schedule_sound(schedule: Schedule, found: list[Violation]) -> bool:
    """Offsets, order and the one-second floor; False stops the period rules."""
    before = len(found)
    times = [(name, getattr(schedule, name)) for name in _ORDER]
    for name, moment in times:
        if moment.tzinfo is None or moment.utcoffset() is None:
            found.append(Violation("schedule_time_invalid", "must carry a UTC offset", f"schedule.{name}"))
    if len(found) > before:
        return False
    for (first, a), (second, b) in pairwise(times):
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
        if rule.working:
            have = working_days_between(announced, opens)
            unit = "working days"
        else:
            have = (opens - announced).days
            unit = "days"
        if have >= rule.days:
            continue
        earliest = _after(announced, rule)
        message = (
            f"bidding opens {opens}, {have} {unit} after the announcement on {announced}; "
            f"at least {rule.days} are required ({rule.source}); "
            f"the earliest opening date is {earliest}"
        )
        found.append(
            Violation(
                "announcement_lead_too_short",
                _with_notes(message, announced, earliest, rule.working),
                "schedule.bidding_opens_at",
            )
        )


def _check_listing_period(asset_class: str, method: str, schedule: Schedule, found: list[Violation]) -> None:
    opens = local_date(schedule.bidding_opens_at)
    earliest = earliest_listing_close(asset_class, method, opens)
    closes = local_date(schedule.bidding_closes_at)
    if earliest is None or closes >= earliest:
        return
    have = working_days_between(opens, closes)
    message = (
        f"the listing period (挂牌期) ends {closes}, {have} working days after bidding opens "
        f"on {opens}; at least {LISTING_MIN_WORKING_DAYS} are required; "
        f"the earliest closing date is {earliest}"
    )
    found.append(
        Violation(
            "listing_period_too_short",
            _with_notes(message, opens, earliest, True),
            "schedule.bidding_closes_at",
        )
    )


def _after(start: date, rule: LeadRule) -> date:
    if rule.working:
        return add_working_days(start, rule.days)
    return start + timedelta(days=rule.days)


def _with_notes(message: str, start: date, end: date, working: bool) -> str:
    # Calendar days do not depend on the holiday table; working days do, and a
    # year without a published table must say so (Monday–Friday assumed).
    notes = calendar_notes(start, end) if working else []
    return "; ".join([message, *notes])


def schedule_notes(schedule: Schedule) -> list[str]:
    """Calendar caveats for a schedule that passed: years assumed Monday–Friday."""
    return calendar_notes(local_date(schedule.announce_at), local_date(schedule.bidding_closes_at))


def _show(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat()
