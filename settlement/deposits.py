"""Deposits seen from listings: how much is paid, and releasing them.

Registered as listing hooks by ``create_app``; each runs inside the
transaction of the listing event that triggers it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from listings.applications_models import Application
from listings.hooks import ListingHooks
from listings.models import Listing
from settlement import ledger


async def deposit_paid(session: AsyncSession, application_id: int) -> int:
    return await ledger.held_deposit(session, application_id)


async def release_rejected(session: AsyncSession, application: Application, now: datetime) -> None:
    refund = await ledger.release_deposit(
        session, application_id=application.id, reason="application rejected", actor="system"
    )
    if refund is not None:
        await append(
            session,
            application.stream,
            "system",
            "deposit.released",
            {"application_id": application.id, "amount": refund.amount, "refund_id": refund.id},
        )


async def release_all(session: AsyncSession, listing: Listing, now: datetime) -> None:
    """A cancelled (or failed) listing: every application closes and every deposit goes back."""
    query = (
        select(Application)
        .where(Application.listing_id == listing.id)
        .order_by(Application.id)  # one order on every database: the audit chain records it
        .with_for_update()
    )
    for application in (await session.execute(query)).scalars():
        if application.status != "rejected":
            application.status = "closed"
        refund = await ledger.release_deposit(
            session, application_id=application.id, reason=f"listing {listing.status}", actor="system"
        )
        if refund is not None:
            await append(
                session,
                listing.stream,
                "system",
                "deposit.released",
                {"application_id": application.id, "amount": refund.amount, "refund_id": refund.id},
            )


def register(hooks: ListingHooks) -> None:
    hooks.deposit_paid = deposit_paid
    hooks.on_application_rejected.append(release_rejected)
    hooks.on_cancelled.append(release_all)
