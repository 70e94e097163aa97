"""The verifiable bundle's record: its format, and the replay it describes, in both directions.

``documents.bundle`` writes a finished auction's replay into the record (``replay_json``) and
``exchange.verifier`` reads it back (``replay_from_json``) to run it through the one replay the
exchange has (``auctions.mechanisms.replay``, which ``exchange audit replay`` runs over the audit
log). This module is pure, as the verifier must be: it imports the mechanisms and nothing that
reaches a database or a server.

The record publishes only what is public after the close, with three additions the replay
cannot do without: the number of bidders qualified at the opening who never bid (``others``,
never their bid numbers), the instants at which late registrants joined (their bid numbers only
if they bid), and the nonce of a bid that entered a draw or accepted the cap price of a lottery
(spent once the result is out). Money is integer fen, quantities integer units of the
parameters' ``quantity_scale``, instants ISO 8601 UTC with ``Z``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count, pairwise
from typing import Annotated, Any, Final, Literal

import msgspec

from auctions.mechanisms import Bid, Outcome, Params, ReplayStep, params_from_json, params_to_json, to_json

FORMAT: Final = "exchange-result-bundle/1"
"""``format`` of every bundle of this shape; a change a version-1 verifier would misread is ``/2``."""

OTHER_PREFIX: Final = "other-"
"""Names the verifier gives the qualified bidders who never bid: no bid number has a letter."""

BidKind = Literal["bid", "lottery_entry"]
"""A bid, or an acceptance of the cap price in a lottery (a lottery entry, not counted as a bid)."""

_UNPUBLISHED = ("seed", "reserve_price")
"""Parameters the record carries elsewhere: the reserve with its commitment (``reserve``), the
seed inside the draw that used it (the outcome's ``draw``) and only there."""


Instant = Annotated[datetime, msgspec.Meta(tz=True)]
"""An instant read from the record: with its zone (the record writes UTC, ``Z``)."""


class RecordError(ValueError):
    """A record that does not hold together as a replay: a field missing or of the wrong type."""


def instant(moment: datetime) -> str:
    """An instant as the record writes it (the mechanisms' own JSON form: ``...Z``)."""
    text = to_json(moment)
    assert isinstance(text, str)
    return text


def parameters_json(params: Params) -> dict[str, Any]:
    """The mechanism's parameters at the opening, without the reserve and the seed."""
    data = dict(params_to_json(params))
    for name in _UNPUBLISHED:
        data.pop(name)
    return data


def nonce_is_published(params: Params, outcome: Outcome, bid: Bid) -> bool:
    """Whether the record carries ``bid``'s nonce: an acceptance of a lottery's cap price (the
    replay refuses one without it), or a uniform-price bid at the clearing price when a draw
    shared the residual lots (its nonce is part of the draw's published inputs)."""
    if params.cap_rule == "lottery" and bid.amount == params.price_cap:
        return True
    clearing = outcome.statistics.clearing_price if outcome.statistics is not None else None
    return outcome.draw is not None and params.method == "uniform_price" and bid.amount == clearing


@dataclass(frozen=True)
class PublishedBid:
    """What the record says of a bid step besides the bid itself."""

    seq: int
    """The bid's number in the auction's public event sequence."""
    kind: BidKind


def replay_json(
    qualified: Iterable[str],
    steps: Sequence[ReplayStep],
    bids: Sequence[PublishedBid],
    nonce_published: Callable[[Bid], bool],
) -> dict[str, Any]:
    """``entrants``, ``bids``, ``interruptions`` and ``closed_at`` of the record, from a replay's
    inputs (``auctions.audit_replay.replay_inputs``); ``bids`` describes the bid steps in order.

    An admission or a pause goes into ``interruptions`` with the ``seq`` of the last bid before
    it (0: none), which places it among the bids again.
    """
    bid_steps = [step for step in steps if step[0] == "bid"]
    if len(bid_steps) != len(bids):
        raise RecordError(f"{len(bid_steps)} bids in the replay, {len(bids)} published")
    bidders = {step[1].bidder for step in bid_steps}
    at_opening = sorted(set(qualified))
    published: list[dict[str, Any]] = []
    interruptions: list[dict[str, Any]] = []
    closed_at: str | None = None
    numbered = iter(bids)
    last_seq = 0
    for step in steps:
        if step[0] == "bid":
            _, bid, at = step
            about = next(numbered)
            last_seq = about.seq
            published.append(
                {
                    "seq": about.seq,
                    "bid_number": bid.bidder,
                    "amount": bid.amount,
                    "quantity": bid.quantity,
                    "at": instant(at),
                    "kind": about.kind,
                    "nonce": bid.nonce if bid.nonce is not None and nonce_published(bid) else None,
                }
            )
        elif step[0] == "admit":
            _, bidder, at = step
            interruptions.append(
                {
                    "after_seq": last_seq,
                    "kind": "admitted",
                    "bid_number": bidder if bidder in bidders else None,
                    "at": instant(at),
                }
            )
        elif step[0] == "pause":
            pause = step[1]
            interruptions.append(
                {
                    "after_seq": last_seq,
                    "kind": "resumed",
                    "pause_microseconds": pause // timedelta(microseconds=1),
                }
            )
        else:
            closed_at = instant(step[1])
    return {
        "entrants": {
            "bid_numbers": [n for n in at_opening if n in bidders],
            "others": sum(1 for n in at_opening if n not in bidders),
        },
        "bids": published,
        "interruptions": interruptions,
        "closed_at": closed_at,
    }


@dataclass(frozen=True)
class Replayable:
    """A record read back as the replay's inputs (the parameters without reserve and seed)."""

    params: Params
    qualified: frozenset[str]
    steps: tuple[ReplayStep, ...]
    counted_bids: int
    """Published bids of kind ``bid``: the mechanism's ``bid_count`` if it accepts every one."""


class _Bid(msgspec.Struct, forbid_unknown_fields=True):
    seq: int
    bid_number: str
    amount: int
    quantity: int | None
    at: Instant
    kind: BidKind
    nonce: str | None


class _Entrants(msgspec.Struct, forbid_unknown_fields=True):
    bid_numbers: list[str]
    others: int


class _Interruption(msgspec.Struct, forbid_unknown_fields=True):
    after_seq: int
    kind: Literal["admitted", "resumed"]
    bid_number: str | None = None
    at: Instant | None = None
    pause_microseconds: int | None = None


def _read(value: Any, kind: Any, where: str) -> Any:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as error:
        raise RecordError(f"{where}: {error}") from None


def replay_from_json(record: Mapping[str, Any]) -> Replayable:
    """The replay a record describes; ``RecordError`` naming the field that does not hold."""
    for name in ("parameters", "entrants", "bids", "interruptions", "closed_at"):
        if name not in record:
            raise RecordError(f"the record has no {name}")
    parameters = record["parameters"]
    if not isinstance(parameters, Mapping) or set(parameters) & set(_UNPUBLISHED):
        raise RecordError("parameters: not an object of the mechanism's parameters")
    try:
        params = params_from_json({**parameters, **dict.fromkeys(_UNPUBLISHED)})
    except (msgspec.ValidationError, ValueError, TypeError) as error:
        raise RecordError(f"parameters: {error}") from None
    entrants: _Entrants = _read(record["entrants"], _Entrants, "entrants")
    bids: list[_Bid] = _read(record["bids"], list[_Bid], "bids")
    interruptions: list[_Interruption] = _read(record["interruptions"], list[_Interruption], "interruptions")
    closed_at: datetime | None = _read(record["closed_at"], Instant | None, "closed_at")
    if entrants.others < 0:
        raise RecordError("entrants.others: a negative count")
    if any(b.seq <= a.seq for a, b in pairwise(bids)):
        raise RecordError("bids: not in the order of their seq")
    others = (f"{OTHER_PREFIX}{i}" for i in count(1))
    qualified = frozenset([*entrants.bid_numbers, *(next(others) for _ in range(entrants.others))])
    after: dict[int, list[ReplayStep]] = {}
    for item in interruptions:
        if item.kind == "admitted":
            if item.at is None:
                raise RecordError("interruptions: an admission without its instant")
            bidder = item.bid_number if item.bid_number is not None else next(others)
            after.setdefault(item.after_seq, []).append(("admit", bidder, item.at))
        else:
            if item.pause_microseconds is None or item.pause_microseconds < 0:
                raise RecordError("interruptions: a resumption without the length of its pause")
            pause = timedelta(microseconds=item.pause_microseconds)
            after.setdefault(item.after_seq, []).append(("pause", pause))
    known = {0, *(b.seq for b in bids)}
    if set(after) - known:
        raise RecordError(f"interruptions: after_seq {sorted(set(after) - known)} names no bid")
    steps: list[ReplayStep] = list(after.get(0, ()))
    for b in bids:
        steps.append(("bid", Bid(b.bid_number, b.amount, b.quantity, b.nonce), b.at))
        steps.extend(after.get(b.seq, ()))
    if closed_at is not None:
        steps.append(("timer", closed_at))
    counted = sum(1 for b in bids if b.kind == "bid")
    return Replayable(params, qualified, tuple(steps), counted)
