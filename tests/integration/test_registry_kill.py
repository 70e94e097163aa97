"""Kill -9 at every step of delivery versus payment: both legs or neither, then exactly one delivery.

One uniform-price sale with a winner per crash point. For each, a subprocess books the winner's
final payment (tests/support/dvp_script.py) with ``EXCHANGE_CRASH_AT`` set and dies by SIGKILL at
that step; the database then holds the quantity leg (``deliver:sale:...``), the seller's payout
and a delivered delivery row all together (the crash came after the commit) or none of them. Run
again without a crash, the payment is booked once and the sale delivered exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from exchange.clock import utcnow
from exchange.money import format_yuan
from exchange.settings import Settings
from settlement.models import LedgerTransaction
from settlement.registry.delivery import CRASH_POINTS, sale_reference
from settlement.registry.models import Delivery
from settlement.settlement_models import SettlementLine
from tests.support.api import Client
from tests.support.dvp import (
    enterprise,
    holding,
    issue,
    ledgers_sound,
    lines,
    listed,
    offer,
    payouts,
    people,
    qualify,
    registry_txn,
    run_auction,
)

pytestmark = pytest.mark.databases()

ROOT = Path(__file__).resolve().parents[2]
EACH = 2_000  # kg/a per winner

CRASH_AT = "EXCHANGE_CRASH_AT"  # read by exchange.settings, which arms exchange.faults


async def _script(
    url: str, line: SettlementLine, txn_id: str, paid_at: str, crash_at: str | None
) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_AT}
    if crash_at is not None:
        env[CRASH_AT] = crash_at
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.dvp_script",
        url,
        line.payment_account,
        format_yuan(line.amount_due),
        txn_id,
        paid_at,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode()


async def _legs(client: Client, line: SettlementLine) -> tuple[bool, bool, list[Delivery], str]:
    """(quantity leg booked, payout booked, the sale's delivery rows, the line's status)."""
    reference = sale_reference(line.listing_id, line.application_id)
    quantity = await registry_txn(client, f"deliver:{reference}") is not None
    async with client.app.state.sessions() as session:
        money = (
            await session.execute(
                select(LedgerTransaction.id).where(
                    LedgerTransaction.reference == f"seller_payout:{reference}"
                )
            )
        ).first() is not None
        rows = list(
            (await session.execute(select(Delivery).where(Delivery.reference == reference))).scalars()
        )
        row: SettlementLine | None = await session.get(SettlementLine, line.id, populate_existing=True)
        assert row is not None
        status = row.status
    return quantity, money, rows, status


async def test_kill_9_at_every_step_leaves_both_legs_or_neither(client: Client, settings: Settings) -> None:
    registrar, operator = await people(client)
    seller = await enterprise(client)
    buyers = [await enterprise(client) for _ in CRASH_POINTS]
    instrument = await issue(client, registrar, seller, 20_000)
    made = await offer(client, seller.headers, instrument, EACH * len(buyers))
    listing = await listed(
        client,
        operator,
        made["id"],
        "emission_right",
        "uniform_price",
        start_price="100000.00",
        increment="1000.00",
        lot="1.000",
        max_bidder_share="0.25",
    )
    for buyer in buyers:
        await qualify(client, operator, listing, buyer)
    bids = [(b, {"amount": f"{120000 - 1000 * n}.00", "quantity": "2.000"}) for n, b in enumerate(buyers)]
    await run_auction(client, operator, listing["id"], bids)
    by_bidder = await lines(client, listing["id"])

    for n, (point, buyer) in enumerate(zip(CRASH_POINTS, buyers, strict=True)):
        line = by_bidder[buyer.user_id]
        txn_id = f"KILL{n}{os.getpid()}"
        paid_at = utcnow().isoformat()
        code, output = await _script(settings.database.url, line, txn_id, paid_at, point)
        assert code == -signal.SIGKILL, (point, code, output)
        quantity, money, rows, status = await _legs(client, line)
        if point == "dvp:after_commit":
            assert quantity and money, point
            assert [(d.status, d.quantity) for d in rows] == [("delivered", EACH)]
            assert status == "paid"
            assert await holding(client, buyer, instrument) == EACH
        else:
            assert not quantity and not money and rows == [], point
            assert status == "pending_payment"
            assert await holding(client, buyer, instrument) == 0
        code, output = await _script(settings.database.url, line, txn_id, paid_at, None)
        assert code == 0, output
        quantity, money, rows, status = await _legs(client, line)
        assert quantity and money and status == "paid", point
        assert [(d.status, d.quantity) for d in rows] == [("delivered", EACH)], point
        assert rows[0].registry_transaction_id is not None and rows[0].ledger_transaction_id is not None
        assert await holding(client, buyer, instrument) == EACH

    assert len(await payouts(client, listing["id"])) == len(CRASH_POINTS)
    assert await holding(client, seller, instrument) == 20_000 - EACH * len(buyers)
    await ledgers_sound(client)
