"""The two bid stores are one algorithm: generated scripts through both give the same answers and rows.

In the spirit of exchange-core's comparison of its two order books. Hypothesis
writes scripts of bids (valid, invalid, replays, a used key with another body,
unqualified callers), clock steps, timer firings, suspensions and the close with
its settlement; each script runs on three fresh exchanges at the same instants
(``exchange.clock.fixed``) with the same random draws:

- PostgreSQL through the intake as production runs it: the asyncpg store
  (``auctions.store_pg``), handing what it does not write to the general store;
- PostgreSQL through the general store (``auctions.store_orm``) only;
- SQLite, the embedded default, through the general store.

Every answer (status, code, body) must be the same on all three, and at the end
so must the listing's auction row, event log, bids, audit chain (hash for hash)
and settlement. The only thing allowed to differ is ``bids.id``, a surrogate key
that the asyncpg store draws before it knows whether the bid is accepted: an
answer's ``bid_id`` is checked to name the bid with the answer's ``seq`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from auctions import store_pg
from auctions.intake import BidIn, Intake
from auctions.mechanisms import mechanism_for, state_from_json
from auctions.models import Auction, AuctionEvent, BidRow
from auctions.ratelimit import BidRateLimiter
from auctions.terms import params_of
from auctions.timing import AuctionClock
from exchange.audit.models import AuditEntry
from exchange.clock import fixed
from exchange.db import create_driver_pool, create_engine, session_factory, unit_of_work
from exchange.errors import ExchangeError, error_document
from exchange.identity.models import User
from exchange.identity.tokens import Principal
from exchange.migrate import upgrade
from exchange.money import format_yuan
from exchange.scheduling import Timers
from exchange.settings import DatabaseSettings, SettlementSettings
from listings import applications
from listings import services as listing_services
from listings.hooks import ListingHooks
from listings.lifecycle import Lifecycle
from listings.models import Listing
from listings.schemas import ListingCreate
from settlement import closing, deposits
from settlement.bank import NoticeIn, receive
from settlement.settlement_models import Settlement, SettlementLine
from tests.conftest import ADMIN_URL, _pg_url
from tests.support.ids import credit_code
from tests.support.listings import listing_body, sandbox_schedule

T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
EXAMPLES = int(os.environ.get("EXCHANGE_DIFF_EXAMPLES", "5"))
"""Scripts per kind of auction (``make test``); raise it for a longer search."""
QUALIFIED = 3
"""Bidders 0-2 are qualified; bidder 3 is registered but never applies."""

KINDS = {
    "english": ("land_use_right", "english", {}),
    "listing": ("land_use_right", "listing", {}),
    "sealed_bid": ("land_use_right", "sealed_bid", {}),
    "dutch": ("land_use_right", "dutch", {}),
    "uniform_price": ("emission_right", "uniform_price", {}),
    "cap_lottery": (
        "land_use_right",
        "english",
        {"price_cap": "1200000.00", "cap_rule": "lottery", "lottery_window_seconds": 10},
    ),
    "listing_cap_lottery": (
        "land_use_right",
        "listing",
        {"price_cap": "1200000.00", "cap_rule": "lottery", "lottery_window_seconds": 10},
    ),
}


# ---- three exchanges ---------------------------------------------------------------------------


@dataclass
class Exchange:
    name: str
    url: str
    general_only: bool
    sessions: Any = None
    pool: asyncpg.Pool | None = None
    intake: Intake = field(init=False)
    clock: AuctionClock = field(init=False)
    hooks: ListingHooks = field(init=False)
    lifecycle: Lifecycle = field(init=False)
    timers: Timers = field(default_factory=Timers)  # never started: the script fires the timers

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Exchange]:
        engine = create_engine(DatabaseSettings(url=self.url, null_pool=True))
        self.sessions = session_factory(engine)
        if not self.general_only:
            self.pool = await create_driver_pool(DatabaseSettings(url=self.url), store_pg.prepare)
        self.hooks = ListingHooks()
        deposits.register(self.hooks)
        self.clock = AuctionClock(
            self.sessions,
            self.timers,
            _nothing,
            self.hooks.deposit_paid,
            on_closed=partial(closing.settle_listing, self.sessions, SettlementSettings()),
        )
        self.hooks.on_bidding_open.append(self.clock.on_bidding_open)
        self.hooks.on_suspended.append(self.clock.on_suspended)
        self.hooks.on_resumed.append(self.clock.on_resumed)
        self.hooks.on_cancelled.append(self.clock.on_cancelled)
        self.lifecycle = Lifecycle(self.sessions, self.timers, self.hooks)
        self.intake = Intake(self.sessions, BidRateLimiter(None, self.name, 10**6), _nothing, self.clock)
        self.intake.pool = self.pool
        try:
            yield self
        finally:
            if self.pool is not None:
                await self.pool.close()
            await engine.dispose()


async def _nothing(*_: Any) -> None:
    """Publishing to watchers is not what is compared."""


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[str, str, bool]]]:
    names = [f"exchange_diff_{kind}_{secrets.token_hex(3)}" for kind in ("fast", "general")]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    for name in names:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    shm = Path("/dev/shm")  # noqa: S108 (a fresh directory of our own in memory: SQLite's fsyncs are the cost)
    folder = Path(tempfile_dir(shm)) if shm.is_dir() else tmp_path_factory.mktemp("diff")
    urls = [
        ("postgresql+asyncpg", _pg_url(names[0]), False),
        ("postgresql+orm", _pg_url(names[1]), True),
        ("sqlite", f"sqlite+aiosqlite:///{folder / 'diff.db'}", True),
    ]
    for _, url, _ in urls:
        upgrade(url)
    yield urls
    for name in names:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def tempfile_dir(root: Path) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="exchange-diff-", dir=root)


# ---- the same random draws everywhere ------------------------------------------------------------


@contextlib.contextmanager
def draws(seed: str) -> Iterator[None]:
    """The ``secrets`` functions the exchange draws ids, seeds and bid numbers from, made
    repeatable for this block: every exchange of the comparison draws the same values."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    replaced = {
        "token_bytes": lambda n=32: rng.randbytes(n),
        "token_hex": lambda n=32: rng.randbytes(n).hex(),
        "randbelow": rng.randrange,
        "randbits": rng.getrandbits,
    }
    saved = {name: getattr(secrets, name) for name in replaced}
    for name, function in replaced.items():
        setattr(secrets, name, function)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(secrets, name, function)


@contextlib.contextmanager
def at(instant: datetime, seed: str) -> Iterator[None]:
    with fixed(instant), draws(seed):
        yield


# ---- seeding -------------------------------------------------------------------------------------


async def seed(ex: Exchange, kind: str, example: str) -> tuple[int, Principal, list[Principal]]:
    """A listing in bidding with three qualified bidders and one who never applied."""
    asset_class, method, extra = KINDS[kind]
    schedule = sandbox_schedule(
        T0, registration=1, registration_closes=10, bidding=20, closes=80, extension=5
    )
    body = listing_body(asset_class, method, schedule=schedule, **extra)
    with at(T0, f"{example}:seed"):
        async with unit_of_work(ex.sessions) as session:
            users = [
                User(
                    username=f"{example}_{i}",
                    password_hash="-",
                    role="operator" if i == 0 else "bidder",
                    kind="staff" if i == 0 else "enterprise",
                    display_name=f"竞买人{i}",
                    credit_code=None if i == 0 else credit_code(),
                    active=True,
                    created_at=T0,
                )
                for i in range(QUALIFIED + 2)
            ]
            session.add_all(users)
            await session.flush()
            people = [
                Principal(u.id, u.username, "operator" if i == 0 else "bidder") for i, u in enumerate(users)
            ]
        operator, bidders = people[0], people[1:]
        async with ex.sessions() as session:
            data = msgspec.json.decode(msgspec.json.encode(body), type=ListingCreate)
            listing = await listing_services.create_listing(session, data, operator)
            listing_id = listing.id
        async with ex.sessions() as session:
            await listing_services.publish(session, listing_id, operator, "sandbox")
    with at(T0 + timedelta(seconds=1), f"{example}:registration"):
        assert await ex.lifecycle.advance(listing_id) == "registration"
    with at(T0 + timedelta(seconds=2), f"{example}:apply"):
        for i, bidder in enumerate(bidders[:QUALIFIED]):
            async with ex.sessions() as session:
                application, _ = await applications.apply(session, listing_id, bidder)
            async with ex.sessions() as session:
                await applications.decide(session, application.id, True, None, operator, ex.hooks)
            notice = NoticeIn(
                f"T{example}-{i}",
                application.deposit_account,
                format_yuan(application.deposit_due),
                T0 + timedelta(seconds=2),
            )
            async with ex.sessions() as session:
                result = await receive(session, msgspec.json.encode(notice), notice, ex.hooks)
                assert result.outcome == "deposit", result
    with at(T0 + timedelta(seconds=20), f"{example}:open"):
        assert await ex.lifecycle.advance(listing_id) == "bidding"
    return listing_id, operator, bidders


# ---- the script ------------------------------------------------------------------------------------


@dataclass
class Run:
    """The script's memory: the time, the keys used so far with their bodies."""

    now: datetime = T0 + timedelta(seconds=20)
    keys: list[tuple[int, str, str, str | None]] = field(default_factory=list)
    """(bidder, key, amount, quantity) of every bid sent."""
    step: int = 0


async def _reference_view(ex: Exchange, listing_id: int, now: datetime) -> dict[str, Any]:
    async with ex.sessions() as session:
        auction = await session.get(Auction, listing_id)
        listing = await session.get(Listing, listing_id)
        assert auction is not None and listing is not None
        params = params_of(listing)
    return mechanism_for(params.method).view(params, state_from_json(auction.state), now) | {
        "params": params,
        "asset_class": listing.asset_class,
    }


def _amount(view: dict[str, Any], choice: str, k: int) -> int:
    params = view["params"]
    floor = view.get("next_min_bid") or view.get("current_price") or params.start_price
    return {
        "min": floor,
        "above": floor + k * params.increment,
        "below": floor - params.increment,
        "off_grid": floor + 1,
        "start": params.start_price,
        "cap": params.price_cap or floor + 50 * params.increment,
        "huge": floor + 10_000 * params.increment,
    }[choice]


def _quantity(view: dict[str, Any], choice: str) -> str | None:
    params = view["params"]
    if params.method != "uniform_price":
        return None
    scale = 1000 if view["asset_class"] == "emission_right" else 1
    lots = {
        "one": 1,
        "two": 2,
        "half": (params.quantity or 0) // params.lot // 2,
        "all": (params.quantity or 0) // params.lot,
    }
    if choice == "none":
        return None
    if choice == "off_lot":
        return f"{(params.lot + 1) / scale:.3f}"
    return f"{lots[choice] * params.lot / scale:.3f}"


step_kinds = st.sampled_from(["bid"] * 6 + ["advance", "advance", "fire", "suspend", "resume"])


async def answer(ex: Exchange, bidder: Principal, listing_id: int, body: BidIn, key: str) -> tuple[Any, ...]:
    """What the API would answer: status and body; ``bid_id`` replaced by the seq of the bid it names."""
    try:
        view, status = await ex.intake.bid(bidder, listing_id, body, key)
    except ExchangeError as exc:
        return (exc.status, error_document(exc, "/bid"))
    document = msgspec.to_builtins(view)
    if "seq" in document:
        async with ex.sessions() as session:
            seq = await session.scalar(select(BidRow.seq).where(BidRow.id == document["bid_id"]))
        assert seq == document["seq"], (ex.name, document)
        document["bid_id"] = "the bid with this seq"
    return (status, document)


async def act(ex: Exchange, listing_id: int, operator: Principal, kind: str) -> tuple[Any, ...]:
    """A timer firing or an operator's suspension or resumption, as each exchange answers it."""
    try:
        if kind == "fire":
            await ex.clock.fire(listing_id)
            return ("fired",)
        async with ex.sessions() as session:
            if kind == "suspend":
                await listing_services.suspend(session, listing_id, "核查", operator, ex.hooks)
            else:
                await listing_services.resume(session, listing_id, None, operator, "sandbox", ex.hooks)
        return (kind, "ok")
    except ExchangeError as exc:
        return (kind, exc.status, exc.code)


async def rows(ex: Exchange, listing_id: int) -> dict[str, Any]:
    """Everything the listing's bids and close stored, surrogate ids left out."""
    async with ex.sessions() as session:
        auction = await session.get(Auction, listing_id)
        assert auction is not None
        events = (
            await session.execute(
                select(AuctionEvent).where(AuctionEvent.listing_id == listing_id).order_by(AuctionEvent.seq)
            )
        ).scalars()
        bids = (
            await session.execute(select(BidRow).where(BidRow.listing_id == listing_id).order_by(BidRow.seq))
        ).scalars()
        audit = (
            await session.execute(
                select(AuditEntry)
                .where(AuditEntry.stream == f"listing:{listing_id}")
                .order_by(AuditEntry.seq)
            )
        ).scalars()
        settlement = await session.get(Settlement, listing_id)
        lines = (
            await session.execute(
                select(SettlementLine)
                .where(SettlementLine.listing_id == listing_id)
                .order_by(SettlementLine.bid_number)
            )
        ).scalars()
        listing = await session.get(Listing, listing_id)
        assert listing is not None
        return {
            "listing": (listing.status, listing.bidding_opens_at, listing.bidding_closes_at),
            "auction": (
                auction.status,
                auction.phase,
                auction.state,
                auction.ends_at,
                auction.last_seq,
                auction.bid_count,
                auction.outcome,
                auction.closed_at,
                auction.close_head,
            ),
            "events": [(e.seq, e.kind, e.data, e.public, e.at) for e in events],
            "bids": [
                (
                    b.seq,
                    b.bidder_id,
                    b.bid_number,
                    b.amount,
                    b.quantity,
                    b.phase,
                    b.accepted_at,
                    b.idempotency_key,
                    b.body_sha256,
                )
                for b in bids
            ],
            "audit": [(e.seq, e.actor, e.action, e.payload, e.at, e.prev_hash, e.hash) for e in audit],
            "settlement": None
            if settlement is None
            else (settlement.status, settlement.outcome, settlement.price, settlement.reason),
            "lines": [
                (
                    line.bid_number,
                    line.quantity,
                    line.price,
                    line.deposit_applied,
                    line.fee,
                    line.amount_due,
                    line.status,
                )
                for line in lines
            ],
        }


async def compare(exchanges: list[Exchange], data: st.DataObject, kind: str) -> None:
    example = secrets.token_hex(4)  # the users' names; the draws of the script come from Hypothesis
    seeded = [await seed(ex, kind, example) for ex in exchanges]
    listing_id = seeded[0][0]
    assert all(s[0] == listing_id for s in seeded), [s[0] for s in seeded]
    run = Run()
    steps = data.draw(st.lists(step_kinds, min_size=3, max_size=14), label="steps")
    steps += ["close", "fire", "replays"]
    for step in steps:
        run.step += 1
        seed_text = f"{example}:{run.step}"
        if step == "advance":
            run.now += timedelta(seconds=data.draw(st.sampled_from([0.5, 2, 4, 6, 15, 40]), label="seconds"))
            continue
        if step == "close":
            run.now += timedelta(seconds=600)
            continue
        if step in ("fire", "suspend", "resume"):
            with at(run.now, seed_text):
                answers = [
                    await act(ex, listing_id, s[1], step) for ex, s in zip(exchanges, seeded, strict=True)
                ]
            assert answers[1:] == answers[:-1], (step, answers)
            continue
        sends = []
        if step == "replays":
            sends = [(bidder, key, amount, quantity) for bidder, key, amount, quantity in run.keys]
        else:
            with at(run.now, seed_text):
                view = await _reference_view(exchanges[1], listing_id, run.now)
            who = data.draw(st.integers(0, QUALIFIED), label="bidder")
            choice = data.draw(
                st.sampled_from(["min", "min", "above", "below", "off_grid", "start", "cap", "huge"]),
                label="amount",
            )
            amount = format_yuan(max(1, _amount(view, choice, data.draw(st.integers(1, 5), label="k"))))
            quantity = _quantity(
                view,
                data.draw(st.sampled_from(["one", "two", "half", "all", "off_lot", "none"]), label="qty"),
            )
            mine = [k for k in run.keys if k[0] == who]
            reuse = (
                data.draw(st.sampled_from(["new", "new", "same", "other"]), label="key") if mine else "new"
            )
            if reuse == "same":
                sends = [data.draw(st.sampled_from(mine), label="earlier")]
            else:
                key = (
                    f"k{run.step}" if reuse == "new" else data.draw(st.sampled_from(mine), label="earlier")[1]
                )
                sends = [(who, key, amount, quantity)]
                if reuse == "new":
                    run.keys.append(sends[0])
        for who, key, amount, quantity in sends:
            # a bidder's nonce, the same for every send under one key; now and then none
            nonce = None if sum(map(ord, key)) % 4 == 0 else f"nonce-{who}-{key}".ljust(16, "0")
            body = BidIn(amount=amount, quantity=quantity, nonce=nonce)
            with at(run.now, seed_text):
                answers = [
                    await answer(ex, s[2][who], listing_id, body, key)
                    for ex, s in zip(exchanges, seeded, strict=True)
                ]
            assert answers[1:] == answers[:-1], (step, who, key, amount, quantity, answers)
    stored = [await rows(ex, listing_id) for ex in exchanges]
    for part in stored[0]:
        for other in stored[1:]:
            if other[part] != stored[0][part]:
                raise AssertionError(f"{part} differs: {_difference(stored[0][part], other[part])}")


def _difference(one: Any, other: Any) -> str:
    if isinstance(one, list) and isinstance(other, list):
        for i, (a, b) in enumerate(zip(one, other, strict=False)):
            if a != b:
                return f"item {i}: {a!r} != {b!r}"
        return f"lengths {len(one)} != {len(other)}"
    return f"{one!r} != {other!r}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_both_stores_answer_and_store_every_script_alike(
    databases: list[tuple[str, str, bool]], kind: str
) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def scripts(data: st.DataObject) -> None:
        async def run() -> None:
            exchanges = [Exchange(name, url, general_only) for name, url, general_only in databases]
            async with contextlib.AsyncExitStack() as stack:
                for ex in exchanges:
                    await stack.enter_async_context(ex.running())
                await compare(exchanges, data, kind)

        asyncio.run(run())

    scripts()
