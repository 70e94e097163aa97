"""HTTP endpoints of identity: registration, tokens, the caller, staff accounts."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy import select

from auctions.bid_signatures import BidderKey as ParsedKey
from auctions.bid_signatures import KeyFormatError, parse_jwk, parse_public_key
from exchange.deps import MAX_ID, AppSettings, CurrentUser, Session
from exchange.errors import NotFound, Unprocessable, field_error
from exchange.identity import keys, services
from exchange.identity.guards import authenticated, client_address, requires
from exchange.identity.models import BidderKey, User
from exchange.identity.schemas import (
    GroupDeclaration,
    KeyRegister,
    KeyView,
    StaffCreate,
    Token,
    TokenRequest,
    UserCreated,
    UserRegister,
    UserUpdate,
    UserView,
)
from exchange.identity.tokens import Role
from listings.models import Listing


def _view(user: User) -> UserView:
    return UserView(
        id=user.id,
        username=user.username,
        role=user.role,
        kind=user.kind,
        display_name=user.display_name,
        active=user.active,
        credit_code=user.credit_code,
        group_code=user.group_code,
    )


def _key_view(key: BidderKey) -> KeyView:
    return KeyView(
        kid=key.kid,
        algorithm=key.algorithm,  # type: ignore[arg-type]
        listing_id=key.listing_id,
        public_key=key.public_key,
        created_at=key.created_at,
        label=key.label,
        revoked_at=key.revoked_at,
    )


def _parsed(data: KeyRegister) -> ParsedKey:
    """The key of a registration, or 422 ``key_invalid`` saying what is wrong with it."""
    if (data.public_key is None) == (data.jwk is None):
        message = "send the key as public_key or as jwk, one of them"
        raise Unprocessable(
            message, code="key_invalid", errors=[field_error("public_key", message, "key_invalid")]
        )
    try:
        return parse_public_key(data.public_key) if data.public_key is not None else parse_jwk(data.jwk or {})
    except KeyFormatError as exc:
        name = "public_key" if data.public_key is not None else "jwk"
        raise Unprocessable(
            str(exc), code="key_invalid", errors=[field_error(name, str(exc), "key_invalid")]
        ) from exc


KidParam = Annotated[str, PathParameter(description="The key's id (32 hex digits)", pattern="^[0-9a-f]{32}$")]


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["identity"]

    @post("/register", operation_id="registerBidder", summary="Register a bidder (竞买人注册)")
    async def register(
        self, request: Request[Any, Any, Any], data: JSONBody[UserRegister], session: Session
    ) -> UserCreated:
        user = await services.register(session, request.app.state.passwords, data)
        return UserCreated(id=user.id, username=user.username, role=user.role)

    @post("/token", operation_id="issueToken", summary="Log in and get a bearer token", status_code=200)
    async def token(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TokenRequest],
        session: Session,
        settings: AppSettings,
    ) -> Token:
        user = await services.login(
            session,
            data.username,
            data.password,
            throttle=request.app.state.login_throttle,
            address=client_address(request),
            passwords=request.app.state.passwords,
        )
        token, ttl = services.token_for(user, settings.security)
        return Token(
            access_token=token,
            token_type="bearer",  # noqa: S106 (the OAuth token type, not a secret)
            expires_in=ttl,
            role=user.role,
        )


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["identity"]

    @get("/me", operation_id="getMe", guards=[authenticated], summary="The calling user")
    async def me(self, session: Session, user: CurrentUser) -> UserView:
        return _view(await services.get_user(session, user.user_id))

    @put(
        "/me/group",
        operation_id="declareGroup",
        guards=[requires("bidder")],
        summary="Declare the caller's group of affiliated bidders (the controlling company's credit code)",
    )
    async def declare_group(
        self, session: Session, user: CurrentUser, data: JSONBody[GroupDeclaration]
    ) -> UserView:
        return _view(await services.declare_group(session, user, data.group_code))

    @post(
        "/me/keys",
        operation_id="registerBidKey",
        guards=[requires("bidder")],
        summary="Register a public key to sign one listing's bids with (ECDSA P-256 or Ed25519)",
    )
    async def register_key(self, session: Session, user: CurrentUser, data: JSONBody[KeyRegister]) -> KeyView:
        key = _parsed(data)
        listing = await session.get(Listing, data.listing_id)
        if listing is None or listing.status == "draft":  # a draft is not shown to bidders
            raise NotFound("no such listing")
        label = data.label.strip() or None if data.label is not None else None
        row = await keys.register_key(
            session,
            user,
            listing_id=data.listing_id,
            kid=key.kid,
            algorithm=key.algorithm,
            public_key=key.public_key,
            label=label,
        )
        return _key_view(row)

    @get(
        "/me/keys",
        operation_id="listBidKeys",
        guards=[requires("bidder")],
        summary="The caller's bid-signing keys, revoked ones included",
    )
    async def list_keys(
        self,
        session: Session,
        user: CurrentUser,
        listing_id: Annotated[
            int | None, QueryParameter(description="Only the keys of this listing", ge=1, le=MAX_ID)
        ] = None,
    ) -> list[KeyView]:
        return [_key_view(k) for k in await keys.keys_of(session, user, listing_id)]

    @delete(
        "/me/keys/{kid:str}",
        operation_id="revokeBidKey",
        guards=[requires("bidder")],
        status_code=200,
        summary="Revoke one of the caller's bid-signing keys (bids it signed before stay valid)",
    )
    async def revoke_key(self, session: Session, user: CurrentUser, kid: KidParam) -> KeyView:
        return _key_view(await keys.revoke_key(session, user, kid))

    @get("/", operation_id="listUsers", guards=[requires("admin")], summary="All accounts (admin)")
    async def list_users(
        self,
        session: Session,
        role: Annotated[Role | None, QueryParameter(required=False)] = None,
    ) -> list[UserView]:
        query = select(User).order_by(User.id)
        if role is not None:
            query = query.where(User.role == role)
        return [_view(u) for u in (await session.execute(query)).scalars()]

    @post("/staff", operation_id="createStaff", guards=[requires("admin")], summary="Create a staff account")
    async def create_staff(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[StaffCreate],
        session: Session,
        user: CurrentUser,
    ) -> UserCreated:
        created = await services.create_staff(
            session,
            passwords=request.app.state.passwords,
            username=data.username,
            password=data.password,
            role=data.role,
            display_name=data.display_name,
            actor=f"user:{user.user_id}",
        )
        return UserCreated(id=created.id, username=created.username, role=created.role)

    @patch(
        "/{user_id:int}",
        operation_id="updateUser",
        guards=[requires("admin")],
        summary="Disable, enable or change the role of an account",
    )
    async def update(
        self,
        session: Session,
        user: CurrentUser,
        data: JSONBody[UserUpdate],
        user_id: Annotated[int, PathParameter(description="Account id", ge=1, le=MAX_ID)],
    ) -> UserView:
        changed = await services.update_staff(
            session, user_id, active=data.active, role=data.role, actor=user
        )
        return _view(changed)
