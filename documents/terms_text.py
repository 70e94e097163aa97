"""A listing's payment terms in words, as the announcement and the confirmation print them.

Reads the JSON form of ``exchange.settlement_terms.PaymentTerms`` (``Listing.payment_terms``)
leniently: a listing written before issue 16 has none, and prints nothing."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

ANCHORS = {"contract": "合同签订之日", "confirmation": "成交确认书签订之日"}
LABELS = {"first": "首期价款", "balance": "余款", "full": "全部价款", "contract": "签约款"}


def _number(value: Any) -> Fraction | None:
    try:
        return Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        return None


def _percent(value: Fraction) -> str:
    number = Decimal(value.numerator) / Decimal(value.denominator) * 100
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return text + "%"


def _period(term: Mapping[str, Any]) -> str:
    if term.get("months"):
        return f"{int(term['months'])} 个月内"
    if term.get("working_days"):
        return f"{int(term['working_days'])} 个工作日内"
    return "当日"


def describe(terms: Mapping[str, Any] | None) -> tuple[str, ...]:
    """One line per term (and the rent, the late fee and the grace), in Chinese."""
    if not isinstance(terms, Mapping) or not terms.get("terms"):
        return ()
    anchor = ANCHORS.get(str(terms.get("anchor")), "成交确认书签订之日")
    lines = []
    rent = terms.get("rent")
    if isinstance(rent, Mapping) and rent.get("years"):
        lines.append(
            f"本宗土地以年租金方式供应，成交价为年租金，共 {int(rent['years'])} 年；首年租金于{anchor}起 "
            f"{int(rent.get('first_months') or 1)} 个月内缴纳，以后每年租金于上一年缴纳之日起 12 个月内缴纳。"
        )
    else:
        for term in terms["terms"]:
            if not isinstance(term, Mapping):
                continue
            share = _number(term.get("share"))
            label = LABELS.get(str(term.get("label")), str(term.get("label") or "价款"))
            line = f"{label}：成交价款的 {_percent(share) if share is not None else '—'}，于{anchor}起 {_period(term)}缴清"
            interest = _number(term.get("interest_per_annum"))
            if interest:
                line += f"，按年利率 {_percent(interest)} 计付利息"
            lines.append(line + "。")
    fee = _number(terms.get("late_fee_per_mille"))
    if fee:
        grace = terms.get("grace_days")
        per_mille = f"{Decimal(fee.numerator) / Decimal(fee.denominator):f}".rstrip("0").rstrip(".")
        text = f"逾期付款的，每日按逾期金额的 {per_mille}‰ 缴纳违约金"
        if grace:
            text += f"；逾期超过 {int(grace)} 日仍未缴清的，可依约解除合同，已缴保证金作为定金不予退还（以成交价款的 20% 为限）"
        lines.append(text + "。")
    return tuple(lines)
