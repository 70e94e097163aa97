"""Request and response bodies of the identity endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

Username = Annotated[str, msgspec.Meta(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class UserRegister(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: Literal["enterprise", "individual"]
    credit_code: str | None = None
    id_number: str | None = None
    group_code: str | None = None
    """An enterprise's group of affiliated bidders: the credit code of its controlling company."""


class GroupDeclaration(msgspec.Struct, forbid_unknown_fields=True):
    group_code: str | None
    """The credit code of the company controlling the bidder's group; null: a group of its own."""


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Password


class Token(msgspec.Struct):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int
    role: str


class UserCreated(msgspec.Struct):
    id: int
    username: str
    role: str


class StaffCreate(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    role: Literal["operator", "auditor", "admin", "registrar"]
    display_name: str | None = None


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    active: bool | None = None
    role: Literal["operator", "auditor", "admin", "registrar"] | None = None


class UserView(msgspec.Struct):
    id: int
    username: str
    role: str
    kind: str
    display_name: str
    active: bool
    credit_code: str | None = None
    group_code: str | None = None


class KeyRegister(msgspec.Struct, forbid_unknown_fields=True):
    """A bidder's public key for signing one listing's bids: ``public_key`` or ``jwk``, one of them."""

    listing_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    """The listing whose bids the key signs, and no other: a key shared by listings would link your
    bid numbers across them once the keys are published after the close."""
    public_key: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)] | None = None
    """SubjectPublicKeyInfo as base64 DER (WebCrypto's ``exportKey("spki")``) or PEM; or an Ed25519
    key's 32 raw bytes in base64url. ECDSA P-256 (ES256) or Ed25519."""
    jwk: dict[str, Any] | None = None
    """A public JWK: ``{"kty": "EC", "crv": "P-256", "x", "y"}`` or ``{"kty": "OKP", "crv": "Ed25519", "x"}``;
    other members (WebCrypto's ``ext``, ``key_ops``) are ignored."""
    label: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    """Your own name for the key (the browser or program that holds it)."""


class KeyView(msgspec.Struct):
    kid: str
    """The first 16 bytes of SHA-256 of the raw public key, in hex: what a signature names."""
    algorithm: Literal["ES256", "Ed25519"]
    listing_id: int
    """The listing whose bids the key signs."""
    public_key: str
    """SubjectPublicKeyInfo, DER, in base64."""
    created_at: datetime
    label: str | None = None
    revoked_at: datetime | None = None
