"""资格前审 or 资格后审: who admits an applicant to bid, and who may see the applicants before the close.

- ``pre`` (资格前审): an operator approves each application before bidding; it qualifies once
  approved and paid in full.
- ``post`` (资格后审): an application qualifies as soon as its deposit is paid in full, with no
  operator in between. Until the close staff see neither the applicants nor how many there are
  (``applicants_sealed``): every staff view that lists or counts them refuses with 403
  ``applicants_sealed``. After the close the winner is reviewed (``settlement.review``), before
  its confirmation.

Shared rules §1.2: online land and mining auctions default to ``post``, the practice that
closes the channel for 围标 (bid rigging through staff who know who applied).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.errors import Forbidden
from listings.models import FINAL_STATUSES, Listing

Qualification = Literal["pre", "post"]
QUALIFICATIONS: tuple[Qualification, ...] = get_args(Qualification)
DisqualifiedDeposit = Literal["forfeit", "refund"]

# Online land and mining auctions (拍卖), 挂牌 and tenders (sealed quotes); shared rules §1.2.
_POST_CLASSES = frozenset({"land_use_right", "mining_right"})
_POST_METHODS = frozenset({"english", "listing", "sealed_bid"})
# A land or mining winner whose qualification fails review loses its 竞得 (Order 39 art. 25: false
# documents or collusion make the result void), and its deposit, the 定金 of the announcement, is
# not returned (Civil Code art. 587). Elsewhere the exchange refunds it: no source says otherwise.
_FORFEIT_CLASSES = frozenset({"land_use_right", "mining_right"})


def default_qualification(asset_class: str, method: str) -> Qualification:
    """The profile's mode when a listing names none."""
    return "post" if asset_class in _POST_CLASSES and method in _POST_METHODS else "pre"


def disqualified_deposit(asset_class: str) -> DisqualifiedDeposit:
    """What becomes of the deposit of a winner who fails its review after the close."""
    return "forfeit" if asset_class in _FORFEIT_CLASSES else "refund"


def applicants_sealed(listing: Listing) -> bool:
    """Post-qualification until the close (or the end, whatever it is): staff see no applicant."""
    return listing.qualification == "post" and listing.status not in FINAL_STATUSES


def ensure_unsealed(listing: Listing) -> None:
    """403 ``applicants_sealed`` for a staff read of a sealed listing's applicants."""
    if applicants_sealed(listing):
        raise Forbidden(
            "under post-qualification (资格后审) staff see neither the applicants nor their number "
            "until the close",
            code="applicants_sealed",
        )


async def sealed_among(session: AsyncSession, listing_ids: Iterable[int]) -> set[int]:
    """Those of ``listing_ids`` whose applicants are sealed (``applicants_sealed``, in SQL)."""
    wanted = set(listing_ids)
    if not wanted:
        return set()
    query = select(Listing.id).where(
        Listing.id.in_(wanted), Listing.qualification == "post", Listing.status.not_in(FINAL_STATUSES)
    )
    return set((await session.execute(query)).scalars())
