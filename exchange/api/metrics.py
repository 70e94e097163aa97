"""``GET /metrics``: this instance's numbers (``exchange.metrics``) in Prometheus' text format."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from exchange import metrics


@get("/metrics", include_in_schema=False, cache=False, sync_to_thread=False)
def scrape(state: State) -> Response[bytes]:
    """Prometheus' scrape: counts, latencies and gauges of this instance, without authentication.

    It names no bidder, account or price, but it is for the operators' Prometheus only: the
    proxy in front of the exchange must not route ``/metrics`` from the internet (README,
    "Watching it run"). The pools' use is read now, at the scrape.
    """
    metrics.observe_pools(state.engine, state.bid_intake.pool)
    # as a header: Litestar would add a second charset to a text/ media type
    return Response(generate_latest(metrics.REGISTRY), headers={"content-type": CONTENT_TYPE_LATEST})
