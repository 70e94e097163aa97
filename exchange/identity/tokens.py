"""Short-lived signed access tokens (JWT, HS256) carrying the user's role.

The role travels in the token so the bid path needs no user lookup; tokens
live ``token_ttl_seconds`` so a disabled account loses access soon.
"""

from __future__ import annotations

import secrets
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


def read_token(token: str, secret: str) -> Principal:
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
    return Principal(user_id=int(claims["sub"]), username=str(claims.get("usr", "")), role=role)
