"""The registry's documents from real rows, read back as a person reads them (pypdf): the 交割单 and
the 交易凭证 of a delivered delivery, issued once each with the registry's audit head, and the green
account statement rendered on demand. Quantities print in t/a with three places (emission) and
m³/a (water), never the stored kg/a, and no raw key reaches the text."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from documents import registry_documents as rd
from documents.data import Office
from documents.render import Renderer
from documents.store import by_key
from exchange.audit.chain import append, head_of
from exchange.db import unit_of_work
from exchange.identity.models import User
from settlement import double_entry
from settlement.registry.models import (
    Delivery,
    Holder,
    Instrument,
    RegistryAccount,
    RegistryEntry,
    RegistryTransaction,
)
from settlement.registry.statements import green_account
from tests.support.api import Client, staff
from tests.support.ids import credit_code

pytestmark = pytest.mark.databases()
RAW_KEYS = (
    "kg/a",
    "m3/a",
    "abstraction_permit",
    "emission",
    "delivered",
    "pending",
    "paid",
    "None",
    "deliver:",
    "agreement:",
)
AT = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def text(pdf: bytes) -> str:
    return re.sub(r"\s+", "", "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))


async def seed(client: Client) -> dict[str, int]:
    await staff(client, "operator", "registry_docs_ops")
    async with unit_of_work(client.app.state.sessions) as session:
        user = (
            await session.execute(select(User.id).where(User.username == "registry_docs_ops"))
        ).scalar_one()
        seller = Holder(
            credit_code=credit_code(),
            name="苏州甲化工有限公司",
            region_code="320506",
            basin="太湖",
            created_at=AT,
        )
        buyer = Holder(
            credit_code=credit_code(),
            name="苏州乙印染有限公司",
            region_code="320507",
            basin="太湖",
            created_at=AT,
        )
        cod = Instrument(
            right_type="emission",
            sub_type="COD",
            region_code="320500",
            basin="太湖",
            unit="kg/a",
            valid_from=date(2026, 1, 1),
            valid_until=date(2031, 1, 1),
            origin="paid",
            permit_reference="PW-320500-001",
            legal_basis="苏环发〔2026〕1号",
            issued_by=user,
            created_at=AT,
        )
        water = Instrument(
            right_type="water",
            sub_type="abstraction_permit",
            region_code="320500",
            basin="太湖",
            water_source="太湖",
            unit="m3/a",
            valid_from=date(2026, 1, 1),
            valid_until=date(2031, 1, 1),
            origin="paid",
            legal_basis="苏水发〔2026〕2号",
            issued_by=user,
            created_at=AT,
        )
        session.add_all([seller, buyer, cod, water])
        await session.flush()
        ids: dict[str, int] = {"seller": seller.id, "buyer": buyer.id}
        for name, instrument, quantity, price, permit in (
            ("cod", cod, 12_345, 1_234_500, "pending"),
            ("water", water, 800, 960_000, None),
        ):
            txn = RegistryTransaction(
                kind="delivery",
                reference=f"deliver:agreement:{name}",
                instrument_id=instrument.id,
                memo="",
                created_at=AT,
                actor="test",
            )
            cap = RegistryAccount(
                code=f"issuance:{instrument.id}", kind="issuance", instrument_id=instrument.id, created_at=AT
            )
            held = RegistryAccount(
                code=f"holding:{buyer.id}:{instrument.id}",
                kind="holding",
                instrument_id=instrument.id,
                holder_id=buyer.id,
                created_at=AT,
            )
            session.add_all([txn, cap, held])
            await session.flush()
            # balanced, as the database insists: the cap into the buyer's holding
            session.add_all(
                [
                    RegistryEntry(transaction_id=txn.id, account_id=held.id, amount=quantity),
                    RegistryEntry(transaction_id=txn.id, account_id=cap.id, amount=-quantity),
                ]
            )
            await session.flush()
            # the database holds a delivered delivery to both legs: the seller's payout too
            payable = await double_entry.account(session, f"seller_payable:doc:{name}", "seller_payable")
            payout = await double_entry.post(
                session,
                kind="seller_payout",
                reference=f"seller_payout:agreement:{name}",
                legs=[
                    (payable, price),
                    (await double_entry.account(session, "refunds_payable", "refunds_payable"), -price),
                ],
                actor="test",
            )
            delivery = Delivery(
                reference=f"agreement:{name}",
                agreement_id=None,
                listing_id=None,
                seller_id=seller.id,
                buyer_id=buyer.id,
                instrument_id=instrument.id,
                quantity=quantity,
                price=price,
                status="delivered",
                permit_change=permit,
                registry_transaction_id=txn.id,
                ledger_transaction_id=payout.id,
                created_at=AT,
                delivered_at=AT,
            )
            ids[name] = await _with_agreement(session, delivery)
        await append(session, rd.REGISTRY_STREAM, "test", "registry.seeded", {"n": 1})
    return ids


async def _with_agreement(session: object, delivery: Delivery) -> int:
    # a delivery names its listing or its agreement (check "source"); an agreement row needs a
    # hold account, so the test names a listing-less delivery through a minimal agreement
    from settlement.registry.models import Agreement

    hold = RegistryAccount(
        code=f"order_hold:agreement:{delivery.reference}",
        kind="order_hold",
        instrument_id=delivery.instrument_id,
        holder_id=delivery.seller_id,
        created_at=AT,
    )
    session.add(hold)  # type: ignore[attr-defined]
    await session.flush()  # type: ignore[attr-defined]
    user = (await session.execute(select(User.id).limit(1))).scalar_one()  # type: ignore[attr-defined]
    agreement = Agreement(
        seller_id=delivery.seller_id,
        buyer_id=delivery.buyer_id,
        instrument_id=delivery.instrument_id,
        quantity=delivery.quantity,
        price=delivery.price,
        status="delivered",
        hold_account_id=hold.id,
        payment_account=f"PA-{delivery.reference}",
        publicity_ends_at=AT,
        created_by=user,
        created_at=AT,
    )
    session.add(agreement)  # type: ignore[attr-defined]
    await session.flush()  # type: ignore[attr-defined]
    delivery.agreement_id = agreement.id
    session.add(delivery)  # type: ignore[attr-defined]
    await session.flush()  # type: ignore[attr-defined]
    return delivery.id


async def test_delivery_documents_and_the_statement_read_right(client: Client) -> None:
    ids = await seed(client)
    sessions = client.app.state.sessions
    renderer = Renderer(workers=1, warm_up=False)
    office = Office(name="苏州公共资源交易中心")
    try:
        async with sessions() as session:
            head = await head_of(session, rd.REGISTRY_STREAM)
        issued = await rd.catch_up(sessions, renderer, base_url="https://x.test", office=office)
        assert issued == 4
        assert await rd.catch_up(sessions, renderer, base_url="https://x.test", office=office) == 0

        async with sessions() as session:
            record = await by_key(session, rd.delivery_record_key(ids["cod"]), with_pdf=True)
            certificate = await by_key(session, rd.certificate_key(ids["cod"]), with_pdf=True)
            water = await by_key(session, rd.delivery_record_key(ids["water"]), with_pdf=True)
            assert record is not None and certificate is not None and water is not None
            assert record.kind == "delivery_record" and certificate.kind == "registry_certificate"
            assert record.audit_head == head and not record.public
            # the issue is recorded in the registry's chain
            assert await head_of(session, rd.REGISTRY_STREAM) != head

            words = text(record.pdf)
            for expected in (
                "交割单",
                "苏州甲化工有限公司",
                "苏州乙印染有限公司",
                "排污权",
                "化学需氧量(COD)",
                "12.345吨/年",
                "1,000.00元/吨",
                "12,345.00元",
                "壹万贰仟叁佰肆拾伍元整",
                "协议转让",
                "许可证变更待主管部门确认",
                "2026-01-01至2030-12-31",
                "有偿取得",
                record.number,
            ):
                assert expected in words, expected
            assert head[:16] in words
            certified = text(certificate.pdf)
            assert "交易凭证" in certified and "12.345吨/年" in certified and "兹证明" in certified
            watered = text(water.pdf)
            assert "800立方米/年" in watered, watered
            assert "取水权交易" in watered, watered
            assert "12.00元/立方米" in watered, watered
            assert "无需变更许可证" in watered
            for raw in RAW_KEYS:
                assert raw not in words and raw not in certified and raw not in watered, raw

            account = await green_account(session, ids["buyer"])
            assert account is not None
            pdf = await rd.statement_pdf(session, renderer, account, base_url="https://x.test", office=office)
        statement = text(pdf)
        for expected in (
            "绿色责任账户对账单",
            "苏州乙印染有限公司",
            "受让（买入）",
            "12.345吨/年",
            "800立方米/年",
            "苏州甲化工有限公司",
            account.audit_head[:16],
        ):
            assert expected in statement, expected
        for raw in RAW_KEYS:
            assert raw not in statement, raw
    finally:
        renderer.close()
