"""The listing form of the operator console, as data: every asset class's attribute fields,
the common terms, the schedule and each method's parameters, with both languages' labels.

A field's ``name`` is its path in the JSON body of ``POST /api/v1/listings`` and of the
API's field errors, so an error lands beside the input it is about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from listings.attributes import UNITS

Choice = tuple[str, str, str]
"""(value, Chinese label, English label)"""

STATUSES: tuple[Choice, ...] = (
    ("draft", "草稿", "Drafts"),
    ("announced", "已公告", "Announced"),
    ("registration", "报名中", "Registration open"),
    ("bidding", "竞价中", "Bidding live"),
    ("closed", "已成交", "Closed"),
    ("failed", "流拍", "Failed"),
    ("suspended", "中止", "Suspended"),
    ("cancelled", "终止", "Cancelled"),
)


@dataclass(frozen=True, slots=True)
class Field:
    """One input of the listing form; ``name`` is the path in the API body (and of its errors)."""

    name: str
    zh: str
    en: str
    kind: Literal["text", "textarea", "decimal", "int", "choice", "bool", "json", "datetime"] = "text"
    required: bool = False
    unit: str = ""
    choices: tuple[Choice, ...] = ()
    hint: tuple[str, str] | None = None
    methods: tuple[str, ...] = ()
    """Method parameters only: the methods it applies to (disabled for the others)."""

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")


@dataclass(frozen=True, slots=True)
class Group:
    """Fields of one nested object (``attributes.plot_ratio``), errors on the object land beside it."""

    name: str
    zh: str
    en: str
    fields: tuple[Field, ...]
    hint: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AssetForm:
    key: str
    zh: str
    en: str
    price_unit: str
    items: tuple[Field | Group, ...] = field(default_factory=tuple)


def _attr(name: str, zh: str, en: str, **kw: Any) -> Field:
    return Field("attributes." + name, zh, en, **kw)


_LAND_USES: tuple[Choice, ...] = (
    ("residential", "住宅用地", "Residential"),
    ("commercial", "商业用地", "Commercial"),
    ("tourism", "旅游用地", "Tourism"),
    ("entertainment", "娱乐用地", "Entertainment"),
    ("industrial", "工业用地", "Industrial"),
    ("public_services", "教育、科技、文化、卫生、体育用地", "Education, science, culture, health, sport"),
)
_WAN_PER_MU = "万元/亩"
_RESERVE_UNITS: tuple[Choice, ...] = (
    ("kg", "千克", "kg"),
    ("t", "吨", "t"),
    ("10kt", "万吨", "10 kt"),
    ("m3", "立方米", "m³"),
    ("10k_m3", "万立方米", "10k m³"),
    ("100M_m3", "亿立方米", "100M m³"),
)

ASSET_FORMS: tuple[AssetForm, ...] = (
    AssetForm(
        "land_use_right",
        "国有建设用地使用权",
        "Land use right",
        UNITS["land_use_right"].price_unit,
        (
            _attr("parcel_code", "地块编号", "Parcel code", required=True),
            _attr("location", "坐落位置", "Location", required=True),
            _attr(
                "admin_division_code",
                "行政区划代码",
                "Administrative division code",
                required=True,
                hint=("6 位 GB/T 2260 代码，如 320571", "6-digit GB/T 2260 code, e.g. 320571"),
            ),
            _attr("area_m2", "出让面积", "Area", kind="decimal", required=True, unit="m²"),
            _attr(
                "land_use",
                "土地用途",
                "Land use",
                kind="choice",
                required=True,
                choices=(*_LAND_USES, ("mixed", "综合用地（混合用途）", "Mixed use")),
            ),
            Group(
                "attributes.mixed_use_shares",
                "混合用途比例",
                "Mixed-use shares",
                tuple(
                    _attr(f"mixed_use_shares.{key}", zh, en, kind="decimal", unit="0–1")
                    for key, zh, en in _LAND_USES
                ),
                hint=(
                    "仅综合用地填写，至少两种用途，合计为 1",
                    "Mixed use only: two uses or more, summing to 1",
                ),
            ),
            Group(
                "attributes.plot_ratio",
                "容积率",
                "Plot ratio",
                (
                    _attr("plot_ratio.min", "容积率下限", "Plot ratio, minimum", kind="decimal"),
                    _attr("plot_ratio.max", "容积率上限", "Plot ratio, maximum", kind="decimal"),
                ),
                hint=("至少填写一项", "Give at least one bound"),
            ),
            _attr(
                "building_density",
                "建筑密度上限",
                "Building density (upper limit)",
                kind="decimal",
                required=True,
                unit="0–1",
            ),
            _attr("green_ratio", "绿地率", "Green ratio", kind="decimal", required=True, unit="0–1"),
            _attr(
                "term_years",
                "出让年限",
                "Term",
                kind="int",
                required=True,
                unit="年 / years",
                hint=(
                    "住宅 70、工业与综合 50、商业旅游娱乐 40 年以内",
                    "At most 70 residential, 50 industrial or mixed, 40 commercial",
                ),
            ),
            _attr(
                "supply_mode",
                "供应方式",
                "Supply mode",
                kind="choice",
                required=True,
                choices=(
                    ("transfer", "出让", "Transfer"),
                    ("long_term_lease", "长期租赁", "Long-term lease"),
                    ("lease_then_transfer", "先租后让", "Lease, then transfer"),
                    ("flexible_term", "弹性年期出让", "Flexible term"),
                ),
            ),
            Group(
                "attributes.standard_land",
                "标准地指标",
                "Standard land indicators",
                (
                    _attr(
                        "standard_land.investment_wan_yuan_per_mu",
                        "投资强度",
                        "Investment intensity",
                        kind="decimal",
                        unit=_WAN_PER_MU,
                    ),
                    _attr(
                        "standard_land.output_wan_yuan_per_mu",
                        "亩均产出",
                        "Output per mu",
                        kind="decimal",
                        unit=_WAN_PER_MU,
                    ),
                    _attr(
                        "standard_land.tax_wan_yuan_per_mu",
                        "亩均税收",
                        "Tax per mu",
                        kind="decimal",
                        unit=_WAN_PER_MU,
                    ),
                    _attr(
                        "standard_land.energy_tce_per_wan_yuan",
                        "单位能耗",
                        "Energy use",
                        kind="decimal",
                        unit="吨标准煤/万元 (tce/10k yuan)",
                    ),
                ),
                hint=("可选；填写则四项都要填", "Optional; when given, all four"),
            ),
        ),
    ),
    AssetForm(
        "mining_right",
        "矿业权",
        "Mining right",
        UNITS["mining_right"].price_unit,
        (
            _attr(
                "right_type",
                "权利类型",
                "Right type",
                kind="choice",
                required=True,
                choices=(("exploration", "探矿权", "Exploration"), ("mining", "采矿权", "Mining")),
            ),
            _attr("mineral", "矿种", "Mineral", required=True),
            _attr("area_km2", "矿区面积", "Area", kind="decimal", required=True, unit="km²"),
            _attr(
                "boundary",
                "拐点坐标（CGCS2000）",
                "Corner points (CGCS2000)",
                kind="json",
                required=True,
                hint=(
                    '[经度, 纬度] 列表，如 [["119.912345", "30.123456"], ...]，至少 3 点',
                    '[lon, lat] pairs, e.g. [["119.912345", "30.123456"], ...], at least 3',
                ),
            ),
            _attr(
                "term_years",
                "有效期",
                "Term",
                kind="int",
                required=True,
                unit="年 / years",
                hint=("探矿权 5 年以内，采矿权 30 年以内", "At most 5 for exploration, 30 for mining"),
            ),
            Group(
                "attributes.reserves",
                "资源储量",
                "Reserves",
                (
                    _attr("reserves.quantity", "储量", "Quantity", kind="decimal"),
                    _attr("reserves.unit", "储量单位", "Unit", kind="choice", choices=_RESERVE_UNITS),
                ),
                hint=("采矿权必填，探矿权不填", "Required for a mining right, none for exploration"),
            ),
            Group(
                "attributes.production_scale",
                "生产规模",
                "Production scale",
                (
                    _attr("production_scale.quantity", "规模", "Quantity", kind="decimal"),
                    _attr(
                        "production_scale.unit",
                        "规模单位",
                        "Unit",
                        kind="choice",
                        choices=tuple((k + "/a", zh + "/年", en + "/a") for k, zh, en in _RESERVE_UNITS),
                    ),
                ),
                hint=("仅采矿权", "Mining rights only"),
            ),
        ),
    ),
    AssetForm(
        "emission_right",
        "排污权",
        "Emission right",
        UNITS["emission_right"].price_unit,
        (
            _attr(
                "pollutant",
                "污染物",
                "Pollutant",
                kind="choice",
                required=True,
                choices=(
                    ("COD", "化学需氧量 (COD)", "Chemical oxygen demand (COD)"),
                    ("NH3-N", "氨氮 (NH3-N)", "Ammonia nitrogen (NH3-N)"),
                    ("SO2", "二氧化硫 (SO2)", "Sulphur dioxide (SO2)"),
                    ("NOx", "氮氧化物 (NOx)", "Nitrogen oxides (NOx)"),
                    ("VOCs", "挥发性有机物 (VOCs)", "Volatile organic compounds (VOCs)"),
                    ("CO2e", "二氧化碳当量 (CO2e)", "CO2 equivalent (CO2e)"),
                ),
            ),
            _attr(
                "quantity",
                "排放量",
                "Quantity",
                kind="decimal",
                required=True,
                unit="t/a",
                hint=("最多 3 位小数", "At most 3 decimal places"),
            ),
            _attr("region", "使用区域", "Region of use", required=True),
            _attr(
                "region_code", "区域代码", "Region code", hint=("6 位行政区划代码", "6-digit division code")
            ),
            _attr("basin", "流域", "Basin"),
            _attr(
                "validity_years",
                "有效期",
                "Validity",
                kind="int",
                unit="年 / years",
                hint=("1–5 年，默认 5", "1–5 years, 5 when left empty"),
            ),
        ),
    ),
    AssetForm(
        "water_right",
        "水权",
        "Water right",
        UNITS["water_right"].price_unit,
        (
            _attr(
                "trade_type",
                "交易类型",
                "Trade type",
                kind="choice",
                required=True,
                choices=(
                    ("regional", "区域水权交易", "Regional"),
                    ("abstraction_permit", "取水权交易", "Abstraction permit"),
                    ("irrigation_user", "灌溉用水户水权交易", "Irrigation user"),
                ),
            ),
            _attr("water_source", "水源", "Water source", required=True),
            _attr(
                "volume",
                "水量",
                "Volume",
                kind="decimal",
                required=True,
                unit="m³/a",
                hint=("整立方米", "Whole cubic metres"),
            ),
            _attr(
                "term_years",
                "期限",
                "Term",
                kind="int",
                required=True,
                unit="年 / years",
                hint=("取水权 10 年以内", "At most 10 for an abstraction permit"),
            ),
            _attr(
                "use",
                "用途",
                "Use",
                kind="choice",
                required=True,
                choices=(
                    ("agricultural", "农业", "Agricultural"),
                    ("industrial", "工业", "Industrial"),
                    ("domestic", "生活", "Domestic"),
                    ("ecological", "生态", "Ecological"),
                ),
            ),
            _attr("region", "区域", "Region", required=True),
            _attr(
                "region_code", "区域代码", "Region code", hint=("6 位行政区划代码", "6-digit division code")
            ),
        ),
    ),
    AssetForm(
        "technology",
        "技术产权",
        "Technology",
        UNITS["technology"].price_unit,
        (
            _attr(
                "ip_type",
                "知识产权类型",
                "IP type",
                kind="choice",
                required=True,
                choices=(
                    ("invention_patent", "发明专利", "Invention patent"),
                    ("utility_model", "实用新型", "Utility model"),
                    ("design", "外观设计", "Design"),
                    ("software_copyright", "软件著作权", "Software copyright"),
                    ("know_how", "技术秘密", "Know-how"),
                ),
            ),
            _attr("holder", "权利人", "Holder", required=True),
            _attr(
                "transaction_form",
                "交易形式",
                "Transaction form",
                kind="choice",
                required=True,
                choices=(
                    ("assignment", "转让", "Assignment"),
                    ("exclusive_licence", "独占许可", "Exclusive licence"),
                    ("sole_licence", "排他许可", "Sole licence"),
                    ("non_exclusive_licence", "普通许可", "Non-exclusive licence"),
                ),
            ),
            _attr(
                "registration_number",
                "专利号或登记号",
                "Patent or registration number",
                hint=(
                    "如 ZL202310123456.7 或 2023SR0123456；技术秘密不填",
                    "e.g. ZL202310123456.7 or 2023SR0123456; none for know-how",
                ),
            ),
            _attr(
                "term_years",
                "许可年限",
                "Licence term",
                kind="int",
                unit="年 / years",
                hint=("许可必填，转让不填", "Required for a licence, none for an assignment"),
            ),
            _attr("state_owned", "国有资产", "State-owned asset", kind="bool"),
        ),
    ),
)

_MONEY_HINT = ("元，最多两位小数", "yuan, at most two decimal places")
COMMON_FIELDS: tuple[Field, ...] = (
    Field("title", "标的名称", "Title", required=True),
    Field("description", "公告正文", "Description", kind="textarea"),
    Field("start_price", "起始价", "Start price", kind="decimal", required=True, unit="元", hint=_MONEY_HINT),
    Field(
        "increment",
        "加价幅度",
        "Increment",
        kind="decimal",
        required=True,
        unit="元",
        hint=("降价拍卖为每步降价幅度", "For a Dutch auction: the clock step"),
    ),
    Field("deposit", "竞买保证金", "Deposit", kind="decimal", required=True, unit="元", hint=_MONEY_HINT),
    Field(
        "reserve_price",
        "底价（保留价）",
        "Reserve price",
        kind="decimal",
        unit="元",
        hint=(
            "保密；土地、矿业权和降价拍卖必填（降价拍卖为最低价）",
            "Secret; required for land, mining rights and Dutch auctions (the floor)",
        ),
    ),
)
SCHEDULE_FIELDS: tuple[Field, ...] = (
    Field("schedule.announce_at", "公告时间", "Announcement", kind="datetime", required=True),
    Field("schedule.registration_opens_at", "报名开始", "Registration opens", kind="datetime", required=True),
    Field(
        "schedule.registration_closes_at", "报名截止", "Registration closes", kind="datetime", required=True
    ),
    Field("schedule.bidding_opens_at", "竞价开始", "Bidding opens", kind="datetime", required=True),
    Field("schedule.bidding_closes_at", "竞价截止", "Bidding closes", kind="datetime", required=True),
    Field(
        "schedule.extension_seconds",
        "延时周期",
        "Extension",
        kind="int",
        unit="秒 / s",
        hint=(
            "最后时段有出价则延时；降价拍卖为每步时长",
            "A late bid extends the close by this much; for a Dutch auction, each step's length",
        ),
    ),
)

METHODS: tuple[Choice, ...] = (
    ("english", "拍卖（增价）", "English auction"),
    ("listing", "挂牌", "Listing (挂牌)"),
    ("sealed_bid", "一次性密封报价", "Sealed bid"),
    ("uniform_price", "统一价格多单位竞价", "Uniform-price multi-unit"),
    ("dutch", "降价拍卖（荷兰式）", "Dutch auction"),
)
_CAPPABLE = ("english", "listing", "sealed_bid", "uniform_price")
_LOTTERY = ("english", "listing", "sealed_bid")
METHOD_FIELDS: tuple[Field, ...] = (
    Field(
        "min_bidders",
        "最少竞买人数",
        "Minimum bidders",
        kind="int",
        methods=tuple(m for m, _, _ in METHODS),
        hint=("矿业权拍卖和招标至少 3 人", "At least 3 for a mining auction or tender"),
    ),
    Field("price_cap", "最高限价", "Price cap", kind="decimal", unit="元", methods=_CAPPABLE),
    Field(
        "cap_rule",
        "达到限价后",
        "At the cap",
        kind="choice",
        choices=(("lottery", "摇号确定竞得人", "Draw lots"),),
        methods=_LOTTERY,
    ),
    Field(
        "lottery_window_seconds",
        "摇号报名时长",
        "Lottery window",
        kind="int",
        unit="秒 / s",
        methods=_LOTTERY,
    ),
    Field(
        "freeze_seconds",
        "挂牌截止前停止报价",
        "Quote freeze before the close",
        kind="int",
        unit="秒 / s",
        methods=("listing",),
    ),
    Field(
        "award_rule",
        "定标规则",
        "Award rule",
        kind="choice",
        choices=(
            ("highest", "价高者得", "Highest bid"),
            ("closest_to_average", "最接近平均价", "Closest to the average"),
        ),
        methods=("sealed_bid",),
    ),
    Field(
        "quantity",
        "出让总量",
        "Quantity on offer",
        kind="decimal",
        methods=("uniform_price",),
        hint=("排污权 t/a（3 位小数），水权 m³/a（整数）", "Emission t/a (3 places), water m³/a (whole)"),
    ),
    Field("lot", "每手数量", "Lot size", kind="decimal", methods=("uniform_price",)),
    Field(
        "unit",
        "数量单位",
        "Quantity unit",
        kind="choice",
        choices=(("t/a", "吨/年 (t/a)", "t/a"), ("m3/a", "立方米/年 (m³/a)", "m³/a")),
        methods=("uniform_price",),
    ),
    Field(
        "max_bidder_share",
        "单个竞买人最高份额",
        "Largest share per bidder",
        kind="decimal",
        unit="0–1",
        methods=("uniform_price",),
    ),
    Field(
        "undersubscribed",
        "认购不足时",
        "When undersubscribed",
        kind="choice",
        choices=(("cancel", "流拍", "Cancel"), ("sell_available", "按实际认购成交", "Sell what is bid for")),
        methods=("uniform_price",),
    ),
    Field(
        "pricing",
        "成交价格",
        "Pricing",
        kind="choice",
        choices=(("uniform", "统一价格", "Uniform price"), ("pay_as_bid", "按各自报价", "Pay as bid")),
        methods=("uniform_price",),
    ),
)


def choice_label(choices: tuple[Choice, ...], key: str | None, lang: str) -> str:
    for value, zh, en in choices:
        if value == key:
            return en if lang == "en" else zh
    return key or ""


def attribute_rows(asset_class: str, attributes: dict[str, Any]) -> list[tuple[Choice, Choice]]:
    """The listing's attributes as ((key label zh, en), (value zh, en)), labelled as the form labels them."""
    labels: dict[str, tuple[str, str, tuple[Choice, ...]]] = {}
    for asset in ASSET_FORMS:
        if asset.key != asset_class:
            continue
        for item in asset.items:
            fields = item.fields if isinstance(item, Group) else (item,)
            if isinstance(item, Group):
                labels[item.name.split(".", 1)[1]] = (item.zh, item.en, ())
            for f in fields:
                labels.setdefault(f.name.split(".", 1)[1], (f.zh, f.en, f.choices))
    rows: list[tuple[Choice, Choice]] = []
    for key, value in attributes.items():
        zh, en, choices = labels.get(key, (key, key, ()))
        if isinstance(value, bool):
            shown: tuple[str, str] = ("是", "yes") if value else ("否", "no")
        elif isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False)
            shown = (text, text)
        else:
            shown = (choice_label(choices, str(value), "zh"), choice_label(choices, str(value), "en"))
        rows.append(((key, zh, en), (str(value), *shown)))
    return rows
