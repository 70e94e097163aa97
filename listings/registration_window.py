"""When registration (报名) may close: before bidding opens, or for a 挂牌 into its listing period.

Every method but ``listing`` closes registration no later than bidding opens, so the bidder set
is fixed at the opening. A 挂牌 exists to find buyers during its ten working days, so it may keep
registration open into the listing period and admit each bidder to quote as soon as it
qualifies (shared rules §1.2):

- in every profile, up to the end of the quote phase (``bidding_closes_at - freeze_seconds``):
  a bidder qualified later could not quote any more, and the timed phase is for quoters only;
- in the statutory profile, a land listing's registration closes at least 2 working days before
  the listing's close, the common practice of land announcements (applications and deposits
  close two working days before the listing does).

Both are ``registration_closes_too_late``. Working days are counted as in ``listings.profiles``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from listings.models import Listing
from listings.workdays import CalendarNotCovered, add_working_days, local_date

LAND_REGISTRATION_CLOSE_WORKING_DAYS = 2
_LAND = "land_use_right"


def runs_into_bidding(method: str) -> bool:
    """Whether the method may keep registration open after bidding opens."""
    return method == "listing"


def quote_phase_end(bidding_closes_at: datetime, freeze_seconds: int) -> datetime:
    """The last instant a 挂牌 takes quotes (the freeze follows)."""
    return bidding_closes_at - timedelta(seconds=freeze_seconds)


def registration_open(listing: Listing, now: datetime) -> bool:
    """Whether a bidder may apply now (during the listing period too, where registration runs into it)."""
    return listing.status in ("registration", "bidding") and (
        listing.registration_opens_at <= now < listing.registration_closes_at
    )


def decisions_open(listing: Listing, now: datetime) -> bool:
    """Whether an operator may still decide an application (资格前审).

    Until bidding opens, or, where registration runs into the listing period, until its quote
    phase ends: an approval after that would admit a bidder who can no longer quote.
    """
    if listing.status in ("announced", "registration"):
        return True
    freeze = int(listing.method_params.get("freeze_seconds") or 0)
    return (
        listing.status == "bidding"
        and listing.registration_closes_at > listing.bidding_opens_at
        and now < quote_phase_end(listing.bidding_closes_at, freeze)
    )


def late_registration_problems(
    asset_class: str,
    method: str,
    *,
    registration_opens_at: datetime,
    registration_closes_at: datetime,
    bidding_opens_at: datetime,
    bidding_closes_at: datetime,
    freeze_seconds: int,
    statutory: bool,
) -> list[tuple[str, str, str]]:
    """``(code, message, field)`` for each rule a 挂牌's registration period breaks; empty for others.

    A count of working days the calendar cannot make is ``calendar_not_covered``, as in the
    other working-day rules of the profile.
    """
    if not runs_into_bidding(method):
        return []
    found: list[tuple[str, str, str]] = []
    if registration_opens_at > bidding_opens_at:
        found.append(
            (
                "schedule_order_invalid",
                "registration_opens_at must be at or before bidding_opens_at",
                "schedule.registration_opens_at",
            )
        )
    quote_end = quote_phase_end(bidding_closes_at, freeze_seconds)
    if registration_closes_at > max(quote_end, bidding_opens_at):
        found.append(
            (
                "registration_closes_too_late",
                f"registration must close by the end of the quote phase ({quote_end.isoformat()}): "
                "a bidder qualified later could not quote",
                "schedule.registration_closes_at",
            )
        )
    if statutory and asset_class == _LAND:
        closes, listing_closes = local_date(registration_closes_at), local_date(bidding_closes_at)
        # Walk forward from the registration close only as far as the rule needs: the
        # calendar of a later year (the listing's close may fall in it) is not needed.
        try:
            earliest = add_working_days(closes, LAND_REGISTRATION_CLOSE_WORKING_DAYS)
        except CalendarNotCovered as gap:
            return [*found, ("calendar_not_covered", gap.detail, "schedule.registration_closes_at")]
        if listing_closes < earliest:
            found.append(
                (
                    "registration_closes_too_late",
                    f"registration closes {closes}, fewer than "
                    f"{LAND_REGISTRATION_CLOSE_WORKING_DAYS} working days before the listing closes on "
                    f"{listing_closes}; land registration closes at least "
                    f"{LAND_REGISTRATION_CLOSE_WORKING_DAYS} working days before",
                    "schedule.registration_closes_at",
                )
            )
    return found
