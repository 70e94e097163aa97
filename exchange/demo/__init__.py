"""``exchange demo``: a sandbox exchange seeded through its own API, with bots bidding in live auctions."""

from exchange.demo.runner import Options, run

__all__ = ["Options", "run"]
