"""Registration, login and staff accounts. Every change is audited."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import SYSTEM_STREAM, append
from exchange.clock import utcnow
from exchange.errors import (
    Conflict,
    ExchangeError,
    NotFound,
    Unauthenticated,
    Unprocessable,
    field_error,
)
from exchange.identity.codes import CodeError, validate_credit_code, validate_id_number
from exchange.identity.models import User
from exchange.identity.passwords import hash_password, password_problems, verify_password
from exchange.identity.tokens import Principal, Role
from exchange.settings import SecuritySettings


def _check_password(password: str, username: str) -> None:
    problems = password_problems(password, username)
    if problems:
        raise Unprocessable(
            "password too weak: " + ", ".join(problems),
            code="password_weak",
            errors=[field_error("password", "; ".join(problems), "password_weak")],
        )


async def _username_taken(session: AsyncSession, username: str) -> bool:
    query = select(func.count()).select_from(User).where(func.lower(User.username) == username.lower())
    return bool((await session.execute(query)).scalar_one())


async def _insert_user(session: AsyncSession, user: User) -> User:
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"username '{user.username}' is taken", code="username_taken") from exc
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


async def register_bidder(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    display_name: str,
    kind: str,
    credit_code: str | None,
    id_number: str | None,
) -> User:
    credit, ident = _normalised_codes(kind, credit_code, id_number)
    _check_password(password, username)
    if await _username_taken(session, username):
        raise Conflict(f"username '{username}' is taken", code="username_taken")
    user = await _insert_user(
        session,
        User(
            username=username,
            password_hash=await hash_password(password),
            role="bidder",
            kind=kind,
            display_name=display_name.strip(),
            credit_code=credit,
            id_number=ident,
            created_at=utcnow(),
        ),
    )
    await append(
        session,
        SYSTEM_STREAM,
        f"user:{user.id}",
        "bidder.registered",
        {"user_id": user.id, "username": username, "kind": kind},
    )
    await session.commit()
    return user


async def create_staff(
    session: AsyncSession, *, username: str, password: str, role: Role, display_name: str | None, actor: str
) -> User:
    if role == "bidder":
        raise Unprocessable("staff accounts are operator, auditor or admin", code="role_invalid")
    _check_password(password, username)
    if await _username_taken(session, username):
        raise Conflict(f"username '{username}' is taken", code="username_taken")
    user = await _insert_user(
        session,
        User(
            username=username,
            password_hash=await hash_password(password),
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
        await append(
            session,
            SYSTEM_STREAM,
            f"user:{actor.user_id}",
            "user.changed",
            {"user_id": user.id, "username": user.username, **changes},
        )
    await session.commit()
    return user


async def login(session: AsyncSession, username: str, password: str, security: SecuritySettings) -> User:
    """Check credentials; lock the account for a while after repeated failures."""
    now = utcnow()
    user = (
        await session.execute(
            select(User).where(func.lower(User.username) == username.lower()).with_for_update()
        )
    ).scalar_one_or_none()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        retry = int((user.locked_until - now).total_seconds()) + 1
        await session.rollback()
        raise ExchangeError(
            "too many failed logins; the account is locked for a while",
            code="login_locked",
            status=429,
            headers={"Retry-After": str(retry)},
        )
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        await _record_failure(session, user, username, security, now)
        raise Unauthenticated("wrong username or password", code="invalid_credentials")
    user.failed_logins = 0
    user.locked_until = None
    await append(session, SYSTEM_STREAM, f"user:{user.id}", "login.succeeded", {"user_id": user.id})
    await session.commit()
    return user


async def _record_failure(
    session: AsyncSession, user: User | None, username: str, security: SecuritySettings, now: object
) -> None:
    payload: dict[str, object] = {"username": username[:64]}
    if user is not None:
        failures = user.failed_logins + 1
        values: dict[str, object] = {"failed_logins": failures}
        if failures >= security.max_failed_logins:
            values = {
                "failed_logins": 0,
                "locked_until": utcnow() + timedelta(seconds=security.lockout_seconds),
            }
            payload["locked"] = True
        await session.execute(update(User).where(User.id == user.id).values(**values))
        payload["user_id"] = user.id
    await append(session, SYSTEM_STREAM, "anonymous", "login.failed", payload)
    await session.commit()


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user
