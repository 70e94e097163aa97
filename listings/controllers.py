"""Listing endpoints: operators write, everyone reads the published catalogue."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, patch, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, QueryParameter

from exchange.clock import utcnow
from exchange.deps import AppSettings, CurrentUser, ListingId, MaybeUser, Session
from exchange.identity.guards import requires
from exchange.settings import Settings
from exchange.vocabulary import AssetClass, ListingStatus, Method
from listings import services
from listings.lifecycle import Lifecycle
from listings.models import Listing as ListingRow
from listings.schemas import (
    CatalogueFilters,
    Listing,
    ListingCreate,
    ListingPage,
    ListingStaffView,
    ListingUpdate,
    Reason,
    ReserveIn,
    Resume,
    Sort,
)
from listings.views import public_view, staff_view

operator_only = [requires("operator")]


def defaults_of(settings: Settings) -> services.Defaults:
    """What a new listing without its own 公示 or payment terms gets from the settings."""
    return services.Defaults(
        profile=settings.profile,
        payment_terms=settings.settlement.payment_terms,
        signed_bids_required=settings.signed_bids_required,
    )


def provide_lifecycle(state: State) -> Lifecycle:
    lifecycle: Lifecycle = state.lifecycle
    return lifecycle


def _rearmed(lifecycle: Lifecycle, row: ListingRow) -> ListingStaffView:
    """A listing whose state or dates just changed: its timers follow, and staff see it."""
    lifecycle.arm(row)
    return staff_view(row, utcnow())


class ListingController(Controller):
    path = "/api/v1/listings"
    tags = ["listings"]
    dependencies = {"lifecycle": Provide(provide_lifecycle, sync_to_thread=False)}

    @post("/", operation_id="createListing", guards=operator_only, summary="Create a listing (draft)")
    async def create(
        self, data: JSONBody[ListingCreate], session: Session, user: CurrentUser, settings: AppSettings
    ) -> ListingStaffView:
        row = await services.create_listing(session, data, user, defaults_of(settings))
        return staff_view(row, utcnow())

    @get("/", operation_id="listListings", summary="Public catalogue (公告列表)")
    async def catalogue(
        self,
        session: Session,
        principal: MaybeUser,
        asset_class: Annotated[AssetClass | None, QueryParameter()] = None,
        status: Annotated[ListingStatus | None, QueryParameter()] = None,
        region: Annotated[str | None, QueryParameter(max_length=100)] = None,
        method: Annotated[Method | None, QueryParameter()] = None,
        page: Annotated[int, QueryParameter(ge=1, le=100000)] = 1,
        page_size: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        sort: Annotated[Sort, QueryParameter()] = "-id",
        q: Annotated[
            str | None,
            QueryParameter(
                max_length=100,
                description="Keywords, all required, each in the title, parcel code, location, seller "
                "or announcement number (case-insensitive)",
            ),
        ] = None,
    ) -> ListingPage:
        now = utcnow()
        filters = CatalogueFilters(asset_class, status, method, region, sort, q)
        public = principal is None or not principal.is_staff
        rows, total = await services.catalogue(
            session, filters, public=public, page=page, page_size=page_size, now=now
        )
        items = [public_view(row, now) for row in rows]
        return ListingPage(items=items, page=page, page_size=page_size, total=total)

    @get("/{listing_id:int}", operation_id="getListing", summary="One listing; staff also see the reserve")
    async def detail(
        self, session: Session, principal: MaybeUser, listing_id: ListingId
    ) -> Listing | ListingStaffView:
        now = utcnow()
        if principal is not None and principal.is_staff:
            return staff_view(await services.get_listing(session, listing_id), now)
        return public_view(await services.published_listing(session, listing_id, now), now)

    @patch("/{listing_id:int}", operation_id="updateListing", guards=operator_only, summary="Edit a draft")
    async def update(
        self,
        data: JSONBody[ListingUpdate],
        session: Session,
        user: CurrentUser,
        settings: AppSettings,
        lifecycle: NamedDependency[Lifecycle],
        listing_id: ListingId,
    ) -> ListingStaffView:
        row = await services.update_listing(
            session, listing_id, data, user, defaults_of(settings), hooks=lifecycle.hooks
        )
        return staff_view(row, utcnow())

    @post(
        "/{listing_id:int}/publish",
        operation_id="publishListing",
        guards=operator_only,
        status_code=200,
        summary="Publish: draft -> announced, checked against the statutory profile",
    )
    async def publish(
        self,
        session: Session,
        user: CurrentUser,
        settings: AppSettings,
        lifecycle: NamedDependency[Lifecycle],
        listing_id: ListingId,
    ) -> ListingStaffView:
        row = await services.publish(session, listing_id, user, settings.profile, hooks=lifecycle.hooks)
        return _rearmed(lifecycle, row)

    @post(
        "/{listing_id:int}/cancel",
        operation_id="cancelListing",
        guards=operator_only,
        status_code=200,
        summary="Terminate (终止) the listing",
    )
    async def cancel(
        self,
        data: JSONBody[Reason],
        session: Session,
        user: CurrentUser,
        lifecycle: NamedDependency[Lifecycle],
        listing_id: ListingId,
    ) -> ListingStaffView:
        row = await services.cancel(session, listing_id, data.reason, user, lifecycle.hooks)
        return _rearmed(lifecycle, row)

    @post(
        "/{listing_id:int}/suspend",
        operation_id="suspendListing",
        guards=operator_only,
        status_code=200,
        summary="Suspend (中止) the listing",
    )
    async def suspend(
        self,
        data: JSONBody[Reason],
        session: Session,
        user: CurrentUser,
        lifecycle: NamedDependency[Lifecycle],
        listing_id: ListingId,
    ) -> ListingStaffView:
        row = await services.suspend(session, listing_id, data.reason, user, lifecycle.hooks)
        return _rearmed(lifecycle, row)

    @post(
        "/{listing_id:int}/resume",
        operation_id="resumeListing",
        guards=operator_only,
        status_code=200,
        summary="Resume a suspended listing, optionally with new dates",
    )
    async def resume(
        self,
        data: JSONBody[Resume],
        session: Session,
        user: CurrentUser,
        settings: AppSettings,
        lifecycle: NamedDependency[Lifecycle],
        listing_id: ListingId,
    ) -> ListingStaffView:
        row = await services.resume(
            session, listing_id, data.schedule, user, settings.profile, lifecycle.hooks
        )
        return _rearmed(lifecycle, row)

    @put(
        "/{listing_id:int}/reserve",
        operation_id="setReservePrice",
        guards=operator_only,
        summary="Set, change or remove the secret reserve price, until bidding opens (mining rights: "
        "until publication); then it is frozen and committed (409 reserve_locked)",
    )
    async def reserve(
        self, data: JSONBody[ReserveIn], session: Session, user: CurrentUser, listing_id: ListingId
    ) -> ListingStaffView:
        row = await services.set_reserve(session, listing_id, data.reserve_price, user)
        return staff_view(row, utcnow())
