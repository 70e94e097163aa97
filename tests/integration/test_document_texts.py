"""The documents read as a person reads them: Chinese labels and units of the one vocabulary, the
seller, the 文号, the 公示, no raw attribute key and no English; each kind's first page is kept as
a PNG under ``test-artifacts/documents/`` (a CI artifact; the directory is gitignored)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pypdf import PdfReader

from documents import samples
from documents.data import DocumentData, DocumentKind
from documents.render import PdfMetadata, render_pdf
from listings.attribute_fields import ATTRIBUTE_FIELDS, AttributeField

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "documents"
ENGLISH = (
    "sold", "failed", "Winner", "Winners", "Verification", "Bid Record", "Transaction Confirmation",
    "Announcement", "Amount", "Price", "Schedule", "Terms", "Attributes", "Contact", "Yes", "No reserve",
    "lottery", "candidates", "sorted", "ascending", "Notice", "Result", "per ",
)  # fmt: skip
JOBS: dict[str, tuple[DocumentKind, DocumentData]] = {
    **{kind: (kind, data) for kind, data in samples.SAMPLES.items()},
    "result_draw": ("result_announcement", samples.result_announcement(draw=True)),
    "result_uniform": ("result_announcement", samples.uniform_result()),
    "result_dutch": ("result_announcement", samples.dutch_result()),
    "announcement_technology": ("listing_announcement", samples.technology_announcement()),
    "announcement_sealed": ("listing_announcement", samples.sealed_announcement()),
    "reminder_fee": ("payment_reminder", samples.fee_reminder()),
}


def _keys(fields: tuple[AttributeField, ...]) -> Iterator[str]:
    for field in fields:
        yield field.key
        yield from _keys(field.fields)


RAW_KEYS = sorted(
    {k for fields in ATTRIBUTE_FIELDS.values() for k in _keys(fields) if "_" in k or len(k) > 4}
)


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _render(name: str) -> tuple[bytes, str]:
    kind, data = JOBS[name]
    stamp = samples.stamp(kind)
    pdf = render_pdf(f"{kind}.html", {"doc": data, "stamp": stamp}, PdfMetadata(stamp.title, stamp.issued_at))
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return pdf, text


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[bytes, str]]:
    return {name: _render(name) for name in JOBS}


def _screenshot(name: str, pdf: bytes) -> Path:
    import pypdfium2 as pdfium

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    document = pdfium.PdfDocument(pdf)
    path = ARTIFACTS / f"{name}.png"
    document[0].render(scale=1.5).to_pil().save(path)
    return path


@pytest.mark.parametrize("name", list(JOBS))
def test_every_document_is_chinese_and_names_its_parties(
    rendered: dict[str, tuple[bytes, str]], name: str
) -> None:
    pdf, text = rendered[name]
    kind, data = JOBS[name]
    compact = flat(text)
    listing = data.listing
    assert listing.announcement_number and flat(listing.announcement_number) in compact
    if kind != "refund_notice":
        assert listing.seller is not None and listing.seller.name
        assert flat(listing.seller.name) in compact, name
        assert flat(listing.words.seller) in compact
    for word in ENGLISH:
        assert not re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", text), (name, word)
    for key in RAW_KEYS:
        assert not re.search(rf"(?<![A-Za-z_]){re.escape(key)}(?![A-Za-z_])", text), (name, key)
    assert "https://exchange.example.org/verify?number=" in compact
    assert _screenshot(name, pdf).stat().st_size > 10_000


def test_the_announcement_prints_every_attribute_as_people_read_it(
    rendered: dict[str, tuple[bytes, str]],
) -> None:
    compact = flat(rendered["listing_announcement"][1])
    for fragment in (
        "出让面积35210.50平方米",
        "土地用途综合用地（混合用途）",
        "混合用途比例住宅用地70%",
        "商业用地30%",
        "建筑密度上限30%",
        "绿地率35%",
        "投资强度500万元/亩",
        "单位能耗0.25吨标准煤/万元",
        "出让年限50年",
        "开户行：中国工商银行苏州工业园区支行",
        "每个申请各不相同",
        "公示5个工作日",
        "10个工作日内",
        "《国有建设用地使用权出让合同》",
        "首期价款：成交价款的50%",
        "每日按逾期金额的1‰",
        "竞买资格",
        "工业园区公共资源交易中心0512-00000000",
    ):
        assert flat(fragment) in compact, fragment
    assert "加价幅度" in compact and "降价幅度" not in compact


def test_wording_fits_the_class_and_form(rendered: dict[str, tuple[bytes, str]]) -> None:
    technology = flat(rendered["announcement_technology"][1])
    assert "技术产权许可公告" in technology or "许可公告" in technology
    assert "许可方" in technology and "《技术许可合同》" in technology and "出让公告" not in technology
    assert "交易形式独占许可" in technology and "国有资产是" in technology
    sealed = flat(rendered["announcement_sealed"][1])
    assert "加价幅度" not in sealed and "降价幅度" not in sealed and "一次性报价" in sealed


def test_results_show_unit_price_and_quantity(rendered: dict[str, tuple[bytes, str]]) -> None:
    dutch = flat(rendered["result_dutch"][1])
    assert "成交单价5.00元/立方米" in dutch and "成交数量500,000立方米/年" in dutch
    assert "—" not in dutch.split("竞得人")[1].split("公示期")[0]
    uniform = flat(rendered["result_uniform"][1])
    assert "出清价（单价）3,650.00元/吨" in uniform and "1,460,000.00" in uniform  # 3,650 x 400
    draw = flat(rendered["result_draw"][1])
    assert "排序值" in draw and "A017→A021→A003" in draw
    result = flat(rendered["result_announcement"][1])
    assert "公示期5个工作日" in result and "异议受理" in result


def test_the_confirmation_has_three_parties_and_the_fee_as_it_is(
    rendered: dict[str, tuple[bytes, str]],
) -> None:
    text = flat(rendered["confirmation"][1])
    assert "一式三份" in text and "一式两份" not in text
    assert "出让人（盖章）" in text and "竞得人（盖章）" in text and "交易机构（盖章）" in text
    assert "交易服务费不从保证金中扣除" in text and "须在保证金转作价款前付清" not in text
    assert "2027年1月6日前与出让人签订《国有建设用地使用权出让合同》" in text
    assert "公示期满" in text
    assert "缴款通知书缴入国库" in text and "交易服务费付款账号" in text  # land: the price to the tax bureau
    assert "日期：2026年12月29日" in text  # dated by the confirmation, not by the rendering


def test_the_bid_record_counts_from_one(rendered: dict[str, tuple[bytes, str]]) -> None:
    lines = [line.split() for line in rendered["bid_record"][1].splitlines()]
    first = next(cells for cells in lines if cells and cells[-1] == "12,800,000.00")
    assert first[0] == "1"


def test_the_follow_up_documents(rendered: dict[str, tuple[bytes, str]]) -> None:
    reminder = flat(rendered["payment_reminder"][1])
    for fragment in (
        "催缴通知书",
        "逾期未付金额5,090,000.00元",
        "逾期天数10日",
        "已计违约金50,900.00元",
        "1‰",
        "60日",
    ):
        assert flat(fragment) in reminder, fragment
    decision = flat(rendered["objection_decision"][1])
    assert "异议处理决定书" in decision and "异议不成立，予以驳回" in decision
    certificate = flat(rendered["transaction_certificate"][1])
    assert "交易鉴证书" in certificate and "2027年12月20日" in certificate


def test_land_prices_are_paid_per_the_tax_bureaus_notice(rendered: dict[str, tuple[bytes, str]]) -> None:
    price = flat(rendered["payment_reminder"][1])
    assert "缴款通知书" in price and "国家税务总局苏州工业园区税务局" in price and "财综〔2021〕19号" in price
    assert "不缴入交易机构账户" in price and "款项请汇入上列付款账号" not in price
    assert "交易服务费仍向苏州工业园区公共资源交易中心缴纳" in price
    fee = flat(rendered["reminder_fee"][1])
    assert "应付款项交易服务费" in fee and "款项请汇入上列付款账号" in fee and "缴款通知书" not in fee
    assert "service_fee" not in fee


def test_each_document_is_dated_by_its_own_fact_not_by_its_rendering(
    rendered: dict[str, tuple[bytes, str]],
) -> None:
    rendered_on = flat("2026年12月22日")  # the samples' stamp: when the PDF was made
    for name, own in (
        ("payment_reminder", "2027年2月1日"),  # payment_reminders.issued_on
        ("reminder_fee", "2027年2月1日"),
        ("objection_decision", "2026年12月25日"),  # the decision
        ("transaction_certificate", "2027年12月20日"),  # paid in full
    ):
        footers = r"第\d+页/共\d+页.*?文件编号：[0-9A-Za-z-]+"
        text = re.sub(footers, "", flat(rendered[name][1]))
        assert own != rendered_on
        signed = re.split("扫码查验|核验信息", text)[0]
        assert signed.endswith(own), (name, signed[-40:])  # the date under the signature


def test_numbers_are_for_people(rendered: dict[str, tuple[bytes, str]]) -> None:
    for name, (kind, _data) in JOBS.items():
        text = flat(rendered[name][1])
        number = samples.sample_number(kind)
        assert f"文件编号：{number}" in text and f"verify?number={number}" in text, name
        assert f"{kind}:" not in text, name  # no raw key
    assert samples.sample_number("confirmation") == "2026-00042-QR-A017"
    assert samples.sample_number("result_announcement") == "2026-00042-GS"


def test_a_sandbox_document_says_so_and_counts_its_publicity_in_seconds() -> None:
    """Under the sandbox profile a working day is a second: the documents must not claim 5
    working days, and say they come from a test environment."""
    kind, data = JOBS["listing_announcement"]
    for sandbox, shown, hidden in ((True, "公示5秒", "公示5个工作日"), (False, "公示5个工作日", "公示5秒")):
        stamp = samples.stamp(kind)
        assert stamp.office is not None
        stamp = replace(stamp, office=replace(stamp.office, sandbox=sandbox))
        pdf = render_pdf(
            f"{kind}.html", {"doc": data, "stamp": stamp}, PdfMetadata(stamp.title, stamp.issued_at)
        )
        text = flat("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))
        assert shown in text and hidden not in text
        assert ("测试环境" in text) is sandbox
