"""The parties of a joint bid (联合竞买) as documents print them: the result announcement and the
transaction confirmation name every party of a winning consortium with its credit code and share.

The documents of a bidder alone keep their own data classes unchanged (their bytes, and so their
hashes, do not move); a consortium's use the subclasses of ``documents.result_announcement`` and
``documents.confirmation``, which add the parties.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from listings.consortia import Share


@dataclass(frozen=True, slots=True)
class JointParty:
    bid_number: str
    credit_code: str
    name: str
    share: str
    """Percent with two places (``"33.34"``)."""
    lead: bool


def joint_parties(bid_number: str, shares: Iterable[Share]) -> tuple[JointParty, ...]:
    return tuple(JointParty(bid_number, s.credit_code, s.name, s.share, s.lead) for s in shares)


def fields_of(document: object) -> dict[str, Any]:
    """A data class's fields by name, shallow (``dataclasses.asdict`` would turn members into dicts)."""
    return {f.name: getattr(document, f.name) for f in fields(document)}  # type: ignore[arg-type]
