"""The operator console's settlement page: the sale's status after the hammer (公示, contract,
payments), what each winner owes and paid, the schedule with interest, late fees and reminders,
the ledger, and the operator's actions: record the contract signing, record a payment the tax
bureau collected, confirm a proposed rescission (with a confirm step), relist after it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from litestar.types import ControllerRouterHandler

from documents.formatting import price_label
from exchange.clock import utcnow
from exchange.deps import ListingId, Session
from exchange.vocabulary import installment_words
from exchange.web.console.ledger_words import account_words, memo_words
from exchange.web.i18n import lang_of
from exchange.web.pages import page, require_user
from listings.services import get_listing
from listings.workdays import local_date
from settlement.settlement_controllers import settlement_view
from settlement.tracked import TRACKED_CLASSES


class SettlementConsole(Controller):
    path = "/console/listings"
    include_in_schema = False

    @get("/{listing_id:int}/settlement")
    async def settlement(
        self, request: Request[Any, Any, Any], session: Session, listing_id: ListingId
    ) -> Template:
        # The same view the API gives staff (a bidder would only see its own lines; bidders get 403 here).
        user = require_user(request, "operator", "auditor", "admin")
        listing = await get_listing(session, listing_id)
        view = await settlement_view(session, listing_id, user)
        tracked = listing.asset_class in TRACKED_CLASSES
        lang = lang_of(request)

        def label(key: str) -> str:
            return installment_words(price_label(key, tracked), lang)

        return page(
            request,
            "console/settlement.html",
            listing=listing,
            settlement=view,
            tracked=tracked,
            installment_label=label,
            account_words=lambda code: account_words(code, lang),
            memo_words=lambda memo: memo_words(memo, lang),
            today=local_date(utcnow()).isoformat(),
            confirmed_on=local_date(view.confirmed_at).isoformat() if view.confirmed_at else None,
        )


PAGES: list[ControllerRouterHandler] = [SettlementConsole]
