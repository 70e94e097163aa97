"""The auction engine's functional core: pure mechanisms over plain data.

No I/O and no clock: every call takes `now`. The service layer loads an
`AuctionState` (JSON column), calls `open` / `accept` / `on_timer` / `close`, stores
the new state and records the returned events, inside one transaction.
"""

from exchange.vocabulary import METHODS, AuctionPhase, Method

from .base import Mechanism
from .codec import (
    event_to_json,
    outcome_from_json,
    outcome_to_json,
    params_from_json,
    params_to_json,
    state_from_json,
    state_from_text,
    state_to_json,
    state_to_text,
    to_json,
)
from .draw import PROCEDURE as DRAW_PROCEDURE
from .draw import draw_entropy, draw_key, draw_order, seed_commitment
from .params import ParamsError, check_params, params_problems
from .registry import MECHANISMS, mechanism_for
from .replay import ReplayStep, replay
from .types import (
    FAILURE_REASONS,
    REJECTION_CODES,
    AcceptedBid,
    AuctionState,
    Bid,
    BidderTerms,
    DrawRecord,
    Event,
    Outcome,
    Params,
    Rejection,
    RejectionCode,
    Statistics,
    Step,
    Winner,
)

__all__ = [
    "DRAW_PROCEDURE",
    "FAILURE_REASONS",
    "MECHANISMS",
    "METHODS",
    "REJECTION_CODES",
    "AcceptedBid",
    "AuctionPhase",
    "AuctionState",
    "Bid",
    "BidderTerms",
    "DrawRecord",
    "Event",
    "Mechanism",
    "Method",
    "Outcome",
    "Params",
    "ParamsError",
    "Rejection",
    "RejectionCode",
    "ReplayStep",
    "Statistics",
    "Step",
    "Winner",
    "check_params",
    "draw_entropy",
    "draw_key",
    "draw_order",
    "event_to_json",
    "mechanism_for",
    "outcome_from_json",
    "outcome_to_json",
    "params_from_json",
    "params_problems",
    "params_to_json",
    "replay",
    "seed_commitment",
    "state_from_json",
    "state_from_text",
    "state_to_json",
    "state_to_text",
    "to_json",
]
