"""Opening registry accounts and issuing rights into them (docs/rules.md section 7, rules 1-4).

One holder per legal subject, named by its unified social credit code (rule 1); exchange and
regulator staff may not hold one (rule 10). Where a holder is (its region and basin) decides what
it may buy, so only the registrar's word on it counts: an account the registrar opens is verified
at once; one an enterprise opens for itself must at least lie in the division that registered its
credit code, and trades nothing until the registrar has verified (or corrected) it. An issuance creates the instrument and posts the
cap into the authority's reserve (Dr reserve / Cr issuance); an allocation moves quantity from
the reserve, the only source of allocations, to a holder's holding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

from msgspec import UNSET, UnsetType
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error
from exchange.identity.codes import CodeError, validate_credit_code
from exchange.identity.models import User
from exchange.identity.tokens import STAFF_ROLES, Principal, Role
from listings.attribute_fields import WaterTradeType
from settlement.double_entry import DuplicateReference
from settlement.registry import book
from settlement.registry.eligibility import POLLUTANTS, WATER_POLLUTANTS, TradeRefused
from settlement.registry.models import ORIGINS, RIGHT_TYPES, UNITS, Holder, Instrument, RegistryTransaction

__all__ = [
    "ISSUERS",
    "NON_HOLDERS",
    "Issuance",
    "NoRegistryAccount",
    "allocate",
    "holder_by_code",
    "holder_of_user",
    "issue",
    "list_holders",
    "open_account",
    "today",
    "verify_account",
]

ISSUERS = ("registrar",)
"""Roles that issue and allocate rights: the authority's registrar, no one at the exchange."""
NON_HOLDERS: tuple[Role, ...] = (*STAFF_ROLES, "registrar")
"""Who may not hold a registry account (rule 10): the exchange's staff and the authority's."""

WATER_TRADE_TYPES: tuple[str, ...] = get_args(WaterTradeType)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def today(now: datetime | None = None) -> date:
    """The date in China, against which validity is judged."""
    return (now or utcnow()).astimezone(SHANGHAI).date()


class NoRegistryAccount(Conflict):
    code = "registry_no_account"


def _actor(principal: Principal) -> str:
    return f"user:{principal.user_id}"


def _region(value: str) -> bool:
    return len(value) == 6 and value.isdigit()


async def holder_by_code(session: AsyncSession, credit_code: str) -> Holder | None:
    query = select(Holder).where(Holder.credit_code == "".join(credit_code.split()).upper())
    return (await session.execute(query)).scalar_one_or_none()


async def holder_of_user(session: AsyncSession, user_id: int) -> Holder | None:
    """The holder whose credit code the user carries (the bidder acting for the enterprise)."""
    query = select(Holder).join(User, User.credit_code == Holder.credit_code).where(User.id == user_id)
    return (await session.execute(query)).scalar_one_or_none()


def _division_of(credit_code: str) -> str:
    """The province (2 digits) of the authority that registered the credit code: GB 32100's
    characters 3-8 are its GB/T 2260 division."""
    return credit_code[2:4]


async def open_account(
    session: AsyncSession,
    *,
    credit_code: str,
    name: str,
    region_code: str,
    basin: str | None,
    actor: str,
    registrar: Principal | None = None,
) -> Holder:
    """The holder of ``credit_code``, opened now if it has none; a repeat with the same values is
    the same holder, with other values a ``registry_holder_conflict``.

    Opened by a ``registrar`` the account is verified at once (and a registrar repeating an
    unverified account's particulars verifies it). Without one (the enterprise itself) the region
    must lie in the province that registered the credit code (422 ``registry_region_mismatch``)
    and the account stays unverified until :func:`verify_account`."""
    if registrar is not None and registrar.role not in ISSUERS:
        raise Forbidden("only the registrar verifies a registry account", code="forbidden")
    errors: list[dict[str, Any]] = []
    try:
        code = validate_credit_code(credit_code)
    except CodeError as exc:
        code = credit_code
        errors.append(field_error("credit_code", exc.message, exc.reason))
    name = name.strip()
    basin = (basin or "").strip() or None
    if not name:
        errors.append(field_error("name", "the holder's name is required", "required"))
    if not _region(region_code):
        errors.append(field_error("region_code", "a region code is six digits (GB/T 2260)", "invalid"))
    if errors:
        raise Unprocessable("the registry account cannot be opened", errors=errors)
    if registrar is None and region_code[:2] != _division_of(code):
        message = (
            f"region {region_code} is outside the province ({_division_of(code)}) that registered "
            f"credit code {code}: ask the registrar to open the account"
        )
        raise Unprocessable(
            message,
            code="registry_region_mismatch",
            errors=[field_error("region_code", message, "registry_region_mismatch")],
        )
    staff = await session.execute(
        select(User.id).where(User.credit_code == code, User.role.in_(NON_HOLDERS)).limit(1)
    )
    if staff.first() is not None:
        raise Conflict(
            "exchange and regulator staff may not hold a registry account",
            code="registry_staff_account",
            credit_code=code,
        )
    wanted = {"name": name, "region_code": region_code, "basin": basin}
    found = await holder_by_code(session, code)
    if found is None:
        now = utcnow()
        holder = Holder(
            credit_code=code,
            created_at=now,
            verified_at=now if registrar is not None else None,
            verified_by=registrar.user_id if registrar is not None else None,
            **wanted,
        )
        try:
            async with session.begin_nested():
                session.add(holder)
                await session.flush()
        except IntegrityError:  # opened by a concurrent transaction since we looked
            found = await holder_by_code(session, code)
            if found is None:
                raise
        else:
            await append(
                session,
                book.STREAM,
                actor,
                "registry.holder_opened",
                {
                    "holder_id": holder.id,
                    "credit_code": code,
                    **wanted,
                    "verified_by": holder.verified_by,
                },
            )
            return holder
    if {k: getattr(found, k) for k in wanted} != wanted:
        raise Conflict(
            f"the registry account of {code} exists with other particulars",
            code="registry_holder_conflict",
            credit_code=code,
        )
    if registrar is not None and found.verified_at is None:
        return await verify_account(session, holder=found, registrar=registrar)
    return found


async def verify_account(
    session: AsyncSession,
    *,
    holder: Holder,
    registrar: Principal,
    region_code: str | None = None,
    basin: str | UnsetType | None = UNSET,
) -> Holder:
    """The registrar confirms where the holder is, correcting its region and its basin (``None``
    clears it; left out, it stays) on the way; who and when are recorded and audited. A repeat
    that changes nothing on a verified holder records nothing again."""
    if registrar.role not in ISSUERS:
        raise Forbidden("only the registrar verifies a registry account", code="forbidden")
    region = holder.region_code if region_code is None else region_code
    if not _region(region):
        message = "a region code is six digits (GB/T 2260)"
        raise Unprocessable(message, errors=[field_error("region_code", message, "invalid")])
    placed = holder.basin if isinstance(basin, UnsetType) else ((basin or "").strip() or None)
    before = {"region_code": holder.region_code, "basin": holder.basin}
    after = {"region_code": region, "basin": placed}
    if holder.verified_at is not None and before == after:
        return holder
    holder.region_code, holder.basin = region, placed
    holder.verified_at, holder.verified_by = utcnow(), registrar.user_id
    await session.flush()
    await append(
        session,
        book.STREAM,
        _actor(registrar),
        "registry.holder_verified",
        {"holder_id": holder.id, "credit_code": holder.credit_code, "declared": before, "verified": after},
    )
    return holder


async def list_holders(
    session: AsyncSession, *, verified: bool | None = None, offset: int = 0, limit: int = 50
) -> list[Holder]:
    """Holders, oldest first; ``verified=False``: the accounts waiting for the registrar."""
    query = select(Holder).order_by(Holder.created_at, Holder.id).offset(offset).limit(limit)
    if verified is not None:
        query = query.where(Holder.verified_at.is_not(None) if verified else Holder.verified_at.is_(None))
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True)
class Issuance:
    """What the registrar issues: one lot of one right, into the reserve or straight to a holder."""

    right_type: str
    sub_type: str
    region_code: str
    basin: str | None
    water_source: str | None
    valid_from: date
    valid_until: date
    origin: str
    permit_reference: str | None
    legal_basis: str
    quantity: int
    holder_credit_code: str | None
    """None: the lot stays in the reserve, to be allocated or offered later."""
    reference: str
    """The issuance's idempotency key (the decision's number will do): a repeat issues nothing."""


def _invalid(data: Issuance) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []

    def bad(name: str, message: str, code: str = "invalid") -> None:
        errors.append(field_error(name, message, code))

    if data.right_type not in RIGHT_TYPES:
        bad("right_type", "the right type is emission or water")
    elif data.right_type == "emission" and data.sub_type not in POLLUTANTS:
        bad("sub_type", "an emission right names its pollutant: " + ", ".join(POLLUTANTS))
    elif data.right_type == "water" and data.sub_type not in WATER_TRADE_TYPES:
        bad("sub_type", "a water right names its trade type: " + ", ".join(WATER_TRADE_TYPES))
    if not _region(data.region_code):
        bad("region_code", "a region code is six digits (GB/T 2260)")
    needs_basin = data.right_type == "water" or data.sub_type in WATER_POLLUTANTS
    if needs_basin and not (data.basin or "").strip():
        bad("basin", "water rights and water pollutants trade within a basin: name it", "required")
    if data.right_type == "water" and not (data.water_source or "").strip():
        bad("water_source", "a water right names its source", "required")
    if data.valid_until <= data.valid_from:
        bad("valid_until", "the validity ends after it starts")
    if data.origin not in ORIGINS:
        bad("origin", "the origin is paid or free")
    if not data.legal_basis.strip():
        bad("legal_basis", "an issuance rests on a decision or document: name it", "required")
    if isinstance(data.quantity, bool) or not isinstance(data.quantity, int) or data.quantity <= 0:
        bad("quantity", "the quantity is a positive whole number of the unit")
    if not data.reference.strip() or len(data.reference) > 150:
        bad("reference", "the issuance needs a reference of at most 150 characters", "required")
    if data.holder_credit_code is not None:
        try:
            validate_credit_code(data.holder_credit_code)
        except CodeError as exc:
            errors.append(field_error("holder_credit_code", exc.message, exc.reason))
    return errors


def _same_lot(instrument: Instrument, data: Issuance) -> bool:
    fields = asdict(data)
    return all(
        getattr(instrument, name) == fields[name]
        for name in (
            "right_type",
            "sub_type",
            "region_code",
            "basin",
            "water_source",
            "valid_from",
            "valid_until",
            "origin",
            "permit_reference",
            "legal_basis",
        )
    )


async def issue(
    session: AsyncSession, data: Issuance, actor: Principal
) -> tuple[Instrument, RegistryTransaction]:
    """Create the instrument and post its cap into the reserve, then to the holder if one is named.

    Returns the instrument and the issuance transaction (the allocation, when there is one, is
    ``allocate:issue:<reference>``). A repeat of the same issuance returns what was booked; the
    same reference with another lot is a ``duplicate_reference``."""
    if actor.role not in ISSUERS:
        raise Forbidden("only the registrar issues rights", code="forbidden")
    errors = _invalid(data)
    if errors:
        raise Unprocessable("the issuance is not valid", code="registry_issuance_invalid", errors=errors)
    reference = f"issue:{data.reference.strip()}"
    holder = None
    if data.holder_credit_code is not None:
        holder = await holder_by_code(session, data.holder_credit_code)
        if holder is None:
            raise NoRegistryAccount(
                f"{data.holder_credit_code} has no registry account", credit_code=data.holder_credit_code
            )
    booked = await book.transaction_by_reference(session, reference)
    if booked is not None:
        instrument = await session.get(Instrument, booked.instrument_id)
        assert instrument is not None
        if not _same_lot(instrument, data) or -await _issued(session, instrument) != data.quantity:
            raise DuplicateReference(reference, f"issuance {data.reference!r} was booked with another lot")
    else:
        instrument = Instrument(
            right_type=data.right_type,
            sub_type=data.sub_type,
            region_code=data.region_code,
            basin=(data.basin or "").strip() or None,
            water_source=(data.water_source or "").strip() or None,
            unit=UNITS[data.right_type],
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            origin=data.origin,
            permit_reference=data.permit_reference,
            legal_basis=data.legal_basis.strip(),
            issued_by=actor.user_id,
            created_at=utcnow(),
        )
        session.add(instrument)
        await session.flush()
        await append(
            session,
            book.STREAM,
            _actor(actor),
            "registry.instrument_issued",
            {
                "instrument_id": instrument.id,
                "reference": data.reference,
                **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(data).items()},
            },
        )
    cap = await book.account(session, "issuance", instrument.id)
    reserve = await book.account(session, "reserve", instrument.id)
    txn = await book.move(
        session,
        source=cap,
        target=reserve,
        quantity=data.quantity,
        kind="issuance",
        reference=reference,
        actor=_actor(actor),
        memo=data.legal_basis.strip(),
    )
    if holder is not None:
        await allocate(
            session,
            instrument_id=instrument.id,
            holder_id=holder.id,
            quantity=data.quantity,
            reference=reference,
            actor=_actor(actor),
        )
    return instrument, txn


async def _issued(session: AsyncSession, instrument: Instrument) -> int:
    cap = await book.account(session, "issuance", instrument.id)
    return await book.balance(session, cap.id)


async def allocate(
    session: AsyncSession,
    *,
    instrument_id: int,
    holder_id: int,
    quantity: int,
    reference: str,
    actor: str,
) -> RegistryTransaction:
    """Move ``quantity`` from the reserve to the holder (reference ``allocate:<reference>``).

    A repeat returns the booked allocation; an expired lot is not allocated."""
    instrument = await session.get(Instrument, instrument_id)
    holder = await session.get(Holder, holder_id)
    if instrument is None or holder is None:
        raise NotFound("no such instrument or holder", code="registry_not_found")
    full = f"allocate:{reference}"
    if await book.transaction_by_reference(session, full) is None and today() >= instrument.valid_until:
        raise TradeRefused("registry_expired", instrument, holder)
    reserve = await book.account(session, "reserve", instrument_id)
    holding = await book.account(session, "holding", instrument_id, holder_id=holder_id)
    return await book.move(
        session,
        source=reserve,
        target=holding,
        quantity=quantity,
        kind="allocation",
        reference=full,
        actor=actor,
    )
