"""The registry's documents: the 交割单 (delivery record) and the 交易凭证 (the registry's
certificate of a transfer), issued once per delivered delivery, and the green account statement
(绿色责任账户对账单), rendered on demand and never stored (it changes with every movement).

Issued like the other documents (:mod:`documents.issuing`: an outbox by query; read in a
snapshot, render outside any transaction, store once per key), with two differences: they print
the head of the registry's audit chain (stream ``registry``), not a listing's, and their
``document.issued`` entry is appended to that chain. A delivery of a sale keeps its listing id
(the buyer finds the documents beside the sale's); a negotiated transfer has none. The buyer's
user owns them; the seller reads them through the registry's pages.

Every word is worked out here, so the templates only lay it out and no raw key reaches a reader
(:mod:`documents.registry_words`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import String, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents import registry_words as w
from documents.data import Attribute, DocumentKind, Office, Stamp
from documents.drafts import listing_code, not_issued
from documents.formatting import cn_date, cn_datetime, yuan, yuan_upper
from documents.qr import qr_svg
from documents.render import PdfMetadata, Renderer
from documents.store import Rendered, by_key, store, verify_url
from exchange.audit.chain import append, head_of, read_snapshot
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.identity.models import User
from listings.consortium_shares import format_share
from listings.models import Listing
from listings.workdays import local_date
from settlement.registry.delivery import ConsortiumPart, consortium_parts
from settlement.registry.models import Agreement, Delivery, Holder, Instrument, RegistryTransaction
from settlement.registry.statements import GreenAccount

log = logging.getLogger("documents.registry")

REGISTRY_STREAM = "registry"
DELIVERY_RECORD = "delivery_record"
REGISTRY_CERTIFICATE = "registry_certificate"
REGISTRY_DOCUMENT_KINDS = (DELIVERY_RECORD, REGISTRY_CERTIFICATE)
"""Kinds that print the registry's audit head (``documents.results.recorded_heads`` checks them
against the ``registry`` stream, not the listing's)."""
ABBREVIATIONS = {DELIVERY_RECORD: "JG", REGISTRY_CERTIFICATE: "PZ"}  # 交割, 凭证
TEMPLATES = {DELIVERY_RECORD: "delivery_record.html", REGISTRY_CERTIFICATE: "registry_certificate.html"}
STATEMENT_TEMPLATE = "registry_statement.html"


def delivery_record_key(delivery_id: int) -> str:
    return f"delivery-record:{delivery_id}"


def certificate_key(delivery_id: int) -> str:
    return f"registry-certificate:{delivery_id}"


KEYS: dict[str, Callable[[int], str]] = {
    DELIVERY_RECORD: delivery_record_key,
    REGISTRY_CERTIFICATE: certificate_key,
}

UNISSUED_DELIVERY_RECORDS = select(Delivery.id).where(
    Delivery.status == "delivered",
    not_issued(literal("delivery-record:") + sql_cast(Delivery.id, String)),
)
UNISSUED_CERTIFICATES = select(Delivery.id).where(
    Delivery.status == "delivered",
    not_issued(literal("registry-certificate:") + sql_cast(Delivery.id, String)),
)


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    rows: tuple[Attribute, ...]


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """A 交割单 or a 交易凭证: a lead paragraph, labelled sections, a note, the date signed."""

    heading: str
    lead: str
    sections: tuple[Section, ...]
    note: str
    dated: date


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    columns: tuple[str, ...]
    widths: tuple[int, ...]
    """Millimetres per column (the page is 174 mm wide)."""
    numeric: tuple[bool, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str


@dataclass(frozen=True, slots=True)
class Statement:
    """绿色责任账户对账单: the holder, then its holdings, trades, pledges, surrenders and compliance."""

    holder: tuple[Attribute, ...]
    tables: tuple[Table, ...]
    compliant: str
    as_of: datetime
    audit_head: str


@dataclass(frozen=True)
class RegistryDraft:
    key: str
    kind: str
    name: str
    number: str
    data: RegistryRecord
    listing_id: int | None
    owner_id: int | None

    @property
    def title(self) -> str:
        return self.name


@dataclass(frozen=True)
class Facts:
    """What both documents of one delivery print, read from its rows."""

    delivery: Delivery
    instrument: Instrument
    seller: Holder | None
    buyer: Holder
    listing: Listing | None
    agreement: Agreement | None
    transaction: RegistryTransaction | None
    owner_id: int | None
    parts: tuple[ConsortiumPart, ...] = ()
    """A consortium's parties (联合竞买), each with its share and the part credited to it; empty
    for a buyer alone, whose documents keep their words (and bytes)."""


async def _facts(session: AsyncSession, delivery_id: int) -> Facts | None:
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None or delivery.status != "delivered":
        return None
    instrument = await session.get(Instrument, delivery.instrument_id)
    buyer = await session.get(Holder, delivery.buyer_id)
    if instrument is None or buyer is None:
        return None
    seller = await session.get(Holder, delivery.seller_id) if delivery.seller_id is not None else None
    listing = await session.get(Listing, delivery.listing_id) if delivery.listing_id is not None else None
    agreement = (
        await session.get(Agreement, delivery.agreement_id) if delivery.agreement_id is not None else None
    )
    transaction = (
        await session.get(RegistryTransaction, delivery.registry_transaction_id)
        if delivery.registry_transaction_id is not None
        else None
    )
    owner = (
        await session.execute(
            select(User.id).where(User.credit_code == buyer.credit_code, User.role == "bidder").limit(1)
        )
    ).scalar_one_or_none()
    parts = tuple(await consortium_parts(session, delivery))
    return Facts(delivery, instrument, seller, buyer, listing, agreement, transaction, owner, parts)


def _number(facts: Facts, kind: str) -> str:
    """``2026-00042-JG-7`` for a sale (the listing's code), ``XY-3-JG-7`` for agreement 3."""
    d = facts.delivery
    if facts.listing is not None:
        stem = listing_code(facts.listing.id, facts.listing.created_at)
    else:
        stem = f"XY-{d.agreement_id}"
    return f"{stem}-{ABBREVIATIONS[kind]}-{d.id}"


def instrument_rows(i: Instrument) -> tuple[Attribute, ...]:
    rows = [
        Attribute("权利类型", w.word(w.RIGHT_TYPE_WORDS, i.right_type)),
        Attribute(
            "污染物" if i.right_type == "emission" else "交易类型", w.sub_type_word(i.right_type, i.sub_type)
        ),
        Attribute("区域代码", i.region_code),
    ]
    if i.basin:
        rows.append(Attribute("流域", i.basin))
    if i.water_source:
        rows.append(Attribute("水源", i.water_source))
    rows += [
        Attribute("有效期", w.validity(i.valid_from, i.valid_until)),
        Attribute("取得方式", w.word(w.ORIGIN_WORDS, i.origin)),
        Attribute("许可证编号", i.permit_reference or "—"),
        Attribute("登记编号", f"第 {i.id} 号"),
    ]
    return tuple(rows)


def _party(role: str, holder: Holder | None, authority: str) -> tuple[Attribute, ...]:
    if holder is None:
        return (Attribute(role, f"{authority}（政府储备）"),)
    rows = [Attribute(role, holder.name), Attribute("统一社会信用代码", holder.credit_code)]
    rows.append(Attribute("所在区域代码", holder.region_code))
    return tuple(rows)


def _buyers(facts: Facts, authority: str) -> tuple[Attribute, ...]:
    """The 受让方: the buyer, or every party of a consortium with its credit code, share and the
    quantity credited to its own holding (each needs its part certified for its permit change)."""
    if not facts.parts:
        return _party("受让方", facts.buyer, authority)
    unit = facts.instrument.unit
    rows: list[Attribute] = []
    for part in facts.parts:
        rows += [
            Attribute("受让方（联合竞买牵头人）" if part.lead else "受让方（联合竞买成员）", part.name),
            Attribute("统一社会信用代码", part.credit_code),
            Attribute("份额", f"{format_share(part.share_bp)}%"),
            Attribute("记入其持有账户的数量", w.amount(unit, part.quantity)),
        ]
        if part.holder is not None:
            rows.append(Attribute("所在区域代码", part.holder.region_code))
    return tuple(rows)


def _joint_split(facts: Facts) -> str:
    """``甲 6250 千克/年（50.00%）、乙 …``: where a consortium's delivery went."""
    unit = facts.instrument.unit
    return "、".join(
        f"{p.name}（统一社会信用代码 {p.credit_code}）{w.amount(unit, p.quantity)}（份额 {format_share(p.share_bp)}%）"
        for p in facts.parts
    )


def _source(facts: Facts) -> str:
    if facts.listing is not None:
        code = listing_code(facts.listing.id, facts.listing.created_at)
        return f"公开竞价：{facts.listing.title}（标的编号 {code}）"
    return f"协议转让：第 {facts.delivery.agreement_id} 号协议（经公示）"


def _trade_rows(facts: Facts) -> tuple[Attribute, ...]:
    d, unit = facts.delivery, facts.instrument.unit
    return (
        Attribute("交易方式", _source(facts)),
        Attribute("交割数量", w.amount(unit, d.quantity)),
        Attribute("成交单价", w.unit_price(unit, d.price, d.quantity)),
        Attribute("成交价款", f"{yuan(d.price)} 元（大写：人民币{yuan_upper(d.price)}）"),
    )


def _delivered_at(facts: Facts) -> datetime:
    return facts.delivery.delivered_at or facts.delivery.created_at


def _permit(facts: Facts) -> str:
    change = facts.delivery.permit_change
    if change is None:
        return "无需变更许可证"
    if change == "confirmed":
        return "许可证变更已由主管部门确认"
    return "许可证变更待主管部门确认（排污许可证或取水许可证）"


def delivery_record(facts: Facts, authority: str = "主管部门") -> RegistryRecord:
    d = facts.delivery
    at = _delivered_at(facts)
    legs = [
        Attribute("交割编号", f"第 {d.id} 号"),
        Attribute("交割时间", cn_datetime(at)),
        Attribute("登记簿交易", _registry_leg(facts)),
        Attribute(
            "资金结算",
            f"价款已付清，同一事务内向出让方结算（资金交易第 {d.ledger_transaction_id} 号）"
            if d.ledger_transaction_id is not None
            else "价款已付清",
        ),
        Attribute("许可证变更", _permit(facts)),
    ]
    into = (
        f"按份额分别记入各受让方（联合竞买）的持有账户：{_joint_split(facts)}"
        if facts.parts
        else "记入受让方持有账户"
    )
    return RegistryRecord(
        heading="交割单",
        lead=(
            f"受让方已付清全部成交价款。依据券款对付（交割与付款同步）原则，下列权益已于"
            f"{cn_datetime(at)}（北京时间）从出让方的交易冻结账户经交易所交割账户{into}，"
            f"价款同时结算给出让方。"
        ),
        sections=(
            Section(
                "一、交易双方",
                (*_party("出让方", facts.seller, authority), *_buyers(facts, authority)),
            ),
            Section("二、权益", instrument_rows(facts.instrument)),
            Section("三、成交", _trade_rows(facts)),
            Section("四、交割", tuple(legs)),
        ),
        note="登记簿记录是权益归属的唯一依据；本交割单记载交割时的登记情况。许可证变更待确认的，以主管部门确认为准。",
        dated=local_date(at),
    )


def _registry_leg(facts: Facts) -> str:
    t = facts.transaction
    if t is None:
        return "—"
    return f"第 {t.id} 号"  # its reference is a key for machines, not words for a document


def registry_certificate(facts: Facts, authority: str = "主管部门") -> RegistryRecord:
    d, unit = facts.delivery, facts.instrument.unit
    at = _delivered_at(facts)
    how = "公开竞价" if facts.listing is not None else "协议转让"
    if facts.parts:  # a consortium: each party's own part, registered to its own holding
        lead = (
            f"兹证明：下列受让方联合竞买，经本平台{how}共同受让下列权益 {w.amount(unit, d.quantity)}，"
            f"已于{cn_datetime(at)}（北京时间）按份额分别登记至各自的持有账户：{_joint_split(facts)}。"
        )
    else:
        lead = (
            f"兹证明：{facts.buyer.name}（统一社会信用代码 {facts.buyer.credit_code}）经本平台"
            f"{how}受让下列权益 {w.amount(unit, d.quantity)}，已于{cn_datetime(at)}（北京时间）登记至其持有账户。"
        )
    return RegistryRecord(
        heading="交易凭证",
        lead=lead,
        sections=(
            Section("一、受让方", _buyers(facts, authority)),
            Section("二、出让方", _party("出让方", facts.seller, authority)),
            Section("三、权益", instrument_rows(facts.instrument)),
            Section(
                "四、成交与登记",
                (
                    *_trade_rows(facts),
                    Attribute("登记簿交易", _registry_leg(facts)),
                    Attribute("许可证变更", _permit(facts)),
                ),
            ),
        ),
        note="本凭证证明权益的转让及登记情况，可作为办理排污许可证或取水许可证变更手续的依据之一。",
        dated=local_date(at),
    )


async def _draft(session: AsyncSession, delivery_id: int, kind: str) -> RegistryDraft | None:
    facts = await _facts(session, delivery_id)
    if facts is None:
        return None
    record = delivery_record(facts) if kind == DELIVERY_RECORD else registry_certificate(facts)
    return RegistryDraft(
        key=KEYS[kind](delivery_id),
        kind=kind,
        name=f"{record.heading}（{w.instrument_name(facts.instrument.right_type, facts.instrument.sub_type)}，"
        f"{w.amount(facts.instrument.unit, facts.delivery.quantity)}）",
        number=_number(facts, kind),
        data=record,
        listing_id=facts.delivery.listing_id,
        owner_id=facts.owner_id,
    )


async def delivery_record_draft(session: AsyncSession, delivery_id: int) -> RegistryDraft | None:
    return await _draft(session, delivery_id, DELIVERY_RECORD)


async def certificate_draft(session: AsyncSession, delivery_id: int) -> RegistryDraft | None:
    return await _draft(session, delivery_id, REGISTRY_CERTIFICATE)


def stamp(*, number: str, kind: str, title: str, audit_head: str, base_url: str, office: Office) -> Stamp:
    made = Stamp(
        number=number,
        kind=cast(DocumentKind, kind),
        title=title,
        audit_head=audit_head,
        issued_at=utcnow(),
        verify_url=verify_url(base_url),
        issuer=office.name,
        office=office,
    )
    return dataclasses.replace(made, qr_svg=qr_svg(made.number_url))


async def render_draft(
    renderer: Renderer, draft: RegistryDraft, *, audit_head: str, base_url: str, office: Office
) -> Rendered:
    """The PDF of ``draft``, stamped with its number and the registry's audit head (no transaction)."""
    made = stamp(
        number=draft.number,
        kind=draft.kind,
        title=draft.title,
        audit_head=audit_head,
        base_url=base_url,
        office=office,
    )
    template = TEMPLATES[draft.kind]
    metadata = PdfMetadata(
        title=draft.title,
        created=made.issued_at,
        subject=f"{draft.kind} {draft.number}",
        keywords=(draft.kind, draft.number),
    )
    pdf = await renderer.render(template, {"doc": draft.data, "stamp": made}, metadata)
    kind = cast(DocumentKind, draft.kind)
    return Rendered(
        draft.key, draft.number, kind, draft.title, template, made.issued_at, made.verify_url, audit_head, pdf
    )


async def store_registry_document(session: AsyncSession, draft: RegistryDraft, rendered: Rendered) -> int:
    """Store once per key, and record the issue in the registry's chain; the document's id."""
    existing = await by_key(session, draft.key)
    document = await store(
        session, rendered, listing_id=draft.listing_id, public=False, owner_id=draft.owner_id, audit=False
    )
    if existing is None and document.sha256 == rendered.sha256:
        await append(
            session,
            REGISTRY_STREAM,
            "system",
            "document.issued",
            {
                "document_id": document.id,
                "key": draft.key,
                "number": draft.number,
                "kind": draft.kind,
                "sha256": rendered.sha256,
                "size": len(rendered.pdf),
            },
            at=rendered.issued_at,
        )
    return document.id


Work = Callable[[AsyncSession, int], Awaitable[RegistryDraft | None]]


async def issue_one(
    sessions: async_sessionmaker[AsyncSession],
    renderer: Renderer,
    work: Work,
    subject: int,
    *,
    base_url: str,
    office: Office,
) -> int:
    """One document: read in a snapshot, render with nothing locked, store in a short transaction."""
    async with sessions() as session, read_snapshot(session) as snapshot:
        draft = await work(snapshot, subject)
        if draft is None:
            return 0
        if await by_key(snapshot, draft.key) is not None:
            return 1
        head = await head_of(snapshot, REGISTRY_STREAM)
    rendered = await render_draft(renderer, draft, audit_head=head, base_url=base_url, office=office)
    async with unit_of_work(sessions) as session:
        await store_registry_document(session, draft, rendered)
    return 1


async def catch_up(
    sessions: async_sessionmaker[AsyncSession], renderer: Renderer, *, base_url: str, office: Office
) -> int:
    """Every delivered delivery gets its 交割单 and 交易凭证, once (``DocumentIssuer.catch_up`` calls it)."""
    issued = 0
    queues: tuple[tuple[Any, Work], ...] = (
        (UNISSUED_DELIVERY_RECORDS, delivery_record_draft),
        (UNISSUED_CERTIFICATES, certificate_draft),
    )
    for query, work in queues:
        async with sessions() as session:
            subjects = sorted(set((await session.execute(query)).scalars()))
        for subject in subjects:
            try:
                issued += await issue_one(sessions, renderer, work, subject, base_url=base_url, office=office)
            except Exception:
                log.exception(
                    "issuing %s of delivery %s failed; the next round retries", work.__name__, subject
                )
    return issued


# --- the green account statement (rendered on demand, never stored) --------------------------


def _instrument_label(line_instrument: Any) -> str:
    i = line_instrument
    place = (
        i.region_code
        + (f" · {i.basin}" if i.basin else "")
        + (f" · {i.water_source}" if i.water_source else "")
    )
    return f"{w.instrument_name(i.right_type, i.sub_type)}（{place}）"


def statement(account: GreenAccount, instruments: dict[int, Any], as_of: datetime) -> Statement:
    """The statement's words from H4's green account; ``instruments`` by id for the trades' lots."""

    def lot(instrument_id: int) -> str:
        found = instruments.get(instrument_id)
        return _instrument_label(found) if found is not None else f"第 {instrument_id} 号"

    def unit_of(instrument_id: int) -> str:
        found = instruments.get(instrument_id)
        return str(found.unit) if found is not None else "kg/a"

    holdings = Table(
        "一、持有权益",
        ("权益", "有效期", "可用", "交易冻结", "质押", "司法冻结", "合计"),
        (50, 30, 20, 18, 18, 18, 20),
        (False, False, True, True, True, True, True),
        tuple(
            (
                _instrument_label(h.instrument) + f" · {w.word(w.UNIT_WORDS, h.instrument.unit)}",
                w.validity(h.instrument.valid_from, h.instrument.valid_until),
                *(
                    w.number(h.instrument.unit, q)
                    for q in (h.available, h.held, h.pledged, h.frozen, h.total)
                ),
            )
            for h in account.holdings
        ),
        "暂无持有权益",
    )

    def trades(title: str, rows: Any, party: str) -> Table:
        return Table(
            title,
            ("交割时间", "权益", party, "数量", "价款（元）", "状态"),
            (30, 48, 30, 24, 22, 20),
            (False, False, False, True, True, False),
            tuple(
                (
                    cn_date(t.delivered_at) if t.delivered_at else "—",
                    lot(t.instrument_id) + f" · {w.word(w.VIA_WORDS, t.via)}",
                    t.counterparty or "政府储备",
                    w.amount(unit_of(t.instrument_id), t.quantity),
                    yuan(t.price),
                    w.word(w.DELIVERY_STATUS_WORDS, t.status)
                    + (f"，{w.word(w.PERMIT_CHANGE_WORDS, t.permit_change)}" if t.permit_change else ""),
                )
                for t in rows
            ),
            "无",
        )

    pledges = Table(
        "四、质押",
        ("质押时间", "权益", "质权人", "合同编号", "数量", "状态"),
        (26, 48, 30, 24, 26, 20),
        (False, False, False, False, True, False),
        tuple(
            (
                cn_date(p.created_at),
                lot(p.instrument_id),
                p.pledgee_name,
                p.contract_reference,
                w.amount(unit_of(p.instrument_id), p.quantity),
                w.word(w.PLEDGE_STATUS_WORDS, p.status),
            )
            for p in account.pledges
        ),
        "无",
    )
    surrenders = Table(
        "五、履约清缴",
        ("清缴时间", "年度", "权益", "数量"),
        (30, 20, 84, 40),
        (False, False, False, True),
        tuple(
            (
                cn_date(s.created_at),
                f"{s.year} 年",
                lot(s.instrument_id),
                w.amount(unit_of(s.instrument_id), s.quantity),
            )
            for s in account.surrenders
        ),
        "无",
    )
    compliance_unit = {"emission": "kg/a", "water": "m3/a"}
    compliance = Table(
        "六、履约情况",
        ("年度", "权益", "核定量", "已清缴", "缺口", "结论"),
        (16, 50, 30, 30, 28, 20),
        (False, False, True, True, True, False),
        tuple(
            (
                f"{c.year} 年",
                w.instrument_name(c.right_type, c.sub_type),
                w.amount(compliance_unit.get(c.right_type, "kg/a"), c.verified),
                w.amount(compliance_unit.get(c.right_type, "kg/a"), c.surrendered),
                w.amount(compliance_unit.get(c.right_type, "kg/a"), c.shortfall),
                "已履约" if c.compliant else "未足额履约",
            )
            for c in account.compliance
        ),
        "暂无核定排放量或用水量",
    )
    holder = (
        Attribute("账户名称", account.name),
        Attribute("统一社会信用代码", account.credit_code),
        Attribute("所在区域代码", account.region_code),
        Attribute("流域", account.basin or "—"),
        Attribute("对账时间", cn_datetime(as_of)),
    )
    return Statement(
        holder=holder,
        tables=(
            holdings,
            trades("二、受让（买入）", account.acquisitions, "出让方"),
            trades("三、出让（卖出）", account.sales, "受让方"),
            pledges,
            surrenders,
            compliance,
        ),
        compliant="已全部履约" if account.compliant else "存在履约缺口",
        as_of=as_of,
        audit_head=account.audit_head,
    )


async def statement_instruments(session: AsyncSession, account: GreenAccount) -> dict[int, Instrument]:
    ids = {t.instrument_id for t in (*account.acquisitions, *account.sales)}
    ids |= {p.instrument_id for p in account.pledges} | {s.instrument_id for s in account.surrenders}
    if not ids:
        return {}
    rows = (await session.execute(select(Instrument).where(Instrument.id.in_(ids)))).scalars()
    return {row.id: row for row in rows}


def statement_number(account: GreenAccount, as_of: datetime) -> str:
    return f"DZ-{account.credit_code}-{local_date(as_of):%Y%m%d}"


async def statement_pdf(
    session: AsyncSession, renderer: Renderer, account: GreenAccount, *, base_url: str, office: Office
) -> bytes:
    """The statement as of now, with the registry's audit head read with the account (H4's
    ``green_account``). Not stored and not numbered for verification: it prints the head instead."""
    as_of = utcnow()
    instruments = await statement_instruments(session, account)
    data = statement(account, instruments, as_of)
    title = f"{account.name} 绿色责任账户对账单"
    made = stamp(
        number=statement_number(account, as_of),
        kind="registry_statement",
        title=title,
        audit_head=account.audit_head,
        base_url=base_url,
        office=office,
    )
    metadata = PdfMetadata(
        title=title, created=as_of, subject="registry_statement", keywords=("registry_statement",)
    )
    return await renderer.render(STATEMENT_TEMPLATE, {"doc": data, "stamp": made}, metadata)
