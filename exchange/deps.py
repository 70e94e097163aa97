"""Request-scoped dependencies shared by the controllers of every package."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.identity.guards import provide_principal, provide_user
from exchange.identity.tokens import Principal
from exchange.settings import Settings

MAX_ID = 2**63 - 1
"""Ids are PostgreSQL BIGINTs; anything larger is a 400, not a database error."""

# Annotations for handler parameters, so injection is explicit (Litestar 3 drops inference).
Session = NamedDependency[AsyncSession]
AppSettings = NamedDependency[Settings]
CurrentUser = NamedDependency[Principal]
MaybeUser = NamedDependency[Principal | None]
ListingId = Annotated[int, PathParameter(description="Listing id", ge=1, le=MAX_ID)]


async def provide_session(state: State) -> AsyncIterator[AsyncSession]:
    """One session per request; services commit explicitly, anything left is rolled back."""
    async with state.sessions() as session:
        yield session


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


DEPENDENCIES = {
    "session": Provide(provide_session),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "principal": Provide(provide_principal),
    "user": Provide(provide_user),
}
