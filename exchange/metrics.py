"""The numbers to watch the exchange by, served at ``GET /metrics`` in Prometheus' text format.

One registry per process (``REGISTRY``), not prometheus-client's global one, so that tests
and several apps in one process do not collide on names; every instance behind the proxy is
scraped on its own. Latencies are in seconds, as Prometheus' conventions ask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    import asyncpg
    from sqlalchemy.ext.asyncio import AsyncEngine

REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)

BIDS = Counter(
    "exchange_bids",
    "Bids answered, by outcome (accepted, replayed: an Idempotency-Key's repeat, rejected) and problem "
    "code (empty unless rejected).",
    ["outcome", "code"],
    registry=REGISTRY,
)
BID_SECONDS = Histogram(
    "exchange_bid_seconds",
    "Time from a bid's arrival at the intake (the lane's or the route's) to its answer, as the server "
    "sees it.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "exchange_rate_limited",
    "Requests refused by a rate limit, by limit.",
    ["limit"],
    registry=REGISTRY,
)
WATCHERS = Gauge(
    "exchange_feed_watchers",
    "Open live-feed sockets on this instance, by audience (bidder: every event; public: conflated).",
    ["audience"],
    registry=REGISTRY,
)
FANOUT_LAG = Histogram(
    "exchange_feed_lag_seconds",
    "Time from an event's commit to its send on a feed socket (sampled per frame).",
    ["audience"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SLOW_CONSUMERS = Counter(
    "exchange_feed_slow_consumers",
    "Feed sockets closed with 1013 because they could not keep up.",
    registry=REGISTRY,
)
TIMER_LATENESS = Histogram(
    "exchange_close_lateness_seconds",
    "Commit time of an auction's close minus its deadline.",
    buckets=LATENESS_BUCKETS,
    registry=REGISTRY,
)
DOCUMENT_QUEUE = Gauge(
    "exchange_document_queue_depth",
    "Documents waiting to be rendered on this instance.",
    registry=REGISTRY,
)
DB_POOL_IN_USE = Gauge(
    "exchange_db_pool_connections",
    "Database connections checked out of this instance's pools, by pool.",
    ["pool"],
    registry=REGISTRY,
)

# Children made once: ``labels()`` takes a lock and a dict lookup, the bid path need not.
_ACCEPTED = BIDS.labels(outcome="accepted", code="")
_REPLAYED = BIDS.labels(outcome="replayed", code="")
_REJECTED: dict[str, Counter] = {}
for _limit in ("bid", "login", "objection"):  # every series from the start, so rate() sees the first hit
    RATE_LIMITED.labels(limit=_limit)


def bid_accepted(seconds: float, *, replayed: bool = False) -> None:
    """A bid answered 201 (or 200, the replay of an Idempotency-Key, counted apart: it places nothing)."""
    (_REPLAYED if replayed else _ACCEPTED).inc()
    BID_SECONDS.observe(seconds)


def bid_rejected(seconds: float, code: str) -> None:
    """A bid answered with a problem: ``code`` is its stable problem code (``bid_below_minimum``, ...)."""
    counter = _REJECTED.get(code)
    if counter is None:  # the codes are the catalogue's (exchange.messages): a bounded set
        counter = _REJECTED[code] = BIDS.labels(outcome="rejected", code=code)
    counter.inc()
    BID_SECONDS.observe(seconds)


def observe_pools(engine: AsyncEngine, driver_pool: asyncpg.Pool | None) -> None:
    """Read the connections in use now, at the scrape: the ORM's pool (a queue pool only; SQLite
    and ``EXCHANGE_DATABASE_NULL_POOL`` open a connection per use and keep no count) and the bid
    path's asyncpg pool (PostgreSQL only)."""
    checkedout = getattr(engine.pool, "checkedout", None)
    if callable(checkedout):
        DB_POOL_IN_USE.labels(pool="orm").set(checkedout())
    if driver_pool is not None:
        DB_POOL_IN_USE.labels(pool="bids").set(driver_pool.get_size() - driver_pool.get_idle_size())
