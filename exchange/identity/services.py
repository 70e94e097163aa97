"""Registration, login and staff accounts. Every change is audited."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from exchange.audit.chain import SYSTEM_STREAM, append
from exchange.clock import utcnow
from exchange.errors import (
    Conflict,
    NotFound,
    Unauthenticated,
    Unprocessable,
    field_error,
)
from exchange.identity.codes import CodeError, validate_credit_code, validate_id_number
from exchange.identity.groups import declared_group
from exchange.identity.models import User
from exchange.identity.passwords import MIN_LENGTH, Passwords, password_faults
from exchange.identity.schemas import UserRegister
from exchange.identity.throttle import LoginThrottle
from exchange.identity.tokens import Principal, Role, issue_token
from exchange.settings import SecuritySettings


def _limits(code: str) -> dict[str, int]:
    """The number a rule's sentence names, for people's words and programs alike."""
    return {"min_length": MIN_LENGTH} if code == "password_too_short" else {}


def _check_password(password: str, username: str) -> None:
    faults = password_faults(password, username)
    if faults:
        raise Unprocessable(
            "password too weak: " + ", ".join(words for _, words in faults),
            code="password_weak",
            # one error per rule broken, each with its own code (and so its own words)
            errors=[field_error("password", words, code, **_limits(code)) for code, words in faults],
        )


async def _username_taken(session: AsyncSession, username: str) -> bool:
    query = select(func.count()).select_from(User).where(func.lower(User.username) == username.lower())
    return bool((await session.execute(query)).scalar_one())


def _entity_registered() -> Conflict:
    return Conflict(
        "this legal entity already has a bidder account; one entity registers one bidder",
        code="entity_already_registered",
    )


async def _check_entity_free(session: AsyncSession, credit: str | None, ident: str | None) -> None:
    """One legal entity, one bidder: its credit code or ID number is not on another account."""
    codes = [
        column == value for column, value in ((User.credit_code, credit), (User.id_number, ident)) if value
    ]
    if codes and (await session.execute(select(User.id).where(or_(*codes)).limit(1))).first() is not None:
        raise _entity_registered()


async def _insert_user(session: AsyncSession, user: User) -> User:
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # two registrations at once: the unique constraints decide
        await session.rollback()
        if await _username_taken(session, user.username):
            raise Conflict(f"username '{user.username}' is taken", code="username_taken") from exc
        raise _entity_registered() from exc
    return user


def _normalised_codes(
    kind: str, credit_code: str | None, id_number: str | None
) -> tuple[str | None, str | None]:
    credit = None
    if kind == "enterprise" and not credit_code:
        raise Unprocessable(
            "an enterprise registers with its unified social credit code",
            code="credit_code_required",
            errors=[field_error("credit_code", "required for enterprises", "credit_code_required")],
        )
    if credit_code:
        try:
            credit = validate_credit_code(credit_code)
        except CodeError as exc:
            raise Unprocessable(
                f"credit_code: {exc.message}",
                code="credit_code_invalid",
                errors=[field_error("credit_code", exc.message, exc.reason)],
            ) from exc
    ident = None
    if id_number:
        try:
            ident = validate_id_number(id_number)
        except CodeError as exc:
            raise Unprocessable(
                f"id_number: {exc.message}",
                code="id_number_invalid",
                errors=[field_error("id_number", exc.message, exc.reason)],
            ) from exc
    return credit, ident


async def register(session: AsyncSession, passwords: Passwords, form: UserRegister) -> User:
    """``register_bidder`` with a registration form as the API and the register page read it."""
    return await register_bidder(
        session,
        passwords=passwords,
        username=form.username,
        password=form.password,
        display_name=form.display_name,
        kind=form.kind,
        credit_code=form.credit_code,
        id_number=form.id_number,
        group_code=form.group_code,
    )


async def register_bidder(
    session: AsyncSession,
    *,
    passwords: Passwords,
    username: str,
    password: str,
    display_name: str,
    kind: str,
    credit_code: str | None,
    id_number: str | None,
    group_code: str | None = None,
) -> User:
    credit, ident = _normalised_codes(kind, credit_code, id_number)
    group = declared_group(kind, credit, group_code)
    _check_password(password, username)
    if await _username_taken(session, username):
        raise Conflict(f"username '{username}' is taken", code="username_taken")
    await _check_entity_free(session, credit, ident)
    user = await _insert_user(
        session,
        User(
            username=username,
            password_hash=await passwords.hash(password),
            role="bidder",
            kind=kind,
            display_name=display_name.strip(),
            credit_code=credit,
            id_number=ident,
            group_code=group,
            created_at=utcnow(),
        ),
    )
    await append(
        session,
        SYSTEM_STREAM,
        f"user:{user.id}",
        "bidder.registered",
        {"user_id": user.id, "username": username, "kind": kind, "group_code": group},
    )
    await session.commit()
    return user


async def declare_group(session: AsyncSession, actor: Principal, group_code: str | None) -> User:
    """A bidder declares (or, with None, withdraws) its group of affiliated bidders. Audited; an
    auction already running keeps the group the bidder entered it with (``auctions.service``)."""
    user = await session.get(User, actor.user_id, with_for_update=True)
    if user is None:
        raise NotFound("no such user")
    group = declared_group(user.kind, user.credit_code, group_code)
    if group != user.group_code:
        await append(
            session,
            SYSTEM_STREAM,
            f"user:{user.id}",
            "bidder.group_declared",
            {"user_id": user.id, "from": user.group_code, "to": group},
        )
        user.group_code = group
    await session.commit()
    return user


async def create_staff(
    session: AsyncSession,
    *,
    passwords: Passwords,
    username: str,
    password: str,
    role: Role,
    display_name: str | None,
    actor: str,
) -> User:
    if role == "bidder":
        raise Unprocessable("staff accounts are operator, auditor, admin or registrar", code="role_invalid")
    _check_password(password, username)
    if await _username_taken(session, username):
        raise Conflict(f"username '{username}' is taken", code="username_taken")
    user = await _insert_user(
        session,
        User(
            username=username,
            password_hash=await passwords.hash(password),
            role=role,
            kind="staff",
            display_name=display_name or username,
            created_at=utcnow(),
        ),
    )
    await append(
        session,
        SYSTEM_STREAM,
        actor,
        "staff.created",
        {"user_id": user.id, "username": username, "role": role},
    )
    await session.commit()
    return user


async def update_staff(
    session: AsyncSession, user_id: int, *, active: bool | None, role: Role | None, actor: Principal
) -> User:
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("no such user")
    if user.kind != "staff" and role is not None:
        raise Unprocessable("a bidder cannot be given a staff role", code="role_invalid")
    if user.id == actor.user_id:
        raise Conflict("an administrator cannot change their own account", code="self_change")
    changes: dict[str, object] = {}
    if active is not None and active != user.active:
        user.active = active
        changes["active"] = active
    if role is not None and role != user.role:
        changes["role"] = {"from": user.role, "to": role}
        user.role = role
    if changes:
        user.token_version += 1  # every token issued before the change stops working
        await append(
            session,
            SYSTEM_STREAM,
            f"user:{actor.user_id}",
            "user.changed",
            {"user_id": user.id, "username": user.username, **changes},
        )
    await session.commit()
    return user


async def login(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    throttle: LoginThrottle,
    address: str,
    passwords: Passwords,
) -> User:
    """Check credentials. Failures slow down the next attempt (``exchange.identity.throttle``);
    nothing is ever locked, and an unknown name is answered exactly like a wrong password (its
    check costs the same Argon2 hash as a known one's, with the app's ``passwords``)."""
    await throttle.check(address, username)
    user = (
        await session.execute(select(User).where(func.lower(User.username) == username.lower()))
    ).scalar_one_or_none()
    ok = await passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        await throttle.failed(address, username)
        payload: dict[str, object] = {"username": username[:64], "address": address}
        if user is not None:
            payload["user_id"] = user.id
        await append(session, SYSTEM_STREAM, "anonymous", "login.failed", payload)
        await session.commit()
        raise Unauthenticated("wrong username or password", code="invalid_credentials")
    await throttle.succeeded(address, username)
    await append(session, SYSTEM_STREAM, f"user:{user.id}", "login.succeeded", {"user_id": user.id})
    await session.commit()
    return user


def token_for(user: User, security: SecuritySettings) -> tuple[str, int]:
    """A signed token for ``user`` at its current version, and its lifetime in seconds."""
    principal = Principal(user_id=user.id, username=user.username, role=user.role, version=user.token_version)  # type: ignore[arg-type]
    ttl = security.token_ttl(user.role)
    return issue_token(principal, security.secret_key, ttl), ttl


ENTITY_TOOL_COLUMNS = load_only(
    User.id,
    User.username,
    User.display_name,
    User.role,
    User.active,
    User.token_version,
    User.credit_code,
    User.id_number,
    User.detached_code,
    User.created_at,
)
"""What the entity tools read and write: columns of revision 0009, since they run on a database
that migration 0010 refused to upgrade (it stops at 0009 until they have resolved it)."""


async def shared_entities(session: AsyncSession) -> list[tuple[str, str, list[User]]]:
    """Legal entities with more than one account: ``(column, code, accounts)``.

    None can arise once migration 0010 has run (the codes are unique); this lists
    what that migration refuses to run over, for ``exchange users duplicates``.
    """
    found = []
    for column in (User.credit_code, User.id_number):
        shared = select(column).where(column.is_not(None)).group_by(column).having(func.count() > 1)
        users = (
            await session.execute(
                select(User).options(ENTITY_TOOL_COLUMNS).where(column.in_(shared)).order_by(column, User.id)
            )
        ).scalars()
        groups: dict[str, list[User]] = {}
        for user in users:
            groups.setdefault(str(getattr(user, column.key)), []).append(user)
        found += [(column.key, code, accounts) for code, accounts in groups.items()]
    return found


async def detach_entity(session: AsyncSession, user_id: int, reason: str, actor: str) -> User:
    """Disable a surplus account of a legal entity and take the entity's code off it (kept on record)."""
    user = await session.get(User, user_id, with_for_update=True, options=[ENTITY_TOOL_COLUMNS])
    if user is None:
        raise NotFound("no such user")
    code = user.credit_code or user.id_number
    if user.role != "bidder" or code is None:
        raise Conflict("only a bidder account carries a legal entity's code", code="no_entity")
    if not reason.strip():
        raise Unprocessable("say why this account is detached", code="reason_required")
    user.detached_code, user.credit_code, user.id_number = code, None, None
    user.active = False
    user.token_version += 1
    await append(
        session,
        SYSTEM_STREAM,
        actor,
        "user.entity_detached",
        {"user_id": user.id, "username": user.username, "code": code, "reason": reason},
    )
    await session.commit()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user
