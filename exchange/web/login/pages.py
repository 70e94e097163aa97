"""Log in and out of the pages: the token goes into the session cookie, never into the page."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler

from exchange.deps import AppSettings, Session
from exchange.errors import ExchangeError
from exchange.identity import services
from exchange.identity.guards import client_address
from exchange.identity.session import login_cookies, logout_cookies
from exchange.identity.tokens import Principal
from exchange.web.pages import check_form_csrf, page, web_user

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


_UNSAFE_IN_PATH = re.compile(r"[\x00-\x20\x7f\\]")
"""Control characters, spaces and backslashes: a ``next`` holding one is not taken as a path."""


def safe_next(target: str | None, principal: Principal | None) -> str:
    """Only a path on this site, so the login page cannot be used to send people elsewhere."""
    # Browsers drop tabs and newlines from a URL: "/<TAB>/evil.example" would leave the site.
    if (
        target
        and target.startswith("/")
        and not _UNSAFE_IN_PATH.search(target)
        and not target.startswith("//")
    ):
        return target
    if principal is not None and principal.role == "registrar":  # the listings' console is not theirs
        return "/console/registry"
    if principal is not None and principal.is_staff:
        return "/console"
    return "/me" if principal is not None else "/"


def same_origin(request: Request[Any, Any, Any]) -> bool:
    """A browser says where a form was posted from; a page that logs someone in takes only its own."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


class LoginPages(Controller):
    path = "/"
    include_in_schema = False

    @get("/login", name="login")
    async def login_form(
        self,
        request: Request[Any, Any, Any],
        next: Annotated[str | None, QueryParameter(required=False)] = None,
    ) -> Template:
        return page(request, "login/login.html", next=safe_next(next, None) if next else "", error=None)

    @post("/login", status_code=303)
    async def login(
        self, request: Request[Any, Any, Any], data: Form, session: Session, settings: AppSettings
    ) -> Response[Any]:
        target = data.get("next") or ""
        if not same_origin(request):
            raise ExchangeError("log in from the exchange's own page", code="csrf_failed", status=403)
        try:
            user = await services.login(
                session,
                data.get("username", ""),
                data.get("password", ""),
                throttle=request.app.state.login_throttle,
                address=client_address(request),
                passwords=request.app.state.passwords,
            )
        except ExchangeError as exc:
            return page(request, "login/login.html", status_code=exc.status, next=target, error=exc.code)
        token, ttl = services.token_for(user, settings.security)
        principal = Principal(user_id=user.id, username=user.username, role=user.role)  # type: ignore[arg-type]
        return Redirect(
            safe_next(target, principal), status_code=303, cookies=login_cookies(request, token, ttl)
        )

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        if web_user(request) is not None:
            check_form_csrf(request, data)
        return Redirect("/", status_code=303, cookies=logout_cookies())


PAGES: list[ControllerRouterHandler] = [LoginPages]
