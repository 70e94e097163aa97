"""A scripted settlement for the kill -9 test: book one winner's final payment, then exit.

Run as ``python -m tests.support.dvp_script <database url> <payment account> <yuan> <txn id> <paid at>``
with ``EXCHANGE_CRASH_AT`` naming a step of the delivery (settlement.registry.delivery.CRASH_POINTS)
to die there by SIGKILL (exchange.faults, armed from the settings). The notice goes through ``settlement.bank.receive``,
the path a bank notification takes: the notice's row, the payment, the quantity leg, the seller's
payout and the delivery row in one transaction, committed by ``receive``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from exchange import faults
from exchange.db import create_engine, session_factory
from exchange.settings import DatabaseSettings, load_settings
from listings import calendar_store
from listings.hooks import ListingHooks
from settlement import bank


async def main(url: str, account: str, amount: str, txn_id: str, paid_at: str) -> None:
    """``paid_at`` (ISO): the bank sends a notice again byte for byte, so a rerun must too."""
    faults.arm(load_settings().crash_at)  # EXCHANGE_CRASH_AT, as the app arms it
    engine = create_engine(DatabaseSettings(url=url, null_pool=True))
    sessions = session_factory(engine)
    try:
        await calendar_store.refresh(sessions)  # refunds fall due in working days
        body = json.dumps(
            {"txn_id": txn_id, "account": account, "amount": amount, "paid_at": paid_at}
        ).encode()
        async with sessions() as session:
            result = await bank.receive(session, body, bank.parse_notice(body), ListingHooks())
        await asyncio.sleep(0.5)  # the work after the commit runs (the last crash point is there)
        print(json.dumps({"outcome": result.outcome, "duplicate": result.duplicate}))
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
