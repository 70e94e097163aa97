"""Short-lived signed access tokens (JWT, HS256) carrying the user's role.

The role travels in the token so the bid path needs no user lookup; tokens
live ``token_ttl_seconds`` so a disabled account loses access soon.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import jwt

from exchange.clock import utcnow

Role = Literal["bidder", "operator", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("bidder", "operator", "auditor", "admin")
STAFF_ROLES: tuple[Role, ...] = ("operator", "auditor", "admin")

_ISSUER = "exchange"
_AUDIENCE = "exchange-api"


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role

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
            options={"require": ["exp", "iat", "sub", "role"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token_expired", "the access token has expired; log in again") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("token_invalid", "the access token is not valid") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise TokenError("token_invalid", "the access token names no known role")
    principal = Principal(user_id=int(claims["sub"]), username=str(claims.get("usr", "")), role=role)
    return principal, float(claims["exp"])
