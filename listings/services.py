"""Listing rules: create and edit drafts, publish, cancel, suspend, resume, the reserve.

Operators only (the controllers guard that); every change is audited in the
listing's own stream. The reserve price is audited for staff eyes only: the
audit endpoints are staff-only and public views never carry it. When the
reserve may change and how it is committed is ``listings.reserve``'s.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import msgspec
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound, Unprocessable, field_error
from exchange.identity.codes import CodeError, validate_credit_code
from exchange.identity.tokens import Principal
from exchange.money import MoneyFormatError, format_yuan, parse_yuan
from exchange.settlement_terms import (
    DEFAULT_PAYMENT_TERMS,
    PaymentTerms,
    default_terms,
    terms_from_json,
    terms_to_json,
)
from listings.attributes import validate_attributes
from listings.fields import FieldError
from listings.hooks import ListingHooks
from listings.methods import MethodParams, validate_method
from listings.models import FINAL_STATUSES, LIVE_STATUSES, Listing
from listings.profiles import (
    Schedule,
    Violation,
    bid_signatures,
    check_profile,
    default_publicity_working_days,
    party_violations,
)
from listings.reserve import FROZEN_AT_PUBLICATION, freeze, is_frozen
from listings.schemas import CatalogueFilters, ListingCreate, ListingUpdate, ScheduleIn, Seller

_MONEY_FIELDS = ("start_price", "increment", "deposit", "reserve_price", "price_cap")
_PARAM_FIELDS = (
    "cap_rule",
    "lottery_window_seconds",
    "quantity",
    "lot",
    "unit",
    "max_bidder_share",
    "bid_guarantee_ratio",
    "min_bidders",
    "freeze_seconds",
    "award_rule",
    "undersubscribed",
    "pricing",
)


def _actor(principal: Principal | str) -> str:
    return principal if isinstance(principal, str) else f"user:{principal.user_id}"


def _fen(name: str, text: str | None, errors: list[FieldError]) -> int | None:
    if text is None:
        return None
    try:
        return parse_yuan(text)
    except MoneyFormatError as exc:
        errors.append(FieldError(name, "money_invalid", str(exc)))
        return None


def _decimal(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None else None


def _region(attributes: dict[str, Any]) -> str | None:
    for key in ("admin_division_code", "region_code", "region"):
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value[:100]
    return None


def _jsonable(params: MethodParams) -> dict[str, Any]:
    """The validated parameters that have no column of their own, as JSON."""
    out: dict[str, Any] = {}
    for key, value in asdict(params).items():
        if key in (*_MONEY_FIELDS, "method", "extension_seconds", "qualification") or value is None:
            continue
        if isinstance(value, Fraction):
            value = decimal_text(value)
        out[key] = str(value) if isinstance(value, Decimal) else value
    return out


def decimal_text(value: Fraction | str) -> str:
    """A share as the decimal it was given as: "0.3", not ``str(Fraction)``'s "3/10".

    Shares come in as decimals, so they terminate; the precision is set to hold every
    digit. Listings stored before this wrote "3/10" into ``method_params``, which a
    ``Decimal_`` field (an edit, a relisting) cannot take back, hence also ``str``.
    """
    exact = Fraction(value)
    with localcontext() as context:
        context.prec = len(str(exact.numerator)) + len(str(exact.denominator)) + 2
        text = format(Decimal(exact.numerator) / Decimal(exact.denominator), "f")
    if Fraction(text) != exact:
        raise ValueError(f"{value} has no finite decimal form")
    return text


def _unprocessable(errors: list[FieldError], code: str = "listing_invalid") -> Unprocessable:
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return Unprocessable(detail, code=code, errors=[field_error(e.field, e.message, e.code) for e in errors])


class Defaults(msgspec.Struct, frozen=True, kw_only=True):
    """What a listing created without its own 公示 or payment terms gets: from the settings."""

    profile: str = "statutory"
    payment_terms: Mapping[str, PaymentTerms] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_PAYMENT_TERMS)
    )
    signed_bids_required: frozenset[str] = frozenset()
    """Asset classes whose listings always take bid signatures ``required`` (the deployment's choice)."""


STATUTORY = Defaults()


def terms_of(listing: Listing, defaults: Mapping[str, PaymentTerms] = DEFAULT_PAYMENT_TERMS) -> PaymentTerms:
    """The listing's payment terms; a listing stored before they existed has its class's default
    (``defaults``: the settings' ``payment_terms``)."""
    if listing.payment_terms is None:
        return default_terms(listing.asset_class, listing.attributes or {}, defaults)
    return terms_from_json(listing.payment_terms, f"listing {listing.id} payment_terms")


def seller_of(listing: Listing) -> Seller | None:
    if listing.seller_name is None:
        return None
    return Seller(
        name=listing.seller_name,
        credit_code=listing.seller_credit_code,
        address=listing.seller_address,
        contact=listing.seller_contact,
    )


def _text(value: str | None) -> str | None:
    """Trimmed; blank is none."""
    if value is None:
        return None
    return value.strip() or None


def _party_fields(
    data: ListingCreate, attributes: dict[str, Any], defaults: Defaults, errors: list[FieldError]
) -> dict[str, Any]:
    """The seller, the 文号, the 公示 and the payment terms as columns; 422 ``payment_terms_invalid`` at once."""
    if data.payment_terms is None:
        terms = default_terms(data.asset_class, attributes, defaults.payment_terms)
    else:
        try:
            terms = terms_from_json(data.payment_terms, "payment_terms")
        except ValueError as exc:
            raise Unprocessable(
                str(exc),
                code="payment_terms_invalid",
                errors=[field_error("payment_terms", str(exc), "payment_terms_invalid")],
            ) from exc
    seller = data.seller
    credit_code = _text(seller.credit_code) if seller is not None else None
    if credit_code is not None:
        try:
            credit_code = validate_credit_code(credit_code)
        except CodeError as exc:
            errors.append(FieldError("seller.credit_code", "credit_code_invalid", exc.message))
    name = _text(seller.name) if seller is not None else None
    if seller is not None and name is None:
        errors.append(FieldError("seller.name", "seller_name_invalid", "the seller's name cannot be blank"))
    publicity = data.publicity_working_days
    if publicity is None:
        publicity = default_publicity_working_days(
            data.asset_class, defaults.profile, state_owned=bool(attributes.get("state_owned", False))
        )
    return {
        "seller_name": name,
        "seller_credit_code": credit_code if name is not None else None,
        "seller_address": _text(seller.address) if name is not None and seller is not None else None,
        "seller_contact": _text(seller.contact) if name is not None and seller is not None else None,
        "announcement_number": _text(data.announcement_number),
        "publicity_working_days": publicity,
        "payment_terms": terms_to_json(terms),
    }


def validated_fields(data: ListingCreate, defaults: Defaults = STATUTORY) -> dict[str, Any]:
    """Every column of a listing from a creation body, or 422 with every field error.

    ``defaults`` fill the 公示 and the payment terms when the body has none; a relisting copies
    them (``as_create``), so it needs none.
    """
    errors: list[FieldError] = []
    money = {name: _fen(name, getattr(data, name), errors) for name in _MONEY_FIELDS}
    parties = _party_fields(data, data.attributes, defaults, errors)
    attributes, attribute_errors = validate_attributes(data.asset_class, data.attributes)
    errors.extend(attribute_errors)
    params = None
    if not errors:
        params, method_errors = validate_method(
            data.asset_class,
            MethodParams(
                method=data.method,
                start_price=money["start_price"] or 0,
                increment=money["increment"] or 0,
                deposit=money["deposit"] or 0,
                reserve_price=money["reserve_price"],
                price_cap=money["price_cap"],
                cap_rule=data.cap_rule,
                lottery_window_seconds=data.lottery_window_seconds,
                quantity=_decimal(data.quantity),
                lot=_decimal(data.lot),
                unit=data.unit,
                max_bidder_share=_decimal(data.max_bidder_share),
                bid_guarantee_ratio=_decimal(data.bid_guarantee_ratio),
                extension_seconds=data.schedule.extension_seconds,
                min_bidders=data.min_bidders or 1,
                freeze_seconds=data.freeze_seconds,
                award_rule=data.award_rule,
                undersubscribed=data.undersubscribed,
                pricing=data.pricing,
                qualification=data.qualification,
            ),
        )
        errors.extend(method_errors)
    if errors or params is None or attributes is None:
        raise _unprocessable(errors)
    attributes_json = msgspec.to_builtins(attributes)
    schedule = data.schedule
    return {
        "asset_class": data.asset_class,
        "method": data.method,
        "title": data.title.strip(),
        "description": data.description,
        "attributes": attributes_json,
        "region": _region(attributes_json),
        "start_price": params.start_price,
        "increment": params.increment,
        "deposit": params.deposit,
        "reserve_price": params.reserve_price,
        "price_cap": params.price_cap,
        "method_params": _jsonable(params),
        "qualification": params.qualification,
        "announce_at": schedule.announce_at,
        "registration_opens_at": schedule.registration_opens_at,
        "registration_closes_at": schedule.registration_closes_at,
        "bidding_opens_at": schedule.bidding_opens_at,
        "bidding_closes_at": schedule.bidding_closes_at,
        "extension_seconds": schedule.extension_seconds,
        "bid_signatures": bid_signatures(
            data.asset_class, data.bid_signatures, defaults.signed_bids_required
        ),
        **parties,
    }


def _audit_view(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy of the fields for the audit log (staff-only)."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}


async def create_listing(
    session: AsyncSession, data: ListingCreate, actor: Principal, defaults: Defaults = STATUTORY
) -> Listing:
    fields = validated_fields(data, defaults)
    now = utcnow()
    listing = Listing(**fields, status="draft", created_by=actor.user_id, created_at=now, updated_at=now)
    session.add(listing)
    await session.flush()
    await append(session, listing.stream, _actor(actor), "listing.created", _audit_view(fields))
    await session.commit()
    return listing


async def locked(session: AsyncSession, listing_id: int) -> Listing:
    """The listing row, locked for this transaction (``FOR UPDATE``)."""
    query = select(Listing).where(Listing.id == listing_id).with_for_update()
    listing = (await session.execute(query)).scalar_one_or_none()
    if listing is None:
        raise NotFound(f"no listing {listing_id}")
    return listing


async def locked_with_auction(session: AsyncSession, listing_id: int, hooks: ListingHooks) -> Listing:
    """The listing row, then its auction's, both locked before any audit entry is written.

    A bid locks the auction, then the listing's audit head; a staff action that took
    the head first and the auction after could deadlock with it.
    """
    listing = await locked(session, listing_id)
    now = utcnow()
    for lock in hooks.lock_auction:
        await lock(session, listing, now)
    return listing


def as_create(listing: Listing) -> ListingCreate:
    """The listing's current content in the shape of a creation body (for merging updates)."""
    params = {k: listing.method_params.get(k) for k in _PARAM_FIELDS}
    for name in ("max_bidder_share", "bid_guarantee_ratio"):
        if (ratio := params[name]) is not None:
            params[name] = decimal_text(ratio)
    money = {
        name: format_yuan(value) if (value := getattr(listing, name)) is not None else None
        for name in _MONEY_FIELDS
    }
    return ListingCreate(
        asset_class=listing.asset_class,  # type: ignore[arg-type]
        title=listing.title,
        description=listing.description,
        attributes=listing.attributes,
        method=listing.method,  # type: ignore[arg-type]
        schedule=schedule_of(listing),
        start_price=money["start_price"] or "0",
        increment=money["increment"] or "0",
        deposit=money["deposit"] or "0",
        reserve_price=money["reserve_price"],
        price_cap=money["price_cap"],
        qualification=listing.qualification,  # type: ignore[arg-type]
        seller=seller_of(listing),
        announcement_number=listing.announcement_number,
        publicity_working_days=listing.publicity_working_days,
        payment_terms=terms_to_json(terms_of(listing)),
        bid_signatures=listing.bid_signatures,  # type: ignore[arg-type]
        **params,
    )


def schedule_of(listing: Listing) -> ScheduleIn:
    return ScheduleIn(
        announce_at=listing.announce_at,
        registration_opens_at=listing.registration_opens_at,
        registration_closes_at=listing.registration_closes_at,
        bidding_opens_at=listing.bidding_opens_at,
        bidding_closes_at=listing.bidding_closes_at,
        extension_seconds=listing.extension_seconds,
    )


async def update_listing(
    session: AsyncSession,
    listing_id: int,
    data: ListingUpdate,
    actor: Principal,
    defaults: Defaults = STATUTORY,
    hooks: ListingHooks | None = None,
) -> Listing:
    """Edit a draft; ``hooks.check_edit`` may refuse the new values (a registry offer's listing)."""
    listing = await locked(session, listing_id)
    if listing.status != "draft":
        raise Conflict(
            f"only a draft can be edited; this listing is {listing.status}", code="listing_not_draft"
        )
    changes = data.changes()
    current = as_create(listing)
    if (
        "payment_terms" not in changes
        and "attributes" in changes
        and terms_of(listing)
        == default_terms(listing.asset_class, listing.attributes, defaults.payment_terms)
    ):
        # Terms nobody changed follow the attributes (land offered for lease pays rent).
        changes["payment_terms"] = None
    merged = msgspec.structs.replace(current, **changes)
    fields = validated_fields(merged, defaults)
    touched = {k: fields[k] for k in fields if k in _touched(changes)}
    for check in hooks.check_edit if hooks is not None else ():
        await check(session, listing, touched)
    for key, value in fields.items():
        setattr(listing, key, value)
    listing.updated_at = utcnow()
    await append(session, listing.stream, _actor(actor), "listing.updated", _audit_view(touched))
    await session.commit()
    return listing


def _touched(changes: dict[str, Any]) -> set[str]:
    """The listing's columns an edit may have changed: the schedule is five dates and the extension."""
    touched = {*changes, "attributes", "method_params"}
    if "schedule" in changes:
        touched.update(ScheduleIn.__struct_fields__)
    if "seller" in changes:
        touched.update(("seller_name", "seller_credit_code", "seller_address", "seller_contact"))
    return touched


def _profile_violations(listing: Listing, profile: str, announce_at: datetime) -> list[Violation]:
    return check_profile(
        listing.asset_class,
        listing.method,
        Schedule(
            announce_at=announce_at,
            registration_opens_at=listing.registration_opens_at,
            registration_closes_at=listing.registration_closes_at,
            bidding_opens_at=listing.bidding_opens_at,
            bidding_closes_at=listing.bidding_closes_at,
        ),
        start_price=listing.start_price,
        deposit=listing.deposit,
        min_bidders=int(listing.method_params.get("min_bidders", 1)),
        freeze_seconds=int(listing.method_params.get("freeze_seconds") or 0),
        profile=profile,
        state_owned=bool(listing.attributes.get("state_owned", False)),
    )


def _refuse(violations: list[Violation]) -> None:
    """One 422 naming every broken rule; its code is the first one's."""
    if violations:
        raise Unprocessable(
            "; ".join(v.message for v in violations),
            code=violations[0].code,
            errors=[field_error(v.field, v.message, v.code) for v in violations],
        )


def _profile_check(listing: Listing, profile: str, announce_at: datetime) -> None:
    _refuse(_profile_violations(listing, profile, announce_at))


def _party_violations(listing: Listing, profile: str) -> list[Violation]:
    return party_violations(
        listing.asset_class,
        seller_name=listing.seller_name,
        announcement_number=listing.announcement_number,
        publicity_working_days=listing.publicity_working_days,
        state_owned=bool(listing.attributes.get("state_owned", False)),
        profile=profile,
    )


async def publish(
    session: AsyncSession, listing_id: int, actor: Principal, profile: str, hooks: ListingHooks | None = None
) -> Listing:
    """Draft -> announced, after the statutory profile of its asset class is met (and
    ``hooks.check_publish``: a registry offer's listing must still sell what the offer holds).

    An announcement date in the past means "now": the lead time counts from
    the moment the public can actually read it.
    """
    listing = await locked(session, listing_id)
    if listing.status != "draft":
        raise Conflict(
            f"only a draft can be published; this listing is {listing.status}", code="listing_not_draft"
        )
    for check in hooks.check_publish if hooks is not None else ():
        await check(session, listing)
    now = utcnow()
    announce_at = max(listing.announce_at, now)
    # everything the profile requires in one answer: the parties and the 公示, then the schedule
    _refuse(_party_violations(listing, profile) + _profile_violations(listing, profile, announce_at))
    seed = secrets.token_bytes(32)
    listing.announce_at = announce_at
    listing.seed = seed.hex()
    listing.seed_commitment = hashlib.sha256(seed).hexdigest()
    listing.status = "announced"
    listing.published_at = now
    listing.updated_at = now
    await append(
        session,
        listing.stream,
        _actor(actor),
        "listing.published",
        {
            "announce_at": announce_at.isoformat(),
            "seed_commitment": listing.seed_commitment,
        },
    )
    if listing.asset_class in FROZEN_AT_PUBLICATION:
        await freeze(session, listing, _actor(actor), now)
    await session.commit()
    return listing


async def cancel(
    session: AsyncSession, listing_id: int, reason: str, actor: Principal, hooks: ListingHooks
) -> Listing:
    """Terminate (终止): final; every deposit is released through the hooks."""
    listing = await locked_with_auction(session, listing_id, hooks)
    if listing.status in FINAL_STATUSES:
        raise Conflict(f"a {listing.status} listing cannot be cancelled", code="listing_final")
    previous = listing.status
    listing.status = "cancelled"
    listing.status_reason = reason
    listing.suspended_from = None
    listing.updated_at = utcnow()
    await append(
        session, listing.stream, _actor(actor), "listing.cancelled", {"from": previous, "reason": reason}
    )
    for hook in hooks.on_cancelled:
        await hook(session, listing, listing.updated_at)
    await session.commit()
    return listing


async def suspend(
    session: AsyncSession, listing_id: int, reason: str, actor: Principal, hooks: ListingHooks
) -> Listing:
    listing = await locked_with_auction(session, listing_id, hooks)
    if listing.status not in LIVE_STATUSES:
        raise Conflict(
            f"only a live listing can be suspended; this one is {listing.status}", code="listing_not_live"
        )
    listing.suspended_from = listing.status
    listing.status = "suspended"
    listing.status_reason = reason
    listing.updated_at = utcnow()
    await append(
        session,
        listing.stream,
        _actor(actor),
        "listing.suspended",
        {"from": listing.suspended_from, "reason": reason},
    )
    for hook in hooks.on_suspended:
        await hook(session, listing, listing.updated_at)
    await session.commit()
    return listing


async def resume(
    session: AsyncSession,
    listing_id: int,
    schedule: ScheduleIn | None,
    actor: Principal,
    profile: str,
    hooks: ListingHooks,
) -> Listing:
    """Back to the phase it was suspended in; a new schedule may push the dates back."""
    listing = await locked_with_auction(session, listing_id, hooks)
    if listing.status != "suspended" or listing.suspended_from is None:
        raise Conflict(
            f"only a suspended listing can be resumed; this one is {listing.status}",
            code="listing_not_suspended",
        )
    payload: dict[str, Any] = {"to": listing.suspended_from}
    if schedule is not None and listing.suspended_from == "bidding":
        raise Unprocessable(
            "an auction suspended during bidding resumes with the time it had left; its dates move by the pause",
            code="schedule_invalid",
            errors=[field_error("schedule", "cannot be given when resuming during bidding")],
        )
    if schedule is not None:
        if schedule.announce_at != listing.announce_at:
            raise Unprocessable(
                "the announcement date of a published listing cannot change",
                code="schedule_invalid",
                errors=[field_error("schedule.announce_at", "cannot change after publishing")],
            )
        for key, value in msgspec.structs.asdict(schedule).items():
            setattr(listing, key, value)
        _profile_check(listing, profile, listing.announce_at)
        payload["schedule"] = {k: str(v) for k, v in msgspec.structs.asdict(schedule).items()}
    listing.status = listing.suspended_from
    listing.suspended_from = None
    listing.status_reason = None
    listing.updated_at = utcnow()
    await append(session, listing.stream, _actor(actor), "listing.resumed", payload)
    for hook in hooks.on_resumed:
        await hook(session, listing, listing.updated_at)
    await session.commit()
    return listing


async def set_reserve(
    session: AsyncSession, listing_id: int, reserve: str | None, actor: Principal
) -> Listing:
    """Enter, change or remove the reserve, until it freezes (``listings.reserve.is_frozen``)."""
    listing = await locked(session, listing_id)
    if listing.status in FINAL_STATUSES:
        raise Conflict(f"the listing is {listing.status}", code="listing_final")
    if is_frozen(listing, utcnow()):
        raise Conflict(
            "the reserve price is frozen and committed once bidding opens (mining rights: once published)",
            code="reserve_locked",
        )
    # Re-validate the whole listing with the new reserve: one set of rules, not two.
    value = validated_fields(msgspec.structs.replace(as_create(listing), reserve_price=reserve))[
        "reserve_price"
    ]
    listing.reserve_price = value
    listing.updated_at = utcnow()
    await append(session, listing.stream, _actor(actor), "listing.reserve_set", {"reserve_price": value})
    await session.commit()
    return listing


async def get_listing(session: AsyncSession, listing_id: int) -> Listing:
    listing = await session.get(Listing, listing_id)
    if listing is None:
        raise NotFound(f"no listing {listing_id}")
    return listing


async def published_listing(session: AsyncSession, listing_id: int, now: datetime) -> Listing:
    """A listing the public may see: one never published (a draft, also once cancelled) and an
    announcement not yet due do not exist for them."""
    listing = await get_listing(session, listing_id)
    if listing.published_at is None or listing.announce_at > now:
        raise NotFound(f"no listing {listing_id}")
    return listing


SEARCHED = (
    Listing.title,
    Listing.seller_name,
    Listing.announcement_number,
    # where the asset is, by class (listings.attribute_fields): a land parcel's 地块编号 and 坐落, an
    # emission or water right's region and basin, a water right's source; ->> on PostgreSQL,
    # json_extract on SQLite; a class without the key never matches on it
    Listing.attributes["parcel_code"].as_string(),
    Listing.attributes["location"].as_string(),
    Listing.attributes["region"].as_string(),
    Listing.attributes["basin"].as_string(),
    Listing.attributes["water_source"].as_string(),
)
"""What the catalogue's keyword search reads (``CatalogueFilters.q``)."""


def keywords(q: str | None) -> list[str]:
    """The words of a search, at most five (each one more condition on every row)."""
    return (q or "").split()[:5]


async def catalogue(
    session: AsyncSession,
    filters: CatalogueFilters,
    *,
    public: bool,
    page: int,
    page_size: int,
    now: datetime,
) -> tuple[list[Listing], int]:
    """One page of the catalogue and the number of listings matching ``filters``."""
    query = select(Listing)
    if public:
        query = query.where(Listing.published_at.is_not(None), Listing.announce_at <= now)
    for column, value in (
        (Listing.asset_class, filters.asset_class),
        (Listing.status, filters.status),
        (Listing.method, filters.method),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.region:
        # A division code prefix selects everything inside it ("14" Shanxi, "1401" Taiyuan).
        query = query.where(Listing.region.startswith(filters.region, autoescape=True))
    for word in keywords(filters.q):
        query = query.where(or_(*(column.icontains(word, autoescape=True) for column in SEARCHED)))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    column = getattr(Listing, filters.sort.lstrip("-"))
    order = column.desc() if filters.sort.startswith("-") else column.asc()
    rows = await session.execute(
        query.order_by(order, Listing.id.desc()).offset((page - 1) * page_size).limit(page_size)
    )
    return list(rows.scalars()), total
