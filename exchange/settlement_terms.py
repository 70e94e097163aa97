"""What a sale costs and when it is paid, as configuration: fee and payment schedules per asset class.

The types, the defaults and the JSON of ``EXCHANGE_FEE_SCHEDULES`` and
``EXCHANGE_PAYMENT_SCHEDULES``, which :mod:`exchange.settings` reads once at
start-up. They live in the kernel so that the settings can check them before
anything runs; :mod:`settlement.fees` and :mod:`settlement.schedule` compute
with them.

Fee schedules (交易服务费): a list of brackets ``(upper, per_mille)``, marginal
(差额累进), the last one open; empty: no fee (rules §4: Hunan and Ningxia
charge none for 排污权). Every rate is between 0 and 1000 per mille, so the
fee never decreases when the price rises and never exceeds it. Defaults
(plausible figures in the range published by provincial trading centres;
they are defaults, not law):

==============  ====================================================
class           brackets of the price (yuan) and their rate
==============  ====================================================
land_use_right  <= 10 million 1.5‰; 10–100 million 1‰; above 0.5‰
mining_right    <= 10 million 2‰; 10–50 million 1.5‰; 50–100 million 1‰; above 0.5‰
emission_right  none
water_right     <= 1 million 3‰; above 1‰
technology      <= 1 million 10‰; 1–10 million 5‰; above 2‰
==============  ====================================================

``EXCHANGE_FEE_SCHEDULES`` is a JSON object from asset class to a list of
``[upper, per_mille]`` pairs; ``upper`` is a yuan string (``"10000000.00"``)
or ``null`` for the last, open bracket; ``per_mille`` a decimal string or
number (``"1.5"``). ``[]`` means no fee. Example::

    EXCHANGE_FEE_SCHEDULES='{"water_right": [], "land_use_right": [["10000000", "1.2"], [null, "0.8"]]}'

Payment schedules: a list of terms, each a share of the price and a period
in ``working_days`` or calendar ``months`` (see :mod:`settlement.schedule`).
Defaults: land-use rights follow Order 39 practice (rules §2): the contract
within 10 WD (the fee is due then), 50% of the price within one month, the
balance within one year; every other class pays the whole price within 10 WD.

``EXCHANGE_PAYMENT_SCHEDULES`` is a JSON object from asset class to a list of
terms ``{"label": "full", "share": "1", "working_days": 10}`` (or
``"months": 1``); shares are decimal strings that sum to 1. Example::

    EXCHANGE_PAYMENT_SCHEDULES='{"water_right": [{"label": "first", "share": "0.3", "working_days": 5},
                                                 {"label": "balance", "share": "0.7", "months": 3}]}'

Payment terms (:class:`PaymentTerms`, issue 16): the whole of what a listing's
winner owes by when. ``anchor`` names the event the periods count from: the
confirmation (``confirmation``, the end of the 公示) or the signing of the
contract (``contract``; land payments count from the contract,
国土资发〔2010〕34号), which is due ``contract_working_days`` WD after the
confirmation. ``terms`` split the price as above; a term may carry simple
interest per annum on its principal from the anchor date to its due date
(instalments with interest, 财综〔2023〕10号). A late payment accrues
``late_fee_per_mille`` ‰ of the overdue amount per calendar day (model contract
GF-2008-2601: 1‰), and rescission may be proposed only after ``grace_days``
days overdue (land: 60). A lease (长期租赁, 先租后让) pays ``rent`` instead of a
price: the price bid is the annual rent, due ``years`` times, the first
``first_months`` months after the anchor and each later one 12 months after the
previous. Defaults per class:

==============  ============  ========  ==========================  ========  =====
class           anchor        contract  terms                       late fee  grace
==============  ============  ========  ==========================  ========  =====
land_use_right  contract      10 WD     50% in 1 month, 50% in 12   1‰        60
mining_right    confirmation  10 WD     100% in 10 WD               1‰        60
others          confirmation  10 WD     100% in 10 WD               1‰        30
==============  ============  ========  ==========================  ========  =====

A value of ``EXCHANGE_PAYMENT_SCHEDULES`` may be, besides the list of terms
above, an object in the JSON form of :func:`terms_to_json`::

    {"anchor": "contract", "contract_working_days": 10, "late_fee_per_mille": "1", "grace_days": 60,
     "terms": [{"label": "first", "share": "0.5", "months": 1},
               {"label": "balance", "share": "0.5", "months": 12, "interest_per_annum": "0"}],
     "rent": null}

Keys left out of the object keep the class default; a list means those terms
with the class defaults for the rest (a zero-share ``contract`` term in
working days, the old way of writing the contract deadline, sets
``contract_working_days``).

In both, classes not named keep their default, and a malformed value is an
error naming the variable, never a silent zero.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Any, Literal

from exchange.money import MoneyFormatError, parse_yuan
from exchange.vocabulary import ASSET_CLASSES

__all__ = [
    "ANCHORS",
    "DEFAULT_FEE_SCHEDULES",
    "DEFAULT_PAYMENT_SCHEDULES",
    "DEFAULT_PAYMENT_TERMS",
    "FEE_VARIABLE",
    "LEASE_SUPPLY_MODES",
    "PAYMENT_VARIABLE",
    "Anchor",
    "Bracket",
    "FeeSchedule",
    "PaymentSchedule",
    "PaymentTerms",
    "Rent",
    "Term",
    "default_terms",
    "parse_fee_schedules",
    "parse_payment_schedules",
    "parse_payment_terms",
    "schedule_of",
    "terms_from_json",
    "terms_to_json",
]

FEE_VARIABLE = "EXCHANGE_FEE_SCHEDULES"
PAYMENT_VARIABLE = "EXCHANGE_PAYMENT_SCHEDULES"
MAX_LABEL = 32

_WAN = 10_000 * 100  # 1万 yuan in fen


@dataclass(frozen=True)
class Bracket:
    upper: int | None
    """Upper bound of the bracket in fen (inclusive); ``None`` for the last, open bracket."""
    per_mille: Fraction
    """Rate on the part of the price inside the bracket, in ‰ (0 to 1000)."""


FeeSchedule = tuple[Bracket, ...]
"""Brackets in ascending order, the last open; empty: no fee."""


@dataclass(frozen=True)
class Term:
    label: str
    share: Fraction
    """Part of the price due by the end of this term (0 to 1; the shares of a schedule sum to 1)."""
    working_days: int | None = None
    months: int | None = None
    interest_per_annum: Fraction = Fraction(0)
    """Simple interest per year on this term's principal from the anchor date to its due date (0 to 1)."""


PaymentSchedule = tuple[Term, ...]
"""Terms in the order they fall due; at least one, shares summing to 1, labels distinct."""


def _tiers(*pairs: tuple[int | None, str]) -> FeeSchedule:
    return tuple(Bracket(upper, Fraction(rate)) for upper, rate in pairs)


DEFAULT_FEE_SCHEDULES: dict[str, FeeSchedule] = {
    "land_use_right": _tiers((1000 * _WAN, "1.5"), (10000 * _WAN, "1"), (None, "0.5")),
    "mining_right": _tiers((1000 * _WAN, "2"), (5000 * _WAN, "1.5"), (10000 * _WAN, "1"), (None, "0.5")),
    "emission_right": (),
    "water_right": _tiers((100 * _WAN, "3"), (None, "1")),
    "technology": _tiers((100 * _WAN, "10"), (1000 * _WAN, "5"), (None, "2")),
}

DEFAULT_PAYMENT_SCHEDULES: dict[str, PaymentSchedule] = {
    "land_use_right": (
        Term("contract", Fraction(0), working_days=10),
        Term("first", Fraction(1, 2), months=1),
        Term("balance", Fraction(1, 2), months=12),
    ),
    **{
        asset_class: (Term("full", Fraction(1), working_days=10),)
        for asset_class in ASSET_CLASSES
        if asset_class != "land_use_right"
    },
}


def _by_asset_class(text: str | None, variable: str) -> dict[str, Any]:
    """The JSON object of ``variable`` keyed by known asset classes; empty when unset."""
    if not text or not text.strip():
        return {}
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{variable} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{variable} must be a JSON object keyed by asset class")
    unknown = [asset_class for asset_class in data if asset_class not in ASSET_CLASSES]
    if unknown:
        raise ValueError(f"{variable}: unknown asset class {unknown[0]!r}")
    return data


def _decimal(value: Any, what: str, where: str) -> Fraction:
    """A decimal string (``"0.5"``) or a whole number. A JSON number with a fraction decodes as a
    binary float, which is refused: the message says to send it as a string."""
    if isinstance(value, float):
        raise ValueError(
            f'{where}: a {what} with a fraction is a decimal string, e.g. "{value}", not a number'
        )
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"{where}: a {what} is a decimal string or a whole number")
    try:
        return Fraction(Decimal(value))
    except (InvalidOperation, ValueError, OverflowError) as exc:
        raise ValueError(f"{where}: {value!r} is not a decimal {what}") from exc


# -- fee schedules -------------------------------------------------------------------------------


def _check_fees(schedule: FeeSchedule, where: str) -> None:
    previous = 0
    for i, bracket in enumerate(schedule):
        if not 0 <= bracket.per_mille <= 1000:
            raise ValueError(f"{where}: rate {bracket.per_mille} per mille is outside 0..1000")
        last = i == len(schedule) - 1
        if bracket.upper is None and not last:
            raise ValueError(f"{where}: only the last bracket may be open")
        if bracket.upper is not None:
            if last:
                raise ValueError(f"{where}: the last bracket must be open (upper null)")
            if bracket.upper <= previous:
                raise ValueError(f"{where}: bracket bounds must increase")
            previous = bracket.upper


def _upper(value: Any, where: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_yuan(str(value) if isinstance(value, int | Decimal) else value)
    except MoneyFormatError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _fee_schedule(value: Any, where: str) -> FeeSchedule:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{where}: a schedule is a list of [upper, per_mille] pairs")
    brackets = []
    for pair in value:
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"{where}: each bracket is a pair [upper, per_mille]")
        brackets.append(Bracket(_upper(pair[0], where), _decimal(pair[1], "rate", where)))
    schedule = tuple(brackets)
    _check_fees(schedule, where)
    return schedule


def parse_fee_schedules(text: str | None) -> dict[str, FeeSchedule]:
    """The defaults overridden by a JSON text in the format of ``EXCHANGE_FEE_SCHEDULES``."""
    table = dict(DEFAULT_FEE_SCHEDULES)
    for asset_class, value in _by_asset_class(text, FEE_VARIABLE).items():
        table[asset_class] = _fee_schedule(value, f"{FEE_VARIABLE}[{asset_class}]")
    return table


# -- payment schedules ---------------------------------------------------------------------------


_TERM_KEYS = frozenset({"label", "share", "working_days", "months", "interest_per_annum"})


def _term(value: Any, where: str) -> Term:
    if not isinstance(value, dict) or set(value) - _TERM_KEYS:
        raise ValueError(f"{where}: a term is {{label, share, working_days | months, interest_per_annum}}")
    label = value.get("label")
    if not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL:
        raise ValueError(f"{where}: label must be 1..{MAX_LABEL} characters")
    share = _decimal(value.get("share"), "share", where)
    periods = [value.get(key) for key in ("working_days", "months")]
    given = [p for p in periods if p is not None]
    if len(given) != 1 or isinstance(given[0], bool) or not isinstance(given[0], int) or given[0] < 0:
        raise ValueError(f"{where}: give exactly one of working_days or months, a whole number >= 0")
    interest = value.get("interest_per_annum")
    rate = Fraction(0) if interest is None else _decimal(interest, "interest rate", where)
    if not 0 <= rate <= 1:
        raise ValueError(f"{where}: interest_per_annum must lie in 0..1 (a fraction per year)")
    return Term(label, share, working_days=periods[0], months=periods[1], interest_per_annum=rate)


def _check_terms(terms: PaymentSchedule, where: str) -> None:
    if not terms:
        raise ValueError(f"{where}: a schedule needs at least one term")
    if any(not 0 <= t.share <= 1 for t in terms) or sum(t.share for t in terms) != 1:
        raise ValueError(f"{where}: shares must lie in 0..1 and sum to 1")
    if len({t.label for t in terms}) != len(terms):
        raise ValueError(f"{where}: labels must be distinct")


def _schedule(value: Any, where: str) -> PaymentSchedule:
    if not isinstance(value, list):
        raise ValueError(f"{where}: a schedule is a list of terms")
    terms = tuple(_term(item, where) for item in value)
    _check_terms(terms, where)
    return terms


def parse_payment_schedules(text: str | None) -> dict[str, PaymentSchedule]:
    """The defaults overridden by a JSON text in the format of ``EXCHANGE_PAYMENT_SCHEDULES``.

    A value given as a :class:`PaymentTerms` object counts here as its terms, after a zero-share
    ``contract`` term when it is anchored on the contract (the old way to write that deadline).
    """
    table = dict(DEFAULT_PAYMENT_SCHEDULES)
    for asset_class, value in _by_asset_class(text, PAYMENT_VARIABLE).items():
        where = f"{PAYMENT_VARIABLE}[{asset_class}]"
        if isinstance(value, dict):
            table[asset_class] = schedule_of(_terms_object(value, where, DEFAULT_PAYMENT_TERMS[asset_class]))
        else:
            table[asset_class] = _schedule(value, where)
    return table


# -- payment terms (issue 16) --------------------------------------------------------------------

Anchor = Literal["confirmation", "contract"]
ANCHORS: tuple[Anchor, ...] = ("confirmation", "contract")
LEASE_SUPPLY_MODES = frozenset({"long_term_lease", "lease_then_transfer"})
"""Land supply modes (长期租赁, 先租后让) whose winner pays an annual rent instead of a price."""
MAX_WORKING_DAYS = 250
MAX_GRACE_DAYS = 3650
MAX_RENT_YEARS = 70  # the longest land-use term (residential, 70 years)
CONTRACT_LABEL = "contract"


@dataclass(frozen=True)
class Rent:
    years: int
    """How many annual rents (the lease term, from the listing's ``term_years``)."""
    first_months: int
    """The first year's rent is due this many months after the anchor; each later one 12 months after the previous."""


@dataclass(frozen=True)
class PaymentTerms:
    anchor: Anchor
    """What the periods count from: the confirmation (end of the 公示) or the contract signing."""
    terms: PaymentSchedule
    """Shares of the price (of each year's rent, for a lease) and their periods; shares sum to 1."""
    contract_working_days: int
    """The contract is to be signed within this many WD of the confirmation."""
    late_fee_per_mille: Fraction
    """Late fee per calendar day on the overdue amount, in ‰."""
    grace_days: int
    """Days overdue before rescission may be proposed."""
    rent: Rent | None = None
    """Leases: an annual rent instead of a price."""


def _full(contract_working_days: int = 10) -> PaymentSchedule:
    return (Term("full", Fraction(1), working_days=contract_working_days),)


DEFAULT_PAYMENT_TERMS: dict[str, PaymentTerms] = {
    "land_use_right": PaymentTerms(
        anchor="contract",
        terms=(Term("first", Fraction(1, 2), months=1), Term("balance", Fraction(1, 2), months=12)),
        contract_working_days=10,
        late_fee_per_mille=Fraction(1),
        grace_days=60,
    ),
    "mining_right": PaymentTerms(
        anchor="confirmation",
        terms=_full(),
        contract_working_days=10,
        late_fee_per_mille=Fraction(1),
        grace_days=60,
    ),
    **{
        asset_class: PaymentTerms(
            anchor="confirmation",
            terms=_full(),
            contract_working_days=10,
            late_fee_per_mille=Fraction(1),
            grace_days=30,
        )
        for asset_class in ASSET_CLASSES
        if asset_class not in ("land_use_right", "mining_right")
    },
}
"""The class defaults (see the module docstring); the settings' ``payment_terms`` override them."""


def schedule_of(terms: PaymentTerms) -> PaymentSchedule:
    """The old list form of ``terms``: a zero-share ``contract`` term first when anchored on the contract."""
    if terms.anchor != "contract" or any(t.label == CONTRACT_LABEL for t in terms.terms):
        return terms.terms
    return (Term(CONTRACT_LABEL, Fraction(0), working_days=terms.contract_working_days), *terms.terms)


def _decimal_text(value: Fraction) -> str:
    """A rate or share as a decimal string ("0.5", "1", "0.0435"); it must terminate."""
    with localcontext() as context:
        context.prec = len(str(value.numerator)) + len(str(value.denominator)) + 2
        text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    if Fraction(text) != value:
        raise ValueError(f"{value} has no finite decimal form")
    return text


def _term_json(term: Term) -> dict[str, Any]:
    out: dict[str, Any] = {"label": term.label, "share": _decimal_text(term.share)}
    if term.working_days is not None:
        out["working_days"] = term.working_days
    if term.months is not None:
        out["months"] = term.months
    out["interest_per_annum"] = _decimal_text(term.interest_per_annum)
    return out


def terms_to_json(terms: PaymentTerms) -> dict[str, Any]:
    """The JSON form of ``terms`` (decimals as strings), which :func:`terms_from_json` reads back."""
    return {
        "anchor": terms.anchor,
        "contract_working_days": terms.contract_working_days,
        "late_fee_per_mille": _decimal_text(terms.late_fee_per_mille),
        "grace_days": terms.grace_days,
        "terms": [_term_json(t) for t in terms.terms],
        "rent": None
        if terms.rent is None
        else {"years": terms.rent.years, "first_months": terms.rent.first_months},
    }


def _whole(value: Any, name: str, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{where}: {name} must be a whole number in {low}..{high}")
    return value


def _rent(value: Any, where: str) -> Rent | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"years", "first_months"}:
        raise ValueError(f"{where}: rent is null or {{years, first_months}}")
    return Rent(
        years=_whole(value["years"], "rent.years", where, 1, MAX_RENT_YEARS),
        first_months=_whole(value["first_months"], "rent.first_months", where, 0, 120),
    )


_NOTHING = PaymentTerms("confirmation", (), 0, Fraction(0), 0)
_TERMS_KEYS = frozenset(
    {"anchor", "contract_working_days", "late_fee_per_mille", "grace_days", "terms", "rent"}
)


def _terms_object(value: dict[str, Any], where: str, base: PaymentTerms | None) -> PaymentTerms:
    """A :class:`PaymentTerms` from its JSON object; keys left out come from ``base`` (all but rent
    required without one)."""
    unknown = sorted(set(value) - _TERMS_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}")
    if base is None:
        missing = sorted(_TERMS_KEYS - {"rent"} - set(value))
        if missing:
            raise ValueError(f"{where}: {missing[0]} is required")
        base = _NOTHING
    anchor = value.get("anchor", base.anchor)
    if anchor not in ANCHORS:
        raise ValueError(f"{where}: anchor must be one of {', '.join(ANCHORS)}")
    contract = base.contract_working_days
    if "contract_working_days" in value:
        contract = _whole(value["contract_working_days"], "contract_working_days", where, 0, MAX_WORKING_DAYS)
    fee = base.late_fee_per_mille
    if "late_fee_per_mille" in value:
        fee = _decimal(value["late_fee_per_mille"], "late fee", where)
        if not 0 <= fee <= 1000:
            raise ValueError(f"{where}: late_fee_per_mille must lie in 0..1000")
    grace = base.grace_days
    if "grace_days" in value:
        grace = _whole(value["grace_days"], "grace_days", where, 0, MAX_GRACE_DAYS)
    schedule = _schedule(value["terms"], f"{where}.terms") if "terms" in value else base.terms
    if any(t.label == CONTRACT_LABEL and t.share == 0 for t in schedule):
        raise ValueError(
            f"{where}.terms: the contract deadline is contract_working_days, not a zero-share term"
        )
    rent = _rent(value["rent"], where) if "rent" in value else base.rent
    return PaymentTerms(
        anchor=anchor,
        terms=schedule,
        contract_working_days=contract,
        late_fee_per_mille=fee,
        grace_days=grace,
        rent=rent,
    )


def terms_from_json(obj: Any, where: str = "payment_terms") -> PaymentTerms:
    """The :class:`PaymentTerms` of a JSON object in the form of :func:`terms_to_json`.

    Every key but ``rent`` is required; anything malformed is a ``ValueError`` whose message starts with
    ``where``. Decimals may be strings or numbers.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: payment terms are a JSON object")
    return _terms_object(obj, where, None)


def _from_list(schedule: PaymentSchedule, base: PaymentTerms) -> PaymentTerms:
    """An old list of terms with the class defaults for the rest; a zero-share contract term sets its deadline."""
    contract = [t.working_days for t in schedule if t.label == CONTRACT_LABEL and t.share == 0]
    rest = tuple(t for t in schedule if not (t.label == CONTRACT_LABEL and t.share == 0))
    return PaymentTerms(
        anchor=base.anchor,
        terms=rest,
        contract_working_days=next((d for d in contract if d is not None), base.contract_working_days),
        late_fee_per_mille=base.late_fee_per_mille,
        grace_days=base.grace_days,
        rent=base.rent,
    )


def parse_payment_terms(text: str | None) -> dict[str, PaymentTerms]:
    """The class defaults overridden by ``EXCHANGE_PAYMENT_SCHEDULES`` (a list of terms or a terms object)."""
    table = dict(DEFAULT_PAYMENT_TERMS)
    for asset_class, value in _by_asset_class(text, PAYMENT_VARIABLE).items():
        where = f"{PAYMENT_VARIABLE}[{asset_class}]"
        base = DEFAULT_PAYMENT_TERMS[asset_class]
        if isinstance(value, dict):
            table[asset_class] = _terms_object(value, where, base)
        else:
            table[asset_class] = _from_list(_schedule(value, where), base)
        if not table[asset_class].terms:
            raise ValueError(f"{where}: a schedule needs at least one term besides the contract")
    return table


def default_terms(
    asset_class: str, attributes: Mapping[str, Any], schedules: Mapping[str, PaymentTerms] | None = None
) -> PaymentTerms:
    """The payment terms a new listing of ``asset_class`` starts with.

    ``schedules`` are the settings' ``payment_terms`` (the class defaults without). Land offered
    by long-term lease or lease-then-transfer pays rent: one per year of ``term_years``, the first
    a month after the anchor.
    """
    terms = (schedules or DEFAULT_PAYMENT_TERMS).get(asset_class) or DEFAULT_PAYMENT_TERMS[asset_class]
    if asset_class == "land_use_right" and attributes.get("supply_mode") in LEASE_SUPPLY_MODES:
        years = attributes.get("term_years")
        if isinstance(years, int) and not isinstance(years, bool) and 1 <= years <= MAX_RENT_YEARS:
            return PaymentTerms(
                anchor=terms.anchor,
                terms=terms.terms,
                contract_working_days=terms.contract_working_days,
                late_fee_per_mille=terms.late_fee_per_mille,
                grace_days=terms.grace_days,
                rent=Rent(years=years, first_months=1),
            )
    return terms


for _name, _default in DEFAULT_FEE_SCHEDULES.items():
    _check_fees(_default, f"default fee schedule of {_name}")
for _name, _terms in DEFAULT_PAYMENT_SCHEDULES.items():
    _check_terms(_terms, f"default payment schedule of {_name}")
for _name, _payment in DEFAULT_PAYMENT_TERMS.items():
    _check_terms(_payment.terms, f"default payment terms of {_name}")
