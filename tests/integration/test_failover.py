"""Three instances behind nginx; the one taking the lot's bids is killed with SIGKILL mid-auction.

Everything goes through the proxy (deploy/nginx.conf, rendered by tests/support/cluster.py):
seeding, watchers on the live feed, bidders. Bids of one lot are hashed to one instance; once the
lot's first bids have been taken, that instance is found in nginx's access log and killed. Then:
every bid acknowledged (201, or 200 for a retry whose first answer was lost) is in the bid record
with its amount; every watcher, cut off or not, reconnects through the proxy with ``after_seq`` and
has seen the events 1..last exactly once each; the lot closes once, not before its deadline, and
its result is published once. The failover's timings go to test-artifacts/failover.json for
bench/README.md (section 8) (measured here, never asserted on).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.support.cluster import Cluster
from tests.support.live import close_record, seed

pytestmark = pytest.mark.slow

ARTIFACT = Path(os.environ.get("EXCHANGE_TEST_ARTIFACTS", "test-artifacts")) / "failover.json"
BIDDERS = 4
WATCHERS = 6
"""Two per instance: nginx spreads the feed's sockets by least connections."""
BIDDING_SECONDS = 10.0
"""From bidding's opening to its deadline, unless a late bid extends it (by 2 s)."""
KILL_AFTER = 3.0
"""Seconds of bidding before the instance taking the lot's bids is killed."""
STOP_BIDDING_AFTER = 7.0
"""The bidders stop before the soft-close window, so the lot closes at its deadline."""
RETRY_FOR = 15.0
"""How long a client sends one bid again (same Idempotency-Key) while the proxy answers 502."""


@dataclass
class Bids:
    acked: list[dict[str, Any]] = field(default_factory=list)
    """201: placed by this request."""
    replayed: list[dict[str, Any]] = field(default_factory=list)
    """200 to a retry: an earlier attempt with the same key had placed it."""
    statuses: Counter[int] = field(default_factory=Counter)
    failed_at: list[float] = field(default_factory=list)
    """Monotonic times of the attempts that got 502-504 or no answer (the instance died under them)."""
    answered_at: list[float] = field(default_factory=list)
    retried_keys: int = 0
    deadlines: set[str] = field(default_factory=set)
    """Every ``ends_at`` the bidders were told, in views and acknowledgements."""


@dataclass
class Watcher:
    events: list[dict[str, Any]] = field(default_factory=list)
    disconnects: int = 0
    reconnect_seconds: list[float] = field(default_factory=list)
    closed_seen_at: float | None = None
    """Wall-clock time the ``closed`` event arrived."""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, size=3)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


async def _send_bid(
    client: httpx.AsyncClient, listing_id: int, headers: dict[str, str], amount: str, bids: Bids
) -> None:
    """One bid, sent again with its key while the proxy has no answer from an instance."""
    key = secrets.token_hex(12)
    give_up = time.monotonic() + RETRY_FOR
    attempts = 0
    while True:
        attempts += 1
        try:
            response = await client.post(
                f"/api/v1/auctions/{listing_id}/bids",
                json={"amount": amount},
                headers={**headers, "Idempotency-Key": key},
            )
        except httpx.TransportError:
            response = None
        if response is None or response.status_code in (502, 503, 504):
            bids.failed_at.append(time.monotonic())
            assert time.monotonic() < give_up, f"bid {key} unanswered for {RETRY_FOR:g} s"
            await asyncio.sleep(0.05)
            continue
        bids.answered_at.append(time.monotonic())
        bids.statuses[response.status_code] += 1
        bids.retried_keys += attempts > 1
        if response.status_code in (200, 201):
            assert response.status_code == 201 or attempts > 1, "a fresh key cannot replay a bid"
            (bids.acked if response.status_code == 201 else bids.replayed).append(response.json())
            bids.deadlines.add(response.json()["ends_at"])
        return


async def _bidder(
    client: httpx.AsyncClient, listing_id: int, headers: dict[str, str], bids: Bids, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            answer = await client.get(f"/api/v1/auctions/{listing_id}")
            view = answer.json()
        except (httpx.TransportError, ValueError):  # ValueError: nginx's 502 page is not JSON
            await asyncio.sleep(0.05)
            continue
        if view.get("status") != "open":
            return
        bids.deadlines.add(view["ends_at"])
        await _send_bid(client, listing_id, headers, view["next_min_bid"], bids)
        await asyncio.sleep(0.15)


async def _watch(base: str, listing_id: int, watcher: Watcher, patience: float) -> None:
    """Follow the feed to the close, reconnecting through the proxy from the last ``seq`` seen."""
    give_up = time.monotonic() + patience
    lost_at: float | None = None
    tries = 0
    while time.monotonic() < give_up:
        after = watcher.events[-1]["seq"] if watcher.events else 0
        url = f"{base}/api/v1/auctions/{listing_id}/feed?after_seq={after}"
        try:
            async with websockets.connect(url, open_timeout=5) as socket:
                if lost_at is not None:
                    watcher.reconnect_seconds.append(time.monotonic() - lost_at)
                    lost_at, tries = None, 0
                async for raw in socket:
                    event = json.loads(raw)
                    if event["kind"] == "heartbeat":
                        continue
                    watcher.events.append(event)
                    if event["kind"] in ("closed", "failed"):
                        watcher.closed_seen_at = time.time()
                        return
        except (websockets.ConnectionClosed, websockets.InvalidHandshake, OSError, TimeoutError):
            pass
        if lost_at is None:
            lost_at = time.monotonic()
            watcher.disconnects += 1
        tries += 1
        await asyncio.sleep(0 if tries == 1 else 0.1)  # at once, then a pause between tries
    raise AssertionError(f"a watcher never saw the close; it saw {[e['seq'] for e in watcher.events]}")


def _bid_upstreams(cluster: Cluster, listing_id: int) -> list[str]:
    """The instance (``127.0.0.1:PORT``) that answered each bid of the lot, in the proxy's order."""
    path = f"/api/v1/auctions/{listing_id}/bids"
    return [
        line["upstream"].split(", ")[-1]
        for line in cluster.proxy.requests()
        if line["method"] == "POST" and line["uri"] == path and line["status"] < 500
    ]


async def test_kill_9_behind_nginx_loses_nothing(cluster: Cluster) -> None:
    base = cluster.url
    listing_id, heads = seed(base, cluster.env, cluster.folder, BIDDERS, BIDDING_SECONDS)
    ws_base = base.replace("http://", "ws://")
    watchers = [Watcher() for _ in range(WATCHERS)]
    watching = [
        asyncio.create_task(_watch(ws_base, listing_id, w, patience=BIDDING_SECONDS + 30)) for w in watchers
    ]
    bids = Bids()
    stop = asyncio.Event()
    started = time.monotonic()
    bidding: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(base_url=base, timeout=10, trust_env=False) as client:
        try:
            bidding += [asyncio.create_task(_bidder(client, listing_id, h, bids, stop)) for h in heads]
            await asyncio.sleep(KILL_AFTER)
            before = _bid_upstreams(cluster, listing_id)
            assert before, "no bid was answered before the kill"
            assert len(set(before)) == 1, f"one lot's bids went to several live instances: {Counter(before)}"
            victim = cluster.instance_at(before[-1])
            # every bidder at once, so that the instance dies with bids in its hands: some committed
            # and unanswered (their retry gets 200), some never decided (their retry decides them)
            amount = (await client.get(f"/api/v1/auctions/{listing_id}")).json()["next_min_bid"]
            burst = [asyncio.create_task(_send_bid(client, listing_id, h, amount, bids)) for h in heads]
            await asyncio.sleep(0.005)
            killed_at = time.monotonic()
            victim.kill()
            bidding.extend(burst)
            await asyncio.sleep(max(0.0, STOP_BIDDING_AFTER - (time.monotonic() - started)))
            stop.set()
            await asyncio.gather(*bidding)
            await asyncio.gather(*watching)

            answer = await client.get(f"/api/v1/auctions/{listing_id}")
            view = answer.json()
            history = (await client.get(f"/api/v1/auctions/{listing_id}/bids")).json()
            result = await client.get(f"/api/v1/results/{listing_id}")
            listed = (await client.get("/api/v1/results", params={"page_size": 100})).json()
            metrics = await client.get("/metrics")
        finally:  # a failed step leaves no task behind to outlive the cluster
            for task in bidding + watching:
                task.cancel()

    # no acknowledged bid lost
    acknowledged = bids.acked + bids.replayed
    assert len(bids.acked) >= 5, f"too few bids got in to tell anything: {bids.statuses}"
    recorded = {b["seq"]: b["amount"] for b in history}
    for bid in acknowledged:
        assert recorded.get(bid["seq"]) == bid["amount"], f"acknowledged bid {bid} is not in the record"
    after = _bid_upstreams(cluster, listing_id)[len(before) :]
    survivors = {a for a in after if a != before[-1]}
    assert len(survivors) <= 1, f"after the kill the lot's bids went to several instances: {Counter(after)}"

    # one close, at or after the deadline (the latest anyone was told), published once
    told = bids.deadlines | {e["ends_at"] for w in watchers for e in w.events if e.get("ends_at")}
    deadline = max(datetime.fromisoformat(at) for at in told)
    assert view["status"] == "closed", view
    closes, seqs, audited = await close_record(cluster.database_url, listing_id)
    assert closes == 1 and audited == 1, f"{closes} close events, {audited} closing audit entries"
    assert seqs == list(range(1, view["last_seq"] + 1))
    assert result.status_code == 200, result.text
    assert result.json()["outcome"] == "sold"
    assert result.json()["price"] == history[-1]["amount"] == view["current_price"]
    assert [r["listing_id"] for r in listed].count(listing_id) == 1

    # every watcher: 1..last, once each, one close, not before the deadline
    expected = list(range(1, view["last_seq"] + 1))
    for watcher in watchers:
        assert [e["seq"] for e in watcher.events] == expected, f"gap or duplicate: {watcher}"
        closed = [e for e in watcher.events if e["kind"] == "closed"]
        assert len(closed) == 1 and closed[0] is watcher.events[-1]
        assert datetime.fromisoformat(closed[0]["at"]) >= deadline
    assert any(w.disconnects for w in watchers), "no watcher was on the killed instance"

    # the proxy hides the metrics and names each request, once, as its access log does
    assert metrics.status_code == 404
    for response in (metrics, answer):
        (request_id,) = response.headers.get_list("x-request-id")
        assert request_id in {line["request_id"] for line in cluster.proxy.requests()}

    _record_timings(cluster, bids, watchers, killed_at, deadline, victim.port)


def _record_timings(
    cluster: Cluster, bids: Bids, watchers: list[Watcher], killed_at: float, deadline: datetime, port: int
) -> None:
    """What the failover cost, for bench/README.md (section 8): a measurement, not an assertion."""
    failures = [t for t in bids.failed_at if t >= killed_at]
    recovered = [t for t in bids.answered_at if failures and t > failures[0]]
    reconnects = [s for w in watchers for s in w.reconnect_seconds]
    seen = [w.closed_seen_at for w in watchers if w.closed_seen_at is not None]
    # a watcher that resumed after the close was published reads it from the database later
    published = min(datetime.fromisoformat(w.events[-1]["server_time"]) for w in watchers)
    report = {
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "instances": len(cluster.instances),
        "killed_port": port,
        "bids": {
            "acknowledged_201": len(bids.acked),
            "replayed_200": len(bids.replayed),
            "statuses": {str(k): v for k, v in sorted(bids.statuses.items())},
            "failed_attempts": len(failures),
            "retried_keys": bids.retried_keys,
            # from the first attempt that got 502 or nothing to the first bid answered after it
            "unanswered_seconds": round(recovered[0] - failures[0], 3) if recovered else 0.0,
            "first_failure_after_kill_seconds": round(failures[0] - killed_at, 3) if failures else None,
        },
        "watchers": {
            "count": len(watchers),
            "disconnected": sum(1 for w in watchers if w.disconnects),
            "reconnect_seconds": sorted(round(s, 3) for s in reconnects),
            "reconnect_median_seconds": round(statistics.median(reconnects), 3) if reconnects else None,
        },
        "close": {
            "deadline": deadline.isoformat(),
            "published_late_seconds": round((published - deadline).total_seconds(), 3),
            "first_seen_late_seconds": round(min(seen) - deadline.timestamp(), 3),
            "last_seen_late_seconds": round(max(seen) - deadline.timestamp(), 3),
        },
    }
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"failover: {json.dumps(report)}")
