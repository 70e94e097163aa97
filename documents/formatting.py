"""Jinja filters: money in yuan and in capitals (大写), Asia/Shanghai times, exact ratios, labels
(the exchange's words from ``exchange.vocabulary``; the documents' own reasons and terms here).

Pure functions over integers, Fractions and datetimes; the templates call
them, and the tests check the amounts in capitals against known cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from documents.data import BidLine, Ratio, WinnerLine
from exchange.vocabulary import (
    ASSET_CLASS_LABELS,
    FAILURE_REASON_LABELS,
    LISTING_OUTCOME_LABELS,
    METHOD_LABELS,
    installment_words,
    label,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")

FAILURE_REASONS = {key: words.zh for key, words in FAILURE_REASON_LABELS.items()}
REFUND_REASONS = {
    "not_won": "未竞得",
    "failed": "本次交易流拍",
    "cancelled": "本次交易终止",
    "late_payment": "保证金逾期到账",
    "rejected": "报名未获通过",
    "disqualified": "竞得人资格审查未通过",
    "excess": "所缴保证金超出应付成交价款",
    "default": "未按期付清成交价款",
    "rescinded_excess": "成交已解除，保证金超出定金上限（成交价款的20%）的部分予以退还",
    "annulled": "本次成交经异议处理被确认无效",
}
FEE_APART = {"full": "full_price"}
"""Labels that change when the fee is an installment of its own (land, mining: the price goes to
the tax bureau, the fee to the exchange): ``full`` is then the price alone."""


def price_label(label: str, fee_apart: bool) -> str:
    """The label of an installment of a schedule whose fee is (``fee_apart``) or is not due apart."""
    return FEE_APART.get(label, label) if fee_apart else label


def installment_label(key: str | None) -> str:
    """An installment's label in words: ``first`` -> 首期价款, ``rent_2`` -> 第 2 年租金."""
    return installment_words(key)


CAP_RULES = {"lottery": "达到最高限价后转为摇号"}
DRAW_PURPOSES = {"lottery": "限价摇号", "residual_lots": "剩余份额分配"}

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")
_GROUPS = ("", "万", "亿", "万亿", "亿亿")


def yuan(fen: int) -> str:
    """125000000 -> ``"1,250,000.00"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def _group_upper(group: int) -> str:
    """1..9999 in capitals, with 零 for inner zeros (1005 -> 壹仟零伍)."""
    out = ""
    zero = False
    for place in (3, 2, 1, 0):
        digit = group // 10**place % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[digit] + _PLACES[place]
    return out


def _integer_upper(number: int) -> str:
    if number == 0:
        return "零"
    groups: list[int] = []
    while number:
        number, group = divmod(number, 10000)
        groups.append(group)
    if len(groups) > len(_GROUPS):
        raise ValueError("amount too large to write in capitals")
    out = ""
    gap = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            gap = bool(out)
            continue
        if out and (gap or group < 1000):
            out += "零"
        out += _group_upper(group) + _GROUPS[index]
        gap = False
    return out


def yuan_upper(fen: int) -> str:
    """The amount in capitals as cheques and confirmations print it: 12345605 -> 壹拾贰万叁仟肆佰伍拾陆元零伍分."""
    if fen < 0:
        return "负" + yuan_upper(-fen)
    whole, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    if whole == 0 and cents == 0:
        return "零元整"
    out = _integer_upper(whole) + "元" if whole else ""
    if cents == 0:
        return out + "整"
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif whole:
        out += "零"
    if fen_digit:
        out += _DIGITS[fen_digit] + "分"
    else:
        out += "整"
    return out


def local(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not printed; pass aware UTC instants")
    return value.astimezone(SHANGHAI)


def cn_datetime(value: datetime) -> str:
    """An instant in Beijing time: ``2026年11月25日 18:05:09``."""
    t = local(value)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M:%S}"


def bid_time(value: datetime) -> str:
    """Bid times to the millisecond: ``2026-11-25 18:05:09.123``."""
    t = local(value)
    return f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d}"


def cn_date(value: date | datetime) -> str:
    d = local(value).date() if isinstance(value, datetime) else value
    return f"{d.year}年{d.month}月{d.day}日"


def _decimal(value: Ratio) -> Decimal:
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(value)


def fixed(value: Ratio, places: int = 2) -> str:
    """An exact ratio rounded half-even to ``places`` decimals."""
    quantum = Decimal(1).scaleb(-places)
    return str(_decimal(value).quantize(quantum, rounding=ROUND_HALF_EVEN))


def percent(value: Ratio, places: int = 2) -> str:
    return fixed(_decimal(value) * 100, places) + "%"


def quantity(value: int | Decimal, unit: str | None = None) -> str:
    return f"{value:,} {unit}" if unit else f"{value:,}"


def duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return f"{minutes}分{rest}秒"
    return f"{minutes}分钟" if minutes else f"{rest}秒"


def plain_label(table: dict[str, str], key: str | None) -> str:
    if key is None:
        return ""
    return table.get(key, key)


def chunks(text: str, size: int = 16) -> str:
    """A long hex digest in groups, so it wraps between groups rather than anywhere."""
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def urlquery(text: str) -> str:
    """A query value, keeping ``:`` readable (``number=confirmation:42``)."""
    return quote(text, safe=":")


GAP = 4
"""Spaces between the columns of the bid table."""


@dataclass(frozen=True, slots=True)
class BidTable:
    """The bid list as fixed-width lines: one text line per bid lays out several times faster
    than a row of boxes (1,000 bids in about a second instead of seven)."""

    widths: tuple[int, ...]
    """Characters per column including the gap after it: seq, time, bid number, [quantity], amount."""
    lines: tuple[tuple[str, bool], ...]
    """(line, placed by a winner)."""
    with_quantity: bool


def bid_table(bids: Sequence[BidLine], winners: Sequence[WinnerLine] = ()) -> BidTable:
    winning = {w.bid_number for w in winners}
    with_quantity = any(b.quantity is not None for b in bids)
    seq_w = max([len(str(b.seq)) for b in bids] + [4])
    time_w = len("2026-01-01 00:00:00.000")
    number_w = max([len(b.bid_number) for b in bids] + [8])
    quantity_w = max([len(quantity(b.quantity)) for b in bids if b.quantity is not None] + [10])
    amount_w = max([len(yuan(b.amount)) for b in bids] + [16])
    lines = []
    for b in bids:
        cells = [str(b.seq).rjust(seq_w), bid_time(b.at).ljust(time_w), b.bid_number.ljust(number_w)]
        if with_quantity:
            cells.append(("—" if b.quantity is None else quantity(b.quantity)).rjust(quantity_w))
        cells.append(yuan(b.amount).rjust(amount_w))
        lines.append(((" " * GAP).join(cells), b.bid_number in winning))
    widths = [seq_w + GAP, time_w + GAP, number_w + GAP] + ([quantity_w + GAP] if with_quantity else [])
    return BidTable(widths=(*widths, amount_w), lines=tuple(lines), with_quantity=with_quantity)


FILTERS: dict[str, Any] = {
    "bid_table": bid_table,
    "urlquery": urlquery,
    "yuan": yuan,
    "yuan_upper": yuan_upper,
    "cn_datetime": cn_datetime,
    "cn_date": cn_date,
    "bid_time": bid_time,
    "fixed": fixed,
    "percent": percent,
    "quantity": quantity,
    "duration": duration,
    "chunks": chunks,
    "asset_class": lambda key: label(ASSET_CLASS_LABELS, key),
    "asset_class_en": lambda key: label(ASSET_CLASS_LABELS, key, "en"),
    "method": lambda key: label(METHOD_LABELS, key),
    "method_en": lambda key: label(METHOD_LABELS, key, "en"),
    "outcome": lambda key: label(LISTING_OUTCOME_LABELS, key),
    "failure_reason": lambda key: plain_label(FAILURE_REASONS, key),
    "refund_reason": lambda key: plain_label(REFUND_REASONS, key),
    "installment": lambda key: installment_label(key),
    "cap_rule": lambda key: plain_label(CAP_RULES, key),
    "draw_purpose": lambda key: plain_label(DRAW_PURPOSES, key),
}


ELIGIBILITY = {
    "land_use_right": "中华人民共和国境内外的法人、非法人组织和自然人，除法律、法规另有规定外，均可申请参加；"
    "申请人应具备独立承担民事责任的能力，无欠缴土地出让价款、闲置土地等不良记录。",
    "mining_right": "在中华人民共和国境内注册、具有独立法人资格的企业，均可申请参加；"
    "申请人应具备相应的资金能力及矿产资源勘查开采技术能力。",
    "emission_right": "在本区域内依法取得排污许可、需新增或调剂排污权的排污单位，均可申请参加。",
    "water_right": "符合取用水条件的用水户、灌区及其他依法可以受让水权的单位，均可申请参加。",
    "technology": "依法设立的法人、非法人组织及具有完全民事行为能力的自然人，均可申请参加；"
    "受让方（被许可方）应具备实施该技术的条件。",
}


class Counter:
    """Section and item numbers in a template: ``{% set n = counter(["一", "二"]) %}{{ n.next() }}``."""

    def __init__(self, names: Sequence[str] | None = None) -> None:
        self._names = names
        self._at = 0

    def next(self) -> str:
        self._at += 1
        if self._names is None:
            return str(self._at)
        return self._names[self._at - 1]

    @property
    def value(self) -> int:
        return self._at


FILTERS["eligibility"] = lambda key: plain_label(ELIGIBILITY, key)
GLOBALS: dict[str, Any] = {"counter": Counter}
