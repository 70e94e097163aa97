"""Issuing the documents of a listing's life: the announcement, and at the close the result,
the winners' confirmations and the refund notices.

An outbox by query rather than events: a periodic job finds published
listings without their announcement, finished auctions without their
result announcement and bid record, settlement lines without their
confirmation (成交确认书) and released deposits without their refund notice,
and issues them. The facts (the close, the settlement, the release) commit
first and the documents follow, so a crash in between only delays a
document. Issuing is idempotent by document key, so a crash, a restart or
two instances doing it at once still give one document each; rendering
happens in the process pool, never on the bid path.

Confirmations and refund notices are private: ``owner_id`` is the bidder,
so only that bidder and the staff may download them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any, Literal

from sqlalchemy import String, cast, exists, literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auctions.models import Auction, BidRow
from auctions.params import quantity_scale
from documents import data
from documents.models import Document
from documents.results import FINISHED, winner_names
from documents.store import issue, listing_audit_head
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.identity.models import User
from exchange.scheduling import Timers
from listings.applications_models import Application
from listings.attributes import UNITS
from listings.models import Listing
from settlement.models import LedgerTransaction, RefundInstruction
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine

log = logging.getLogger("documents.publication")

CATCH_UP_SECONDS = 5.0


def listing_info(listing: Listing) -> data.ListingInfo:
    return data.ListingInfo(
        listing_id=listing.id,
        title=listing.title,
        asset_class=listing.asset_class,
        method=listing.method,
        region=listing.region,
        unit=UNITS[listing.asset_class].quantity_unit,
    )


def _attributes(listing: Listing) -> tuple[data.Attribute, ...]:
    return tuple(
        data.Attribute(label=key, value=str(value))
        for key, value in listing.attributes.items()
        if value is not None and not isinstance(value, dict | list)
    )


def announcement(listing: Listing) -> data.ListingAnnouncement:
    """The reserve amount is not even an input: only whether there is one."""
    return data.ListingAnnouncement(
        listing=listing_info(listing),
        description=listing.description,
        attributes=_attributes(listing),
        start_price=listing.start_price,
        increment=listing.increment,
        deposit=listing.deposit,
        has_reserve=listing.reserve_price is not None,
        schedule=data.Schedule(
            announce_at=listing.announce_at,
            registration_opens_at=listing.registration_opens_at,
            registration_closes_at=listing.registration_closes_at,
            bidding_opens_at=listing.bidding_opens_at,
            bidding_closes_at=listing.bidding_closes_at,
            extension_seconds=listing.extension_seconds,
        ),
        seed_commitment=listing.seed_commitment,
        price_cap=listing.price_cap,
        cap_rule=listing.method_params.get("cap_rule"),
    )


def quantity(asset_class: str, units: int | None) -> Decimal | None:
    """A stored quantity (integer units of the class's fixed scale) in the listing's unit: 6000 -> 6.000."""
    if units is None:
        return None
    places = len(str(quantity_scale(asset_class))) - 1
    return Decimal(units).scaleb(-places)


def _winners(listing: Listing, outcome: dict[str, Any], names: dict[str, str]) -> tuple[data.WinnerLine, ...]:
    return tuple(
        data.WinnerLine(
            bid_number=w["bidder"],
            name=names.get(w["bidder"], ""),
            price=w["price"],
            quantity=quantity(listing.asset_class, w.get("quantity")),
        )
        for w in outcome.get("winners", [])
    )


def _statistics(listing: Listing, stats: dict[str, Any] | None) -> data.UniformPriceStatistics | None:
    if not stats:
        return None

    def volume(key: str) -> Decimal:
        value = quantity(listing.asset_class, stats[key])
        assert value is not None
        return value

    return data.UniformPriceStatistics(
        clearing_price=stats.get("clearing_price"),
        volume_offered=volume("volume_offered"),
        volume_sold=volume("volume_sold"),
        total_bid_volume=volume("total_bid_volume"),
        qualified_bid_volume=volume("qualified_bid_volume"),
        cover_ratio=Fraction(stats["cover_ratio"]),
        bidders=stats["bidders"],
        winners=stats["winners"],
        hhi=Fraction(stats["hhi"]),
    )


def _draw(draw: dict[str, Any] | None) -> data.DrawInputs | None:
    if not draw:
        return None
    return data.DrawInputs(
        purpose=draw["purpose"],
        seed_hex=draw["seed_hex"],
        commitment=draw["commitment"],
        candidates=tuple(draw["candidates"]),
        keys=tuple(draw["keys"]),
        order=tuple(draw["order"]),
        procedure=draw["procedure"],
    )


async def publish_announcement(session: AsyncSession, listing: Listing) -> Document:
    return await issue(
        session,
        key=f"listing_announcement:{listing.id}",
        kind="listing_announcement",
        listing_id=listing.id,
        public=True,
        title=f"{listing.title} 出让公告",
        data=announcement(listing),
        audit_head=await listing_audit_head(session, listing.id),
    )


def _status(auction: Auction) -> Literal["sold", "failed"]:
    return "sold" if (auction.outcome or {}).get("status") == "sold" else "failed"


async def publish_result(session: AsyncSession, listing: Listing, auction: Auction) -> Document:
    """成交公示 (or 流拍公告) of a finished auction."""
    outcome = auction.outcome or {}
    result = data.ResultAnnouncement(
        listing=listing_info(listing),
        outcome=_status(auction),
        decided_at=auction.closed_at or listing.bidding_closes_at,
        start_price=listing.start_price,
        bid_count=int(outcome.get("bid_count", 0)),
        price=outcome.get("price"),
        winners=_winners(listing, outcome, await winner_names(session, listing.id)),
        failure_reason=outcome.get("reason"),
        statistics=_statistics(listing, outcome.get("statistics")),
        draw=_draw(outcome.get("draw")),
        average_quote=Fraction(outcome["average_quote"]) if outcome.get("average_quote") else None,
    )
    return await issue(
        session,
        key=f"result_announcement:{listing.id}",
        kind="result_announcement",
        listing_id=listing.id,
        public=True,
        title=f"{listing.title} 成交公示",
        data=result,
        audit_head=await listing_audit_head(session, listing.id),
    )


async def publish_bid_record(session: AsyncSession, listing: Listing, auction: Auction) -> Document:
    """竞价记录 of a finished auction: every accepted bid, winners named."""
    bids = (
        await session.execute(select(BidRow).where(BidRow.listing_id == listing.id).order_by(BidRow.seq))
    ).scalars()
    record = data.BidRecord(
        listing=listing_info(listing),
        opened_at=auction.opened_at,
        closed_at=auction.closed_at or listing.bidding_closes_at,
        outcome=_status(auction),
        bids=tuple(
            data.BidLine(
                seq=b.seq,
                at=b.accepted_at,
                bid_number=b.bid_number,
                amount=b.amount,
                quantity=quantity(listing.asset_class, b.quantity),
            )
            for b in bids
        ),
        winners=_winners(listing, auction.outcome or {}, await winner_names(session, listing.id)),
    )
    return await issue(
        session,
        key=f"bid_record:{listing.id}",
        kind="bid_record",
        listing_id=listing.id,
        public=True,
        title=f"{listing.title} 竞价记录",
        data=record,
        audit_head=await listing_audit_head(session, listing.id),
    )


def confirmation_key(listing_id: int, bid_number: str) -> str:
    return f"confirmation:{listing_id}:{bid_number}"


def refund_notice_key(refund_id: int) -> str:
    return f"refund_notice:{refund_id}"


async def _installments(session: AsyncSession, line_id: int) -> tuple[data.Installment, ...]:
    query = (
        select(SettlementInstallment)
        .where(SettlementInstallment.line_id == line_id)
        .order_by(SettlementInstallment.seq)
    )
    return tuple(
        data.Installment(label=row.label, due=row.due_date, amount=row.amount)
        for row in (await session.execute(query)).scalars()
    )


def _unit_price(settlement: Settlement, bid_number: str) -> int | None:
    prices = [
        w["price"]
        for w in (settlement.summary or {}).get("winners", [])
        if w.get("bidder") == bid_number and w.get("quantity") is not None
    ]
    return max(prices) if prices else None


async def publish_confirmation(session: AsyncSession, line_id: int) -> Document | None:
    """成交确认书 of one settlement line: one per winner, also in a uniform-price auction."""
    found = (
        await session.execute(
            select(SettlementLine, Settlement, Listing, User)
            .join(Settlement, Settlement.listing_id == SettlementLine.listing_id)
            .join(Listing, Listing.id == SettlementLine.listing_id)
            .join(User, User.id == SettlementLine.bidder_id)
            .where(SettlementLine.id == line_id)
        )
    ).first()
    if found is None:
        return None
    line, settlement, listing, user = found
    schedule = await _installments(session, line.id)
    contract = [i.due for i in schedule if i.label == "contract"]
    confirmation = data.Confirmation(
        listing=listing_info(listing),
        winner_name=user.display_name,
        credit_code=user.credit_code,
        bid_number=line.bid_number,
        decided_at=settlement.decided_at or settlement.created_at,
        price=line.price,
        deposit_applied=line.deposit_applied,
        fee=line.fee,
        payment_schedule=schedule,
        unit_price=_unit_price(settlement, line.bid_number) if line.quantity is not None else None,
        quantity=quantity(listing.asset_class, line.quantity),
        contract_due=contract[0] if contract else None,
    )
    return await issue(
        session,
        key=confirmation_key(listing.id, line.bid_number),
        kind="confirmation",
        listing_id=listing.id,
        public=False,
        owner_id=line.bidder_id,
        title=f"{listing.title} 成交确认书",
        data=confirmation,
        audit_head=await listing_audit_head(session, listing.id),
    )


async def _refund_reason(session: AsyncSession, listing: Listing, application: Application, memo: str) -> str:
    """Why the deposit came back, from the facts (a key of ``REFUND_REASONS``, else the release memo)."""
    if application.status == "rejected":
        return "rejected"
    if listing.status == "cancelled":
        return "cancelled"
    settlement = await session.get(Settlement, listing.id)
    if settlement is None:
        return memo
    if settlement.outcome != "sold":
        return settlement.outcome  # "failed" or "cancelled"
    won = await session.execute(
        select(SettlementLine.id).where(
            SettlementLine.listing_id == listing.id, SettlementLine.application_id == application.id
        )
    )
    return "excess" if won.first() is not None else "not_won"


def _masked(account: str | None) -> str | None:
    return f"**** {account[-4:]}" if account and len(account) > 4 else account


NOTIFIED_REFUNDS = ("deposit_released", "payment_refunded")
"""Refunds to a bidder that get a notice: a released deposit, and what a winner in default had paid.
(A refund of unmatched incoming money goes back to a payer the exchange may not know.)"""


async def publish_refund_notice(session: AsyncSession, refund_id: int) -> Document | None:
    """保证金退还通知 (or 价款退还通知) for one refund, to the bidder whose money it was."""
    found = (
        await session.execute(
            select(
                RefundInstruction, LedgerTransaction.kind, LedgerTransaction.memo, Application, Listing, User
            )
            .join(LedgerTransaction, LedgerTransaction.id == RefundInstruction.transaction_id)
            .join(Application, Application.id == RefundInstruction.application_id)
            .join(Listing, Listing.id == Application.listing_id)
            .join(User, User.id == Application.bidder_id)
            .where(RefundInstruction.id == refund_id, LedgerTransaction.kind.in_(NOTIFIED_REFUNDS))
        )
    ).first()
    if found is None:
        return None
    refund, kind, memo, application, listing, user = found
    payments = kind == "payment_refunded"
    notice = data.RefundNotice(
        listing=listing_info(listing),
        bidder_name=user.display_name,
        credit_code=user.credit_code,
        bid_number=application.bid_number,
        amount=refund.amount,
        reason="default" if payments else await _refund_reason(session, listing, application, memo),
        released_at=refund.created_at,
        refund_due=refund.due_date,
        account=_masked(refund.payee_account),
        refunded="payments" if payments else "deposit",
    )
    return await issue(
        session,
        key=refund_notice_key(refund.id),
        kind="refund_notice",
        listing_id=listing.id,
        public=False,
        owner_id=application.bidder_id,
        title=f"{listing.title} {'价款退还通知' if payments else '保证金退还通知'}",
        data=notice,
        audit_head=await listing_audit_head(session, listing.id),
    )


def _no_document(key: Any) -> Any:
    return ~exists().where(Document.key == key)


UNCONFIRMED = (
    select(SettlementLine.id)
    .where(
        _no_document(
            literal("confirmation:")
            + cast(SettlementLine.listing_id, String)
            + literal(":")
            + SettlementLine.bid_number
        )
    )
    .order_by(SettlementLine.id)
)
"""Settlement lines whose confirmation is not issued yet."""

UNNOTIFIED = (
    select(RefundInstruction.id)
    .join(LedgerTransaction, LedgerTransaction.id == RefundInstruction.transaction_id)
    .where(
        LedgerTransaction.kind.in_(NOTIFIED_REFUNDS),
        RefundInstruction.application_id.is_not(None),
        _no_document(literal("refund_notice:") + cast(RefundInstruction.id, String)),
    )
    .order_by(RefundInstruction.id)
)
"""Refunds to bidders without their notice."""


class Publisher:
    """The catch-up job: every published fact gets its document, once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], timers: Timers) -> None:
        self._sessions = sessions
        self._timers = timers

    async def _missing(self, key_prefix: str, query: Any) -> list[int]:
        async with self._sessions() as session:
            ids = set((await session.execute(query)).scalars())
            if not ids:
                return []
            keys = {f"{key_prefix}:{i}" for i in ids}
            have = set((await session.execute(select(Document.key).where(Document.key.in_(keys)))).scalars())
        return sorted(i for i in ids if f"{key_prefix}:{i}" not in have)

    async def catch_up(self) -> int:
        issued = 0
        # Not before its announcement date: until then the listing does not exist for the public.
        announced = select(Listing.id).where(
            Listing.status != "draft", Listing.published_at.is_not(None), Listing.announce_at <= utcnow()
        )
        for listing_id in await self._missing("listing_announcement", announced):
            issued += await self._guarded(listing_id, self._announce)
        closed = select(Auction.listing_id).where(Auction.status.in_(FINISHED))
        for kind, publish in (("result_announcement", publish_result), ("bid_record", publish_bid_record)):
            for listing_id in await self._missing(kind, closed):
                issued += await self._guarded(listing_id, partial(self._after_close, publish=publish))
        for line_id in await self._ids(UNCONFIRMED):
            issued += await self._guarded(line_id, self._confirm)
        for refund_id in await self._ids(UNNOTIFIED):
            issued += await self._guarded(refund_id, self._notify)
        return issued

    async def _ids(self, query: Any) -> list[int]:
        async with self._sessions() as session:
            return sorted(set((await session.execute(query)).scalars()))

    async def _guarded(self, subject: int, work: Callable[[AsyncSession, int], Awaitable[int]]) -> int:
        """One subject's documents in one transaction; a failure is logged and retried next round.

        Small transactions on purpose: from its ``document.issued`` entry to the
        commit, a transaction holds the listing's audit-chain head, and
        rendering another document meanwhile would keep every other writer of
        the listing waiting.
        """
        try:
            async with unit_of_work(self._sessions) as session:
                return await work(session, subject)
        except Exception:
            name = getattr(work, "__name__", None) or repr(work)  # a partial has no name
            log.exception("issuing documents (%s of %s) failed; the next round retries", name, subject)
            return 0

    @staticmethod
    async def _announce(session: AsyncSession, listing_id: int) -> int:
        listing = await session.get(Listing, listing_id)
        if listing is None:
            return 0
        await publish_announcement(session, listing)
        return 1

    @staticmethod
    async def _after_close(
        session: AsyncSession,
        listing_id: int,
        publish: Callable[[AsyncSession, Listing, Auction], Awaitable[Document]],
    ) -> int:
        listing = await session.get(Listing, listing_id)
        auction = await session.get(Auction, listing_id)
        if listing is None or auction is None:
            return 0
        await publish(session, listing, auction)
        return 1

    @staticmethod
    async def _confirm(session: AsyncSession, line_id: int) -> int:
        return int(await publish_confirmation(session, line_id) is not None)

    @staticmethod
    async def _notify(session: AsyncSession, refund_id: int) -> int:
        return int(await publish_refund_notice(session, refund_id) is not None)

    def start(self) -> None:
        self._timers.every("documents:catch-up", CATCH_UP_SECONDS, self.catch_up)
