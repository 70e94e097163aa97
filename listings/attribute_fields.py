"""Every attribute of every asset class described once: its key, Chinese and English label, unit,
kind, the values it may take with their labels, and the bounds the API checks.

The API's validation (:mod:`listings.attributes`) reads its bounds and choices from here, the
operator console builds its form from it, and the catalogue, the console and the listing
announcement show a listing's attributes with :func:`attribute_rows`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args

from exchange.messages import register_field_names
from exchange.vocabulary import Label

__all__ = [
    "ATTRIBUTE_FIELDS",
    "QUANTITY_KEYS",
    "AttributeField",
    "AttributeRow",
    "Choice",
    "IpType",
    "LandUse",
    "OutputUnit",
    "Pollutant",
    "ReserveUnit",
    "RightType",
    "SingleUse",
    "SupplyMode",
    "TransactionForm",
    "WaterTradeType",
    "WaterUse",
    "attribute_rows",
    "document_rows",
    "quantity_unit_zh",
]

Choice = tuple[str, str, str]
"""(value, Chinese label, English label)"""

Kind = Literal["text", "code", "decimal", "int", "choice", "bool", "points", "group"]
"""``code``: a GB/T 2260 administrative division code; ``points``: [lon, lat] corner points;
``group``: a nested object of ``fields``."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttributeField:
    key: str
    """The name in its object: ``area_m2``, or ``min`` inside ``plot_ratio``."""
    zh: str
    en: str
    kind: Kind = "text"
    required: bool = False
    """Always required; a requirement that depends on another attribute is the reader's."""
    unit: Label | None = None
    choices: tuple[Choice, ...] = ()
    default: str | int | bool | None = None
    fixed: bool = False
    """One value that defaults: never asked for in the form."""
    places: int = 0
    gt: int | None = None
    ge: int | None = None
    le: int | None = None
    max_len: int = 200
    code: str = "choice_invalid"
    """The error code of a value that is not one of ``choices``."""
    aliases: Mapping[str, str] | None = None
    hint: tuple[str, str] | None = None
    fields: tuple[AttributeField, ...] = ()
    shown_as: Literal["list", "range", "amount"] = "list"
    """How a group reads as one value: ``name: value; ...``, ``min ~ max``, ``quantity unit``."""

    @property
    def label(self) -> Label:
        return Label(self.zh, self.en)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for value, _, _ in self.choices)

    @property
    def ratio(self) -> bool:
        """A share between 0 and 1 (the form says so where others give a unit)."""
        return self.le == 1 and 0 in (self.gt, self.ge)

    def member(self, key: str) -> AttributeField:
        return next(f for f in self.fields if f.key == key)


def _choices(literal: Any, table: dict[str, tuple[str, str]]) -> tuple[Choice, ...]:
    """``table`` as choices, once it is known to label exactly the values of ``literal``, in order."""
    if tuple(table) != get_args(literal):
        raise AssertionError(f"choices {tuple(table)} do not match {get_args(literal)}")
    return tuple((value, zh, en) for value, (zh, en) in table.items())


def _required_choice(
    key: str, zh: str, en: str, literal: Any, table: dict[str, tuple[str, str]]
) -> AttributeField:
    return AttributeField(
        key=key, zh=zh, en=en, kind="choice", required=True, choices=_choices(literal, table)
    )


_M2 = Label("平方米", "m²")
_KM2 = Label("平方千米", "km²")
_YEARS = Label("年", "years")
_WAN_YUAN_PER_MU = Label("万元/亩", "10k yuan/mu")
_TCE_PER_WAN_YUAN = Label("吨标准煤/万元", "tce/10k yuan")
_DIVISION_HINT = ("6 位行政区划代码", "6-digit division code")

# --- land use right (国有建设用地使用权) -------------------------------------
LandUse = Literal[
    "residential", "commercial", "tourism", "entertainment", "industrial",
    "public_services", "mixed",
]  # fmt: skip
SingleUse = Literal["residential", "commercial", "tourism", "entertainment", "industrial", "public_services"]
SupplyMode = Literal["transfer", "long_term_lease", "lease_then_transfer", "flexible_term"]

_SINGLE_USES = _choices(
    SingleUse,
    {
        "residential": ("住宅用地", "Residential"),
        "commercial": ("商业用地", "Commercial"),
        "tourism": ("旅游用地", "Tourism"),
        "entertainment": ("娱乐用地", "Entertainment"),
        "industrial": ("工业用地", "Industrial"),
        "public_services": ("教育、科技、文化、卫生、体育用地", "Education, science, culture, health, sport"),
    },
)
_LAND_USES = _choices(
    LandUse, {**{v: (zh, en) for v, zh, en in _SINGLE_USES}, "mixed": ("综合用地（混合用途）", "Mixed use")}
)

_LAND: tuple[AttributeField, ...] = (
    AttributeField(key="parcel_code", zh="地块编号", en="Parcel code", required=True, max_len=64),
    AttributeField(key="location", zh="坐落位置", en="Location", required=True),
    AttributeField(
        key="admin_division_code",
        zh="行政区划代码",
        en="Administrative division code",
        kind="code",
        required=True,
        hint=("6 位 GB/T 2260 代码，如 320571", "6-digit GB/T 2260 code, e.g. 320571"),
    ),
    AttributeField(
        key="area_m2", zh="出让面积", en="Area", kind="decimal", required=True, unit=_M2, places=2, gt=0
    ),
    AttributeField(
        key="land_use", zh="土地用途", en="Land use", kind="choice", required=True, choices=_LAND_USES
    ),
    AttributeField(
        key="mixed_use_shares",
        zh="混合用途比例",
        en="Mixed-use shares",
        kind="group",
        hint=("仅综合用地填写，至少两种用途，合计为 1", "Mixed use only: two uses or more, summing to 1"),
        fields=tuple(
            AttributeField(key=use, zh=zh, en=en, kind="decimal", places=4, gt=0, le=1)
            for use, zh, en in _SINGLE_USES
        ),
    ),
    AttributeField(
        key="plot_ratio",
        zh="容积率",
        en="Plot ratio",
        kind="group",
        required=True,
        hint=("至少填写一项", "Give at least one bound"),
        shown_as="range",
        fields=(
            AttributeField(
                key="min", zh="容积率下限", en="Plot ratio, minimum", kind="decimal", places=2, ge=0
            ),
            AttributeField(
                key="max", zh="容积率上限", en="Plot ratio, maximum", kind="decimal", places=2, gt=0
            ),
        ),
    ),
    AttributeField(
        key="building_density",
        zh="建筑密度上限",
        en="Building density (upper limit)",
        kind="decimal",
        required=True,
        places=4,
        ge=0,
        le=1,
    ),
    AttributeField(
        key="green_ratio", zh="绿地率", en="Green ratio", kind="decimal", required=True, places=4, ge=0, le=1
    ),
    AttributeField(
        key="term_years",
        zh="出让年限",
        en="Term",
        kind="int",
        required=True,
        unit=_YEARS,
        ge=1,
        hint=(
            "住宅 70、工业与综合 50、商业旅游娱乐 40 年以内",
            "At most 70 residential, 50 industrial or mixed, 40 commercial",
        ),
    ),
    _required_choice(
        "supply_mode",
        "供应方式",
        "Supply mode",
        SupplyMode,
        {
            "transfer": ("出让", "Transfer"),
            "long_term_lease": ("长期租赁", "Long-term lease"),
            "lease_then_transfer": ("先租后让", "Lease, then transfer"),
            "flexible_term": ("弹性年期出让", "Flexible term"),
        },
    ),
    AttributeField(
        key="standard_land",
        zh="标准地指标",
        en="Standard land indicators",
        kind="group",
        hint=("可选；填写则四项都要填", "Optional; when given, all four"),
        fields=tuple(
            AttributeField(
                key=key, zh=zh, en=en, kind="decimal", required=True, unit=unit, places=places, gt=gt, ge=ge
            )
            for key, zh, en, unit, places, gt, ge in (
                (
                    "investment_wan_yuan_per_mu",
                    "投资强度",
                    "Investment intensity",
                    _WAN_YUAN_PER_MU,
                    2,
                    0,
                    None,
                ),
                ("output_wan_yuan_per_mu", "亩均产出", "Output per mu", _WAN_YUAN_PER_MU, 2, None, 0),
                ("tax_wan_yuan_per_mu", "亩均税收", "Tax per mu", _WAN_YUAN_PER_MU, 2, None, 0),
                ("energy_tce_per_wan_yuan", "单位能耗", "Energy use", _TCE_PER_WAN_YUAN, 4, None, 0),
            )
        ),
    ),
)

# --- mining right (探矿权 / 采矿权) ------------------------------------------
RightType = Literal["exploration", "mining"]
ReserveUnit = Literal["kg", "t", "10kt", "m3", "10k_m3", "100M_m3"]
OutputUnit = Literal["kg/a", "t/a", "10kt/a", "m3/a", "10k_m3/a", "100M_m3/a"]

_RESERVE_UNITS = _choices(
    ReserveUnit,
    {
        "kg": ("千克", "kg"),
        "t": ("吨", "t"),
        "10kt": ("万吨", "10 kt"),
        "m3": ("立方米", "m³"),
        "10k_m3": ("万立方米", "10k m³"),
        "100M_m3": ("亿立方米", "100M m³"),
    },
)
_OUTPUT_UNITS = _choices(OutputUnit, {k + "/a": (zh + "/年", en + "/a") for k, zh, en in _RESERVE_UNITS})


def _amount(
    key: str,
    name: tuple[str, str],
    parts: tuple[str, str],
    units: tuple[Choice, ...],
    hint: tuple[str, str],
) -> AttributeField:
    """A quantity in one of ``units`` (``parts``: the Chinese names of the quantity and the unit)."""
    return AttributeField(
        key=key,
        zh=name[0],
        en=name[1],
        kind="group",
        hint=hint,
        shown_as="amount",
        fields=(
            AttributeField(
                key="quantity", zh=parts[0], en="Quantity", kind="decimal", required=True, places=4, gt=0
            ),
            AttributeField(
                key="unit",
                zh=parts[1],
                en="Unit",
                kind="choice",
                required=True,
                choices=units,
                code="unit_invalid",
            ),
        ),
    )


_MINING: tuple[AttributeField, ...] = (
    AttributeField(
        key="right_type",
        zh="权利类型",
        en="Right type",
        kind="choice",
        required=True,
        choices=_choices(
            RightType, {"exploration": ("探矿权", "Exploration"), "mining": ("采矿权", "Mining")}
        ),
    ),
    AttributeField(key="mineral", zh="矿种", en="Mineral", required=True, max_len=100),
    AttributeField(
        key="area_km2", zh="矿区面积", en="Area", kind="decimal", required=True, unit=_KM2, places=6, gt=0
    ),
    AttributeField(
        key="crs",
        zh="坐标系",
        en="Coordinate system",
        kind="choice",
        choices=(("CGCS2000", "CGCS2000", "CGCS2000"),),
        default="CGCS2000",
        fixed=True,
    ),
    AttributeField(
        key="boundary",
        zh="拐点坐标（CGCS2000）",
        en="Corner points (CGCS2000)",
        kind="points",
        required=True,
        hint=(
            '[经度, 纬度] 列表，如 [["119.912345", "30.123456"], ...]，至少 3 点',
            '[lon, lat] pairs, e.g. [["119.912345", "30.123456"], ...], at least 3',
        ),
    ),
    AttributeField(
        key="term_years",
        zh="有效期",
        en="Term",
        kind="int",
        required=True,
        unit=_YEARS,
        ge=1,
        hint=("探矿权 5 年以内，采矿权 30 年以内", "At most 5 for exploration, 30 for mining"),
    ),
    _amount(
        "reserves",
        ("资源储量", "Reserves"),
        ("储量", "储量单位"),
        _RESERVE_UNITS,
        ("采矿权必填，探矿权不填", "Required for a mining right, none for exploration"),
    ),
    _amount(
        "production_scale",
        ("生产规模", "Production scale"),
        ("规模", "规模单位"),
        _OUTPUT_UNITS,
        ("仅采矿权", "Mining rights only"),
    ),
)

# --- emission right (排污权 / 碳排放权) --------------------------------------


def _traded_quantity(
    name: tuple[str, str, str],
    unit: tuple[str, str, str],
    *,
    places: int,
    hint: tuple[str, str],
    aliases: Mapping[str, str] | None = None,
) -> tuple[AttributeField, AttributeField]:
    """How much of a divisible right is sold (``name``: key, Chinese, English), and its one unit
    (``unit``: value, Chinese, symbol), which defaults and so is never asked for."""
    value, zh, symbol = unit
    return (
        AttributeField(
            key=name[0],
            zh=name[1],
            en=name[2],
            kind="decimal",
            required=True,
            unit=Label(zh, symbol),
            places=places,
            gt=0,
            hint=hint,
        ),
        AttributeField(
            key="unit",
            zh="单位",
            en="Unit",
            kind="choice",
            choices=((value, f"{zh} ({symbol})", symbol),),
            default=value,
            fixed=True,
            code="unit_invalid",
            aliases=aliases,
        ),
    )


Pollutant = Literal["COD", "NH3-N", "SO2", "NOx", "VOCs", "CO2e"]

_EMISSION: tuple[AttributeField, ...] = (
    _required_choice(
        "pollutant",
        "污染物",
        "Pollutant",
        Pollutant,
        {
            "COD": ("化学需氧量 (COD)", "Chemical oxygen demand (COD)"),
            "NH3-N": ("氨氮 (NH3-N)", "Ammonia nitrogen (NH3-N)"),
            "SO2": ("二氧化硫 (SO2)", "Sulphur dioxide (SO2)"),
            "NOx": ("氮氧化物 (NOx)", "Nitrogen oxides (NOx)"),
            "VOCs": ("挥发性有机物 (VOCs)", "Volatile organic compounds (VOCs)"),
            "CO2e": ("二氧化碳当量 (CO2e)", "CO2 equivalent (CO2e)"),
        },
    ),
    *_traded_quantity(
        ("quantity", "排放量", "Quantity"),
        ("t/a", "吨/年", "t/a"),
        places=3,
        hint=("最多 3 位小数", "At most 3 decimal places"),
    ),
    AttributeField(key="region", zh="使用区域", en="Region of use", required=True, max_len=100),
    AttributeField(key="region_code", zh="区域代码", en="Region code", kind="code", hint=_DIVISION_HINT),
    AttributeField(key="basin", zh="流域", en="Basin", max_len=100),
    AttributeField(
        key="validity_years",
        zh="有效期",
        en="Validity",
        kind="int",
        unit=_YEARS,
        default=5,  # paid-use emission rights are granted for five years at a time
        ge=1,
        le=5,
        hint=("1–5 年，默认 5", "1–5 years, 5 when left empty"),
    ),
)

# --- water right (水权) -------------------------------------------------------
WaterTradeType = Literal["regional", "abstraction_permit", "irrigation_user"]
WaterUse = Literal["agricultural", "industrial", "domestic", "ecological"]

_WATER: tuple[AttributeField, ...] = (
    _required_choice(
        "trade_type",
        "交易类型",
        "Trade type",
        WaterTradeType,
        {
            "regional": ("区域水权交易", "Regional"),
            "abstraction_permit": ("取水权交易", "Abstraction permit"),
            "irrigation_user": ("灌溉用水户水权交易", "Irrigation user"),
        },
    ),
    AttributeField(key="water_source", zh="水源", en="Water source", required=True, max_len=100),
    *_traded_quantity(
        ("volume", "水量", "Volume"),
        ("m3/a", "立方米/年", "m³/a"),
        places=0,
        hint=("整立方米", "Whole cubic metres"),
        aliases={"m³/a": "m3/a"},
    ),
    AttributeField(
        key="term_years",
        zh="期限",
        en="Term",
        kind="int",
        required=True,
        unit=_YEARS,
        ge=1,
        hint=("取水权 10 年以内", "At most 10 for an abstraction permit"),
    ),
    _required_choice(
        "use",
        "用途",
        "Use",
        WaterUse,
        {
            "agricultural": ("农业", "Agricultural"),
            "industrial": ("工业", "Industrial"),
            "domestic": ("生活", "Domestic"),
            "ecological": ("生态", "Ecological"),
        },
    ),
    AttributeField(key="region", zh="区域", en="Region", required=True, max_len=100),
    AttributeField(key="region_code", zh="区域代码", en="Region code", kind="code", hint=_DIVISION_HINT),
)

# --- technology (技术产权 / 知识产权) ----------------------------------------
IpType = Literal["invention_patent", "utility_model", "design", "software_copyright", "know_how"]
TransactionForm = Literal["assignment", "exclusive_licence", "sole_licence", "non_exclusive_licence"]

_TECHNOLOGY: tuple[AttributeField, ...] = (
    _required_choice(
        "ip_type",
        "知识产权类型",
        "IP type",
        IpType,
        {
            "invention_patent": ("发明专利", "Invention patent"),
            "utility_model": ("实用新型", "Utility model"),
            "design": ("外观设计", "Design"),
            "software_copyright": ("软件著作权", "Software copyright"),
            "know_how": ("技术秘密", "Know-how"),
        },
    ),
    AttributeField(key="holder", zh="权利人", en="Holder", required=True),
    _required_choice(
        "transaction_form",
        "交易形式",
        "Transaction form",
        TransactionForm,
        {
            "assignment": ("转让", "Assignment"),
            "exclusive_licence": ("独占许可", "Exclusive licence"),
            "sole_licence": ("排他许可", "Sole licence"),
            "non_exclusive_licence": ("普通许可", "Non-exclusive licence"),
        },
    ),
    AttributeField(
        key="registration_number",
        zh="专利号或登记号",
        en="Patent or registration number",
        max_len=40,
        hint=(
            "如 ZL202310123456.7 或 2023SR0123456；技术秘密不填",
            "e.g. ZL202310123456.7 or 2023SR0123456; none for know-how",
        ),
    ),
    AttributeField(
        key="term_years",
        zh="许可年限",
        en="Licence term",
        kind="int",
        unit=_YEARS,
        ge=1,
        le=50,
        hint=("许可必填，转让不填", "Required for a licence, none for an assignment"),
    ),
    AttributeField(key="state_owned", zh="国有资产", en="State-owned asset", kind="bool", default=False),
)

ATTRIBUTE_FIELDS: Mapping[str, tuple[AttributeField, ...]] = {
    "land_use_right": _LAND,
    "mining_right": _MINING,
    "emission_right": _EMISSION,
    "water_right": _WATER,
    "technology": _TECHNOLOGY,
}
"""Each asset class's attributes in the order the API reads them and the form asks for them."""


def _field_names(path: str, fields: tuple[AttributeField, ...]) -> dict[str, tuple[str, str]]:
    names: dict[str, tuple[str, str]] = {}
    for field in fields:
        names[f"{path}.{field.key}"] = (field.zh, field.en)
        names.update(_field_names(f"{path}.{field.key}", field.fields))
    return names


# A field error names the field in the request's language (exchange.messages); the first
# asset class to name a key wins, as an error's path does not say the class.
register_field_names(
    {k: v for f in ATTRIBUTE_FIELDS.values() for k, v in _field_names("attributes", f).items()}
)


QUANTITY_KEYS: Mapping[str, str] = {"emission_right": "quantity", "water_right": "volume"}
"""The attribute holding the traded quantity of each divisible right."""


def quantity_unit_zh(asset_class: str) -> str | None:
    """The Chinese unit of a divisible right's quantity (吨/年, 立方米/年); ``None`` for a whole lot."""
    key = QUANTITY_KEYS.get(asset_class)
    field = next((f for f in ATTRIBUTE_FIELDS.get(asset_class, ()) if f.key == key), None)
    return field.unit.zh if field is not None and field.unit is not None else None


@dataclasses.dataclass(frozen=True, slots=True)
class AttributeRow:
    key: str
    label: Label
    value: Label


_YES, _NO = Label("是", "Yes"), Label("否", "No")


def attribute_rows(asset_class: str, attributes: Mapping[str, Any]) -> list[AttributeRow]:
    """A listing's attributes as labelled values in both languages, in the order they are described.

    Absent ones are left out; one the description does not know is shown under its key.
    """
    fields = ATTRIBUTE_FIELDS.get(asset_class, ())
    known = {f.key for f in fields}
    rows = [
        AttributeRow(f.key, f.label, _shown(f, attributes[f.key]))
        for f in fields
        if attributes.get(f.key) is not None
    ]
    rows += [
        AttributeRow(key, Label(key, key), Label(str(value), str(value)))
        for key, value in attributes.items()
        if key not in known and value is not None
    ]
    return rows


def _percent(value: Any) -> str:
    """A share between 0 and 1 as people read it: ``"0.30"`` -> ``30%``, ``"0.125"`` -> ``12.5%``."""
    try:
        number = Decimal(str(value)) * 100
    except (InvalidOperation, ValueError):
        return str(value)
    text = format(number.normalize(), "f") if number == number.to_integral() else format(number, "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def _shown(field: AttributeField, value: Any) -> Label:
    if isinstance(value, bool):
        return _YES if value else _NO
    if field.kind == "choice":
        found = next((Label(zh, en) for v, zh, en in field.choices if v == value), None)
        return found or Label(str(value), str(value))
    if field.kind == "points" and isinstance(value, list | tuple):
        zh, en = _points(value)
        return Label("; ".join(zh), "; ".join(en))
    if field.kind == "group" and isinstance(value, Mapping):
        return _shown_group(field, value)
    if field.ratio:
        text = _percent(value)
        return Label(text, text)
    if field.unit is None:
        return Label(str(value), str(value))
    return Label(f"{value} {field.unit.zh}", f"{value} {field.unit.en}")


def _points(value: list[Any] | tuple[Any, ...]) -> tuple[list[str], list[str]]:
    """Corner points, numbered: ``拐点 1：东经 119.912345°，北纬 30.123456°``."""
    zh, en = [], []
    for number, point in enumerate(value, 1):
        if isinstance(point, list | tuple) and len(point) == 2:
            lon, lat = point
            zh.append(f"拐点 {number}：东经 {lon}°，北纬 {lat}°")
            en.append(f"{number}: ({lon}, {lat})")
        else:
            zh.append(f"拐点 {number}：{point}")
            en.append(f"{number}: {point}")
    return zh, en


def _shown_group(field: AttributeField, value: Mapping[str, Any]) -> Label:
    if field.shown_as == "range":
        low, high = (value.get(f.key) for f in field.fields)
        if low is not None and high is not None:
            return Label(f"{low} ~ {high}（下限 {low}，上限 {high}）", f"{low} ~ {high}")
        if low is not None:
            return Label(f"不低于 {low}", f"at least {low}")
        return Label(f"不高于 {high}", f"at most {high}")
    parts = [(f, _shown(f, value[f.key])) for f in field.fields if value.get(f.key) is not None]
    if field.shown_as == "amount":
        return Label(" ".join(p.zh for _, p in parts), " ".join(p.en for _, p in parts))
    return Label(
        "；".join(f"{f.zh} {p.zh}" for f, p in parts),
        "; ".join(f"{f.en}: {p.en}" for f, p in parts),
    )


def document_rows(asset_class: str, attributes: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """A listing's attributes as an official document prints them: Chinese labels and units of
    this one vocabulary, values as people read them (是/否, choices by their label, shares in %,
    one line per mixed use, 标准地 indicator and corner point), in the order they are described.

    An attribute this description does not know is left out: a document never prints a raw key.
    """
    rows: list[tuple[str, tuple[str, ...]]] = []
    for f in ATTRIBUTE_FIELDS.get(asset_class, ()):
        value = attributes.get(f.key)
        if value is None or (f.fixed and f.kind == "choice" and f.key == "unit"):
            continue  # the fixed unit of a divisible right is printed with its quantity
        if f.kind == "points" and isinstance(value, list | tuple):
            rows.append((f.zh, tuple(_points(value)[0])))
        elif f.kind == "group" and f.shown_as == "list" and isinstance(value, Mapping):
            lines = tuple(
                f"{member.zh} {_shown(member, value[member.key]).zh}"
                for member in f.fields
                if value.get(member.key) is not None
            )
            if lines:
                rows.append((f.zh, lines))
        else:
            rows.append((f.zh, (_shown(f, value).zh,)))
    return rows
