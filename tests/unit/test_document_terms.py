"""What the announcement and the result print about the increment, the award rule and the reserve.

The HTML of the PDF templates (``documents.render.render_html``): the same text the PDF lays out,
without the render pool. ``tests/integration/test_reserve_documents.py`` reads the issued PDFs.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from documents import samples
from documents.data import ListingAnnouncement, ReserveReveal, ResultAnnouncement
from documents.formatting import chunks
from documents.render import render_html
from listings.reserve_commitment import commitment

SALT = "5a" * 32
INCREMENT = "100,000.00"  # the sample's increment; no other amount of the sample contains it


def text(template: str, doc: object, kind: str) -> str:
    html = render_html(template, {"doc": doc, "stamp": samples.stamp(kind)})  # type: ignore[arg-type]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def announcement(method: str, **fields: object) -> str:
    base = samples.listing_announcement()
    doc: ListingAnnouncement = replace(base, listing=replace(base.listing, method=method), **fields)  # type: ignore[arg-type]
    return text("listing_announcement.html", doc, "listing_announcement")


@pytest.mark.parametrize(
    ("method", "label"),
    [
        ("english", "加价幅度"),
        ("listing", "加价幅度"),
        ("dutch", "降价幅度"),
        ("uniform_price", "报价最小变动单位"),
    ],
)
def test_the_increment_is_printed_as_what_it_is(method: str, label: str) -> None:
    printed = announcement(method)
    assert label in printed and INCREMENT in printed


def test_a_sealed_bid_announcement_shows_no_increment() -> None:
    printed = announcement("sealed_bid", award_rule="highest")
    assert INCREMENT not in printed and "加价幅度" not in printed and "延时周期" not in printed
    assert "一次性报价" in printed and "最高报价者为竞得人" in printed


def test_closest_to_average_announces_its_tie_rule_and_fallback() -> None:
    printed = announcement("sealed_bid", award_rule="closest_to_average")
    assert "差值相同的，报价提交在先者为竞得人" in printed
    assert "有效报价不足三个的" in printed and "最高有效报价者竞得" in printed


def test_the_announcement_carries_the_commitment_once_frozen() -> None:
    committed = commitment(765432109, SALT)
    frozen = announcement("english", reserve_commitment=committed)
    assert chunks(committed) in frozen and "已锁定" in frozen
    assert "7,654,321.09" not in frozen and SALT not in frozen
    pending = announcement("english")
    assert "于竞价开始时锁定" in pending and "底价承诺值" not in pending


def result(**fields: object) -> str:
    doc: ResultAnnouncement = replace(samples.result_announcement(), **fields)  # type: ignore[arg-type]
    return text("result_announcement.html", doc, "result_announcement")


def test_the_result_opens_the_reserve() -> None:
    at = samples.T0 + timedelta(days=21)
    printed = result(reserve=ReserveReveal(1_350_000_000, SALT, commitment(1_350_000_000, SALT), at))
    assert "13,500,000.00" in printed and chunks(SALT) in printed
    assert chunks(commitment(1_350_000_000, SALT)) in printed
    none = result(reserve=ReserveReveal(None, SALT, commitment(None, SALT), at))
    assert "未设底价" in none and chunks(commitment(None, SALT)) in none
    assert "底价公开" not in result()


def test_the_result_says_when_the_average_fell_back_to_the_highest() -> None:
    assert "有效报价不足三个" in result(award_rule="highest", award_fallback=True)
    assert "最接近平均值" in result(award_rule="closest_to_average", average_quote=1_530_000_000)
    assert "竞得人确定规则" not in result()


def test_the_announcement_states_the_qualification_mode() -> None:
    post = announcement("english", qualification="post")
    assert "资格后审" in post and "足额到账即取得号牌" in post and "资格审查" in post
    assert "经审核通过" not in post
    pre = announcement("english", qualification="pre")
    assert "资格前审" in pre and "经审核通过并足额到账" in pre and "资格后审" not in pre


def test_the_draw_is_announced_as_mixing_the_seed_with_the_bidders_nonces() -> None:
    printed = announcement("english", seed_commitment="ab" * 32)
    assert "保密随机数" in printed and "任何一方（包括平台）均无法单独预知或操纵结果" in printed
