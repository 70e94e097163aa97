"""The listing announcement of a uniform-price sale states the group share and the bid guarantee."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from documents import samples
from tests.unit.test_document_terms import text


def test_the_announcement_states_the_share_per_group_and_the_guarantee_ratio() -> None:
    base = samples.listing_announcement()
    doc = replace(
        base,
        listing=replace(base.listing, method="uniform_price"),
        max_bidder_share=Decimal("0.5"),
        bid_guarantee_ratio=Decimal("0.1"),
    )
    printed = text("listing_announcement.html", doc, "listing_announcement")
    assert "单个竞买人申购上限 50%" in printed and "关联竞买人" in printed
    assert "竞买保证金覆盖比例 10.00%" in printed and "以进入竞价时已缴金额为准" in printed
    assert "竞买保证金覆盖比例" not in text("listing_announcement.html", base, "listing_announcement")
