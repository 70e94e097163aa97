"""Payment terms in words, for the pages: the console, the catalogue and the winner's page.

Reads the JSON form of :class:`exchange.settlement_terms.PaymentTerms` (what the API shows as
``payment_terms``) and says it as sentences, Chinese first, English for ``?lang=en``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from exchange.settlement_terms import terms_from_json, terms_to_json

__all__ = ["TERM_LABELS", "describe", "percent"]

TERM_LABELS: dict[str, tuple[str, str]] = {
    "full": ("全款", "Full price"),
    "first": ("首期", "First instalment"),
    "balance": ("余款", "Balance"),
    "contract": ("签订合同", "Contract"),
    "rent": ("租金", "Rent"),
}
_ANCHORS = {
    "confirmation": ("自成交确认之日起", "from the confirmation"),
    "contract": ("自合同签订之日起", "from the signing of the contract"),
}


def percent(text: str | int | Decimal) -> str:
    """``"0.5"`` -> ``"50"``, ``"0.0435"`` -> ``"4.35"``: a share or rate as a percentage, exact."""
    try:
        value = Decimal(str(text)) * 100
    except InvalidOperation:
        return str(text)
    return format(value.normalize(), "f")


def _label(label: str, lang: str) -> str:
    zh, en = TERM_LABELS.get(label, (label, label))
    return en if lang == "en" else zh


def _period(term: dict[str, Any], lang: str) -> str:
    if term.get("working_days") is not None:
        n = term["working_days"]
        return f"{n} working days" if lang == "en" else f"{n} 个工作日"
    n = term.get("months")
    return f"{n} months" if lang == "en" else f"{n} 个月"


def describe(payment_terms: dict[str, Any] | None, lang: str = "zh") -> list[str]:
    """The terms as sentences; an invalid or missing object gives no sentence (never an error on a page)."""
    if not payment_terms:
        return []
    try:
        data = terms_to_json(terms_from_json(payment_terms))
    except ValueError:
        return []
    en = lang == "en"
    anchor_zh, anchor_en = _ANCHORS[data["anchor"]]
    lines: list[str] = []
    if data["anchor"] == "contract":
        days = data["contract_working_days"]
        lines.append(
            f"Contract to be signed within {days} working days of the confirmation"
            if en
            else f"成交确认后 {days} 个工作日内签订合同"
        )
    rent = data.get("rent")
    if rent:
        lines.append(
            f"Annual rent (the price bid) for {rent['years']} years; the first within {rent['first_months']} months "
            f"{anchor_en}, each later one 12 months after the previous"
            if en
            else f"按年缴纳租金（成交价为年租金），共 {rent['years']} 年；首年租金{anchor_zh} {rent['first_months']} "
            "个月内缴纳，此后每满 12 个月缴纳一次"
        )
    whole = "of each year's rent" if rent else "of the price"
    for term in data["terms"]:
        share = percent(term["share"])
        interest = term.get("interest_per_annum") or "0"
        if en:
            line = f"{_label(term['label'], lang)}: {share}% {whole} within {_period(term, lang)} {anchor_en}"
            if Decimal(interest):
                line += f", with simple interest of {percent(interest)}% a year"
        else:
            line = f"{_label(term['label'], lang)}：{'每年租金' if rent else '成交价款'}的 {share}%，{anchor_zh} {_period(term, lang)}内付清"
            if Decimal(interest):
                line += f"，按年利率 {percent(interest)}% 计息"
        lines.append(line)
    fee, grace = data["late_fee_per_mille"], data["grace_days"]
    lines.append(
        f"Late payment: {fee}‰ of the overdue amount per day; rescission may be proposed after {grace} days overdue"
        if en
        else f"逾期付款的，每日按逾期金额的 {fee}‰ 缴纳违约金；逾期超过 {grace} 日的，可提议解除合同"
    )
    return lines
