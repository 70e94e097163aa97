"""One stateless instance per method."""

from __future__ import annotations

from typing import Final

from .base import Mechanism
from .dutch import DutchMechanism
from .english import EnglishMechanism
from .listing import ListingMechanism
from .sealed import SealedBidMechanism
from .uniform import UniformPriceMechanism

MECHANISMS: Final[dict[str, Mechanism]] = {
    m.method: m
    for m in (
        EnglishMechanism(),
        ListingMechanism(),
        SealedBidMechanism(),
        UniformPriceMechanism(),
        DutchMechanism(),
    )
}


def mechanism_for(method: str) -> Mechanism:
    try:
        return MECHANISMS[method]
    except KeyError:
        raise ValueError(f"unknown auction method {method!r}") from None
