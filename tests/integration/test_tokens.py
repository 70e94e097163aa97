"""Tokens and role guards: who gets in, who is turned away, with which code."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.identity.tokens import Principal, issue_token
from listings.calendar_store import CALENDAR_STREAM
from tests.conftest import SECRET
from tests.support.api import PASSWORD, Client, register_bidder, staff, token_for
from tests.support.ids import credit_code


async def test_right_password_gets_a_short_lived_token(client: Client) -> None:
    user = await register_bidder(client, "jinneng")
    response = await client.post("/api/v1/auth/token", json={"username": "jinneng", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["role"] == "bidder"
    assert 0 < body["expires_in"] <= 3600
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["id"] == user["id"]
    assert "password_hash" not in me.text


async def test_wrong_password_and_unknown_user_look_the_same(client: Client) -> None:
    await register_bidder(client, "lu_an")
    wrong = await client.post("/api/v1/auth/token", json={"username": "lu_an", "password": "Wrong-pass-123"})
    unknown = await client.post("/api/v1/auth/token", json={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    async with client.app.state.sessions() as session:
        actions = [
            e.action
            for e in (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.stream != CALENDAR_STREAM).order_by(AuditEntry.seq)
                )
            ).scalars()
        ]
    assert actions == ["bidder.registered", "login.failed", "login.failed"]


async def _fail(client: Client, username: str, times: int = 1) -> list[int]:
    statuses = []
    for _ in range(times):
        response = await client.post(
            "/api/v1/auth/token", json={"username": username, "password": "Wrong-1234567"}
        )
        statuses.append(response.status_code)
    return statuses


async def test_failures_slow_down_a_name_but_never_lock_it(client: Client) -> None:
    """Anyone could lock any bidder out for 15 minutes with five wrong passwords; now the
    name's owner waits at most ``NAME.cap`` seconds after the last failure, then gets in."""
    from exchange.identity import throttle

    await register_bidder(client, "datong")
    tries = throttle.NAME.free + 1
    assert await _fail(client, "datong", tries) == [401] * tries
    held = await client.post("/api/v1/auth/token", json={"username": "datong", "password": PASSWORD})
    assert held.status_code == 429 and held.json()["code"] == "login_throttled"
    wait = int(held.headers["retry-after"])
    assert 0 < wait <= throttle.NAME.cap
    await asyncio.sleep(wait)
    await token_for(client, "datong")  # the right password, once the short wait is over


async def test_unknown_and_known_names_are_answered_alike(client: Client) -> None:
    """The lock answered 429 only for names that exist: a way to list the bidders."""
    from exchange.identity import throttle

    await register_bidder(client, "shuozhou")
    answers = {}
    for name in ("shuozhou", "no_such_bidder"):
        answers[name] = await _fail(client, name, throttle.NAME.free + 2)
    assert answers["shuozhou"] == answers["no_such_bidder"] == [401] * (throttle.NAME.free + 1) + [429]


async def test_a_password_spray_from_one_address_is_slowed_down(client: Client) -> None:
    """60 guesses over 20 accounts in half a second were all answered."""
    from exchange.identity import throttle

    names = [(await register_bidder(client))["username"] for _ in range(20)]
    statuses = [status for name in names * 3 for status in await _fail(client, name)]
    # the address's delay grows from one second, so a slow machine may see a guess or two more
    assert throttle.ADDRESS.free < statuses.count(401) <= throttle.ADDRESS.free + 3
    assert statuses.count(429) == len(statuses) - statuses.count(401)


async def test_a_success_clears_the_names_failures(client: Client) -> None:
    from exchange.identity import throttle

    await register_bidder(client, "jincheng")
    for _ in range(2):
        assert await _fail(client, "jincheng", throttle.NAME.free) == [401] * throttle.NAME.free
        await token_for(client, "jincheng")


@pytest.mark.parametrize("password", ["Password12", "Qwerty1234", "P@ssw0rd12", "1qaz2wsx3edc", "woaini1314"])
async def test_common_passwords_are_refused(client: Client, password: str) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "username": "changzhi",
            "password": password,
            "display_name": "长治有限公司",
            "kind": "enterprise",
            "credit_code": credit_code(),
        },
    )
    assert response.status_code == 422 and response.json()["code"] == "password_weak"


def _forged(claims_delta: dict[str, object], secret: str = SECRET) -> str:
    now = utcnow()
    claims: dict[str, object] = {
        "sub": "1",
        "role": "admin",
        "usr": "x",
        "iat": now,
        "exp": now + timedelta(days=1),  # built at collection time; must outlive a slow run
        "iss": "exchange",
        "aud": "exchange-api",
        "ver": 0,
    }
    claims.update(claims_delta)
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (_forged({}, secret="not-the-secret-but-just-as-long-as-it"), "token_invalid"),
        (_forged({"exp": utcnow() - timedelta(seconds=1)}), "token_expired"),
        (_forged({"aud": "someone-else"}), "token_invalid"),
        (_forged({"role": "superuser"}), "token_invalid"),
        (jwt.encode({"sub": "1", "role": "admin"}, key="", algorithm="none"), "token_invalid"),
        ("garbage", "token_invalid"),
    ],
)
async def test_bad_tokens_are_401_with_a_code(client: Client, token: str, code: str) -> None:
    response = await client.get("/api/v1/users/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_bad_token_is_refused_even_on_public_endpoints(client: Client) -> None:
    response = await client.get("/healthz", headers={"Authorization": "Basic abc"})
    assert response.status_code == 200  # health is not behind identity at all
    register = await client.post(
        "/api/v1/auth/register",
        json={"username": "x"},
        headers={"Authorization": "Bearer " + _forged({}, secret="a-forger-guessing-the-secret-badly")},
    )
    assert register.status_code in (400, 401)


async def test_role_guards(client: Client) -> None:
    bidder = await token_for(client, (await register_bidder(client))["username"])
    operator = await staff(client, "operator")
    auditor = await staff(client, "auditor")
    admin = await staff(client, "admin")

    async def status(method: str, url: str, headers: dict[str, str] | None, **kw: object) -> int:
        response = await client.request(method, url, headers=headers, **kw)  # type: ignore[arg-type]
        return response.status_code

    assert await status("GET", "/api/v1/users/", None) == 401
    assert await status("GET", "/api/v1/users/", bidder) == 403
    assert await status("GET", "/api/v1/users/", operator) == 403
    assert await status("GET", "/api/v1/users/", admin) == 200
    assert await status("GET", "/api/v1/audit/system", bidder) == 403
    assert await status("GET", "/api/v1/audit/system", operator) == 403
    assert await status("GET", "/api/v1/audit/system", auditor) == 200
    staff_body = {"username": "new_op", "password": "Operator-pass-1", "role": "operator"}
    assert await status("POST", "/api/v1/users/staff", operator, json=staff_body) == 403
    assert await status("POST", "/api/v1/users/staff", admin, json=staff_body) == 201
    forbidden = await client.get("/api/v1/users/", headers=bidder)
    assert forbidden.json()["code"] == "forbidden"


async def test_staff_changes_are_audited_and_disable_blocks_login(client: Client) -> None:
    admin = await staff(client, "admin")
    created = await client.post(
        "/api/v1/users/staff",
        headers=admin,
        json={"username": "ops_li", "password": "Operator-pass-1", "role": "operator"},
    )
    user_id = created.json()["id"]
    changed = await client.patch(f"/api/v1/users/{user_id}", headers=admin, json={"active": False})
    assert changed.status_code == 200 and changed.json()["active"] is False
    login = await client.post(
        "/api/v1/auth/token", json={"username": "ops_li", "password": "Operator-pass-1"}
    )
    assert login.status_code == 401
    async with client.app.state.sessions() as session:
        actions = [e.action for e in (await session.execute(select(AuditEntry))).scalars()]
    assert "staff.created" in actions and "user.changed" in actions


def test_token_round_trip_keeps_the_role() -> None:
    from exchange.identity.tokens import read_token

    token = issue_token(Principal(7, "op", "operator", 3), SECRET, 60)
    assert read_token(token, SECRET) == Principal(7, "op", "operator", 3)
