"""One stateless instance per method."""

from __future__ import annotations

from typing import Final

from .base import Mechanism
from .dutch import Dutch
from .english import English
from .listing import Listing
from .sealed import SealedBid
from .uniform import UniformPrice

MECHANISMS: Final[dict[str, Mechanism]] = {
    m.method: m for m in (English(), Listing(), SealedBid(), UniformPrice(), Dutch())
}


def mechanism_for(method: str) -> Mechanism:
    try:
        return MECHANISMS[method]
    except KeyError:
        raise ValueError(f"unknown auction method {method!r}") from None
