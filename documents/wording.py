"""The words of a transaction: 出让 for land and mining, 转让 / 许可 for technology (assignment or
licence), 交易 for emission and water rights; who the seller and the buyer are called, and the
contract the confirmation calls for. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Wording:
    """The words a document uses for this class and form of transaction (出让 / 转让 / 许可 / 交易)."""

    verb: str
    """出让 (land, mining) | 转让 (technology assigned) | 许可 (technology licensed) | 交易 (emission, water)."""
    seller: str
    """出让人 | 转让方 | 许可方 | 出让方."""
    buyer: str
    """受让人 | 受让方 | 被许可方 | 受让方."""
    contract: str
    """The contract the confirmation calls for: 国有建设用地使用权出让合同, 技术许可合同, ..."""

    @property
    def announcement(self) -> str:
        """出让公告 | 转让公告 | 许可公告 | 交易公告."""
        return f"{self.verb}公告"


LAND = Wording("出让", "出让人", "受让人", "国有建设用地使用权出让合同")
LEASE = Wording("出让", "出让人", "承租人", "国有建设用地使用权租赁合同")
MINING = Wording("出让", "出让人", "受让人", "矿业权出让合同")
EXPLORATION = Wording("出让", "出让人", "受让人", "探矿权出让合同")
EXTRACTION = Wording("出让", "出让人", "受让人", "采矿权出让合同")
ASSIGNMENT = Wording("转让", "转让方", "受让方", "技术转让合同")
LICENCE = Wording("许可", "许可方", "被许可方", "技术许可合同")
EMISSION = Wording("交易", "出让方", "受让方", "排污权交易合同")
WATER = Wording("交易", "出让方", "受让方", "水权交易合同")

LICENCES = frozenset({"exclusive_licence", "sole_licence", "non_exclusive_licence"})


def wording_for(asset_class: str, attributes: Mapping[str, Any] | None = None) -> Wording:
    """The words for ``asset_class``, refined by its attributes (a technology's transaction form,
    a mining right's type, a land lease)."""
    attributes = attributes or {}
    if asset_class == "technology":
        return LICENCE if attributes.get("transaction_form") in LICENCES else ASSIGNMENT
    if asset_class == "mining_right":
        return {"exploration": EXPLORATION, "mining": EXTRACTION}.get(
            str(attributes.get("right_type")), MINING
        )
    if asset_class == "land_use_right":
        return LEASE if attributes.get("supply_mode") == "long_term_lease" else LAND
    if asset_class == "emission_right":
        return EMISSION
    if asset_class == "water_right":
        return WATER
    return LAND
