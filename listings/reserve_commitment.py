"""The reserve's commitment as a pure function: what ``listings.reserve`` publishes when the reserve
freezes, and what the offline verifier (``exchange.verifier``) recomputes from the revealed reserve
and salt. It imports nothing but ``hashlib``, so a verifier with no database can use it."""

from __future__ import annotations

import hashlib


def committed_text(reserve: int | None, salt: str) -> bytes:
    """The bytes the commitment hashes: ``b"765432109:<salt>"`` or ``b"none:<salt>"``."""
    return f"{'none' if reserve is None else reserve}:{salt}".encode()


def commitment(reserve: int | None, salt: str) -> str:
    return hashlib.sha256(committed_text(reserve, salt)).hexdigest()
