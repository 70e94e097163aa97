"""The demo's side of the public HTTP API: accounts that log in again, the bank's signed notices."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx

from exchange.identity.codes import CREDIT_ALPHABET, credit_check_character
from settlement.bank import sign


class DemoError(RuntimeError):
    """The exchange answered something the demo cannot go on from."""


def expect(response: httpx.Response, status: int, what: str) -> Any:
    if response.status_code != status:
        raise DemoError(f"{what}: HTTP {response.status_code} {response.text[:400]}")
    return response.json()


def problem_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"http_{response.status_code}"
    return str(body.get("code", f"http_{response.status_code}")) if isinstance(body, dict) else ""


def credit_code() -> str:
    """A random valid unified social credit code (91: enterprise, Taiyuan 140100)."""
    first17 = "91140100" + "".join(secrets.choice(CREDIT_ALPHABET) for _ in range(9))
    return first17 + credit_check_character(first17)


class Account:
    """One login on the exchange; it logs in again when its token has expired."""

    def __init__(self, client: httpx.AsyncClient, username: str, password: str) -> None:
        self.client = client
        self.username = username
        self.password = password
        self._token: str | None = None

    async def login(self) -> None:
        response = await self.client.post(
            "/api/v1/auth/token", json={"username": self.username, "password": self.password}
        )
        self._token = str(expect(response, 200, f"log in {self.username}")["access_token"])

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._token is None:
            await self.login()
        extra = kwargs.pop("headers", {})
        response = await self._send(method, path, extra, kwargs)
        if response.status_code == 401:  # the token expired during a long demo
            await self.login()
            response = await self._send(method, path, extra, kwargs)
        return response

    async def _send(
        self, method: str, path: str, extra: dict[str, str], kwargs: dict[str, Any]
    ) -> httpx.Response:
        headers = {**extra, "Authorization": f"Bearer {self._token}"}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)


async def register_bidder(
    client: httpx.AsyncClient, username: str, password: str, display_name: str
) -> Account:
    body = {
        "username": username,
        "password": password,
        "display_name": display_name,
        "kind": "enterprise",
        "credit_code": credit_code(),
    }
    expect(await client.post("/api/v1/auth/register", json=body), 201, f"register {username}")
    account = Account(client, username, password)
    await account.login()
    return account


async def pay_deposit(client: httpx.AsyncClient, bank_secret: str, account: str, amount: str) -> None:
    """The bank's notice of a deposit, signed as the bank signs it."""
    raw = json.dumps(
        {
            "txn_id": f"DEMO{secrets.token_hex(8)}",
            "account": account,
            "amount": amount,
            "paid_at": datetime.now(UTC).isoformat(),
        }
    ).encode()
    signature = sign(bank_secret, raw)
    response = await client.post(
        "/api/v1/bank/notifications",
        content=raw,
        headers={"X-Signature": signature, "Content-Type": "application/json"},
    )
    outcome = expect(response, 200, f"deposit notice for {account}").get("outcome")
    if outcome != "deposit":
        raise DemoError(f"the deposit on {account} was booked as {outcome!r}, not as a deposit")
