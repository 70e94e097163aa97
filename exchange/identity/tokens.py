"""Short-lived signed access tokens (JWT, HS256) carrying the user's role and token version.

A token proves whom it was issued to, in which role and at which ``token_version``
of the account; whether it still speaks for the account is checked on every
request against the account itself (``exchange.identity.standing``), so a
disabled, demoted or revoked account's tokens stop working at once. Staff
tokens live shorter than bidders' (``SecuritySettings``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import jwt

from exchange.clock import utcnow

Role = Literal["bidder", "operator", "auditor", "admin", "registrar"]
ROLES: tuple[Role, ...] = ("bidder", "operator", "auditor", "admin", "registrar")
STAFF_ROLES: tuple[Role, ...] = ("operator", "auditor", "admin")
"""The exchange's own staff, who see what the public does not (reserve prices, unpublished
listings, applicants). The registrar is not one of them: it is the authority's staff keeping the
rights registry, and sees the exchange's listings as the public does; the registry names the
roles it trusts explicitly (``settlement.registry``: who may not hold an account, rule 10)."""

_ISSUER = "exchange"
_AUDIENCE = "exchange-api"


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    version: int = 0
    """The account's ``token_version`` when the token was issued."""

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class TokenError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def issue_token(principal: Principal, secret: str, ttl_seconds: int) -> str:
    now = utcnow()
    claims = {
        "sub": str(principal.user_id),
        "usr": principal.username,
        "role": principal.role,
        "ver": principal.version,
        "iat": now,
        "nbf": now - timedelta(seconds=5),
        "exp": now + timedelta(seconds=ttl_seconds),
        "iss": _ISSUER,
        "aud": _AUDIENCE,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


_verified: dict[tuple[str, str], tuple[Principal, float]] = {}
"""Tokens whose signature and claims were checked, with their expiry: a bidder's client sends
the same token with every bid, and checking an HMAC signature and six claims each time was a
visible part of a bid's CPU. Only an exact token string hits; expiry is checked on every hit."""


def read_token(token: str, secret: str) -> Principal:
    hit = _verified.get((token, secret))
    if hit is not None and time.time() < hit[1]:
        return hit[0]
    principal, expires = _verify(token, secret)
    if len(_verified) >= 10_000:
        _verified.clear()
    _verified[(token, secret)] = (principal, expires)
    return principal


def _verify(token: str, secret: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=_AUDIENCE,
            issuer=_ISSUER,
            options={"require": ["exp", "iat", "sub", "role", "ver"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token_expired", "the access token has expired; log in again") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("token_invalid", "the access token is not valid") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise TokenError("token_invalid", "the access token names no known role")
    version = claims["ver"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise TokenError("token_invalid", "the access token is not valid")
    principal = Principal(
        user_id=int(claims["sub"]), username=str(claims.get("usr", "")), role=role, version=version
    )
    return principal, float(claims["exp"])
