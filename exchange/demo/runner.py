"""``exchange demo``: a live exchange with something happening in it, for a newcomer to watch.

The server runs in a thread of this process (uvicorn, as ``exchange serve``
runs it); the main thread seeds it through the public HTTP API exactly as
staff, bidders and the bank would, then runs bot bidders until every lot
has closed. Ctrl-C (or SIGTERM) stops both.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import signal
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from types import FrameType

import click
import httpx
import uvicorn

from exchange.demo import registry
from exchange.demo.api import Account, ApiError
from exchange.demo.bots import Pace, Say, Seat, bot, clerk, clock, reviewer, watch
from exchange.demo.plan import LOTS, Lot, listing_body, publicity_seconds
from exchange.demo.seeding import Seeder, register_bidder
from exchange.demo.settling import Follower
from exchange.settings import DEFAULT_PUBLIC_URL, DatabaseSettings, Settings, get_settings

REGISTRATION_LEAD = 3.0
"""Seconds from creating a listing to its registration opening: publication must come first."""
SEEDING = 8.0
"""Seconds (not scaled) a lot's registration stays open beyond its offset, for the seeding itself."""
SEED_CONCURRENCY = 3
"""Lots seeded at once: more makes the embedded SQLite writers wait on each other for seconds."""
BOTS = ("甲", "乙", "丙")


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    time_scale: float = 1.0


@dataclass(frozen=True)
class Logins:
    password: str
    operator: str
    auditor: str
    registrar: str
    bots: tuple[str, ...]
    guest: str


def demo_settings(options: Options, say: Say) -> Settings:
    """The configured settings with the sandbox profile, the demo's database and per-run secrets."""
    settings = get_settings()
    var_dir = (settings.var_dir / "demo").resolve()  # its documents too
    var_dir.mkdir(parents=True, exist_ok=True)
    if options.database_url:
        database = replace(settings.database, url=options.database_url)
    else:
        db_file = var_dir / "demo.db"
        for leftover in var_dir.glob("demo.db*"):  # fresh every run: the database and its -wal/-shm
            leftover.unlink()
        database = DatabaseSettings(url=f"sqlite+aiosqlite:///{db_file}")
    security = settings.security
    if security.secret_is_ephemeral:
        security = replace(security, secret_key=secrets.token_urlsafe(48), secret_is_ephemeral=False)
        say("demo: EXCHANGE_SECRET_KEY is not set: tokens are signed with a key generated for this run")
    if security.bank_secret_is_ephemeral:
        say(
            "demo: EXCHANGE_BANK_SECRET is not set: the demo's bank signs deposit notices with a key "
            "generated for this run"
        )
    documents = settings.documents
    # Unset: the documents' QR codes name this demo; a wildcard address is no address to visit.
    if documents.public_url == DEFAULT_PUBLIC_URL:
        wildcard = options.host in ("0.0.0.0", "::", "")  # noqa: S104
        host = "127.0.0.1" if wildcard else options.host
        documents = replace(documents, public_url=f"http://{host}:{options.port}")
    # Unset: a newcomer's deposit instructions still name a bank and a holder, marked as the demo's.
    if documents.deposit_bank is None:
        documents = replace(documents, deposit_bank="演示银行苏州工业园区支行（沙盒，不接收真实转账）")
    if documents.deposit_account_name is None:
        documents = replace(documents, deposit_account_name="公共资源交易平台保证金专户（演示）")
    return replace(
        settings,
        profile="sandbox",
        database=database,
        security=security,
        var_dir=var_dir,
        documents=documents,
    )


def create_staff(settings: Settings, logins: Logins) -> None:
    """What ``exchange users add --role operator`` (and ``--role auditor``, ``--role registrar``) does."""
    from exchange.db import create_engine, session_factory, unit_of_work
    from exchange.identity import services
    from exchange.identity.passwords import Passwords
    from exchange.identity.tokens import Role

    passwords = Passwords(settings.passwords)

    async def work() -> None:
        engine = create_engine(settings.database)
        try:
            staff: tuple[tuple[Role, str, str], ...] = (
                ("operator", logins.operator, "演示交易中心工作人员"),
                ("auditor", logins.auditor, "演示审计人员"),
                ("registrar", logins.registrar, "太原市生态环境局（演示登记机构）"),
            )
            for role, username, name in staff:
                async with unit_of_work(session_factory(engine)) as session:
                    await services.create_staff(
                        session,
                        passwords=passwords,
                        username=username,
                        password=logins.password,
                        role=role,
                        display_name=name,
                        actor="demo",
                    )
        finally:
            await engine.dispose()

    asyncio.run(work())


STOP_GRACE_SECONDS = 5.0
"""How long Ctrl-C waits for the bots and watchers to finish, and uvicorn for open connections."""
SERVER_STOP_SECONDS = 15.0
"""How long Ctrl-C waits for the server's shutdown (timers, render workers, the database)."""


class ServerThread:
    """uvicorn in a thread of its own, with its own event loop (signals stay with the main thread)."""

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        from exchange.app import create_app

        config = uvicorn.Config(
            create_app(settings),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=round(
                STOP_GRACE_SECONDS
            ),  # a watcher's open socket must not hold Ctrl-C
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="exchange-demo-server", daemon=True)

    def start(self, timeout: float = 60) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise click.ClickException("the demo server did not start (is the port taken?)")
            time.sleep(0.05)

    def stop(self, say: Say) -> None:
        self.server.should_exit = True
        self.thread.join(SERVER_STOP_SECONDS)
        if self.thread.is_alive():  # a daemon thread: the process ends anyway, and says why it waited
            say(f"demo: the server did not shut down within {SERVER_STOP_SECONDS:g} s; leaving it")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _quiet() -> None:
    """Progress lines, not the server's INFO log (the app configures logging when it starts)."""
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # a sweep skipped on a busy laptop is harmless; the next one a second later catches up
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def run(options: Options, say: Say = click.echo) -> None:
    """Serve, seed, bid; returns when interrupted."""
    from exchange.migrate import upgrade

    _quiet()
    settings = demo_settings(options, say)
    tag = "" if options.database_url is None else f"_{secrets.token_hex(2)}"  # a reused database
    logins = Logins(
        password=f"Demo-{secrets.token_hex(4)}-2026",
        operator=f"demo_ops{tag}",
        auditor=f"demo_audit{tag}",
        registrar=f"demo_registrar{tag}",
        bots=tuple(f"demo_bot{i + 1}{tag}" for i in range(len(BOTS))),
        guest=f"demo_guest{tag}",
    )
    url = f"http://{options.host}:{options.port}"
    say(f"demo: database {settings.database.url}, profile sandbox, time scale {options.time_scale:g}")
    upgrade(settings.database.url)
    create_staff(settings, logins)
    say(
        f"demo: created the staff accounts {logins.operator} (operator), {logins.auditor} (auditor) "
        f"and {logins.registrar} (registrar)"
    )
    server = ServerThread(settings, options.host, options.port)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.start()
        _quiet()
        say(f"demo: the exchange is serving on {url}")
        asyncio.run(_live(url, settings.security.bank_secret, logins, options.time_scale, say))
    except KeyboardInterrupt:
        say("demo: stopping")
    except (ApiError, httpx.HTTPError) as exc:
        raise click.ClickException(f"the demo could not go on: {exc}") from exc
    finally:
        server.stop(say)
        signal.signal(signal.SIGTERM, previous)
    say("demo: stopped")


async def _live(url: str, bank_secret: str, logins: Logins, scale: float, say: Say) -> None:
    rng = random.Random()  # noqa: S311 -- bot pacing and budgets, nothing secret
    pace = Pace(scale, rng)
    limits = httpx.Limits(max_connections=50, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits, trust_env=False) as client:
        operator = Account(client, logins.operator, logins.password)
        await operator.login()
        seeder = Seeder(client, operator, bank_secret)
        bots = list(
            await asyncio.gather(
                *(
                    register_bidder(client, name, logins.password, f"演示竞买人{mark}有限公司")
                    for name, mark in zip(logins.bots, BOTS, strict=True)
                )
            )
        )
        guest = await register_bidder(client, logins.guest, logins.password, "演示访客")
        say(f"demo: registered the bidders {', '.join(logins.bots)} (bots) and {logins.guest} (yours)")
        guide_printed = asyncio.Event()
        registrar = Account(client, logins.registrar, logins.password)
        scene = await registry.start(seeder, registrar, bots, guest, url, say, guide_printed)
        gate = asyncio.Semaphore(SEED_CONCURRENCY)

        registration_ends: dict[int, str] = {}

        async def seed(lot: Lot) -> tuple[int, list[Seat]]:
            async with gate:
                return await _seed_lot(lot, seeder, bots, guest, scale, rng, say, registration_ends)

        seeded = await asyncio.gather(*(seed(lot) for lot in LOTS))
        _print_logins(url, logins, seeded, registration_ends, scale, say)
        guide_printed.set()
        seats = [seat for _, seats in seeded for seat in seats]
        watchers = [
            asyncio.create_task(watch(lot, lid, client, pace, say))
            for lot, (lid, _) in zip(LOTS, seeded, strict=True)
        ]
        workers = [asyncio.create_task(bot(seat, client, pace, say)) for seat in seats]
        listing_ids = [lid for lid, _ in seeded]
        workers.append(asyncio.create_task(clerk(seeder, listing_ids, pace, say)))
        workers.append(asyncio.create_task(reviewer(seeder, listing_ids, pace, say)))
        follower = Follower(
            seeder,
            url,
            [(lot, lid) for lot, (lid, _) in zip(LOTS, seeded, strict=True)],
            {lid: {seat.bid_number for seat in lot_seats} for lid, lot_seats in seeded},
            say,
        )
        workers.append(asyncio.create_task(follower.run(max(0.5, 2.0 * scale))))
        if scene is not None:
            workers.append(scene)
        try:
            await asyncio.gather(*watchers)
            say(f"demo: every lot has ended; the exchange keeps serving on {url} until Ctrl-C")
            await asyncio.Event().wait()
        finally:
            tasks = [*watchers, *workers]
            for task in tasks:
                task.cancel()
            # Ctrl-C must stop the demo even if a task outlives its cancellation: name it, go on.
            _, stuck = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
            for task in stuck:
                say(f"demo: {task.get_coro()!r} did not stop within {STOP_GRACE_SECONDS:g} s")


async def _seed_lot(
    lot: Lot,
    seeder: Seeder,
    bots: list[Account],
    guest: Account,
    scale: float,
    rng: random.Random,
    say: Say,
    registration_ends: dict[int, str],
) -> tuple[int, list[Seat]]:
    """Create and publish ``lot``, and qualify its bidders: the bots, and the guest in the guest's lot.
    ``registration_ends`` gets the end of its registration, for the guide."""
    listing = await seeder.listing(
        lambda lead: listing_body(lot, datetime.now(UTC), scale, lead, SEEDING),
        lead=REGISTRATION_LEAD,
        patience=REGISTRATION_LEAD + 30,
    )
    registration_ends[listing.listing_id] = listing.body["schedule"]["registration_closes_at"]
    say(
        f"demo: lot {lot.key} is listing {listing.listing_id}: {lot.title} "
        f"({lot.asset_class}, {lot.method}"
        + (", price cap with a lottery" if "cap_rule" in lot.body else "")
        + f"), bidding opens {clock(listing.body['schedule']['bidding_opens_at'])}"
    )
    budgets = [Decimal(b) for b in lot.budgets]
    rng.shuffle(budgets)
    # one at a time: the embedded SQLite serialises writers anyway, and other lots seed meanwhile
    numbers = await seeder.qualify_all(listing, bots, at_once=1)
    if lot.for_guest:
        await seeder.qualify(listing.listing_id, guest)
    seats = [
        Seat(lot, listing.listing_id, account, number, budget)
        for account, number, budget in zip(bots, numbers, budgets, strict=True)
    ]
    say(f"demo: lot {lot.key}: bidders {', '.join(s.bid_number for s in seats)} qualified")
    return listing.listing_id, seats


def _print_logins(
    url: str,
    logins: Logins,
    seeded: list[tuple[int, list[Seat]]],
    registration_ends: dict[int, str],
    scale: float,
    say: Say,
) -> None:
    lots = [(lot, lid) for lot, (lid, _) in zip(LOTS, seeded, strict=True)]
    guest_lot = next((lot, lid) for lot, lid in lots if lot.for_guest)
    say("")
    say(f"  exchange   {url}   (API: {url}/schema/swagger)")
    say(f"  login      operator  {logins.operator}  {logins.password}")
    say(f"  login      auditor   {logins.auditor}  {logins.password}")
    say(f"  login      registrar {logins.registrar}  {logins.password}   (the registry's authority)")
    for name in logins.bots:
        say(f"  login      bidder    {name}  {logins.password}   (a bot)")
    say(f"  login      bidder    {logins.guest}  {logins.password}   (yours)")
    say(f"  {logins.guest} is qualified in lot {guest_lot[0].key} (listing {guest_lot[1]})")
    for lot, lid in lots:
        if lot.registration_at_least:
            ends = registration_ends[lid]
            minutes = (datetime.fromisoformat(ends) - datetime.now(UTC)).total_seconds() / 60
            say(
                f"  报名       lot {lot.key} (listing {lid}) stays in registration until {clock(ends)} "
                f"(about {minutes:.0f} min): apply at {url}/listings/{lid} as {logins.guest} or as a bidder "
                f"you register at {url}/register; the demo's clerk approves applications to its lots"
            )
    say(
        f"  保证金     pay a deposit yourself: 模拟银行转账 on {url}/me has the bank send it, signed as the "
        'bank signs (sandbox only; API: POST /api/v1/sandbox/bank-transfers {"application_id": N}); '
        "paid in full and approved, the application qualifies"
    )
    say(
        f"  your lots  as {logins.operator}, create and publish listings at {url}/console/listings/new; "
        "approve their applications in the console, and their deposits arrive the same way"
    )
    shown = [(lot, lid) for lot, lid in lots if lot.publicity]
    if shown:
        first_lot, first_id = shown[0]
        say(
            "  公示       after the close "
            + ", ".join(
                f"lot {lot.key}'s result stays on display {publicity_seconds(lot, scale)} s"
                for lot, _ in shown
            )
            + f" (the other lots' are confirmed at once): see {url}/results/{first_id}"
        )
        say(
            "  异议       while it is on display, anyone logged in may file an objection on that result page "
            f"(with reasons and a file); the operator answers it at {url}/console/listings/{first_id}, and "
            f"an unanswered objection holds lot {first_lot.key}'s confirmation"
        )
    say(
        f"  /me        a winner's {url}/me shows each won lot: what to pay, by when, to which account, "
        "paid so far and its documents; the demo's clerk records the land contracts and the bots' payments"
    )
    say("  Ctrl-C stops the demo")
    say("")
