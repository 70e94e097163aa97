"""The registry's words in a page's language (:mod:`documents.registry_words` for rights, units
and quantities, so a page and a PDF print a lot the same way), and the few the pages alone need:
the states of an agreement and of an objection, and how a form's quantity is typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from documents import registry_words as w
from exchange.vocabulary import Label

AGREEMENT_STATUS_WORDS: Mapping[str, Label] = {
    "publicity": Label("公示中", "Under publicity"),
    "confirmed": Label("已确认，待付款", "Confirmed, awaiting payment"),
    "delivered": Label("已交割", "Delivered"),
    "cancelled": Label("已取消", "Cancelled"),
}
OBJECTION_STATUS_WORDS: Mapping[str, Label] = {
    "open": Label("待处理", "Open"),
    "dismissed": Label("异议不成立", "Dismissed"),
    "upheld": Label("异议成立", "Upheld"),
}
EMISSION_SUB_TYPES = ("COD", "NH3-N", "SO2", "NOx", "VOCs")
WATER_SUB_TYPES = ("regional", "abstraction_permit", "irrigation_user")


def unit_of(right_type: str) -> str:
    """The stored unit of a right: kg/a for emission, m³/a for water."""
    return "kg/a" if right_type == "emission" else "m3/a"


def scale_of(unit: str) -> int:
    """What one shown unit is in stored units: a tonne is 1000 kg, a m³ is itself."""
    return int(10 ** w.SCALE.get(unit, 0))


class Words:
    """The registry's words in the page's language, for the templates."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def right(self, key: str) -> str:
        return w.word(w.RIGHT_TYPE_WORDS, key, self.lang)

    def sub_type(self, right_type: str, key: str) -> str:
        return w.sub_type_word(right_type, key, self.lang)

    def instrument(self, right_type: str, sub_type: str) -> str:
        return w.instrument_name(right_type, sub_type, self.lang)

    def amount(self, unit: str, quantity: int) -> str:
        return w.amount(unit, quantity, self.lang)

    def number(self, unit: str, quantity: int) -> str:
        return w.number(unit, quantity)

    def unit(self, unit: str) -> str:
        return w.word(w.UNIT_WORDS, unit, self.lang)

    def scale(self, unit: str) -> int:
        return scale_of(unit)

    def places(self, unit: str) -> int:
        return w.SCALE.get(unit, 0)

    def unit_price(self, unit: str, price: int, quantity: int) -> str:
        return w.unit_price(unit, price, quantity, self.lang)

    def validity(self, instrument: Any) -> str:
        return w.validity(instrument.valid_from, instrument.valid_until, self.lang)

    def origin(self, key: str) -> str:
        return w.word(w.ORIGIN_WORDS, key, self.lang)

    def delivery(self, key: str) -> str:
        return w.word(w.DELIVERY_STATUS_WORDS, key, self.lang)

    def permit(self, key: str | None) -> str:
        return "" if key is None else w.word(w.PERMIT_CHANGE_WORDS, key, self.lang)

    def pledge(self, key: str) -> str:
        return w.word(w.PLEDGE_STATUS_WORDS, key, self.lang)

    def offer(self, key: str) -> str:
        return w.word(w.OFFER_STATUS_WORDS, key, self.lang)

    def via(self, key: str) -> str:
        return w.word(w.VIA_WORDS, key, self.lang)

    def agreement(self, key: str) -> str:
        return w.word(AGREEMENT_STATUS_WORDS, key, self.lang)

    def objection(self, key: str) -> str:
        return w.word(OBJECTION_STATUS_WORDS, key, self.lang)
