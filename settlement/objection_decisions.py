"""An operator's answer to an objection (异议) and the resolution of an upheld one.

- answer ``dismissed``: final; the 公示 goes on;
- answer ``upheld``: the settlement goes ``on_hold`` (异议处理中): the confirmation and the contract
  wait (:func:`settlement.objections.blocks_confirmation` is then true);
- resolve ``stands``: back to ``publicity`` once no other upheld objection holds it (the
  settlement's sweep confirms when the period is over and nothing else blocks);
- resolve ``annulled``: the sale fails (:func:`settlement.annulment.annul_sale`), its reason is
  published with the result.

Each step locks the listing, is audited in the listing's stream, and tells the filer by an in-app
notice. Kept apart from :mod:`settlement.objections`, which the close imports: the annulment may
import the close, and nothing may go round in a circle.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound, Unprocessable
from exchange.identity.tokens import Principal
from listings.models import Listing
from settlement.annulment import annul_sale
from settlement.lines import load_settlement, lock_listing
from settlement.notice_models import Notice
from settlement.objection_models import MAX_REASONS, Objection

__all__ = ["MAX_REASONS", "answer", "resolve"]


async def _locked_objection(session: AsyncSession, objection_id: int) -> tuple[Objection, Listing]:
    """The objection as it stands once its listing's row is locked."""
    found = await session.get(Objection, objection_id)
    listing = await lock_listing(session, found.listing_id) if found is not None else None
    if found is None or listing is None:
        raise NotFound("no such objection", code="objection_not_found")
    await session.refresh(found)
    return found, listing


def _text(value: str, code: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise Unprocessable(f"{what} is required", code=code)
    if len(text) > MAX_REASONS:
        raise Unprocessable(f"{what} may be at most {MAX_REASONS} characters", code=f"{code}_too_long")
    return text


async def _notify(session: AsyncSession, objection: Objection, kind: str, title: str, body: str) -> None:
    """An in-app notice to the filer (``GET /api/v1/notices/me``)."""
    session.add(
        Notice(
            user_id=objection.filed_by,
            listing_id=objection.listing_id,
            kind=kind,
            title=title,
            body=body,
            created_at=utcnow(),
        )
    )


async def answer(
    session: AsyncSession,
    objection_id: int,
    decision: Literal["dismissed", "upheld"],
    text: str,
    caller: Principal,
) -> Objection:
    """Answer a ``filed`` objection (409 ``objection_not_filed`` otherwise; 409
    ``settlement_annulled`` to uphold one once the sale was annulled)."""
    reply = _text(text, "answer_required", "an answer")
    objection, listing = await _locked_objection(session, objection_id)
    if objection.status != "filed":
        raise Conflict(f"the objection is {objection.status}", code="objection_not_filed")
    settlement = await load_settlement(session, objection.listing_id)
    if decision == "upheld" and settlement is not None and settlement.status == "annulled":
        # another objection annulled the sale already: nothing is left to hold or annul
        raise Conflict("the sale was annulled already", code="settlement_annulled")
    now = utcnow()
    objection.status = decision
    objection.answer = reply
    objection.answered_by = caller.user_id
    objection.answered_at = now
    held = False
    if decision == "upheld" and settlement is not None and settlement.status == "publicity":
        settlement.status = "on_hold"
        settlement.updated_at = now
        held = True
    await append(
        session,
        objection.stream,
        f"user:{caller.user_id}",
        f"objection.{decision}",
        {"objection_id": objection.id, "answer": reply, "settlement_on_hold": held},
        at=now,
    )
    verdict = "异议成立，成交确认暂停，待处理结果" if decision == "upheld" else "异议不成立，公示继续"
    await _notify(
        session,
        objection,
        f"objection_{decision}",
        f"您的异议已答复：{verdict}",
        f"您对“{listing.title}”成交结果提出的异议已答复（{verdict}）。答复：{reply}",
    )
    await session.flush()
    return objection


async def resolve(
    session: AsyncSession,
    objection_id: int,
    outcome: Literal["stands", "annulled"],
    text: str,
    caller: Principal,
) -> Objection:
    """Resolve an ``upheld`` objection (409 ``objection_not_upheld`` otherwise): the sale stands or fails."""
    reason = _text(text, "reason_required", "a reason")
    objection, listing = await _locked_objection(session, objection_id)
    if objection.status != "upheld":
        raise Conflict(f"the objection is {objection.status}", code="objection_not_upheld")
    settlement = await load_settlement(session, objection.listing_id)
    if settlement is None:
        raise NotFound("no settlement for this objection's listing", code="settlement_not_found")
    now = utcnow()
    already_annulled = settlement.status == "annulled"
    if outcome == "stands" and already_annulled:
        raise Conflict("the sale was annulled already", code="sale_annulled")
    objection.status = outcome
    objection.resolution_reason = reason
    objection.resolved_by = caller.user_id
    objection.resolved_at = now
    released = False
    if outcome == "stands":
        others = await session.execute(
            select(Objection.id).where(
                Objection.listing_id == objection.listing_id,
                Objection.status == "upheld",
                Objection.id != objection.id,
            )
        )
        if settlement.status == "on_hold" and others.first() is None:
            settlement.status = "publicity"
            settlement.updated_at = now
            released = True
    await append(
        session,
        objection.stream,
        f"user:{caller.user_id}",
        f"objection.resolved_{outcome}",
        {"objection_id": objection.id, "reason": reason, "settlement_released": released},
        at=now,
    )
    if outcome == "annulled" and not already_annulled:
        await annul_sale(session, listing, reason=reason, actor=f"user:{caller.user_id}")
    verdict = "成交有效，公示结束后继续办理成交确认" if outcome == "stands" else "成交无效"
    await _notify(
        session,
        objection,
        f"objection_{outcome}",
        f"您的异议已处理完毕：{verdict}",
        f"您对“{listing.title}”成交结果提出的异议已处理完毕（{verdict}）。理由：{reason}",
    )
    await session.flush()
    return objection
