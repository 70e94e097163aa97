"""Who may buy an instrument (docs/rules.md section 7, rules 5 and 7): pure, no I/O.

- An expired lot is no longer transferable (rule 7): ``today >= valid_until``.
- Emission rights trade within their province (the first two digits of the GB/T 2260 code);
  an air pollutant within one prefecture (the first four); a water pollutant within one basin.
- Water rights trade within their basin too (the permit's basin), and a transfer of an
  abstraction permit needs the approving authority's consent before delivery
  (取水许可和水资源费征收管理条例 art. 27): :func:`needs_approval`.
- The region and basin compared are the holder's as the registrar verified them: an account an
  enterprise opened for itself trades nothing (buying or selling) until then
  (``registry_account_unverified``), else it could declare itself into any basin.
"""

from __future__ import annotations

from datetime import date
from typing import get_args

from exchange.errors import Conflict
from listings.attribute_fields import Pollutant
from settlement.registry.models import Holder, Instrument

__all__ = [
    "AIR_POLLUTANTS",
    "POLLUTANTS",
    "WATER_POLLUTANTS",
    "TradeRefused",
    "check_trade",
    "needs_approval",
    "trade_refusal",
]

POLLUTANTS: tuple[str, ...] = get_args(Pollutant)
AIR_POLLUTANTS: frozenset[str] = frozenset({"SO2", "NOx", "VOCs"}) & frozenset(POLLUTANTS)
WATER_POLLUTANTS: frozenset[str] = frozenset({"COD", "NH3-N"}) & frozenset(POLLUTANTS)
"""CO2e is neither: like every emission right it stays within its province."""

_MESSAGES = {
    "registry_account_unverified": "the registry account's region and basin are not yet verified by the "
    "registrar: it may not trade until they are",
    "registry_expired": "the instrument's validity has ended: it is no longer transferable",
    "registry_out_of_region": "the buyer is outside the region the instrument may be traded in",
    "registry_out_of_basin": "the buyer is outside the basin the instrument may be traded in",
}


class TradeRefused(Conflict):
    """The buyer may not acquire this instrument (or the seller not sell it); ``code`` says why."""

    def __init__(
        self, code: str, instrument: Instrument, buyer: Holder, *, seller: Holder | None = None
    ) -> None:
        """``seller``: the refusal is the seller's (an unverified account), not ``buyer``'s."""
        if seller is not None:
            super().__init__(
                _MESSAGES[code], code=code, instrument_id=instrument.id, seller=seller.credit_code
            )
        else:
            super().__init__(_MESSAGES[code], code=code, instrument_id=instrument.id, buyer=buyer.credit_code)


def _same_basin(instrument: Instrument, buyer: Holder) -> bool:
    return instrument.basin is not None and buyer.basin is not None and buyer.basin == instrument.basin


def trade_refusal(
    instrument: Instrument, buyer: Holder, today: date, *, seller: Holder | None = None
) -> str | None:
    """``None`` when ``buyer`` may acquire the instrument on ``today`` (from ``seller``, when
    named; None is the reserve), else the problem code."""
    if buyer.verified_at is None or (seller is not None and seller.verified_at is None):
        return "registry_account_unverified"
    if today >= instrument.valid_until:
        return "registry_expired"
    if instrument.right_type == "emission":
        if instrument.sub_type in WATER_POLLUTANTS and not _same_basin(instrument, buyer):
            return "registry_out_of_basin"
        digits = 4 if instrument.sub_type in AIR_POLLUTANTS else 2
        if buyer.region_code[:digits] != instrument.region_code[:digits]:
            return "registry_out_of_region"
        return None
    if not _same_basin(instrument, buyer):
        return "registry_out_of_basin"
    return None


def check_trade(instrument: Instrument, buyer: Holder, today: date, *, seller: Holder | None = None) -> None:
    """Raise :class:`TradeRefused` when :func:`trade_refusal` finds a problem."""
    problem = trade_refusal(instrument, buyer, today, seller=seller)
    if problem is None:
        return
    if problem == "registry_account_unverified" and buyer.verified_at is not None:
        raise TradeRefused(problem, instrument, buyer, seller=seller)
    raise TradeRefused(problem, instrument, buyer)


def needs_approval(instrument: Instrument) -> bool:
    """A water abstraction permit's transfer waits for the approving authority (art. 27)."""
    return instrument.right_type == "water" and instrument.sub_type == "abstraction_permit"
