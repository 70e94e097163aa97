"""The browser session: login by form into an HttpOnly cookie, CSRF on every cookie-authenticated write."""

from __future__ import annotations

from tests.support.api import PASSWORD, Client, register_bidder


async def login(client: Client, username: str, password: str = PASSWORD, next_: str = "") -> object:
    return await client.post(
        "/login",
        data={"username": username, "password": password, "next": next_},
        headers={"origin": "http://testserver.local"},
        follow_redirects=False,
    )


async def test_login_page_is_chinese_first_with_an_english_switch(client: Client) -> None:
    zh = await client.get("/login")
    assert zh.status_code == 200
    assert '<html lang="zh-CN">' in zh.text and "用户名" in zh.text
    en = await client.get("/login?lang=en")
    assert '<html lang="en">' in en.text and "Username" in en.text
    assert "exchange_lang=en" in en.headers.get("set-cookie", "")


async def test_login_sets_an_httponly_session_that_the_api_accepts(client: Client) -> None:
    user = await register_bidder(client)
    response = await login(client, user["username"])
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("exchange_session="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower()
    me = await client.get("/api/v1/users/me")
    assert me.status_code == 200 and me.json()["username"] == user["username"]


async def test_wrong_password_shows_the_form_again_and_sets_no_session(client: Client) -> None:
    user = await register_bidder(client)
    response = await login(client, user["username"], "not-the-password")
    assert response.status_code == 401
    assert 'data-code="invalid_credentials"' in response.text
    assert "exchange_session=" not in response.headers.get("set-cookie", "")
    assert (await client.get("/api/v1/users/me")).status_code == 401


async def test_cookie_writes_need_the_csrf_token(client: Client) -> None:
    user = await register_bidder(client)
    await login(client, user["username"])
    body = {"title": "x"}
    refused = await client.post("/api/v1/listings", json=body)
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    wrong = await client.post("/api/v1/listings", json=body, headers={"x-csrf-token": "guess"})
    assert wrong.json()["code"] == "csrf_failed"
    token = client.cookies.get("exchange_csrf")
    assert token
    # With the token the request reaches the role check: a bidder may not create listings.
    allowed = await client.post("/api/v1/listings", json=body, headers={"x-csrf-token": token})
    assert allowed.status_code == 403 and allowed.json()["code"] == "forbidden"


async def test_login_only_redirects_within_the_site(client: Client) -> None:
    user = await register_bidder(client)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = await login(client, user["username"], next_=target)
        assert response.headers["location"] == "/me", target
    response = await login(client, user["username"], next_="/results?page=2")
    assert response.headers["location"] == "/results?page=2"


async def test_login_from_another_site_is_refused(client: Client) -> None:
    user = await register_bidder(client)
    response = await client.post(
        "/login",
        data={"username": user["username"], "password": PASSWORD},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "exchange_session=" not in response.headers.get("set-cookie", "")


async def test_logout_needs_the_csrf_token_and_ends_the_session(client: Client) -> None:
    user = await register_bidder(client)
    await login(client, user["username"])
    refused = await client.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert (await client.get("/api/v1/users/me")).status_code == 200
    token = client.cookies.get("exchange_csrf")
    done = await client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    client.cookies.delete("exchange_session")  # the client honours max-age=0 only on the next request
    assert (await client.get("/api/v1/users/me")).status_code == 401


async def test_pages_allow_only_their_own_scripts_and_are_never_framed(client: Client) -> None:
    response = await client.get("/login")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "connect-src 'self' ws://testserver.local wss://testserver.local" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    missing = await client.get("/results/999999")
    assert missing.status_code == 404 and "content-security-policy" in missing.headers
