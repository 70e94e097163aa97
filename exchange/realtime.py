"""Live event channels: Redis streams between instances, or in memory.

One channel per auction (``auction:<listing id>``). Losing Redis loses no
data: the feed replays from the database by sequence number.
"""

from __future__ import annotations

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsStreamBackend
from redis.asyncio import Redis

CHANNEL_HISTORY = 200


def auction_channel(listing_id: int | str) -> str:
    return f"auction:{listing_id}"


def create_backend(redis: Redis | None, prefix: str) -> ChannelsBackend:
    if redis is None:
        return MemoryChannelsBackend(history=CHANNEL_HISTORY)
    return RedisChannelsStreamBackend(
        history=CHANNEL_HISTORY, redis=redis, key_prefix=f"{prefix}:channels", cap_streams_approximate=True
    )


def create_channels_plugin(redis: Redis | None, prefix: str) -> ChannelsPlugin:
    """A new backend per app: a backend holds loop-bound state and must not be shared."""
    return ChannelsPlugin(
        backend=create_backend(redis, prefix),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )
