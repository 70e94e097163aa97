"""What the transparency log's leaves say: their data, as canonical JSON, one form per kind.

Pure (no database): the sequencer builds leaves with these functions, the bundle carries their
data, and the offline verifier (``exchange.verifier``) compares that data with the bundle's own
record. A leaf's bytes are ``canonical_json(data)`` (``exchange.signing``), its hash RFC 9162's
``SHA-256(0x00 || bytes)`` (``exchange.transparency.merkle.leaf_hash``).

Three kinds:

- ``audit_head``: a finished auction's listing audit-chain head at its close, the value the
  result and its bundle publish as ``audit_head``, with the instant the close committed;
- ``document``: a public document's key, listing, kind and the SHA-256 of its PDF; a document that
  is not public only as ``{"kind": "document", "sha256"}`` under its digest as the subject, so the
  public log lists no private document's listing, kind or addressee;
- ``registry_day``: one Beijing day of registry movements, their count and the SHA-256 of their
  entries in order (``registry_day_digest``), logged once the day is over. Movements of a day
  already logged that commit late (a slow transaction, an instance whose clock is ahead) go into a
  further leaf of that day, subject ``2026-12-05#2`` and so on, with the same data form.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from exchange.signing import canonical_json
from exchange.transparency.merkle import leaf_hash

Kind = Literal["audit_head", "document", "registry_day"]
KINDS: tuple[Kind, ...] = ("audit_head", "document", "registry_day")
"""In the order a round of the sequencer appends them."""


@dataclass(frozen=True)
class Leaf:
    """A leaf to append: ``(kind, subject)`` names what it is about, once in the log."""

    kind: Kind
    subject: str
    data: dict[str, Any]
    covers: tuple[int, ...] = ()
    """The registry entries a ``registry_day`` leaf takes in (``transparency_covered``)."""

    def encoded(self) -> bytes:
        return canonical_json(self.data)

    def hash(self) -> bytes:
        return leaf_hash(self.encoded())


def instant(moment: datetime) -> str:
    """ISO 8601 in UTC to the microsecond, ending in ``Z``: one spelling per instant."""
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_head_leaf(listing_id: int, audit_head: str, committed_at: datetime) -> Leaf:
    return Leaf(
        "audit_head",
        str(listing_id),
        {
            "kind": "audit_head",
            "listing_id": listing_id,
            "audit_head": audit_head,
            "committed_at": instant(committed_at),
        },
    )


def document_leaf(key: str, listing_id: int | None, document_kind: str, sha256: str) -> Leaf:
    return Leaf(
        "document",
        key,
        {
            "kind": "document",
            "key": key,
            "listing_id": listing_id,
            "document_kind": document_kind,
            "sha256": sha256,
        },
    )


def private_document_leaf(sha256: str) -> Leaf:
    """A document that is not public: its digest proves it unchanged, and nothing else is said."""
    return Leaf("document", sha256, {"kind": "document", "sha256": sha256})


def registry_day_digest(movements: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 (hex) of ``canonical_json`` of the day's movement entries, as a list in order."""
    return hashlib.sha256(canonical_json(list(movements))).hexdigest()


def registry_day_leaf(
    day: date, movements: Sequence[Mapping[str, Any]], batch: int = 1, covers: Sequence[int] = ()
) -> Leaf:
    """The ``batch``-th leaf of ``day``: the first is subject ``2026-12-05``, a later one (movements
    that committed after the day was logged) ``2026-12-05#2``."""
    subject = day.isoformat() if batch == 1 else f"{day.isoformat()}#{batch}"
    return Leaf(
        "registry_day",
        subject,
        {
            "kind": "registry_day",
            "date": day.isoformat(),
            "movements": len(movements),
            "sha256": registry_day_digest(movements),
        },
        tuple(covers),
    )
