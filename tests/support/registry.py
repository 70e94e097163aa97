"""The rights registry in tests: users of each role, holders, and rights issued to them.

Two ways in: through a session (``user``, ``registrar``, ``holder``, ``issue_to``) for domain
tests, and through the API (``registrar_token``, ``bidder_holder``) for tests that act as the
registrar or a bidder does.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.clock import utcnow
from exchange.db import create_engine, session_factory, unit_of_work
from exchange.identity.models import User
from exchange.identity.tokens import Principal, Role
from exchange.settings import Settings
from settlement.registry.issuance import Issuance, issue, open_account
from settlement.registry.models import Holder, Instrument
from tests.support.api import Client, register_bidder, staff, token_for
from tests.support.ids import credit_code

Sessions = async_sessionmaker[AsyncSession]

REGION = "140105"
"""Taiyuan, Xiaodian district: Shanxi (14), Taiyuan (1401)."""
BASIN = "黄河流域"
_names = itertools.count(1)
_references = itertools.count(1)


@asynccontextmanager
async def sessions_of(settings: Settings) -> AsyncIterator[Sessions]:
    """Sessions on the test's database (``settings`` fixture: PostgreSQL or SQLite)."""
    engine = create_engine(settings.database)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def user(
    session: AsyncSession, role: Role, *, code: str | None = None, name: str | None = None
) -> User:
    """A user row of ``role`` written directly (staff are ``kind`` staff; a bidder an enterprise)."""
    username = name or f"{role}-r{next(_names)}"
    row = User(
        username=username,
        password_hash="-",
        role=role,
        kind="enterprise" if role == "bidder" else "staff",
        display_name=f"{username} 有限公司" if role == "bidder" else username,
        credit_code=code,
        active=True,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


def principal(row: User) -> Principal:
    return Principal(user_id=row.id, username=row.username, role=row.role)  # type: ignore[arg-type]


async def registrar(session: AsyncSession) -> Principal:
    """A new registrar user, as the principal acting."""
    return principal(await user(session, "registrar"))


async def holder(
    session: AsyncSession,
    *,
    code: str | None = None,
    region_code: str = REGION,
    basin: str | None = BASIN,
    name: str | None = None,
    verified: bool = True,
) -> Holder:
    """A registry holder (by default in Taiyuan, in the Yellow River basin), opened by a registrar
    and so verified; ``verified=False``: opened as the enterprise itself does, waiting for one."""
    code = code or credit_code()
    return await open_account(
        session,
        credit_code=code,
        name=name or f"持有人{code[-6:]}有限公司",
        region_code=region_code,
        basin=basin,
        actor="test",
        registrar=await registrar(session) if verified else None,
    )


async def open_verified(
    client: Client, credit_code: str, name: str, *, region_code: str = REGION, basin: str | None = BASIN
) -> int:
    """The verified registry account of a registered enterprise (as the registrar opens it): its id."""
    async with unit_of_work(client.app.state.sessions) as session:
        opened = await holder(session, code=credit_code, name=name, region_code=region_code, basin=basin)
        return opened.id


def issuance(quantity: int = 1000, holder_code: str | None = None, **overrides: Any) -> Issuance:
    """An emission right of COD in Taiyuan and the Yellow River basin, valid 2026-2030, paid for."""
    data = Issuance(
        right_type="emission",
        sub_type="COD",
        region_code=REGION,
        basin=BASIN,
        water_source=None,
        valid_from=date(2026, 1, 1),
        valid_until=date(2031, 1, 1),
        origin="paid",
        permit_reference="91140100MA0TEST001P",
        legal_basis="晋环函〔2026〕1号",
        quantity=quantity,
        holder_credit_code=holder_code,
        reference=f"test-issue-{next(_references)}",
    )
    return replace(data, **overrides)


async def issue_to(
    session: AsyncSession,
    who: Principal,
    to: Holder | None,
    quantity: int = 1000,
    **overrides: Any,
) -> Instrument:
    """Issue ``quantity`` of a new instrument, to ``to``'s holding (None: into the reserve)."""
    instrument, _ = await issue(
        session, issuance(quantity, to.credit_code if to is not None else None, **overrides), who
    )
    return instrument


async def registrar_token(client: Client, username: str | None = None) -> dict[str, str]:
    """Auth headers of a new registrar account (created as an admin creates staff)."""
    return await staff(client, "registrar", username)


async def bidder_holder(
    client: Client,
    *,
    region_code: str = REGION,
    basin: str | None = BASIN,
    username: str | None = None,
) -> tuple[dict[str, str], Holder]:
    """A bidder registered through the API whose enterprise has a registry account: its auth
    headers and its holder."""
    code = credit_code()
    registered = await register_bidder(client, username, credit_code=code)
    async with unit_of_work(client.app.state.sessions) as session:
        found = await holder(session, code=code, region_code=region_code, basin=basin)
    return await token_for(client, registered["username"]), found


async def issued(
    client: Client,
    to: Holder | None,
    quantity: int = 1000,
    **overrides: Any,
) -> Instrument:
    """Issue an instrument through the domain on the app's database (the registrar is made here)."""
    async with unit_of_work(client.app.state.sessions) as session:
        who = await registrar(session)
        return await issue_to(session, who, to, quantity, **overrides)
