"""Realistic sample data for every document kind: the tests, the benchmark and previews use it.

``python -m documents.samples OUT_DIR`` writes one PDF of each kind (rendered in
this process) for a look at the layout.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from auctions.mechanisms import DRAW_PROCEDURE
from documents.data import (
    Attribute,
    BidLine,
    BidRecord,
    Confirmation,
    DocumentData,
    DocumentKind,
    DrawInputs,
    Installment,
    ListingAnnouncement,
    ListingInfo,
    ObjectionDecision,
    Office,
    Party,
    PaymentReminder,
    RefundNotice,
    ResultAnnouncement,
    Schedule,
    Stamp,
    TransactionCertificate,
    UniformPriceStatistics,
    WinnerLine,
)
from documents.terms_text import describe
from documents.wording import wording_for
from listings.attribute_fields import document_rows
from listings.samples import SAMPLE_ATTRIBUTES

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
WINNER = "苏州工业园区星海科技发展有限公司"
WINNER_CODE = "91320594MA1MXXXX3T"
AUDIT_HEAD = "9f2c4e7a1b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"

LAND = ListingInfo(
    listing_id=42,
    title="苏园土挂〔2026〕18号 星湖街东、金鸡湖大道南地块国有建设用地使用权",
    asset_class="land_use_right",
    method="english",
    region="江苏省苏州市工业园区",
    reference="2026-00042",
    code="2026-00042",
    seller=Party(
        name="苏州工业园区自然资源和规划局",
        credit_code="11320594014160011K",
        address="苏州工业园区现代大道 999 号",
        contact="王先生 0512-6668 0000",
    ),
    announcement_number="苏园土挂〔2026〕18号",
    publicity_working_days=5,
)
OFFICE = Office(
    name="苏州工业园区公共资源交易中心",
    deposit_bank="中国工商银行苏州工业园区支行",
    deposit_account_name="苏州工业园区公共资源交易中心保证金专户",
    contact="交易服务部 0512-6660 0000",
)
EMISSION = ListingInfo(
    listing_id=77,
    code="2026-00077",
    reference="2026-00077",
    title="2026年度宁夏化学需氧量（COD）排污权有偿出让",
    asset_class="emission_right",
    method="uniform_price",
    region="宁夏回族自治区",
    unit="t/a",
    unit_zh="吨/年",
    seller=Party(name="宁夏回族自治区生态环境厅", credit_code="11640000MB1735339H"),
    announcement_number="宁排污权〔2026〕3号",
    publicity_working_days=5,
)
TECHNOLOGY = ListingInfo(
    listing_id=91,
    code="2026-00091",
    reference="2026-00091",
    title="一种高镍正极材料制备方法发明专利独占许可",
    asset_class="technology",
    method="english",
    region="江苏省南京市",
    seller=Party(name="南京某某大学", credit_code="12320000466007717T", address="南京市鼓楼区汉口路 22 号"),
    announcement_number="苏技交〔2026〕27号",
    wording=wording_for("technology", SAMPLE_ATTRIBUTES["technology"]),
    publicity_working_days=5,
)


LAND_ATTRIBUTES = SAMPLE_ATTRIBUTES["land_use_right"]
LAND_TERMS = {
    "anchor": "contract",
    "contract_working_days": 10,
    "late_fee_per_mille": "1",
    "grace_days": 60,
    "terms": [
        {"label": "first", "share": "0.5", "months": 1},
        {"label": "balance", "share": "0.5", "months": 12, "interest_per_annum": "0"},
    ],
    "rent": None,
}


def listing_announcement() -> ListingAnnouncement:
    return ListingAnnouncement(
        listing=LAND,
        description="该地块位于工业园区星湖街东侧，四至清楚，已完成征收补偿，具备动工开发条件。",
        attributes=(
            *(
                Attribute(label, "\n".join(lines))
                for label, lines in document_rows("land_use_right", LAND_ATTRIBUTES)
            ),
        ),
        payment_terms=describe(LAND_TERMS),
        contract_working_days=10,
        start_price=12_800_000_00,
        increment=100_000_00,
        deposit=2_560_000_00,
        has_reserve=True,
        schedule=Schedule(
            announce_at=T0,
            registration_opens_at=T0 + timedelta(days=1),
            registration_closes_at=T0 + timedelta(days=20, hours=5),  # an auction: before bidding opens
            bidding_opens_at=T0 + timedelta(days=21),
            bidding_closes_at=T0 + timedelta(days=32),
            extension_seconds=240,
        ),
        seed_commitment="3b7e0c5a9d1f24e68b0a7c3d5e9f1a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f",
        contact="工业园区公共资源交易中心 0512-0000 0000",
    )


def result_announcement(*, draw: bool = False) -> ResultAnnouncement:
    return ResultAnnouncement(
        listing=LAND,
        outcome="sold",
        decided_at=T0 + timedelta(days=32, minutes=13),
        start_price=12_800_000_00,
        bid_count=37,
        price=15_300_000_00,
        winners=(WinnerLine(bid_number="A017", name=WINNER, price=15_300_000_00),),
        draw=(
            DrawInputs(
                purpose="lottery",
                seed_hex="5f1d9c0e7a3b2d4c6e8f0a1b3c5d7e9f",
                commitment="3b7e0c5a9d1f24e68b0a7c3d5e9f1a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f",
                candidates=("A003", "A017", "A021"),
                keys=(
                    "f8f4974175d1d5defe8616df71f0f8e227ebd885cfe00de1f12b4c8cf1c15408",
                    "23823f861ce79a47d89abbdd6f2a034b707e7e9960494ad8bf76d91308fbc2be",
                    "2a0f6f2d574b9f34995a5065f3e19e7c5a75e64264e4fc8af6244548d51261df",
                ),
                order=("A017", "A021", "A003"),
                procedure=DRAW_PROCEDURE,
                nonces=(
                    "3f9a1c0e8b7d6a5f4e3d2c1b0a998877",
                    "b2e4d6f8a0c1e3f5a7b9c2d4e6f8a0b1",
                    "7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29",
                ),
                entropy="0545963c0e56d1a3163c6feedebb718234ca23511fa8cadc996e0b6bfeee69e3",
            )
            if draw
            else None
        ),
    )


def uniform_result() -> ResultAnnouncement:
    return ResultAnnouncement(
        listing=EMISSION,
        outcome="sold",
        decided_at=T0 + timedelta(days=10),
        start_price=3_200_00,
        bid_count=12,
        price=3_650_00,
        winners=(
            WinnerLine("E02", "宁夏宝丰能源集团股份有限公司", 3_650_00, 400, 3_650_00, 3_650_00 * 400),
            WinnerLine("E05", "国家能源集团宁夏煤业有限责任公司", 3_650_00, 350, 3_650_00, 3_650_00 * 350),
            WinnerLine("E09", "银川市某某水务有限公司", 3_650_00, 250, 3_650_00, 3_650_00 * 250),
        ),
        statistics=UniformPriceStatistics(
            clearing_price=3_650_00,
            volume_offered=1000,
            volume_sold=1000,
            total_bid_volume=1630,
            qualified_bid_volume=1520,
            cover_ratio=Fraction(1520, 1000),
            bidders=7,
            winners=3,
            hhi=Fraction(10000 * (400**2 + 350**2 + 250**2), 1000**2),
        ),
    )


def failed_result() -> ResultAnnouncement:
    return ResultAnnouncement(
        listing=LAND,
        outcome="failed",
        decided_at=T0 + timedelta(days=32),
        start_price=12_800_000_00,
        bid_count=0,
        failure_reason="no_bids",
    )


def confirmation() -> Confirmation:
    return Confirmation(
        listing=LAND,
        winner_name=WINNER,
        credit_code=WINNER_CODE,
        bid_number="A017",
        decided_at=T0 + timedelta(days=32, minutes=13),
        price=15_300_000_00,
        deposit_applied=2_560_000_00,
        fee=76_500_00,
        payment_schedule=(
            Installment("交易服务费", date(2026, 12, 25), 76_500_00),
            Installment("首期价款（成交价款的 50%，已扣除保证金）", date(2027, 1, 22), 5_090_000_00),
            Installment("余款", date(2027, 12, 22), 7_650_000_00),
        ),
        contract_due=date(2027, 1, 6),
        buyer=Party(name=WINNER, credit_code=WINNER_CODE),
        confirmed_at=T0 + timedelta(days=39),
        publicity_ends_at=T0 + timedelta(days=39),
        payment_account="6222 0211 0203 4567 890",
        payment_terms=describe(LAND_TERMS),
        collected_by_authority=True,  # land: the price is paid to the tax bureau
    )


def bid_record(bids: int = 37) -> BidRecord:
    numbers = ("A003", "A017", "A021", "A008")
    lines = tuple(
        BidLine(
            seq=i + 1,
            at=T0 + timedelta(days=32, seconds=17 * i, microseconds=1000 * i),
            bid_number=numbers[i % len(numbers)] if i < bids - 1 else "A017",
            amount=12_800_000_00 + 100_000_00 * i,
        )
        for i in range(bids)
    )
    return BidRecord(
        listing=LAND,
        opened_at=T0 + timedelta(days=21),
        closed_at=T0 + timedelta(days=32, minutes=13),
        outcome="sold",
        bids=lines,
        winners=(WinnerLine("A017", WINNER, lines[-1].amount),),
    )


def refund_notice() -> RefundNotice:
    return RefundNotice(
        listing=LAND,
        bidder_name="苏州某某置业有限公司",
        bid_number="A003",
        amount=2_560_000_00,
        reason="not_won",
        released_at=T0 + timedelta(days=32, minutes=13),
        refund_due=date(2026, 12, 29),
        account="**** **** 6620",
    )


def payment_reminder() -> PaymentReminder:
    return PaymentReminder(
        listing=LAND,
        buyer=Party(name=WINNER, credit_code=WINNER_CODE),
        bid_number="A017",
        installment_label="first",
        due_date=date(2027, 1, 22),
        issued_on=date(2027, 2, 1),
        overdue_amount=5_090_000_00,
        days_overdue=10,
        late_fee_accrued=50_900_00,
        late_fee_per_mille=Fraction(1),
        grace_days=60,
        payment_account="6222 0211 0203 4567 890",
        collected_by_authority=True,  # land: the price is collected by the tax bureau
        authority="国家税务总局苏州工业园区税务局",
    )


def fee_reminder() -> PaymentReminder:
    """The service fee overdue on the same land sale: paid to the exchange, not the tax bureau."""
    return replace(
        payment_reminder(),
        installment_label="service_fee",
        overdue_amount=229_500_00,
        late_fee_accrued=2_295_00,
        collected_by_authority=False,
    )


def objection_decision() -> ObjectionDecision:
    return ObjectionDecision(
        listing=LAND,
        objection_id=7,
        filed_at=T0 + timedelta(days=33),
        reasons="异议人认为竞得人与另一竞买人存在关联关系，可能构成串通竞买。",
        decision="dismissed",
        text="经核查两家企业的工商登记及股权结构，二者无共同控制关系，报价时间与地址亦无关联，异议理由不成立。",
        decided_at=T0 + timedelta(days=35),
    )


def transaction_certificate() -> TransactionCertificate:
    return TransactionCertificate(
        listing=LAND,
        buyer=Party(name=WINNER, credit_code=WINNER_CODE, address="苏州工业园区星湖街 328 号"),
        bid_number="A017",
        decided_at=T0 + timedelta(days=32, minutes=13),
        price=15_300_000_00,
        paid=15_300_000_00,
        paid_in_full_on=date(2027, 12, 20),
        contract_signed_on=date(2027, 1, 5),
    )


SAMPLES: dict[DocumentKind, DocumentData] = {
    "listing_announcement": listing_announcement(),
    "result_announcement": result_announcement(),
    "confirmation": confirmation(),
    "bid_record": bid_record(),
    "refund_notice": refund_notice(),
    "payment_reminder": payment_reminder(),
    "objection_decision": objection_decision(),
    "transaction_certificate": transaction_certificate(),
}
TITLES: dict[DocumentKind, str] = {
    "listing_announcement": "出让公告",
    "result_announcement": "成交公示",
    "confirmation": "成交确认书",
    "bid_record": "竞价记录",
    "refund_notice": "保证金退还通知",
    "payment_reminder": "催缴通知书",
    "objection_decision": "异议处理决定书",
    "transaction_certificate": "交易鉴证书",
}


SUFFIXES: dict[DocumentKind, tuple[object, ...]] = {
    "confirmation": ("A017",),
    "refund_notice": (318,),
    "payment_reminder": (88,),
    "objection_decision": (7,),
    "transaction_certificate": ("A017",),
}


def sample_number(kind: DocumentKind) -> str:
    """The sample's document number (``2026-00042-QR-A017``)."""
    from documents.numbers import document_number

    return document_number(SAMPLES[kind].listing, kind, *SUFFIXES.get(kind, ()))


def stamp(kind: DocumentKind, number: str | None = None) -> Stamp:
    from documents.qr import qr_svg

    made = Stamp(
        number=number or sample_number(kind),
        kind=kind,
        title=TITLES[kind],
        audit_head=AUDIT_HEAD,
        issued_at=T0 + timedelta(days=32, minutes=20),
        verify_url="https://exchange.example.org/verify",
        issuer=OFFICE.name,
        office=OFFICE,
    )
    return replace(made, qr_svg=qr_svg(made.number_url))


def technology_announcement() -> ListingAnnouncement:
    attributes = SAMPLE_ATTRIBUTES["technology"]
    return replace(
        listing_announcement(),
        listing=TECHNOLOGY,
        description="该专利涉及锂离子电池高镍正极材料的共沉淀与烧结工艺，已完成中试。",
        attributes=tuple(
            Attribute(label, "\n".join(lines)) for label, lines in document_rows("technology", attributes)
        ),
        start_price=3_000_000_00,
        increment=50_000_00,
        deposit=300_000_00,
    )


def sealed_announcement() -> ListingAnnouncement:
    return replace(listing_announcement(), listing=replace(LAND, method="sealed_bid"), award_rule="highest")


def dutch_result() -> ResultAnnouncement:
    water = ListingInfo(
        listing_id=55,
        title="黄河干流取水权（荷兰式拍卖）",
        asset_class="water_right",
        method="dutch",
        region="内蒙古自治区鄂尔多斯市",
        unit="m3/a",
        unit_zh="立方米/年",
        seller=Party(name="鄂尔多斯市水利局"),
        announcement_number="鄂水权〔2026〕5号",
        publicity_working_days=5,
    )
    return ResultAnnouncement(
        listing=water,
        outcome="sold",
        decided_at=T0 + timedelta(days=10),
        start_price=3_000_000_00,
        bid_count=1,
        price=2_500_000_00,
        winners=(
            WinnerLine(
                "W03",
                "鄂尔多斯市某某化工有限公司",
                2_500_000_00,
                Decimal(500000),
                Fraction(2_500_000_00, 500000),
                2_500_000_00,
            ),
        ),
    )


def main(out: Path) -> None:
    from documents.render import PdfMetadata, render_pdf

    out.mkdir(parents=True, exist_ok=True)
    extra: dict[str, tuple[DocumentKind, DocumentData]] = {
        "result_draw": ("result_announcement", result_announcement(draw=True)),
        "result_uniform": ("result_announcement", uniform_result()),
        "result_failed": ("result_announcement", failed_result()),
        "result_dutch": ("result_announcement", dutch_result()),
        "announcement_technology": ("listing_announcement", technology_announcement()),
        "announcement_sealed": ("listing_announcement", sealed_announcement()),
    }
    jobs = {kind: (kind, data) for kind, data in SAMPLES.items()} | extra
    for name, (kind, data) in jobs.items():
        s = stamp(kind)
        pdf = render_pdf(f"{kind}.html", {"doc": data, "stamp": s}, PdfMetadata(s.title, s.issued_at))
        (out / f"{name}.pdf").write_bytes(pdf)
        print(f"{out / f'{name}.pdf'}: {len(pdf)} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "var/document-samples"))
