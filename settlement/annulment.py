"""Annulment (成交无效): an upheld objection made the sale fail.

Not the winner's fault: the sale's postings are reversed, the deposit applied is refunded in full
within 5 WD (nothing is forfeited), every payment is refunded (tracked ones reversed: the
collecting authority refunds them), late fees are reversed, and the lines and the settlement
become ``annulled`` with the reason. Part C (:mod:`settlement.objections`) calls it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict
from listings.models import Listing
from settlement.lines import load_lines, load_settlement
from settlement.registry import offers as registry_offers
from settlement.undo import undo_line

__all__ = ["annul_sale"]


async def annul_sale(session: AsyncSession, listing: Listing, *, reason: str, actor: str) -> None:
    """Annul the sale of ``listing``; the caller holds the listing lock. Never commits."""
    settlement = await load_settlement(session, listing.id)
    if settlement is None or settlement.outcome != "sold" or settlement.status in ("annulled", "released"):
        raise Conflict("this listing has no sale to annul", code="sale_not_annullable")
    now = utcnow()
    undone = []
    for line in await load_lines(session, listing.id):
        if line.status not in ("pending_payment", "paid"):
            continue
        undone.append(
            await undo_line(
                session,
                line,
                forfeit=0,
                stem=f"annul:{listing.id}:{line.application_id}",
                memo=f"sale annulled: {reason}",
                actor=actor,
            )
        )
        line.status = "annulled"
        await registry_offers.release_line(session, line, f"sale annulled: {reason}", actor)
    settlement.status, settlement.annulled_reason, settlement.updated_at = "annulled", reason, now
    await append(session, listing.stream, actor, "settlement.annulled", {"reason": reason, "lines": undone})
