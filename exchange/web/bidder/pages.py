"""A bidder's own pages: registering, and "my exchange" (applications, deposit instructions, ledger, own documents).

Registration posts JSON from the page to ``POST /register``, which registers through the same
service as the API (so its validation and errors, problem+json, are the API's) and then logs the
new bidder in with the session cookie, as ``/login`` does. ``/me`` shows only the logged-in bidder's
own applications and accounts.

Joint bidding (联合竞买, docs/joint-bidding.md): ``/listings/{id}/apply`` is the apply form with an
optional joint part (the lead's share and its members), posting to the API as the catalogue's form
does; ``/me`` shows the lead each member's answer and a member the joint bids naming its credit code,
with buttons that answer through the API.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, QueryParameter
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from sqlalchemy import select

from documents.formatting import cn_date
from documents.models import Document
from exchange.clock import utcnow
from exchange.deps import AppSettings, ListingId, Session
from exchange.errors import EXCEPTION_HANDLERS, ExchangeError
from exchange.identity import services as identity
from exchange.identity.models import User
from exchange.identity.passwords import MIN_LENGTH
from exchange.identity.schemas import UserRegister
from exchange.identity.session import CSRF_HEADER, csrf_matches, login_cookies
from exchange.identity.tokens import Principal
from exchange.money import format_yuan
from exchange.settlement_terms import terms_to_json
from exchange.web.bidder.joint_bids import invitations_of, joint_bid_of
from exchange.web.bidder.my_exchange import (
    TAX_COLLECTION,
    deposit_facts,
    deposit_state,
    lot_won,
    notices_of,
    outcome_of,
    publicity_last_day,
)
from exchange.web.catalogue.pages import application_form, own_application
from exchange.web.i18n import lang_of
from exchange.web.login.pages import safe_next, same_origin
from exchange.web.pages import page, require_user, web_user
from exchange.web.payment_terms import describe
from listings import applications, declarations, documents_upload, registration_window, services
from listings.hooks import ListingHooks
from listings.services import get_listing, terms_of
from settlement import ledger
from settlement.controllers import account_view

NextPath = Annotated[str | None, QueryParameter(required=False, max_length=2000)]
"""Where to go once registered (a path on this site, ``login.pages.safe_next``)."""


class Registered(msgspec.Struct):
    id: int
    username: str
    next: str
    """Where the page goes now: the ``next`` it was opened with, or ``/me``."""


class BidderPages(Controller):
    path = "/"
    include_in_schema = False

    @get("/register", name="register")
    async def register(self, request: Request[Any, Any, Any], next: NextPath = None) -> Template | Redirect:
        user = web_user(request)
        if user is not None:
            return Redirect(safe_next(None, user), status_code=303)  # each role to its own home
        return page(
            request,
            "bidder/register.html",
            next=safe_next(next, None) if next else "/me",
            min_length=MIN_LENGTH,
        )

    # The page's script posts JSON and reads problem+json back, as from the API, so this one page
    # route answers errors as the API does instead of with an HTML page.
    @post("/register", status_code=201, exception_handlers=EXCEPTION_HANDLERS)
    async def register_and_log_in(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[UserRegister],
        session: Session,
        settings: AppSettings,
        next: NextPath = None,
    ) -> Response[Registered]:
        # The page's script sends the CSRF token as every page's API call does; with the origin check
        # no other site can register (and so log in) a visitor into an account of its making.
        if not same_origin(request) or not csrf_matches(request, request.headers.get(CSRF_HEADER)):
            raise ExchangeError("register from the exchange's own page", code="csrf_failed", status=403)
        user = await identity.register(session, request.app.state.passwords, data)
        token, ttl = identity.token_for(user, settings.security)
        principal = Principal(user_id=user.id, username=user.username, role="bidder")
        return Response(
            Registered(id=user.id, username=user.username, next=safe_next(next, principal)),
            status_code=201,
            cookies=login_cookies(request, token, ttl),
        )

    @get("/me", name="my_exchange")
    async def me(self, request: Request[Any, Any, Any], session: Session) -> Template:
        user = require_user(request, "bidder")
        hooks: ListingHooks = request.app.state.listing_hooks
        now = utcnow()
        rows = []
        for application in await applications.mine(session, user):
            listing = await get_listing(session, application.listing_id)
            paid = await hooks.deposit_paid(session, application.id)
            outcome, line = await outcome_of(session, application, listing)
            deposit = await deposit_facts(session, application.id)
            won = await lot_won(session, listing, line, user.user_id) if line is not None else None
            terms = won.terms if won is not None and won.terms else terms_to_json(terms_of(listing))
            over = listing.status in OVER
            rows.append(
                {
                    "outcome": outcome,
                    "deposit": deposit,
                    "won": won,
                    "terms": describe(terms, lang_of(request)) if won is not None else [],
                    "publicity_last_day": publicity_last_day(won.settlement) if won is not None else None,
                    "application": application,
                    "listing": listing,
                    "deposit_due": format_yuan(application.deposit_due),
                    # Before the close what is held is what arrived; after it, what arrived (a release
                    # empties the account, but the bidder did pay it).
                    "deposit_paid": format_yuan(deposit.received if outcome is not None else paid),
                    # what arrived, not what is still held: a release or the close empties the account
                    "arrival": deposit_state(
                        application, deposit.received, listing.registration_closes_at, now
                    ),
                    "deadline": listing.registration_closes_at,
                    "attachments": await documents_upload.listed(session, application.id),
                    "may_attach": application.status in documents_upload.OPEN_STATUSES and not over,
                    # the hall is for an auction still to come or running; once it is over, its result
                    "hall": application.status == "qualified" and not over,
                    "watch": listing.status in ("bidding", "suspended"),
                    "result": listing.status in ("closed", "failed"),
                    "joint": await joint_bid_of(session, application, listing, now),
                }
            )
        documents = (
            await session.execute(
                select(Document).where(Document.owner_id == user.user_id).order_by(Document.id.desc())
            )
        ).scalars()
        owned = await ledger.balances_for_owner(session, user.user_id)
        accounts = [await account_view(session, account) for account, _ in owned]
        settings = request.app.state.settings
        return page(
            request,
            "bidder/me.html",
            rows=rows,
            accounts=accounts,
            documents=list(documents),
            total_held=format_yuan(-sum(balance for _, balance in owned)),
            notices=await notices_of(session, user.user_id),
            invitations=await invitations_of(session, user.user_id, now),
            tax_collection=TAX_COLLECTION,
            bank=settings.documents.deposit_bank,
            account_name=settings.documents.deposit_account_name,
            max_mib=documents_upload.MAX_BYTES // (1024 * 1024),
            sandbox=settings.profile == "sandbox",
            day=cn_date if lang_of(request) != "en" else date.isoformat,
        )

    @get("/listings/{listing_id:int}/apply", name="apply")
    async def apply(
        self, request: Request[Any, Any, Any], session: Session, listing_id: ListingId
    ) -> Template | Redirect:
        """The apply form with its optional joint part; the catalogue's own form applies alone."""
        user = require_user(request, "bidder")
        now = utcnow()
        row = await services.published_listing(session, listing_id, now)
        application = await own_application(session, listing_id, user)
        if application is not None:
            return Redirect(f"/me#application-{application.id}", status_code=303)
        is_open = registration_window.registration_open(row, now)
        form = (
            await application_form(session, row, user, request.app.state.settings.documents.exchange_name)
            if is_open
            else None
        )
        bidder = await session.get(User, user.user_id)
        return page(
            request,
            "bidder/apply.html",
            listing=row,
            registration_open=is_open,
            application_form=form.text(lang_of(request)) if form is not None else None,
            commitments=declarations.COMMITMENTS,
            declaration_version=declarations.VERSION,
            # a consortium is led by an enterprise registered with its credit code
            lead_code=bidder.credit_code if bidder is not None else None,
            lead_name=bidder.display_name if bidder is not None else "",
        )


OVER = ("closed", "failed", "cancelled")
"""Listing statuses after which there is no auction to enter (``/me`` links to the result instead)."""


PAGES: list[ControllerRouterHandler] = [BidderPages]
