"""Request and response bodies of the identity endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

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
