"""Argon2id password hashing, run off the event loop (it is deliberately slow)."""

from __future__ import annotations

import asyncio
import os
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from exchange.identity.common_passwords import is_common

# RFC 9106's second recommended profile by default (t=3, 64 MiB). Test suites
# may lower the cost through the environment; the algorithm stays Argon2id.
_hasher = PasswordHasher(
    time_cost=int(os.environ.get("EXCHANGE_ARGON2_TIME_COST", "3")),
    memory_cost=int(os.environ.get("EXCHANGE_ARGON2_MEMORY_KIB", "65536")),
)
# Verified against when the username does not exist, so timing does not tell
# an attacker which usernames are registered.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0")

MIN_LENGTH = 10


def password_problems(password: str, username: str) -> list[str]:
    """Why a password is too weak; empty when acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        problems.append("letters and digits")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    if len(set(password)) < 5:
        problems.append("at least 5 different characters")
    if not problems and is_common(password):
        problems.append("too common: among the first passwords an attacker tries")
    return problems


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(_verify, stored, password)
