"""The one assembly point: ``create_app()`` builds the exchange from its parts."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from redis.asyncio import Redis

from auctions import store_pg
from auctions.controllers import AuctionController, broadcast
from auctions.feed import auction_feed
from auctions.intake import Intake
from auctions.lane import BidLane
from auctions.ratelimit import BidRateLimiter
from auctions.timing import AuctionClock
from documents.controllers import DocumentController
from documents.issuing import DocumentIssuer
from documents.results import recorded_heads
from documents.results_controllers import ResultController
from documents.transparency_leaves import SOURCES as TRANSPARENCY_SOURCES
from exchange import faults
from exchange.api.audit import AuditController
from exchange.api.health import HealthController
from exchange.api.identity import AuthController, UserController
from exchange.api.keys import KeyController
from exchange.api.metrics import scrape
from exchange.api.transparency import TransparencyController
from exchange.db import create_driver_pool, create_engine, session_factory
from exchange.deps import DEPENDENCIES
from exchange.errors import EXCEPTION_HANDLERS, JSONRequest
from exchange.identity.guards import credentials_middleware
from exchange.identity.passwords import Passwords
from exchange.identity.throttle import LoginThrottle
from exchange.logs import RequestIds
from exchange.openapi import (
    answer_options,
    document_as_served,
    document_problems,
    openapi_config,
    views_as_any_of,
)
from exchange.realtime import create_channels_plugin
from exchange.redis_batch import CommandBatcher
from exchange.scheduling import Timers
from exchange.settings import Settings, get_settings
from exchange.signing import SigningKey, generate_development_key, load_signing_key
from exchange.transparency.sequencer import Sequencer
from exchange.web.pages import for_browsers
from exchange.web.routes import pages_router, static_files, template_config
from listings import calendar_store
from listings.applications_controllers import ApplicationController
from listings.controllers import ListingController
from listings.hooks import ListingHooks
from listings.lifecycle import Lifecycle
from settlement import closing, deposits
from settlement.controllers import AccountController, BankController, RefundController
from settlement.followup import run_day_end
from settlement.notice_controllers import NoticeController
from settlement.objection_controllers import ObjectionController
from settlement.objections import FilingLimiter
from settlement.registry import agreements as registry_agreements
from settlement.registry import expiry as registry_expiry
from settlement.registry import wiring as registry_wiring
from settlement.registry.controllers import REGISTRY_CONTROLLERS
from settlement.sandbox_bank import SandboxBankController
from settlement.settlement_controllers import CollectionController, SettlementController

log = logging.getLogger("exchange")
broadcast_log = logging.getLogger("exchange.broadcast")

DEVELOPMENT_KEY_FILE = "development-signing-key.pem"


def development_signing_key(var_dir: Path) -> SigningKey:
    """The sandbox's signing key, kept in ``var_dir`` (mode 0600): the one stored there, or a new
    one stored there now.

    Were it generated per process, every tree head and bundle signed before a restart (or by
    another instance on the same data) would stop verifying after it. It stays a development key:
    its signatures and ``GET /api/v1/keys`` say ``development: true``, and each start warns.
    """
    path = var_dir / DEVELOPMENT_KEY_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        key = generate_development_key()
        # written whole to a file of its own, then linked into place: of two processes starting
        # at once, one links and the other reads that key, never a half-written file
        draft = var_dir / f".{DEVELOPMENT_KEY_FILE}.{os.getpid()}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key.pem())
        try:
            os.link(draft, path)
            return key
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s may be read by others (mode %o): make it 0600", path, mode)
    return load_signing_key(path.read_text(encoding="ascii"), development=True)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    faults.arm(settings.crash_at)
    engine = create_engine(settings.database)
    redis = Redis.from_url(settings.redis.url) if settings.redis.url else None
    timers = Timers()
    batcher = CommandBatcher(redis) if redis is not None else None
    channels = create_channels_plugin(batcher, settings.redis.prefix)
    sessions = session_factory(engine)
    hooks = ListingHooks()
    deposits.register(hooks)
    registry_wiring.register(hooks)
    lifecycle = Lifecycle(sessions, timers, hooks)

    async def broadcast_events(listing_id: int, events: Sequence[dict[str, Any]]) -> None:
        """After a commit: a failure must not turn a committed bid or close into an error."""
        try:
            await broadcast(channels, listing_id, list(events))
        except Exception:  # Redis away: watchers catch up from the database by seq on reconnect
            log.warning("could not broadcast %d events of auction %s", len(events), listing_id, exc_info=True)
            return
        if events and broadcast_log.isEnabledFor(logging.INFO):
            # with the request id of the bid (or none: a timer's close), so a bid is followed to its events
            first, last = events[0].get("seq"), events[-1].get("seq")
            broadcast_log.info(
                "broadcast %d events of auction %s: seq %s-%s",
                len(events),
                listing_id,
                first,
                last,
                extra={"listing_id": listing_id, "seq_first": first, "seq_last": last},
            )

    clock = AuctionClock(
        sessions,
        timers,
        broadcast_events,
        hooks.deposit_paid,
        on_closed=partial(closing.settle_listing, sessions, settings.settlement),
    )
    hooks.on_bidding_open.append(clock.on_bidding_open)
    hooks.on_cancelled.append(clock.on_cancelled)
    hooks.on_suspended.append(clock.on_suspended)
    hooks.on_resumed.append(clock.on_resumed)
    hooks.lock_auction.append(clock.lock_auction)
    hooks.on_qualified.append(clock.on_qualified)
    limiter = BidRateLimiter(batcher, settings.redis.prefix, settings.bid_rate_per_second)
    intake = Intake(sessions, limiter, broadcast_events, clock)
    document_issuer = DocumentIssuer(sessions, timers, settings.documents)
    # without a configured key, the development key kept in var_dir: a restart keeps verifying
    signing_key = settings.security.signing_key or development_signing_key(settings.var_dir)
    # the transparency log: closes, documents and registry days, appended and signed at its interval
    sequencer = Sequencer(sessions, signing_key, TRANSPARENCY_SOURCES, settings.tree_head_seconds)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if settings.security.secret_is_ephemeral:
            log.warning("EXCHANGE_SECRET_KEY is not set: tokens are signed with a random per-process key")
        if signing_key.development:
            log.warning(
                "EXCHANGE_SIGNING_KEY is not set: signing with a development key: signatures prove "
                "nothing (kid %s, kept in %s)",
                signing_key.kid,
                settings.var_dir / DEVELOPMENT_KEY_FILE,
            )
        intake.pool = await create_driver_pool(settings.database, store_pg.prepare)
        await calendar_store.refresh(sessions)  # before anything counts working days
        timers.start()
        timers.every("calendar:refresh", calendar_store.REFRESH_SECONDS, calendar_store.refresh, sessions)
        await lifecycle.start()
        await clock.start()
        await closing.settle_pending(sessions, settings.settlement)  # closes a crash left unsettled
        timers.every("settlement:sweep", 2.0, closing.sweep, sessions, settings.settlement)
        timers.daily_shanghai("settlement:day_end", 0, 5, run_day_end, sessions)  # late fees, reminders
        timers.daily_shanghai("registry:expiry", 0, 1, registry_expiry.run_expiry, sessions)
        timers.every("registry:agreements", 2.0, registry_agreements.confirm_each, sessions)
        if settings.issue_documents:
            document_issuer.start()
        sequencer.start(timers)
        try:
            yield
        finally:
            timers.shutdown()
            await clock.aclose()
            await document_issuer.aclose()
            if intake.pool is not None:
                await intake.pool.close()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()

    app = Litestar(
        route_handlers=[
            HealthController,
            scrape,
            AuthController,
            UserController,
            AuditController,
            ListingController,
            ApplicationController,
            BankController,
            AccountController,
            RefundController,
            SandboxBankController,
            SettlementController,
            CollectionController,
            NoticeController,
            ObjectionController,
            AuctionController,
            auction_feed,
            DocumentController,
            ResultController,
            KeyController,
            TransparencyController,
            *REGISTRY_CONTROLLERS,
            static_files(),
            pages_router(),
        ],
        template_config=template_config(),
        dependencies=DEPENDENCIES,
        exception_handlers=for_browsers(EXCEPTION_HANDLERS),
        request_class=JSONRequest,
        plugins=[channels],
        middleware=[credentials_middleware],
        lifespan=[lifespan],
        openapi_config=openapi_config(),
        on_startup=[document_problems, views_as_any_of, document_as_served],
        before_request=answer_options,
        cors_config=CORSConfig(allow_origins=[]),
        state=State(
            {
                "settings": settings,
                "engine": engine,
                "sessions": sessions,
                "redis": redis,
                "timers": timers,
                "channels": channels,
                "lifecycle": lifecycle,
                "listing_hooks": hooks,
                "auction_clock": clock,
                "bid_limiter": limiter,
                "bid_intake": intake,
                "login_throttle": LoginThrottle(batcher, settings.redis.prefix),
                "objection_limiter": FilingLimiter(batcher, settings.redis.prefix),
                "passwords": Passwords(settings.passwords),
                "document_issuer": document_issuer,
                "recorded_heads": recorded_heads,  # for the audit verification (exchange.audit)
                "signing_key": signing_key,  # result bundles, GET /api/v1/keys
                "transparency_sequencer": sequencer,  # tests run a round without waiting for it
            }
        ),
        debug=False,
        # the process's logging is set up once, by the command (exchange.logs): Litestar's own
        # set-up would replace the root logger's handler with its own format at every create_app
        logging_config=None,
    )
    # outermost, so the bid lane's answers carry the request id too
    app.asgi_handler = RequestIds(BidLane(app.asgi_handler, intake, settings.security.secret_key))
    return app
