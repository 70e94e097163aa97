"""The contract every mechanism fulfils, and the parts they all share.

A mechanism is a stateless object; all memory is in `AuctionState`. Time only
enters as the `now` argument, and every deadline is processed at its own
instant (not at `now`), so a service that calls `on_timer` late, twice, or
once for several boundaries ends up with the same state.

`accept` first processes every deadline that is due at `now`: a bid at or
after the deadline of a phase that takes bids is rejected `auction_not_open`
even if the service has not called `on_timer` yet, and a bid that arrives
after a boundary which opens a new bidding phase (listing -> timed, the next
dutch price) is judged by the rules of that new phase.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Set
from dataclasses import replace
from datetime import datetime
from typing import ClassVar

from exchange.vocabulary import Method

from . import lottery
from .draw import seed_commitment
from .events import failed, finish, iso, phase_event
from .params import check_params, is_aware
from .types import JSON, AuctionState, Bid, BidderTerms, Event, Outcome, Params, Rejection, Step


class Mechanism(ABC):
    method: ClassVar[Method]
    sealed: ClassVar[bool] = False
    """Sealed mechanisms reveal no amounts, counts or bidders before the close."""
    bidder_terms: ClassVar[bool] = False
    """The mechanism reads each bidder's `BidderTerms` (its group and deposit): the service
    gives them at the opening and at an admission, and the state keeps them."""

    def open(
        self,
        params: Params,
        qualified: Set[str],
        now: datetime,
        terms: Mapping[str, BidderTerms] | None = None,
    ) -> Step:
        """Start bidding with the bidders qualified at the opening instant (more may join later
        with `params.late_registration`, see `admit`); `terms` by bid number, where the
        mechanism reads them (`bidder_terms`)."""
        check_params(params)
        self._check_time(now)
        if params.method != self.method:
            raise ValueError(f"{self.method} mechanism given {params.method} params")
        if now < params.opens_at:
            raise ValueError("bidding does not open before params.opens_at")
        names = tuple(sorted(set(qualified)))
        commitment = None if params.seed is None else seed_commitment(params.seed)
        if len(names) < params.min_bidders and not params.late_registration:
            empty = AuctionState(self.method, "ended", names, None, seed_commitment=commitment)
            return finish(empty, failed(empty, "too_few_bidders", params.opens_at))
        state = self.initial_state(params, names, commitment)
        if self.bidder_terms and terms:
            state = replace(state, terms=tuple(terms[n] for n in names if n in terms))
        late = self.on_timer(params, state, now)
        return Step(late.state, (phase_event(state, params.opens_at), *late.events))

    def accept(self, params: Params, state: AuctionState, bid: Bid, now: datetime) -> Step | Rejection:
        ends_at = state.ends_at
        if state.outcome is None and ends_at is not None and now < ends_at:
            # nothing is due (the usual bid): skip on_timer, keeping its checks
            self._check_time(now)
            if state.method != params.method or state.method != self.method:
                raise ValueError("state, params and mechanism disagree on the method")
            due = Step(state)
        else:
            due = self.on_timer(params, state, now)
        current = due.state
        if current.outcome is not None:
            return Rejection("auction_not_open", "bidding has ended")
        if now < params.opens_at:
            return Rejection("auction_not_open", "bidding has not opened")
        if bid.bidder not in current.qualified:
            return Rejection("not_qualified", "this bid number is not qualified to bid")
        if current.phase == "lottery":
            taken = lottery.opt_in(params, current, bid, now)
        else:
            taken = self.take_bid(params, current, bid, now)
        if isinstance(taken, Rejection) or not due.events:
            return taken
        return Step(taken.state, (*due.events, *taken.events))

    def on_timer(self, params: Params, state: AuctionState, now: datetime) -> Step:
        self._check_time(now)
        if state.method != params.method or state.method != self.method:
            raise ValueError("state, params and mechanism disagree on the method")
        events: list[Event] = []
        while state.outcome is None and state.ends_at is not None and state.ends_at <= now:
            before = state.ends_at
            if len(state.qualified) < params.min_bidders:
                # Only under late registration, whose bidders are counted at the first deadline:
                # otherwise `open` has counted them already.
                step = finish(state, failed(state, "too_few_bidders", before))
            elif state.phase == "lottery":
                step = lottery.resolve(params, state)
            else:
                step = self.at_deadline(params, state, now)
            state = step.state
            events.extend(step.events)
            if state.outcome is None and (state.ends_at is None or state.ends_at <= before):
                raise AssertionError(f"{self.method}: deadline did not advance")
        return Step(state, tuple(events))

    def admit(
        self,
        params: Params,
        state: AuctionState,
        bidder: str,
        now: datetime,
        terms: BidderTerms | None = None,
    ) -> Step:
        """A bidder who qualified while bidding runs joins it (挂牌 with late registration).

        Deadlines due at `now` are processed first, as for a bid, so a replay that admits at
        the same instant reaches the same state; an ended auction admits nobody. Admitting
        is no event of its own: every event takes the auction's next `seq`, and a gap in the
        public sequence would count the bidders. The service records it in the audit log,
        from which `replay` repeats it. The bidder's `terms` are fixed from now on.
        """
        due = self.on_timer(params, state, now)
        current = due.state
        if current.outcome is not None or bidder in current.qualified:
            return due
        joined = replace(current, qualified=tuple(sorted((*current.qualified, bidder))))
        if self.bidder_terms and terms is not None:
            joined = replace(joined, terms=tuple(sorted((*current.terms, terms), key=lambda t: t.bidder)))
        return Step(joined, due.events)

    def close(self, params: Params, state: AuctionState, now: datetime) -> Outcome:
        """The outcome, once the last deadline has passed at `now`."""
        done = self.on_timer(params, state, now).state
        if done.outcome is None:
            raise ValueError(f"the auction runs until {iso(done.ends_at)}")
        return done.outcome

    def next_deadline(self, state: AuctionState) -> datetime | None:
        return None if state.outcome is not None else state.ends_at

    def view(self, params: Params, state: AuctionState, now: datetime) -> dict[str, JSON]:
        """What everyone may see at `now` (deadlines due by then included)."""
        current = self.on_timer(params, state, now).state
        outcome = current.outcome
        fields: dict[str, JSON] = {
            "phase": current.phase,
            "round": current.round,
            "ends_at": iso(current.ends_at),
            "result": None if outcome is None else outcome.status,
        }
        if outcome is not None:
            fields |= {
                "current_price": outcome.price,
                "leading_bid_number": None,
                "next_min_bid": None,
                "bid_count": outcome.bid_count,
            }
        elif current.phase == "lottery":
            fields |= {
                "current_price": params.price_cap,
                "leading_bid_number": None,
                "next_min_bid": params.price_cap,
                "bid_count": None if self.sealed else current.bid_count,
            }
        else:
            fields |= self.live_view(params, current, now)
        return fields

    @abstractmethod
    def initial_state(
        self, params: Params, qualified: tuple[str, ...], commitment: str | None
    ) -> AuctionState: ...

    @abstractmethod
    def take_bid(self, params: Params, state: AuctionState, bid: Bid, now: datetime) -> Step | Rejection:
        """Judge a bid from a qualified bidder in an open, non-lottery phase."""

    @abstractmethod
    def at_deadline(self, params: Params, state: AuctionState, now: datetime) -> Step:
        """Process the boundary at `state.ends_at`.

        Must not depend on `now`, except to skip several clock steps at once.
        """

    @abstractmethod
    def live_view(self, params: Params, state: AuctionState, now: datetime) -> dict[str, JSON]:
        """current_price, leading_bid_number, next_min_bid, bid_count while running."""

    @staticmethod
    def _check_time(now: datetime) -> None:
        if not is_aware(now):
            raise ValueError("now must be timezone-aware")
