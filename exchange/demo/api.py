"""The public HTTP API as a client program sees it: accounts that log in again, problem codes."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(RuntimeError):
    """The exchange answered something the caller cannot go on from."""


def expect(response: httpx.Response, status: int | tuple[int, ...], what: str) -> Any:
    wanted = (status,) if isinstance(status, int) else status
    if response.status_code not in wanted:
        raise ApiError(f"{what}: HTTP {response.status_code} {response.text[:400]}")
    return response.json()


def problem_code(response: httpx.Response) -> str:
    """The ``code`` of a problem document, or ``http_<status>`` when the body has none."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return str(body["code"])
    return f"http_{response.status_code}"


class Account:
    """One login on the exchange; it logs in again when its token has expired."""

    def __init__(self, client: httpx.AsyncClient, username: str, password: str) -> None:
        self.client = client
        self.username = username
        self.password = password
        self._token: str | None = None

    @property
    def token(self) -> str:
        """The current access token (a client of its own sends it itself)."""
        if self._token is None:
            raise ApiError(f"{self.username} has not logged in")
        return self._token

    async def login(self) -> None:
        response = await self.client.post(
            "/api/v1/auth/token", json={"username": self.username, "password": self.password}
        )
        self._token = str(expect(response, 200, f"log in {self.username}")["access_token"])

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._token is None:
            await self.login()
        extra = kwargs.pop("headers", {})
        response = await self._send(method, path, extra, kwargs)
        if response.status_code == 401:  # the token expired during a long demo
            await self.login()
            response = await self._send(method, path, extra, kwargs)
        return response

    async def _send(
        self, method: str, path: str, extra: dict[str, str], kwargs: dict[str, Any]
    ) -> httpx.Response:
        headers = {**extra, "Authorization": f"Bearer {self._token}"}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)
