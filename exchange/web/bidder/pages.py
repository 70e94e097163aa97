"""A bidder's own pages: registering, and "my exchange" (applications, deposit instructions, ledger, own documents).

Registration posts to the JSON API from the page, so its validation (credit
code and ID number checks) and errors are the API's. ``/me`` shows only the
logged-in bidder's own applications and accounts.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from sqlalchemy import select

from documents.formatting import cn_date
from documents.models import Document
from exchange.clock import utcnow
from exchange.deps import Session
from exchange.money import format_yuan
from exchange.settlement_terms import terms_to_json
from exchange.web.bidder.my_exchange import (
    TAX_COLLECTION,
    deposit_facts,
    lot_won,
    notices_of,
    outcome_of,
    publicity_last_day,
)
from exchange.web.i18n import lang_of
from exchange.web.pages import page, require_user, web_user
from exchange.web.payment_terms import describe
from listings import applications
from listings.hooks import ListingHooks
from listings.services import get_listing, terms_of
from settlement import ledger
from settlement.controllers import account_view


class BidderPages(Controller):
    path = "/"
    include_in_schema = False

    @get("/register", name="register")
    async def register(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        user = web_user(request)
        if user is not None:
            return Redirect("/console" if user.is_staff else "/me", status_code=303)
        return page(request, "bidder/register.html")

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
                    "paid_in_full": paid >= application.deposit_due,
                    "deadline": listing.registration_closes_at,
                    "deadline_passed": listing.registration_closes_at <= now,
                    "hall_open": listing.status in ("bidding", "closed", "failed", "suspended"),
                }
            )
        documents = (
            await session.execute(
                select(Document).where(Document.owner_id == user.user_id).order_by(Document.id.desc())
            )
        ).scalars()
        owned = await ledger.balances_for_owner(session, user.user_id)
        accounts = [await account_view(session, account) for account, _ in owned]
        return page(
            request,
            "bidder/me.html",
            rows=rows,
            accounts=accounts,
            documents=list(documents),
            total_held=format_yuan(-sum(balance for _, balance in owned)),
            notices=await notices_of(session, user.user_id),
            tax_collection=TAX_COLLECTION,
            sandbox=request.app.state.settings.profile == "sandbox",
            day=cn_date if lang_of(request) != "en" else date.isoformat,
        )


PAGES: list[ControllerRouterHandler] = [BidderPages]
