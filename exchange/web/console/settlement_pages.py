"""The operator console's settlement page: what each winner owes and paid, the schedule, the ledger."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from litestar.types import ControllerRouterHandler

from exchange.deps import ListingId, Session
from exchange.web.pages import page, require_user
from listings.services import get_listing
from settlement.settlement_controllers import settlement_view


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
        return page(request, "console/settlement.html", listing=listing, settlement=view)


PAGES: list[ControllerRouterHandler] = [SettlementConsole]
