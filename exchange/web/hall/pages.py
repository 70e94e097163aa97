"""The bidding hall (竞价大厅): one auction live, for its bidders and anyone watching.

The page reads the auction through the API's own handlers (the same sealed and
anonymity rules), then ``hall.js`` follows the WebSocket feed. As in a Chinese
hall, bids are shown by 号牌 (the bid numbers the feed and ``GET .../bids``
already publish), the viewer's own marked 我; names appear only with the
outcome. Every money bid passes a confirm step (the amount in figures and in
大写, the change over the current price, a second confirmation for a jump of
more than ``bid_jump_warning_increments``).

On a listing that takes bid signatures (``auctions.bid_signatures``) a bidder creates a key in
its browser (WebCrypto, ECDSA P-256, the private key non-extractable, kept in IndexedDB),
registers its public half, and the hall signs each of its bids with it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy import select

from auctions.controllers import AuctionView, BidView, auction_view, bid_history
from auctions.mechanisms import mechanism_for
from auctions.models import BidRow
from auctions.terms import from_units
from exchange.clock import utcnow
from exchange.deps import ListingId, Session
from exchange.errors import NotFound
from exchange.money import format_yuan
from exchange.web.catalogue.pages import own_application
from exchange.web.pages import page, web_user
from listings import services
from listings.attributes import UNITS
from listings.models import FINAL_STATUSES
from listings.views import public_view


def _row(seq: int, bid_number: str, amount: str, at: Any, mine: bool, quantity: str | None) -> dict[str, Any]:
    """A history line as the page shows it: the 号牌, and whether it is the viewer's."""
    return {
        "seq": seq,
        "bid_number": bid_number,
        "amount": amount,
        "accepted_at": at,
        "mine": mine,
        "quantity": quantity,
    }


def shown_unit(unit: str) -> str:
    """A quantity unit as people write it: the API's ASCII ``m3/a`` is m³/a on the page."""
    return unit.replace("m3", "m³").replace("m2", "m²")


def unit_basis(asset_class: str, method: str, attributes: dict[str, Any]) -> tuple[Decimal, str] | None:
    """What a total price is divided by for the unit price, and the unit (None: no unit price).

    Uniform-price bids are already per unit, so they have none either.
    """
    if method == "uniform_price":
        return None
    try:
        if asset_class == "land_use_right":
            return Decimal(str(attributes["area_m2"])), "元/m²"
        if asset_class == "emission_right":
            return Decimal(str(attributes["quantity"])), "元/t"
        if asset_class == "water_right":
            return Decimal(str(attributes["volume"])), "元/m³"
        if asset_class == "mining_right":
            reserves = attributes.get("reserves") or {}
            factor = {"kg": (Decimal("0.001"), "元/t"), "t": (Decimal(1), "元/t"),
                      "10kt": (Decimal(10000), "元/t"), "m3": (Decimal(1), "元/m³"),
                      "10k_m3": (Decimal(10000), "元/m³"), "100M_m3": (Decimal(10) ** 8, "元/m³")}  # fmt: skip
            scale, unit = factor[reserves["unit"]]
            return Decimal(str(reserves["quantity"])) * scale, unit
    except (KeyError, ArithmeticError, ValueError, TypeError):
        return None
    return None


def _percent(share: Any) -> str:
    """``"0.5"`` -> ``"50%"``; nothing when the listing sets no share."""
    if share in (None, ""):
        return ""
    return f"{(Decimal(str(share)) * 100).normalize():f}%"


class HallPages(Controller):
    path = "/hall"
    include_in_schema = False

    @get("/{listing_id:int}", name="hall")
    async def hall(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        listing_id: ListingId,
    ) -> Template:
        now = utcnow()
        row = await services.published_listing(session, listing_id, now)
        user = web_user(request)
        application = await own_application(session, listing_id, user)
        my_number = application.bid_number if application is not None else None

        history: list[dict[str, Any]] = []
        auction: AuctionView | None = None
        try:
            # The history first: the view read after it covers every event up to its last_seq.
            bids: list[BidView] = await bid_history(session, user, listing_id)
            auction = await auction_view(session, listing_id)
        except NotFound:
            bids = []
        if auction is not None:
            history = [
                _row(
                    b.seq,
                    b.bid_number,
                    b.amount,
                    b.accepted_at,
                    my_number is not None and b.bid_number == my_number,
                    b.quantity,
                )
                for b in bids
            ]
            if not history and user is not None and mechanism_for(row.method).sealed:
                # A sealed auction shows nobody's bids while open, but a bidder may see its own.
                mine = await session.execute(
                    select(BidRow)
                    .where(BidRow.listing_id == listing_id, BidRow.bidder_id == user.user_id)
                    .order_by(BidRow.seq)
                )
                history = [
                    _row(
                        b.seq,
                        b.bid_number,
                        format_yuan(b.amount),
                        b.accepted_at,
                        True,
                        from_units(row.asset_class, b.quantity) if b.quantity is not None else None,
                    )
                    for b in mine.scalars()
                ]
        basis = unit_basis(row.asset_class, row.method, row.attributes)
        final = row.status in FINAL_STATUSES
        # A bidder who took part keeps its 号牌 after the close (its application is then "closed"):
        # its hall tells it the outcome, not that it has no right to bid.
        took_part = (
            application is not None
            and my_number is not None
            and application.status in ("qualified", "closed")
        )
        can_bid = (
            application is not None
            and application.status == "qualified"
            and my_number is not None
            and not final
        )
        params = row.method_params
        quantity_unit = shown_unit(str(params.get("unit") or UNITS[row.asset_class].quantity_unit or ""))
        return page(
            request,
            "hall/hall.html",
            listing=public_view(row, now),
            auction=auction,
            history=list(reversed(history)),
            my_number=my_number,
            can_bid=can_bid,
            took_part=took_part,
            final=final,
            unit_divisor=str(basis[0]) if basis else "",
            unit_label=basis[1] if basis else "",
            quantity_unit=quantity_unit,
            quantity_offered=params.get("quantity") or "",
            sealed=mechanism_for(row.method).sealed,
            lot=params.get("lot") or "",
            max_share=_percent(params.get("max_bidder_share")),
            jump_increments=request.app.state.settings.bid_jump_warning_increments,
            bid_signatures=row.bid_signatures,
            quantity_places=UNITS[row.asset_class].quantity_places or 0,
            user_id=user.user_id if user is not None else "",
        )


PAGES: list[ControllerRouterHandler] = [HallPages]
