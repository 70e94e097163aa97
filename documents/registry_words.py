"""The registry's words, for its documents and pages: rights, pollutants and water trade types by
their labels, quantities in the unit people read (t/a with three places for emission, m³/a for
water; the registry stores kg/a and m³/a), unit prices in yuan per t or per m³.

Pure functions over plain values, so a page and a PDF print a lot the same way and no raw key
(``kg/a``, ``abstraction_permit``) reaches a reader."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from exchange.vocabulary import Label
from listings.attribute_fields import ATTRIBUTE_FIELDS

RIGHT_TYPE_WORDS: Mapping[str, Label] = {
    "emission": Label("排污权", "Emission right"),
    "water": Label("用水权", "Water right"),
}
ORIGIN_WORDS: Mapping[str, Label] = {
    "paid": Label("有偿取得", "Paid for"),
    "free": Label("无偿分配", "Allocated free"),
}
DELIVERY_STATUS_WORDS: Mapping[str, Label] = {
    "awaiting_approval": Label("待主管部门同意", "Awaiting the authority's consent"),
    "delivered": Label("已交割", "Delivered"),
    "refused": Label("主管部门不同意，未交割", "Refused by the authority"),
}
PERMIT_CHANGE_WORDS: Mapping[str, Label] = {
    "pending": Label("许可证变更待确认", "Permit change pending"),
    "confirmed": Label("许可证变更已确认", "Permit change confirmed"),
}
PLEDGE_STATUS_WORDS: Mapping[str, Label] = {
    "active": Label("质押中", "Pledged"),
    "released": Label("已解除", "Released"),
    "enforced": Label("已处置", "Enforced"),
}
OFFER_STATUS_WORDS: Mapping[str, Label] = {
    "pending": Label("待审核", "Awaiting approval"),
    "approved": Label("已批准挂牌", "Approved"),
    "rejected": Label("已驳回", "Rejected"),
    "sold": Label("已售出", "Sold"),
    "released": Label("已解除冻结", "Released"),
}
VIA_WORDS: Mapping[str, Label] = {
    "auction": Label("公开竞价", "Public sale"),
    "agreement": Label("协议转让", "Negotiated transfer"),
}
UNIT_WORDS: Mapping[str, Label] = {
    "kg/a": Label("吨/年", "t/a"),
    "m3/a": Label("立方米/年", "m³/a"),
}
"""The unit a lot is shown in, by the unit it is stored in."""
PRICE_UNIT_WORDS: Mapping[str, Label] = {
    "kg/a": Label("元/吨", "yuan/t"),
    "m3/a": Label("元/立方米", "yuan/m³"),
}
SCALE = {"kg/a": 3, "m3/a": 0}
"""Decimal places between the stored unit and the shown one: 1 t = 1000 kg."""
SUB_TYPE_FIELD = {"emission": ("emission_right", "pollutant"), "water": ("water_right", "trade_type")}


def word(table: Mapping[str, Label], key: str | None, lang: str = "zh") -> str:
    """``key`` in ``lang``; an unknown key as it is (never silently dropped), none as "—"."""
    if key is None:
        return "—"
    found = table.get(key)
    return found.in_language(lang) if found else key


def sub_type_word(right_type: str, sub_type: str, lang: str = "zh") -> str:
    """The pollutant (化学需氧量 (COD)) or the water trade type (取水权交易), from the listing form's choices."""
    asset_class, key = SUB_TYPE_FIELD.get(right_type, ("", ""))
    for field in ATTRIBUTE_FIELDS.get(asset_class, ()):
        if field.key == key:
            for value, zh, en in field.choices:
                if value == sub_type:
                    return en if lang == "en" else zh
    return sub_type


def shown(unit: str, quantity: int) -> Decimal:
    """A stored quantity in the shown unit, exact: 12345 kg/a -> 12.345 (t/a); 800 m³/a -> 800."""
    places = SCALE.get(unit, 0)
    return Decimal(quantity).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def amount(unit: str, quantity: int, lang: str = "zh") -> str:
    """``12,345.000 吨/年`` (t/a, three places) or ``800 立方米/年``."""
    return f"{shown(unit, quantity):,} {word(UNIT_WORDS, unit, lang)}"


def number(unit: str, quantity: int) -> str:
    """The same without its unit, for a table whose column names the unit."""
    return f"{shown(unit, quantity):,}"


def unit_price(unit: str, price: int, quantity: int, lang: str = "zh") -> str:
    """Yuan per shown unit to two places (half even): 1,200,000 fen for 12,000 kg -> ``1,000.00 元/吨``."""
    if quantity <= 0:
        return "—"
    per = (Decimal(price) / 100 / shown(unit, quantity)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"{per:,} {word(PRICE_UNIT_WORDS, unit, lang)}"


def validity(valid_from: date, valid_until: date, lang: str = "zh") -> str:
    """``2026-01-01 至 2030-12-31``: ``valid_until`` is the first day no longer valid, so the last
    valid day is printed."""
    last = date.fromordinal(valid_until.toordinal() - 1)
    joiner = " to " if lang == "en" else " 至 "
    return f"{valid_from.isoformat()}{joiner}{last.isoformat()}"


def instrument_name(right_type: str, sub_type: str, lang: str = "zh") -> str:
    """``排污权 · 化学需氧量 (COD)``."""
    return f"{word(RIGHT_TYPE_WORDS, right_type, lang)} · {sub_type_word(right_type, sub_type, lang)}"
