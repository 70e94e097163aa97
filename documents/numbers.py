"""Document numbers people read and quote (文件编号): ``2026-00042-QR-317``.

A number is the listing's code (its year and id: ``2026-00042``, printed as 标的编号), the kind's
abbreviation (the pinyin initials of its Chinese name) and, for a kind a listing has several of,
what tells them apart. Everything in it is fixed before the PDF is rendered and never changes,
so a number is known before rendering, a re-issue after a crash prints the same one, and each
idempotency key has exactly one number (stored unique beside it, ``documents.models.Document``).
"""

from __future__ import annotations

from datetime import datetime

from documents.data import DocumentKind, ListingInfo
from listings.workdays import local_date

ABBREVIATIONS: dict[str, str] = {
    "listing_announcement": "GG",  # 公告
    "result_announcement": "GS",  # 公示
    "bid_record": "JL",  # 竞价记录
    "confirmation": "QR",  # 成交确认书
    "refund_notice": "TH",  # 退还通知
    "payment_reminder": "CJ",  # 催缴通知书
    "objection_decision": "YY",  # 异议处理决定书
    "transaction_certificate": "JZ",  # 交易鉴证书
}
"""The kind in a document number: the pinyin initials of its Chinese name, as document codes
abbreviate them (typable on any keyboard, unchanged in a URL)."""
RESOLUTION_ABBREVIATION = "YF"  # 异议复核: the resolution of an upheld objection


def listing_code(listing_id: int, created_at: datetime) -> str:
    """The listing's code (标的编号): the Shanghai year of its creation and its id, ``2026-00042``.
    Both never change, so every number built on it is stable."""
    return f"{local_date(created_at).year}-{listing_id:05d}"


def document_number(
    info: ListingInfo, kind: DocumentKind, *parts: object, abbreviation: str | None = None
) -> str:
    """The number people read and quote (文件编号): the listing's code, the kind's abbreviation and,
    for a kind a listing has several of, what tells them apart (a bid number, a refund's,
    reminder's or objection's id): ``2026-00042-GS``, ``2026-00042-QR-317``, ``2026-00042-CJ-88``.
    Derived from facts that never change, so it is known before the PDF is rendered and a re-issue
    prints the same; unique like the key it stands beside (one per key, and stored unique)."""
    code = info.code or f"{info.listing_id:05d}"
    return "-".join([code, abbreviation or ABBREVIATIONS[kind], *(str(p) for p in parts)])
