"""Placing a bid: one walk through a bid store, whichever store it is.

A store (``auctions.store_pg`` on asyncpg, ``auctions.store_orm`` on
SQLAlchemy) knows how to lock an auction row, read the key's earlier bid and
write an acceptance; ``place`` walks it through those steps and asks
``auctions.decision.decide`` what to do at each. The asyncpg store writes only
the usual bid: whatever else it meets (no auction row, a deadline due, a bid
that ends the auction, a listing changed while the bid waited) it hands back
untouched, and the intake places the bid again through the general store.

A bid signed by its bidder (``auctions.bid_signatures``) was verified by the intake before it
took its turn, against the bid number the bidder had then; under the lock ``place`` holds the
listing's policy (``BidStore.signatures``) and the bid number it locked against the signature:
a bid the mechanism accepts is still refused (``signature_invalid``) when the listing requires a
signature and it has none, or when it was signed for another bid number. Unsigned bids on a
listing without signatures cost nothing more: the policy comes with the terms each store reads.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from auctions.decision import (
    NEED_PRIOR,
    UNREAD,
    Accept,
    Attempt,
    Locked,
    Prior,
    Refuse,
    Replay,
    decide,
    sealed_receipt,
)
from auctions.service import public_fields
from exchange.clock import utcnow
from exchange.errors import ExchangeError, field_error
from exchange.identity.standing import Standing

Clock = Callable[[], datetime]


class Handoff:
    """The store cannot write this bid; nothing was written: place it through the general store."""


HANDOFF: Final = Handoff()


class KeyUsed:
    """The write found the Idempotency-Key used before: the earlier bid decides the answer."""


KEY_USED: Final = KeyUsed()


@dataclass(frozen=True, slots=True)
class Signed:
    """A bid's signature, verified by the intake (``auctions.bid_signatures``)."""

    kid: str
    algorithm: str
    value: str
    last_seq: int
    bidder_number: str | None
    """The bid number the signature was verified against; None: the bidder had none (the
    decision then refuses the bid as not qualified, or the lock finds a number it did not sign)."""
    nonce_sha256: str | None = None
    """What the signature says of the bid's nonce (``bid_signatures.nonce_digest``)."""
    revoked: bool = False
    """The key was revoked when the intake read it: not verified, and refused under the lock
    unless the bid is a replay of one the key signed before (which answers as replays do)."""

    def as_json(self) -> dict[str, Any]:
        """As stored with the bid (``bids.signature``) and in its ``bid.accepted`` audit entry."""
        return {
            "kid": self.kid,
            "algorithm": self.algorithm,
            "value": self.value,
            "last_seq": self.last_seq,
            "nonce_sha256": self.nonce_sha256,
        }


SignatureProblem = Literal[
    "missing", "mismatch", "malformed", "key_unknown", "key_revoked", "key_not_yours", "key_other_listing"
]

_SIGNATURE_PROBLEMS: Final[dict[str, tuple[str, str]]] = {
    "missing": ("bid_signature_missing", "this listing requires bids signed with your registered key"),
    "mismatch": (
        "bid_signature_mismatch",
        "the signature does not match this bid (amount, quantity, key, bid number or last_seq)",
    ),
    "malformed": ("bid_signature_malformed", "the signature is not in the form the exchange reads"),
    "key_unknown": ("bid_signature_key_unknown", "no registered key has this kid"),
    "key_revoked": ("bid_signature_key_revoked", "the key that signed the bid is revoked"),
    "key_not_yours": ("bid_signature_key_not_yours", "the key that signed the bid is another bidder's"),
    "key_other_listing": (
        "bid_signature_key_other_listing",
        "the key that signed the bid was registered for another listing; register one for this listing",
    ),
}


def signature_invalid(problem: SignatureProblem, detail: str | None = None) -> ExchangeError:
    """422 ``signature_invalid``, its field error naming which problem (``bid_signature_*``)."""
    code, sentence = _SIGNATURE_PROBLEMS[problem]
    message = detail or sentence
    return ExchangeError(
        message,
        code="signature_invalid",
        status=422,
        errors=[field_error("signature", message, code)],
        reason=problem,
    )


def signature_refusal(policy: str, signed: Signed | None, bid_number: str | None) -> ExchangeError | None:
    """Why a bid the mechanism accepts may not count for its signature, under the lock (``bid_number``:
    the one the lock read); None: it may."""
    if signed is None:
        return signature_invalid("missing") if policy == "required" else None
    if signed.revoked:
        return signature_invalid("key_revoked")
    if signed.bidder_number != bid_number:
        return signature_invalid("mismatch", "the bid was signed for another bid number")
    return None


def signed_payload(payload: dict[str, Any], signed: Signed | None) -> dict[str, Any]:
    """The ``bid.accepted`` audit entry with the bid's signature, so the chain holds it too."""
    return payload if signed is None else {**payload, "signature": signed.as_json()}


class BidStore(Protocol):
    prior_first: bool
    """Whether ``place`` reads the key's earlier bid under the lock before it decides (the
    general store), or only when the answer depends on it (the usual bid has none)."""

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Everything ``place`` does with the store; a transaction not committed is rolled back."""

    @property
    def signatures(self) -> str:
        """The listing's signature policy (``none``, ``optional``, ``required``), read by ``lock``."""

    async def lock(self, attempt: Attempt) -> tuple[Standing | None, Locked | None] | Handoff:
        """Lock the auction row: the caller's standing and what the row says."""

    async def prior(self, attempt: Attempt) -> Prior | None:
        """The bid committed earlier under this bidder and key."""

    async def write(
        self, attempt: Attempt, locked: Locked, accept: Accept, signed: Signed | None = None
    ) -> int | KeyUsed | Handoff:
        """Store the acceptance (with its signature) and commit; the bid's id."""


@dataclass(frozen=True)
class Placed:
    """An accepted or replayed bid, as plain values that outlive the store's transaction."""

    bid_id: int
    seq: int
    amount: int
    quantity: int | None
    accepted_at: datetime
    ends_at: datetime | None
    events: list[dict[str, Any]]
    """The public events the bid produced, as the feed sends them (none for a replay)."""
    asset_class: str
    replayed: bool = False
    deadline_moved: bool = False
    receipt: int | None = None
    """A sealed quote's or an acceptance's answer: an opaque id in place of ``bid_id`` and
    ``seq`` (``auctions.decision.sealed_receipt``)."""


async def place(
    store: BidStore, attempt: Attempt, clock: Clock = utcnow, signed: Signed | None = None
) -> Placed | Handoff:
    """The bid through ``store``: placed, refused (its ``ExchangeError`` raised) or handed off."""
    async with store.transaction():
        read = await store.lock(attempt)
        if isinstance(read, Handoff):
            return read
        standing, locked = read
        now = clock()  # after the lock: the bid's time and the deadline check are one instant
        decision = decide(
            standing, locked, attempt, await store.prior(attempt) if store.prior_first else UNREAD, now
        )
        if decision is NEED_PRIOR:
            decision = decide(standing, locked, attempt, await store.prior(attempt), now)
        if isinstance(decision, Accept):
            assert locked is not None
            refusal = signature_refusal(store.signatures, signed, locked.bid_number)
            if refusal is not None:
                # the key's earlier bid, if any, answers first (a replay), as for every refusal
                if not store.prior_first:
                    decision = decide(standing, locked, attempt, await store.prior(attempt), now)
                if isinstance(decision, Accept):
                    raise refusal
        if isinstance(decision, Accept):
            assert locked is not None
            written = await store.write(attempt, locked, decision, signed)
            if not isinstance(written, KeyUsed):
                return (
                    written if isinstance(written, Handoff) else accepted(attempt, locked, decision, written)
                )
            decision = decide(standing, locked, attempt, await store.prior(attempt), now)
            if isinstance(decision, Accept):  # the key's bid vanished: let the general store look
                return HANDOFF
        if isinstance(decision, Refuse):
            raise decision.error
        assert isinstance(decision, Replay) and locked is not None
        return replayed(decision.prior, locked)


def accepted(attempt: Attempt, locked: Locked, accept: Accept, bid_id: int) -> Placed:
    return Placed(
        bid_id,
        accept.bid_seq,
        attempt.amount,
        attempt.quantity,
        accept.now,
        accept.state.ends_at,
        [public_fields(e.seq, e.kind, e.data, e.at, accept.now) for e in accept.events if e.public],
        locked.asset_class,
        deadline_moved=accept.state.ends_at != locked.ends_at,
        receipt=sealed_receipt(locked.params, accept.bid_seq, accept.phase),
    )


def replayed(prior: Prior, locked: Locked) -> Placed:
    return Placed(
        prior.bid_id,
        prior.seq,
        prior.amount,
        prior.quantity,
        prior.accepted_at,
        locked.ends_at,
        [],
        locked.asset_class,
        replayed=True,
        receipt=sealed_receipt(locked.params, prior.seq, prior.phase),
    )
