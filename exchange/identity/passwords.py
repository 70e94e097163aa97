"""Argon2id password hashing, run off the event loop (it is deliberately slow)."""

from __future__ import annotations

import asyncio
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from exchange.identity.common_passwords import is_common
from exchange.settings import ARGON2_LANES, PasswordSettings

MIN_LENGTH = 10


def password_faults(password: str, username: str) -> list[tuple[str, str]]:
    """Why a password is too weak, as (code, English words) pairs; empty when acceptable.

    Each has its own code so people read their own language (``exchange.messages``)."""
    faults = []
    if len(password) < MIN_LENGTH:
        faults.append(("password_too_short", f"at least {MIN_LENGTH} characters"))
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        faults.append(("password_letters_and_digits", "letters and digits"))
    if username and username.lower() in password.lower():
        faults.append(("password_contains_username", "must not contain the username"))
    if len(set(password)) < 5:
        faults.append(("password_too_few_characters", "at least 5 different characters"))
    if not faults and is_common(password):
        faults.append(("password_too_common", "too common: among the first passwords an attacker tries"))
    return faults


def password_problems(password: str, username: str) -> list[str]:
    """Why a password is too weak, in English words; empty when acceptable."""
    return [words for _, words in password_faults(password, username)]


class Passwords:
    """Hashes and checks passwords at the configured cost; the algorithm is always Argon2id.

    Verifying reads the cost from the stored hash, so hashes made at another
    cost (before a change of settings) still verify.
    """

    def __init__(self, settings: PasswordSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.time_cost, memory_cost=settings.memory_kib, parallelism=ARGON2_LANES
        )
        # Verified against when the username does not exist, so timing does not tell
        # an attacker which usernames are registered: it must cost what a real hash costs.
        self._dummy_hash = self._hasher.hash("not-a-real-password-0")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy_hash, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; ``None`` (no such user) takes as long and is False."""
        return await asyncio.to_thread(self._verify, stored, password)
