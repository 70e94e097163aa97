"""Time priority within a process: a bid's turn comes only after every earlier bid's turn is done."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from auctions.arrival import ArrivalOrder


@settings(max_examples=60, deadline=None)
@given(
    finish_order=st.integers(min_value=1, max_value=8).flatmap(lambda n: st.permutations(range(n))),
    lots=st.integers(min_value=1, max_value=3),
)
def test_turns_come_in_the_order_of_arrival(finish_order: list[int], lots: int) -> None:
    async def scenario() -> list[tuple[int, int]]:
        order = ArrivalOrder()
        turns = [(i % lots, order.turn(i % lots)) for i in range(len(finish_order))]
        started: list[tuple[int, int]] = []

        async def bid(index: int) -> None:
            lot, turn = turns[index]
            await turn.wait()
            started.append((lot, index))

        tasks = [asyncio.create_task(bid(i)) for i in range(len(turns))]
        for index in finish_order:  # bids give up or get the lock in any order
            turns[index][1].done()
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        assert order._last == {}  # nothing is left behind once every turn is done
        return started

    started = asyncio.run(scenario())
    for lot in range(lots):
        seen = [index for at, index in started if at == lot]
        assert seen == sorted(seen)


def test_a_bid_waits_for_an_earlier_one_that_has_not_got_the_lock() -> None:
    async def scenario() -> None:
        order = ArrivalOrder()
        first, second, third = order.turn(1), order.turn(1), order.turn(1)
        other_lot = order.turn(2)
        await asyncio.wait_for(other_lot.wait(), 1)  # another lot's line is its own
        second.done()  # the second gives up early (rate limited, say)
        waiting = asyncio.create_task(third.wait())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the first still has not got the lock
        first.done()
        await asyncio.wait_for(waiting, 1)

    asyncio.run(scenario())
