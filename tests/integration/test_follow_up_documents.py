"""The documents of the follow-up after the hammer, from real rows: flows driven through the API
and the jobs, then the issuer catches up and the PDFs are read (pypdf) as a person reads them.

- the result announcement prints the settlement's real end of the 公示;
- no 成交确认书 while an objection is open or upheld; the answer (异议处理决定书, to the filer) and
  the resolution (public) are issued; the confirmation follows once the sale stands and the 公示
  is over, dated by the confirmation;
- a 催缴通知书 per ``payment_reminders`` row of the day-end job: for land the price is paid per
  the tax bureau's 缴款通知 (财综〔2021〕19号), never into the exchange's account; the service fee
  is still paid to the exchange; the date printed is the reminder's own;
- a 交易鉴证书 once the line is paid in full.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import date, timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from documents.formatting import cn_date, cn_datetime
from exchange.clock import utcnow
from exchange.db import unit_of_work
from listings.workdays import local_date
from settlement import followup
from settlement.notice_models import PaymentReminder
from settlement.settlement_models import SettlementLine
from tests.support.api import Client, bidder
from tests.support.bank import deliver, notice
from tests.support.follow_up import day_end, settlement, sign_contract, stop_follow_up
from tests.support.objections import SELLER, ago, set_publicity_end, settlement_of, sold_in_publicity

pytestmark = pytest.mark.databases()


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


async def documents(client: Client, listing_id: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/documents", params={"listing_id": listing_id}, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json())


async def issued(
    client: Client, listing_id: int, operator: dict[str, str], kind: str, count: int = 1
) -> list[dict[str, Any]]:
    """Let the issuer catch up until the listing has ``count`` documents of ``kind``."""
    issuer = client.app.state.document_issuer
    for _ in range(40):
        await issuer.catch_up()
        found = [d for d in await documents(client, listing_id, operator) if d["kind"] == kind]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.25)
    raise AssertionError(f"{count} {kind} never issued")


async def none_issued(client: Client, listing_id: int, operator: dict[str, str], kind: str) -> None:
    await client.app.state.document_issuer.catch_up()
    assert not [d for d in await documents(client, listing_id, operator) if d["kind"] == kind]


async def read(client: Client, document: dict[str, Any], headers: dict[str, str]) -> str:
    response = await client.get(document["url"], headers=headers)
    assert response.status_code == 200, response.text
    return flat("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages))


async def confirm_due(client: Client) -> None:
    async with unit_of_work(client.app.state.sessions) as session:
        await followup.confirm_pending(session, utcnow())


async def test_objection_decisions_the_confirmation_after_the_publicity_and_reminders(client: Client) -> None:
    lid, winner, operator = await sold_in_publicity(client, publicity=240)
    stop_follow_up(client)  # the test runs the sweep and the day-end job itself
    sold = await settlement_of(client, lid)
    assert sold is not None and sold.publicity_ends_at is not None

    # the result announcement: the 公示 as the settlement has it
    (result,) = await issued(client, lid, operator, "result_announcement")
    text = await read(client, result, {})
    assert flat(cn_datetime(sold.publicity_ends_at)) in text and "异议受理" in text
    assert flat(SELLER["seller_name"]) in text
    assert re.fullmatch(rf"20\d\d-{lid:05d}-GS", result["number"])

    # an objection filed: the 公示 ends, but no confirmation while it is open
    filer = await bidder(client)
    filed = await client.post(
        f"/api/v1/results/{lid}/objections",
        json={"reasons": "竞得人与另一竞买人存在关联关系。"},
        headers=filer,
    )
    assert filed.status_code == 201, filed.text
    objection = filed.json()["id"]
    await set_publicity_end(client, lid, ago(1))
    await confirm_due(client)
    assert (await settlement_of(client, lid)).status == "publicity"  # type: ignore[union-attr]
    await none_issued(client, lid, operator, "confirmation")

    # upheld: on hold; the answer goes to the filer (it quotes the reasons), not to the public
    answered = await client.post(
        f"/api/v1/objections/{objection}/answer",
        json={"decision": "upheld", "answer": "经初步核查，异议所述关联关系需进一步调查。"},
        headers=operator,
    )
    assert answered.status_code == 200, answered.text
    (answer,) = await issued(client, lid, operator, "objection_decision")
    assert answer["public"] is False and answer["number"].endswith(f"-YY-{objection}")
    text = await read(client, answer, filer)
    assert "异议处理决定书" in text and "竞得人与另一竞买人存在关联关系" in text
    assert "异议成立" in text and "需进一步调查" in text and "本决定送达异议人" in text
    assert (await client.get(answer["url"])).status_code == 401
    assert (await client.get(answer["url"], headers=winner)).status_code == 403
    await confirm_due(client)
    assert (await settlement_of(client, lid)).status == "on_hold"  # type: ignore[union-attr]
    await none_issued(client, lid, operator, "confirmation")

    # resolved: the sale stands (public, without the filer's reasons); then the confirmation
    resolved = await client.post(
        f"/api/v1/objections/{objection}/resolve",
        json={"outcome": "stands", "reason": "经调查，两家企业无共同控制关系，原成交结果有效。"},
        headers=operator,
    )
    assert resolved.status_code == 200, resolved.text
    decisions = await issued(client, lid, operator, "objection_decision", 2)
    (resolution,) = [d for d in decisions if d["public"]]
    assert resolution["number"].endswith(f"-YF-{objection}")
    text = await read(client, resolution, {})
    assert "原成交结果有效" in text and "无共同控制关系" in text and "关联关系。" not in text
    await confirm_due(client)
    confirmed = await settlement_of(client, lid)
    assert confirmed is not None and confirmed.confirmed_at is not None
    assert confirmed.status == "awaiting_contract"  # land: the payments count from the contract
    (confirmation,) = await issued(client, lid, operator, "confirmation")
    text = await read(client, confirmation, winner)
    assert "成交确认书" in text and "一式三份" in text and flat(SELLER["seller_name"]) in text
    assert f"日期：{flat(cn_date(confirmed.confirmed_at))}" in text
    assert confirmed.contract_due_on is not None and flat(cn_date(confirmed.contract_due_on)) in text
    assert "缴款通知书" in text  # land: the price goes to the tax bureau

    # the contract, then the day-end job five days after the first payments were due
    view = await sign_contract(client, operator, lid)
    installments = view["lines"][0]["installments"]
    due = min(date.fromisoformat(i["due_date"]) for i in installments)
    labels = {i["label"] for i in installments if date.fromisoformat(i["due_date"]) == due}
    assert labels == {"service_fee", "first"}, installments
    assert await day_end(client, due + timedelta(days=5)) == 1
    async with client.app.state.sessions() as session:
        rows = list(
            (
                await session.execute(select(PaymentReminder).where(PaymentReminder.listing_id == lid))
            ).scalars()
        )
        line = (
            await session.execute(select(SettlementLine).where(SettlementLine.listing_id == lid))
        ).scalar_one()
    assert len(rows) == 2 and {r.issued_on for r in rows} == {due + timedelta(days=5)}
    reminders = await issued(client, lid, operator, "payment_reminder", 2)
    assert all(d["public"] is False for d in reminders)
    assert (await client.get(reminders[0]["url"], headers=filer)).status_code == 403
    texts = {d["number"]: await read(client, d, winner) for d in reminders}
    by_row = {r.installment_seq: texts[next(n for n in texts if n.endswith(f"-CJ-{r.id}"))] for r in rows}
    fee_seq = next(i["seq"] for i in installments if i["label"] == "service_fee")
    price_seq = next(i["seq"] for i in installments if i["label"] == "first")
    today = flat(cn_date(local_date(utcnow())))
    for seq, text in by_row.items():
        row = next(r for r in rows if r.installment_seq == seq)
        assert "催缴通知书" in text and f"{row.overdue_amount / 100:,.2f}" in text
        assert f"逾期天数{row.days_overdue}日" in text and "1‰" in text
        assert text.count(flat(cn_date(row.issued_on))) >= 2  # the lead, and the date it is signed
        assert today not in text  # not the day it was rendered
    price, fee = by_row[price_seq], by_row[fee_seq]
    assert "缴款通知书" in price and "不缴入交易机构账户" in price and "财综〔2021〕19号" in price
    assert "款项请汇入上列付款账号" not in price
    assert line.payment_account.replace(" ", "") in price  # only for the service fee
    assert "交易服务费" in fee and "缴款通知书" not in fee and "款项请汇入上列付款账号" in fee
    assert line.payment_account.replace(" ", "") in fee


async def test_a_certificate_after_full_payment(client: Client) -> None:
    lid, winner, operator = await sold_in_publicity(
        client, publicity=1, asset_class="technology", start_price="1000000.00"
    )
    stop_follow_up(client)
    await set_publicity_end(client, lid, ago(1))
    await confirm_due(client)
    view = await settlement(client, lid, operator)
    assert view["status"] == "pending_payment", view
    await none_issued(client, lid, operator, "transaction_certificate")  # not paid yet
    async with client.app.state.sessions() as session:
        line = (
            await session.execute(select(SettlementLine).where(SettlementLine.listing_id == lid))
        ).scalar_one()
    paid = await deliver(client, notice(line.payment_account, f"{line.amount_due / 100:.2f}", utcnow()))
    assert paid.status_code == 200, paid.text
    (certificate,) = await issued(client, lid, operator, "transaction_certificate")
    assert certificate["public"] is False and certificate["number"].endswith(f"-JZ-{line.bid_number}")
    text = await read(client, certificate, winner)
    async with client.app.state.sessions() as session:
        line = (
            await session.execute(select(SettlementLine).where(SettlementLine.listing_id == lid))
        ).scalar_one()
    assert line.status == "paid" and line.paid_at is not None
    assert "交易鉴证书" in text and f"{line.price / 100:,.2f}" in text
    assert flat(cn_date(local_date(line.paid_at))) in text and flat(SELLER["seller_name"]) in text
    assert "转让方" in text or "许可方" in text  # technology: 转让 / 许可, not 出让
