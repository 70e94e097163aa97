"""Live event channels: Redis streams between instances, or in memory.

One channel per auction (``auction:<listing id>``). Losing Redis loses no
data: the feed replays from the database by sequence number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsStreamBackend

from exchange.redis_batch import CommandBatcher

CHANNEL_HISTORY = 200
STREAM_BLOCK_MS = 100
"""How long the one reader of a process waits in ``XREAD BLOCK`` (Litestar's default, 1 ms, is a
thousand round trips a second while anything is subscribed). A channel subscribed meanwhile is
read from the next call on, from its history: its events wait at most this long, none is lost."""


def auction_channel(listing_id: int | str) -> str:
    return f"auction:{listing_id}"


class BatchedStreamBackend(RedisChannelsStreamBackend):
    """Litestar's Redis streams backend, publishing through a ``CommandBatcher``.

    The same stream keys and fields as the Lua script it replaces (``XADD ... data
    <data> channel <channel>``, then ``PEXPIRE``), so Litestar's subscribers read
    them unchanged; the events of concurrent bids share one round trip. (The
    script compares its ``MAXLEN ~`` flag, a string, with the number 1, so it
    always trimmed exactly; this trims approximately, as configured.)
    """

    def __init__(self, batcher: CommandBatcher, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._batcher = batcher

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        cap = ("MAXLEN", "~") if self._cap_streams_approximate else ("MAXLEN",)
        commands: list[tuple[Any, ...]] = []
        for channel in set(channels):
            key = self._make_key(channel)
            commands.append(("XADD", key, *cap, self._history_limit, "*", "data", data, "channel", channel))
            commands.append(("PEXPIRE", key, self._stream_ttl))
        await self._batcher.call_all(*commands)


def create_backend(batcher: CommandBatcher | None, prefix: str) -> ChannelsBackend:
    if batcher is None:
        return MemoryChannelsBackend(history=CHANNEL_HISTORY)
    return BatchedStreamBackend(
        batcher,
        history=CHANNEL_HISTORY,
        redis=batcher.redis,
        key_prefix=f"{prefix}:channels",
        cap_streams_approximate=True,
        stream_sleep_no_subscriptions=STREAM_BLOCK_MS,
    )


def create_channels_plugin(batcher: CommandBatcher | None, prefix: str) -> ChannelsPlugin:
    """A new backend per app: a backend holds loop-bound state and must not be shared."""
    return ChannelsPlugin(
        backend=create_backend(batcher, prefix),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )
