"""The registry's pages (issue 18): a holder's green responsibility account and its forms
(:mod:`.holder`), the public statistics and agreements under 公示 (:mod:`.public`), and the
operator's and registrar's console (:mod:`.console`). Words come from :mod:`.words`."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from exchange.web.registry.console import RegistryConsole
from exchange.web.registry.holder import HolderPages
from exchange.web.registry.public import PublicPages

PAGES: list[ControllerRouterHandler] = [HolderPages, PublicPages, RegistryConsole]
