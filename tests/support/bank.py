"""The bank's side of the deposit protocol: signed notices."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from settlement.bank import sign
from tests.conftest import BANK_SECRET
from tests.support.api import Client


def signed(payload: dict[str, Any], secret: str = BANK_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    signature = sign(secret, body)
    return body, {"X-Signature": signature, "Content-Type": "application/json"}


def notice(account: str, amount: str, paid_at: datetime, txn_id: str | None = None) -> dict[str, Any]:
    return {
        "txn_id": txn_id or f"T{secrets.token_hex(6)}",
        "account": account,
        "amount": amount,
        "paid_at": paid_at.isoformat(),
    }


async def deliver(client: Client, payload: dict[str, Any], secret: str = BANK_SECRET) -> Any:
    body, headers = signed(payload, secret)
    return await client.post("/api/v1/bank/notifications", content=body, headers=headers)
