"""Problems speak the request's language: Chinese by default, English when asked (issue 17).

Through the real app, on both databases: a registration with a bad credit code and
with a weak password, an empty listing form, a bid below the minimum (through the
bid lane and through the route), a 404 and a 405. Each is asked three ways: no
language (Chinese), ``Accept-Language: en`` and ``?lang=en``. The code and the
status never change; the Chinese words name the fields in Chinese.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.api import Client, staff
from tests.support.auctions import bid, live_auction
from tests.support.ids import credit_code

pytestmark = pytest.mark.databases()

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9,zh-CN;q=0.5"}


def _with_lang_en(path: str) -> str:
    return path + ("&" if "?" in path else "?") + "lang=en"


async def _three(client: Client, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> list[Any]:
    """The same request with no language, in English by header, and in English by ``?lang=en``."""
    answers = [
        await client.request(method, path, headers=headers, **kwargs),
        await client.request(method, path, headers={**headers, **ENGLISH}, **kwargs),
        await client.request(
            method, _with_lang_en(path), headers={**headers, "Accept-Language": "zh-CN"}, **kwargs
        ),
    ]
    zh, en, en_query = (a.json() for a in answers)
    assert answers[0].headers["content-type"] == "application/problem+json"
    assert zh["code"] == en["code"] == en_query["code"]
    assert answers[0].status_code == answers[1].status_code == answers[2].status_code == zh["status"]
    assert CJK.search(zh["detail"]), zh
    assert not re.search(r"[A-Za-z]{3,}", zh["detail"].replace("GB 32100-2015", "")), zh["detail"]
    assert not CJK.search(en["detail"]) and en["detail"] == en_query["detail"], (en, en_query)
    for error in zh.get("errors", []):
        assert CJK.search(error["message"]) and error["field"] and error["code"], error
    return [zh, en]


def _registration(**fields: Any) -> dict[str, Any]:
    return {
        "username": "kunming_water",
        "password": "Kunming-pass-2026",
        "display_name": "昆明水务有限公司",
        "kind": "enterprise",
        "credit_code": credit_code(),
        **fields,
    }


async def test_problems_follow_the_request_language(client: Client) -> None:
    bad_check = credit_code()[:-1] + ("0" if credit_code()[-1] != "0" else "1")
    zh, en = await _three(
        client, "POST", "/api/v1/auth/register", {}, json=_registration(credit_code=bad_check)
    )
    assert zh["code"] == "credit_code_invalid" and zh["status"] == 422
    assert zh["detail"] == "统一社会信用代码校验位不符（GB 32100-2015）"
    assert zh["errors"][0]["field"] == "credit_code" and zh["errors"][0]["code"] == "wrong_check_character"
    assert "GB 32100-2015" in en["detail"]

    zh, en = await _three(
        client, "POST", "/api/v1/auth/register", {}, json=_registration(password="kunming_water-2026")
    )
    assert zh["code"] == "password_weak" and zh["status"] == 422
    assert "密码强度不足：不得包含用户名" in zh["detail"]
    assert [e["code"] for e in zh["errors"]] == ["password_contains_username"]
    assert "username" in en["detail"]

    operator = await staff(client, "operator")
    # the console's empty form: the class chosen, nothing else (msgspec names the first missing field)
    zh, en = await _three(
        client, "POST", "/api/v1/listings", operator, json={"asset_class": "land_use_right"}
    )
    assert zh["code"] == "validation_failed" and zh["status"] == 400
    assert "请填写：标题" in zh["detail"]
    assert {"field": "title", "code": "required", "message": "请填写：标题"} in zh["errors"]
    assert "Please fill in: title" in en["detail"] and "`" not in en["detail"]

    listing, (alice, bob) = await live_auction(client, 2, closes_in=60)
    assert (await bid(client, alice, listing["id"], "1000000.00")).status_code == 201
    path = f"/api/v1/auctions/{listing['id']}/bids"
    for extra in ({}, {"Origin": "http://testserver"}):  # the bid lane, then Litestar's route
        answers = []
        for n, language in enumerate(({}, ENGLISH)):
            headers = {**bob, **extra, **language, "Idempotency-Key": f"low-{n}-{len(extra)}"}
            answers.append(await client.post(path, json={"amount": "990000.00"}, headers=headers))
        zh, en = (a.json() for a in answers)
        assert zh["code"] == en["code"] == "bid_below_minimum" and answers[0].status_code == 422
        assert zh["detail"] == "出价低于最低有效出价：最低有效出价为 1,010,000.00 元", zh
        assert "1010000.00 yuan" in en["detail"]

    zh, en = await _three(client, "GET", "/api/v1/no-such-thing", {})
    assert (zh["code"], zh["status"], zh["detail"]) == ("not_found", 404, "找不到请求的内容")
    assert en["detail"] == "No such resource."

    zh, en = await _three(client, "DELETE", "/api/v1/auth/register", {})
    assert (zh["code"], zh["status"], zh["detail"]) == ("method_not_allowed", 405, "不支持此操作")
    assert en["detail"] == "This method is not allowed here."
