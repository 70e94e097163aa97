"""Offers: quantity put up for sale on the exchange, encumbered the moment it is offered.

The primary market sells from the authority's reserve (政府储备: a registrar offers), the
secondary market from a holder's holding (the holder's bidder offers). Either way the quantity
moves at once to the offer's own hold account (``order_hold:offer:<id>``), under the source
account's row lock (:func:`settlement.registry.book.move`), so a holding's balance is always what
its holder may still sell and two offers can never sell the same unit (rule 3).

An operator approves an offer into a DRAFT listing whose asset, quantity, region and seller come
from the instrument and the offer, not from the client, then publishes it as any listing; or
rejects it, which releases the hold. Whatever does not end in a delivery goes back to where it
came from: a failed, cancelled, annulled or rescinded sale, a winner failing review, the unsold
remainder of a multi-unit sale (:func:`release_listing`, :func:`release_unsold`,
:func:`release_line`). The sale itself is delivered by :mod:`settlement.registry.delivery`.

Registry movements (debit positive; ``q`` the quantity):

=====================  ==========================================  ==============================
event                  entries                                     reference
=====================  ==========================================  ==============================
offer made             Dr order_hold:offer:<O> q / Cr source q     ``offer:<O>``
offer rejected         Dr source q / Cr order_hold q               ``offer:<O>:rejected``
sale failed/cancelled  Dr source rest / Cr order_hold rest         ``offer:<O>:released``
unsold remainder       Dr source rest / Cr order_hold rest         ``offer:<O>:unsold``
line undone            Dr source q_line / Cr order_hold q_line     ``offer:<O>:line:<line>``
=====================  ==========================================  ==============================

(``source`` is ``holding:<holder>:<i>`` or ``reserve:<i>``.) Every function works in the caller's
transaction and never commits.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error
from exchange.identity.models import User
from exchange.identity.tokens import Principal
from listings.attributes import WATER_MAX_TERM_YEARS
from listings.models import Listing
from listings.schemas import ListingCreate, Seller
from listings.services import STATUTORY, Defaults, terms_of, validated_fields
from listings.workdays import CalendarNotCovered, add_working_days, local_date
from settlement.registry import book
from settlement.registry.issuance import holder_of_user
from settlement.registry.models import Delivery, Holder, Instrument, Offer, RegistryAccount
from settlement.settlement_models import SettlementLine

__all__ = [
    "FIXED_COLUMNS",
    "FIXED_PARAMS",
    "STREAM",
    "ListingFixed",
    "OfferState",
    "approve_offer",
    "asset_class_of",
    "check_fixed_edit",
    "check_listing_matches",
    "check_settles_in_time",
    "make_offer",
    "offer_of_listing",
    "reject_offer",
    "release_line",
    "release_listing",
    "release_unsold",
    "settles_by",
    "withdraw_offer",
]

STREAM = "registry"
"""The registry's audit stream: its head is the registry's audit head."""
ASSET_CLASSES = {"emission": "emission_right", "water": "water_right"}
EMISSION_SCALE = 1000
"""kg/a in a tonne per year: the listing's quantity has 3 places of t/a, the registry counts kg/a."""
MAX_EMISSION_VALIDITY_YEARS = 5  # listings.attribute_fields: paid use is granted 5 years at a time


FIXED_COLUMNS = ("asset_class", "method", "attributes", "seller_name", "seller_credit_code")
"""A listing's columns an offer fixes: what is sold, how many, by which method, by whom."""
FIXED_PARAMS = ("quantity", "lot", "unit")
"""The method parameters an offer fixes: a uniform-price sale of more than the hold oversells it."""
_QUANTITY_KEYS = {"emission": ("pollutant", "quantity"), "water": ("trade_type", "volume")}


class OfferState(Conflict):
    """The offer is not in the state the action needs."""

    code = "registry_offer_state"


class ListingFixed(Conflict):
    """An edit of what the offer fixed, or a draft that no longer sells what its offer holds."""

    code = "registry_listing_fixed"


def asset_class_of(instrument: Instrument) -> str:
    return ASSET_CLASSES[instrument.right_type]


def _actor(principal: Principal | str) -> str:
    return principal if isinstance(principal, str) else f"user:{principal.user_id}"


async def _instrument(session: AsyncSession, instrument_id: int) -> Instrument:
    instrument = await session.get(Instrument, instrument_id)
    if instrument is None:
        raise NotFound(f"no instrument {instrument_id}", code="registry_not_found")
    return instrument


async def source_account(session: AsyncSession, offer: Offer) -> RegistryAccount:
    """Where the offer's quantity came from, and where it goes back: the holding or the reserve."""
    if offer.holder_id is None:
        return await book.account(session, "reserve", offer.instrument_id)
    return await book.account(session, "holding", offer.instrument_id, holder_id=offer.holder_id)


async def _locked_offer(session: AsyncSession, offer_id: int) -> Offer:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(Offer).where(Offer.id == offer_id).with_for_update().execution_options(populate_existing=True)
    )
    offer = (await session.execute(query)).scalar_one_or_none()
    if offer is None:
        raise NotFound(f"no offer {offer_id}", code="registry_not_found")
    return offer


async def make_offer(
    session: AsyncSession, *, holder: Holder | None, instrument_id: int, quantity: int, actor: Principal
) -> Offer:
    """Offer ``quantity`` of an instrument for sale and encumber it at once.

    ``holder`` None sells from the reserve, which only a registrar may do; a holder's offer is made
    by the bidder whose account carries the holder's credit code. 409 ``registry_insufficient``
    when the source holds less than ``quantity`` (after every earlier offer), ``registry_expired``
    for a lot past its validity.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise Unprocessable(
            f"the quantity must be a positive whole number of the smallest unit, got {quantity!r}",
            code="registry_offer_invalid",
            errors=[field_error("quantity", "must be a positive integer", "registry_offer_invalid")],
        )
    instrument = await _instrument(session, instrument_id)
    if holder is None:
        if actor.role != "registrar":
            raise Forbidden("only a registrar offers from the reserve")
    else:
        own = await holder_of_user(session, actor.user_id) if actor.role == "bidder" else None
        if own is None or own.id != holder.id:
            raise Forbidden("only the holder's own account may offer its holding")
    now = utcnow()
    if local_date(now) >= instrument.valid_until:
        raise Conflict(
            f"instrument {instrument.id} is no longer valid (until {instrument.valid_until})",
            code="registry_expired",
        )
    if holder is None:
        source = await book.account(session, "reserve", instrument.id)
    else:
        source = await book.account(session, "holding", instrument.id, holder_id=holder.id)
    # The hold account's code names the offer, so the offer needs its id first; until the hold
    # exists the row points at the source (the column is a non-null foreign key).
    offer = Offer(
        holder_id=holder.id if holder is not None else None,
        instrument_id=instrument.id,
        quantity=quantity,
        status="pending",
        hold_account_id=source.id,
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(offer)
    await session.flush()
    hold = await book.account(
        session,
        "order_hold",
        instrument.id,
        holder_id=holder.id if holder is not None else None,
        key=f"offer:{offer.id}",
    )
    offer.hold_account_id = hold.id
    await book.move(
        session,
        source=source,
        target=hold,
        quantity=quantity,
        kind="offer_hold",
        reference=f"offer:{offer.id}",
        actor=_actor(actor),
        memo="offered for sale",
    )
    await session.flush()
    await append(
        session,
        STREAM,
        _actor(actor),
        "registry.offer_made",
        {
            "offer_id": offer.id,
            "holder_id": offer.holder_id,
            "instrument_id": instrument.id,
            "quantity": quantity,
        },
    )
    return offer


def _years_left(instrument: Instrument, today: date) -> int:
    days = (instrument.valid_until - today).days
    return max(1, (days + 364) // 365)


def _attributes(instrument: Instrument, quantity: int, given: dict[str, Any], today: date) -> dict[str, Any]:
    """The listing's attributes from the instrument and the offer; only what the instrument does
    not know (the region's name, a water right's use) is taken from the client."""
    region = str(given.get("region") or "").strip() or instrument.region_code
    if instrument.right_type == "emission":
        attributes: dict[str, Any] = {
            "pollutant": instrument.sub_type,
            "quantity": str(Decimal(quantity) / EMISSION_SCALE),
            "unit": "t/a",
            "region": region,
            "region_code": instrument.region_code,
            "validity_years": min(_years_left(instrument, today), MAX_EMISSION_VALIDITY_YEARS),
        }
        if instrument.basin:
            attributes["basin"] = instrument.basin
        return attributes
    longest = WATER_MAX_TERM_YEARS.get(instrument.sub_type, 1)
    return {
        "trade_type": instrument.sub_type,
        "water_source": instrument.water_source or region,
        "volume": str(quantity),
        "unit": "m3/a",
        "term_years": min(_years_left(instrument, today), longest),
        "use": given.get("use") or "industrial",
        "region": region,
        "region_code": instrument.region_code,
    }


async def _seller(session: AsyncSession, offer: Offer, data: ListingCreate) -> Seller:
    """The holder that sells; for the reserve, the authority as the body names it (else the
    registrar who offered)."""
    if offer.holder_id is not None:
        holder = await session.get(Holder, offer.holder_id)
        assert holder is not None
        given = data.seller
        return Seller(
            name=holder.name,
            credit_code=holder.credit_code,
            address=given.address if given is not None else None,
            contact=given.contact if given is not None else None,
        )
    if data.seller is not None:
        return data.seller
    registrar = await session.get(User, offer.created_by)
    return Seller(name=registrar.display_name if registrar is not None else "政府储备")


def _quantity_text(instrument: Instrument, quantity: int) -> str:
    if instrument.right_type == "emission":
        return f"{Decimal(quantity) / EMISSION_SCALE:.3f}"
    return str(quantity)


async def approve_offer(
    session: AsyncSession,
    offer_id: int,
    data: ListingCreate,
    actor: Principal,
    defaults: Defaults = STATUTORY,
) -> Listing:
    """An operator approves a pending offer into a DRAFT listing (returned, not committed).

    The asset class, the attributes the instrument fixes, the seller, and for a uniform-price
    auction the quantity and its unit come from the offer; the schedule, prices, method and the
    rest from ``data``, validated as any listing (422 ``listing_invalid``).
    """
    if actor.role != "operator":
        raise Forbidden("only an operator approves an offer")
    offer = await _locked_offer(session, offer_id)
    if offer.status != "pending":
        raise OfferState(f"the offer is {offer.status}, not pending", offer_id=offer.id)
    instrument = await _instrument(session, offer.instrument_id)
    now = utcnow()
    asset_class = asset_class_of(instrument)
    changes: dict[str, Any] = {
        "asset_class": asset_class,
        "attributes": _attributes(instrument, offer.quantity, data.attributes, local_date(now)),
        "seller": await _seller(session, offer, data),
    }
    if data.method == "uniform_price":
        changes["quantity"] = _quantity_text(instrument, offer.quantity)
        changes["unit"] = "t/a" if instrument.right_type == "emission" else "m3/a"
    fields = validated_fields(msgspec.structs.replace(data, **changes), defaults)
    listing = Listing(**fields, status="draft", created_by=actor.user_id, created_at=now, updated_at=now)
    check_settles_in_time(listing, instrument)
    session.add(listing)
    await session.flush()
    offer.status, offer.listing_id = "approved", listing.id
    offer.decided_by, offer.decided_at = actor.user_id, now
    await session.flush()
    audit = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}
    await append(session, listing.stream, _actor(actor), "listing.created", audit | {"offer_id": offer.id})
    await append(
        session,
        STREAM,
        _actor(actor),
        "registry.offer_approved",
        {"offer_id": offer.id, "listing_id": listing.id},
    )
    return listing


def settles_by(listing: Listing) -> date:
    """The last day (China's date) the sale may still be paid for and delivered: the bidding's close,
    then its 公示, then the longest payment term (after the contract's days when it counts from the
    contract). Where the working-day calendar ends, two calendar days stand for a working day."""
    terms = terms_of(listing)
    working = (listing.publicity_working_days or 0) + max((t.working_days or 0) for t in terms.terms)
    if terms.anchor == "contract":
        working += terms.contract_working_days
    closes = local_date(listing.bidding_closes_at)
    try:
        end = add_working_days(closes, working)
    except CalendarNotCovered:
        end = closes + timedelta(days=2 * working)
    return end + timedelta(days=31 * max((t.months or 0) for t in terms.terms))


def check_settles_in_time(listing: Listing, instrument: Instrument) -> None:
    """409 ``registry_expired`` unless the sale can settle before the lot's validity ends: from
    ``valid_until`` the lot can no longer be delivered, and a winner who paid would get nothing."""
    last = settles_by(listing)
    if last >= instrument.valid_until:
        raise Conflict(
            f"instrument {instrument.id} is valid until {instrument.valid_until}; a sale whose bidding "
            f"closes {local_date(listing.bidding_closes_at)} may settle as late as {last}",
            code="registry_expired",
            valid_until=instrument.valid_until.isoformat(),
            settles_by=last.isoformat(),
        )


def _same_quantity(given: Any, wanted: str) -> bool:
    try:
        return Decimal(str(given)) == Decimal(wanted)
    except (InvalidOperation, ValueError):
        return False


async def check_listing_matches(session: AsyncSession, listing: Listing, offer: Offer) -> None:
    """The draft still sells exactly what the offer holds, from its seller, and can settle before
    the lot expires (409 ``registry_listing_fixed``, ``registry_offer_state``, ``registry_expired``).
    Checked at publication: whatever happened to the draft, a published sale delivers what it says."""
    if offer.status != "approved":
        raise OfferState(f"the listing's offer is {offer.status}, not approved", offer_id=offer.id)
    instrument = await _instrument(session, offer.instrument_id)
    kind_key, quantity_key = _QUANTITY_KEYS[instrument.right_type]
    attributes = listing.attributes or {}
    wrong = []
    if listing.asset_class != asset_class_of(instrument):
        wrong.append("asset_class")
    if attributes.get(kind_key) != instrument.sub_type:
        wrong.append(f"attributes.{kind_key}")
    if not _same_quantity(attributes.get(quantity_key), _quantity_text(instrument, offer.quantity)):
        wrong.append(f"attributes.{quantity_key}")
    if attributes.get("region_code") != instrument.region_code:
        wrong.append("attributes.region_code")
    params = listing.method_params or {}
    if params.get("quantity") is not None and not _same_quantity(
        params["quantity"], _quantity_text(instrument, offer.quantity)
    ):
        wrong.append("quantity")
    if offer.holder_id is not None:
        holder = await session.get(Holder, offer.holder_id)
        if holder is None or listing.seller_credit_code != holder.credit_code:
            wrong.append("seller")
    if wrong:
        raise ListingFixed(
            "this listing sells registry holdings: it no longer matches its offer (" + ", ".join(wrong) + ")",
            offer_id=offer.id,
            fields=wrong,
        )
    check_settles_in_time(listing, instrument)


def check_fixed_edit(listing: Listing, offer: Offer, fields: dict[str, Any]) -> None:
    """409 ``registry_listing_fixed`` when an edit changes what the offer fixed; prices, deposit,
    schedule and description stay the operator's."""
    changed = [k for k in FIXED_COLUMNS if k in fields and fields[k] != getattr(listing, k)]
    if "method_params" in fields:
        before, after = listing.method_params or {}, fields["method_params"] or {}
        changed += [k for k in FIXED_PARAMS if after.get(k) != before.get(k)]
    if changed:
        raise ListingFixed(
            "this listing sells registry holdings: its right, quantity, method and seller are fixed "
            "by the offer (" + ", ".join(changed) + ")",
            offer_id=offer.id,
            fields=changed,
        )


async def _give_back(
    session: AsyncSession, offer: Offer, quantity: int, *, reference: str, memo: str, actor: str
) -> int:
    """Move ``quantity`` (at most what the hold still has) back to the source; returns what moved."""
    hold = await session.get(RegistryAccount, offer.hold_account_id)
    assert hold is not None
    await book.lock(session, hold)
    moved = min(quantity, await book.balance(session, hold.id))
    if moved <= 0:
        return 0
    await book.move(
        session,
        source=hold,
        target=await source_account(session, offer),
        quantity=moved,
        kind="offer_released",
        reference=reference,
        actor=actor,
        memo=memo,
        listing_id=offer.listing_id,
    )
    return moved


async def reject_offer(session: AsyncSession, offer_id: int, reason: str, actor: Principal) -> Offer:
    """An operator rejects a pending offer: the whole hold goes back to the seller."""
    if actor.role != "operator":
        raise Forbidden("only an operator rejects an offer")
    if not reason.strip():
        raise Unprocessable(
            "a rejection needs a reason",
            code="reason_required",
            errors=[field_error("reason", "required when rejecting", "reason_required")],
        )
    offer = await _locked_offer(session, offer_id)
    if offer.status != "pending":
        raise OfferState(f"the offer is {offer.status}, not pending", offer_id=offer.id)
    moved = await _give_back(
        session,
        offer,
        offer.quantity,
        reference=f"offer:{offer.id}:rejected",
        memo=f"offer rejected: {reason}",
        actor=_actor(actor),
    )
    now = utcnow()
    offer.status, offer.reason = "rejected", reason
    offer.decided_by, offer.decided_at = actor.user_id, now
    await session.flush()
    await append(
        session,
        STREAM,
        _actor(actor),
        "registry.offer_rejected",
        {"offer_id": offer.id, "released": moved, "reason": reason},
    )
    return offer


async def withdraw_offer(session: AsyncSession, offer_id: int, reason: str, actor: str) -> int:
    """Withdraw a PENDING offer (its lot expired): the whole hold back to the source; what moved.
    An offer approved meanwhile is left alone (its sale ends through the listing): 0."""
    offer = await _locked_offer(session, offer_id)
    if offer.status != "pending":
        return 0
    moved = await _give_back(
        session, offer, offer.quantity, reference=f"offer:{offer.id}:expired", memo=reason, actor=actor
    )
    offer.status, offer.reason, offer.decided_at = "released", reason, utcnow()
    await session.flush()
    await append(
        session,
        STREAM,
        actor,
        "registry.offer_withdrawn",
        {"offer_id": offer.id, "released": moved, "reason": reason},
    )
    return moved


async def offer_of_listing(session: AsyncSession, listing_id: int) -> Offer | None:
    query = select(Offer).where(Offer.listing_id == listing_id)
    return (await session.execute(query)).scalar_one_or_none()


async def _settle_status(session: AsyncSession, offer: Offer) -> None:
    """``sold`` once the hold is empty and something was delivered, ``released`` when it emptied
    with nothing delivered; otherwise it stays approved (quantity still waits for a buyer)."""
    if await book.balance(session, offer.hold_account_id) > 0:
        return
    delivered = (
        await session.execute(
            select(Delivery.id).where(Delivery.listing_id == offer.listing_id, Delivery.status == "delivered")
        )
    ).first()
    offer.status = "sold" if delivered is not None else "released"
    await session.flush()


async def _release(
    session: AsyncSession, listing_id: int, quantity: int | None, suffix: str, reason: str, actor: str
) -> int:
    found = await offer_of_listing(session, listing_id)
    if found is None:
        return 0
    offer = await _locked_offer(session, found.id)
    reference = f"offer:{offer.id}:{suffix}"
    if await book.transaction_by_reference(session, reference) is not None:
        return 0  # released before: what the hold has now is other lines' (a repeat moves nothing)
    hold_balance = await book.balance(session, offer.hold_account_id)
    wanted = hold_balance if quantity is None else min(quantity, hold_balance)
    moved = await _give_back(session, offer, wanted, reference=reference, memo=reason, actor=actor)
    await _settle_status(session, offer)
    if moved:
        await append(
            session,
            STREAM,
            actor,
            "registry.offer_released",
            {"offer_id": offer.id, "listing_id": listing_id, "released": moved, "reason": reason},
        )
    return moved


async def release_listing(session: AsyncSession, listing_id: int, reason: str, actor: str) -> None:
    """A sale that will deliver nothing more (failed, cancelled, annulled, its winner failed review):
    whatever the listing's offer still holds goes back to the seller. Nothing for a listing
    without an offer; a repeat moves nothing (the hold is empty)."""
    await _release(session, listing_id, None, "released", reason, actor)


async def release_unsold(session: AsyncSession, listing_id: int, sold: int, actor: str) -> None:
    """After the close of a multi-unit sale: the hold keeps what the winners bought (``sold``, in
    the registry's unit) and gives the rest back."""
    found = await offer_of_listing(session, listing_id)
    if found is None:
        return
    offer = await _locked_offer(session, found.id)
    unsold = offer.quantity - sold
    if unsold > 0:
        await _release(session, listing_id, unsold, "unsold", "not sold at the close", actor)


async def release_line(session: AsyncSession, line: SettlementLine, reason: str, actor: str) -> None:
    """One winner's sale undone (rescinded, annulled) before delivery: its share goes back (the whole
    hold for a single-unit sale, the line's quantity for a multi-unit one). A line already
    delivered keeps its delivery: undoing a delivered sale is a registry correction, not this."""
    delivered = (
        await session.execute(
            select(Delivery.id).where(
                Delivery.listing_id == line.listing_id,
                Delivery.application_id == line.application_id,
                Delivery.status == "delivered",
            )
        )
    ).first()
    if delivered is not None:
        return
    await _release(session, line.listing_id, line.quantity, f"line:{line.id}", reason, actor)
