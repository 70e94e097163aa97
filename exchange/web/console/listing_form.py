"""The listing form of the operator console, as data: every asset class's attribute fields
(built from their descriptions in ``listings.attribute_fields``), the common terms, the schedule
and each method's parameters, with both languages' labels.

A field's ``name`` is its path in the JSON body of ``POST /api/v1/listings`` and of the
API's field errors, so an error lands beside the input it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from exchange.vocabulary import ASSET_CLASS_LABELS, METHOD_LABELS, Label
from listings.attribute_fields import ATTRIBUTE_FIELDS, AttributeField, Choice
from listings.attributes import UNITS

FormKind = Literal["text", "textarea", "decimal", "int", "choice", "bool", "json", "datetime"]


@dataclass(frozen=True, slots=True)
class Field:
    """One input of the listing form; ``name`` is the path in the API body (and of its errors)."""

    name: str
    zh: str
    en: str
    kind: FormKind = "text"
    required: bool = False
    unit: Label | None = None
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


_FORM_KINDS: dict[str, FormKind] = {
    "text": "text",
    "code": "text",
    "decimal": "decimal",
    "int": "int",
    "choice": "choice",
    "bool": "bool",
    "points": "json",
}
RATIO = Label("0–1", "0–1")
"""The unit of a share typed as a fraction (0.3); the listing page shows it as a percentage."""
_YUAN = Label("元", "yuan")
_SECONDS = Label("秒", "s")


def _input(described: AttributeField, path: str, *, required: bool) -> Field:
    return Field(
        path,
        described.zh,
        described.en,
        kind=_FORM_KINDS[described.kind],
        required=required,
        unit=described.unit or (RATIO if described.ratio else None),
        choices=described.choices,
        hint=described.hint,
    )


def _item(described: AttributeField) -> Field | Group:
    path = "attributes." + described.key
    if described.kind != "group":
        return _input(described, path, required=described.required)
    # A member is marked required only where its object always is (a plot ratio's bounds are not).
    members = tuple(
        _input(m, f"{path}.{m.key}", required=described.required and m.required) for m in described.fields
    )
    return Group(path, described.zh, described.en, members, described.hint)


ASSET_FORMS: tuple[AssetForm, ...] = tuple(
    AssetForm(
        key,
        ASSET_CLASS_LABELS[key].zh,
        ASSET_CLASS_LABELS[key].en,
        UNITS[key].price_unit,
        tuple(_item(f) for f in fields if not f.fixed),
    )
    for key, fields in ATTRIBUTE_FIELDS.items()
)

_MONEY_HINT = ("元，最多两位小数", "yuan, at most two decimal places")
COMMON_FIELDS: tuple[Field, ...] = (
    Field("title", "标的名称", "Title", required=True),
    Field("description", "公告正文", "Description", kind="textarea"),
    Field(
        "start_price", "起始价", "Start price", kind="decimal", required=True, unit=_YUAN, hint=_MONEY_HINT
    ),
    Field(
        "increment",
        "加价幅度",
        "Increment",
        kind="decimal",
        required=True,
        unit=_YUAN,
        hint=("降价拍卖为每步降价幅度", "For a Dutch auction: the clock step"),
    ),
    Field("deposit", "竞买保证金", "Deposit", kind="decimal", required=True, unit=_YUAN, hint=_MONEY_HINT),
    Field(
        "reserve_price",
        "底价（保留价）",
        "Reserve price",
        kind="decimal",
        unit=_YUAN,
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
        unit=_SECONDS,
        hint=(
            "最后时段有出价则延时；降价拍卖为每步时长",
            "A late bid extends the close by this much; for a Dutch auction, each step's length",
        ),
    ),
)

METHODS: tuple[Choice, ...] = tuple((key, zh, en) for key, (zh, en) in METHOD_LABELS.items())
_CAPPABLE = ("english", "listing", "sealed_bid", "uniform_price")
_LOTTERY = ("english", "listing", "sealed_bid")
METHOD_FIELDS: tuple[Field, ...] = (
    Field(
        "min_bidders",
        "最少竞买人数",
        "Minimum bidders",
        kind="int",
        unit=Label("人", "bidders"),
        methods=tuple(m for m, _, _ in METHODS),
        hint=("矿业权拍卖和招标至少 3 人", "At least 3 for a mining auction or tender"),
    ),
    Field("price_cap", "最高限价", "Price cap", kind="decimal", unit=_YUAN, methods=_CAPPABLE),
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
        unit=_SECONDS,
        methods=_LOTTERY,
    ),
    Field(
        "freeze_seconds",
        "挂牌截止前停止报价",
        "Quote freeze before the close",
        kind="int",
        unit=_SECONDS,
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
        unit=RATIO,
        methods=("uniform_price",),
        hint=("关联竞买人合并计算", "Counted per group of affiliated bidders"),
    ),
    Field(
        "bid_guarantee_ratio",
        "保证金覆盖比例",
        "Bid guarantee ratio",
        kind="decimal",
        unit=RATIO,
        methods=("uniform_price",),
        hint=(
            "报价总额乘以该比例不得超过已缴保证金；不填为 1（全额覆盖）",
            "Bids' value times this may not exceed the deposit paid; empty: 1 (fully covered)",
        ),
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
    Field(
        "qualification",
        "资格审查方式",
        "Qualification",
        kind="choice",
        choices=(
            ("pre", "资格前审（竞价前审查报名）", "Before bidding (pre)"),
            ("post", "资格后审（成交后审查竞得人）", "After the close (post)"),
        ),
        methods=("english", "listing", "sealed_bid", "dutch"),
        hint=(
            "不选：土地、矿业权的拍卖、挂牌和一次性报价为资格后审，其余为资格前审",
            "Blank: post for land and mining auctions, listings and sealed quotes; pre otherwise",
        ),
    ),
)
