"""公示 and objections (异议): filed during the 公示 by anyone logged in, answered by an operator;
an upheld one holds the confirmation until the sale stands or is annulled (with its reason published).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from typing import Any

import pytest
from sqlalchemy import select

from exchange.audit.models import AuditEntry
from exchange.errors import RateLimited
from settlement.notice_models import Notice
from settlement.objections import FilingLimiter, blocks_confirmation
from tests.integration.test_me_page import as_user
from tests.support.api import Client, bidder, staff
from tests.support.auctions import live_auction
from tests.support.flow import open_registration, wait_status
from tests.support.objections import (
    PDF,
    SELLER,
    ago,
    set_publicity_end,
    settlement_of,
    sold_in_publicity,
    wait_settlement,
)


async def _file(
    client: Client, lid: int, headers: dict[str, str], reasons: str = "竞得人与另一竞买人存在关联关系。"
) -> dict:
    response = await client.post(
        f"/api/v1/results/{lid}/objections", json={"reasons": reasons}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _blocks(client: Client, lid: int) -> bool:
    async with client.app.state.sessions() as session:
        return await blocks_confirmation(session, lid)


async def _actions(client: Client, lid: int) -> list[str]:
    async with client.app.state.sessions() as session:
        rows = await session.execute(
            select(AuditEntry.action).where(AuditEntry.stream == f"listing:{lid}").order_by(AuditEntry.seq)
        )
        return [a for a in rows.scalars() if a.startswith("objection.")]


async def _notices(client: Client, headers: dict[str, str]) -> list[Notice]:
    me = (await client.get("/api/v1/users/me", headers=headers)).json()["id"]
    async with client.app.state.sessions() as session:
        rows = await session.execute(select(Notice).where(Notice.user_id == me).order_by(Notice.id))
        return [n for n in rows.scalars() if n.kind.startswith("objection_")]


@pytest.mark.databases()
async def test_anyone_logged_in_files_during_the_publicity_and_the_public_never_sees_who(
    client: Client,
) -> None:
    lid, winner, operator = await sold_in_publicity(client)
    public = await bidder(client)  # an account that never applied
    url = f"/api/v1/results/{lid}/objections"
    assert (await client.post(url, json={"reasons": "x"})).status_code == 401
    blank = await client.post(url, json={"reasons": "  \n"}, headers=public)
    assert blank.status_code == 422 and blank.json()["code"] == "reasons_required"
    first = await _file(client, lid, public)
    second = await _file(client, lid, public, "公示的成交价与竞价记录不符。")  # one user may file several
    assert (first["status"], first["mine"], first["reasons"]) == (
        "filed",
        True,
        "竞得人与另一竞买人存在关联关系。",
    )
    assert await _blocks(client, lid)

    attached = await client.post(
        f"/api/v1/objections/{first['id']}/attachments",
        files={"file": ("证据.pdf", PDF, "application/pdf")},
        headers=public,
    )
    assert attached.status_code == 201, attached.text
    stranger = await client.post(
        f"/api/v1/objections/{first['id']}/attachments",
        files={"file": ("x.pdf", PDF, "application/pdf")},
        headers=winner,
    )
    assert stranger.status_code == 404 and stranger.json()["code"] == "objection_not_found"
    wrong = await client.post(
        f"/api/v1/objections/{first['id']}/attachments",
        files={"file": ("x.txt", b"hello", "text/plain")},
        headers=public,
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "document_type_not_allowed"
    download = f"/api/v1/objections/{first['id']}/attachments/{attached.json()['id']}"
    assert (await client.get(download, headers=public)).content == PDF
    assert (await client.get(download, headers=operator)).content == PDF
    assert (await client.get(download, headers=winner)).status_code == 404

    anonymous = (await client.get(url)).json()
    assert [o["id"] for o in anonymous] == [first["id"], second["id"]]
    assert all(set(o) == {"id", "listing_id", "status", "filed_at", "mine"} for o in anonymous), anonymous
    seen_by_winner = (await client.get(url, headers=winner)).json()
    assert [o.get("reasons") for o in seen_by_winner] == [None, None] and not any(
        o["mine"] for o in seen_by_winner
    )
    seen_by_staff = (await client.get(url, headers=await staff(client, "auditor"))).json()
    assert {o["filer_name"] for o in seen_by_staff} == {o["filer_name"] for o in seen_by_staff[:1]}
    assert (
        seen_by_staff[0]["filer_name"].endswith("有限公司")
        and seen_by_staff[0]["attachments"][0]["filename"] == "证据.pdf"
    )
    assert await _actions(client, lid) == ["objection.filed", "objection.filed", "objection.attachment_added"]


@pytest.mark.databases()
async def test_no_objection_outside_the_publicity_nor_without_a_published_result(client: Client) -> None:
    lid, winner, operator = await sold_in_publicity(client)
    await set_publicity_end(client, lid, ago(1))
    late = await client.post(
        f"/api/v1/results/{lid}/objections", json={"reasons": "迟到的异议"}, headers=winner
    )
    assert late.status_code == 409 and late.json()["code"] == "publicity_closed"
    # nothing blocks: the confirmation follows the end of the 公示
    confirmed = await wait_settlement(client, lid, "awaiting_contract", "pending_payment")
    assert confirmed.confirmed_at is not None
    listing = await open_registration(client, operator)
    missing = await client.post(
        f"/api/v1/results/{listing['id']}/objections", json={"reasons": "尚无结果"}, headers=winner
    )
    assert missing.status_code == 404 and missing.json()["code"] == "result_not_found"
    assert (await client.get(f"/api/v1/results/{listing['id']}/objections")).status_code == 404


@pytest.mark.databases()
async def test_a_dismissed_objection_keeps_the_publicity_and_tells_its_filer(client: Client) -> None:
    lid, _winner, operator = await sold_in_publicity(client)
    filer = await bidder(client)
    objection = await _file(client, lid, filer)
    url = f"/api/v1/objections/{objection['id']}"
    for who in (filer, await staff(client, "auditor"), await staff(client, "admin")):
        refused = await client.post(
            f"{url}/answer", json={"decision": "dismissed", "answer": "x"}, headers=who
        )
        assert refused.status_code == 403
    empty = await client.post(
        f"{url}/answer", json={"decision": "dismissed", "answer": " "}, headers=operator
    )
    assert empty.status_code == 422 and empty.json()["code"] == "answer_required"
    answered = await client.post(
        f"{url}/answer",
        json={"decision": "dismissed", "answer": "经核查，二者不存在关联关系。"},
        headers=operator,
    )
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["answer"]) == (
        "dismissed",
        "经核查，二者不存在关联关系。",
    )
    assert (await settlement_of(client, lid)).status == "publicity"  # type: ignore[union-attr]
    assert not await _blocks(client, lid)
    again = await client.post(f"{url}/answer", json={"decision": "upheld", "answer": "x"}, headers=operator)
    assert again.status_code == 409 and again.json()["code"] == "objection_not_filed"
    resolve = await client.post(f"{url}/resolve", json={"outcome": "stands", "reason": "x"}, headers=operator)
    assert resolve.status_code == 409 and resolve.json()["code"] == "objection_not_upheld"
    late = await client.post(
        f"{url}/attachments", files={"file": ("x.pdf", PDF, "application/pdf")}, headers=filer
    )
    assert late.status_code == 409 and late.json()["code"] == "objection_answered"
    public = (await client.get(f"/api/v1/results/{lid}/objections")).json()
    assert [(o["status"], o["answer"]) for o in public] == [("dismissed", "经核查，二者不存在关联关系。")]
    assert [n.kind for n in await _notices(client, filer)] == ["objection_dismissed"]
    assert await _actions(client, lid) == ["objection.filed", "objection.dismissed"]


@pytest.mark.databases()
async def test_an_upheld_objection_holds_the_confirmation_until_the_sale_stands(client: Client) -> None:
    lid, _winner, operator = await sold_in_publicity(client)
    filer = await bidder(client)
    objection = await _file(client, lid, filer)
    url = f"/api/v1/objections/{objection['id']}"
    upheld = await client.post(
        f"{url}/answer", json={"decision": "upheld", "answer": "需进一步核查。"}, headers=operator
    )
    assert upheld.status_code == 200 and upheld.json()["status"] == "upheld"
    assert (await settlement_of(client, lid)).status == "on_hold"  # type: ignore[union-attr]
    assert await _blocks(client, lid)
    # the 公示 runs out while the objection is upheld: still on hold, nothing confirmed
    await set_publicity_end(client, lid, ago(1))
    await asyncio.sleep(2.5)  # the settlement's sweep runs every 2 s
    held = await settlement_of(client, lid)
    assert held is not None and (held.status, held.confirmed_at) == ("on_hold", None)
    anyone = await client.post(
        f"/api/v1/results/{lid}/objections", json={"reasons": "又一异议"}, headers=filer
    )
    assert anyone.status_code == 409 and anyone.json()["code"] == "publicity_closed"

    empty = await client.post(f"{url}/resolve", json={"outcome": "stands", "reason": ""}, headers=operator)
    assert empty.status_code == 422 and empty.json()["code"] == "reason_required"
    stands = await client.post(
        f"{url}/resolve",
        json={"outcome": "stands", "reason": "核查后确认竞买人之间不存在关联关系。"},
        headers=operator,
    )
    assert stands.status_code == 200 and stands.json()["status"] == "stands"
    assert not await _blocks(client, lid)
    confirmed = await wait_settlement(client, lid, "awaiting_contract", "pending_payment")
    assert confirmed.confirmed_at is not None
    assert [n.kind for n in await _notices(client, filer)] == ["objection_upheld", "objection_stands"]
    assert await _actions(client, lid) == ["objection.filed", "objection.upheld", "objection.resolved_stands"]


@pytest.mark.databases()
async def test_two_upheld_objections_hold_until_both_are_resolved(client: Client) -> None:
    lid, _winner, operator = await sold_in_publicity(client)
    filer = await bidder(client)
    one, two = await _file(client, lid, filer), await _file(client, lid, filer, "另一理由")
    for o in (one, two):
        answer = {"decision": "upheld", "answer": "成立"}
        assert (
            await client.post(f"/api/v1/objections/{o['id']}/answer", json=answer, headers=operator)
        ).status_code == 200
    resolved = {"outcome": "stands", "reason": "成交有效"}
    assert (
        await client.post(f"/api/v1/objections/{one['id']}/resolve", json=resolved, headers=operator)
    ).status_code == 200
    assert (await settlement_of(client, lid)).status == "on_hold"  # type: ignore[union-attr]
    assert await _blocks(client, lid)
    assert (
        await client.post(f"/api/v1/objections/{two['id']}/resolve", json=resolved, headers=operator)
    ).status_code == 200
    assert (await settlement_of(client, lid)).status == "publicity"  # type: ignore[union-attr]
    assert not await _blocks(client, lid)


@pytest.mark.databases()
async def test_an_annulled_sale_fails_and_its_reason_is_published(client: Client) -> None:
    lid, winner, operator = await sold_in_publicity(client)
    objection = await _file(client, lid, winner)  # even the winner may object
    url = f"/api/v1/objections/{objection['id']}"
    await client.post(f"{url}/answer", json={"decision": "upheld", "answer": "异议成立。"}, headers=operator)
    reason = "竞得人隐瞒与其他竞买人的关联关系，成交无效。"
    annulled = await client.post(
        f"{url}/resolve", json={"outcome": "annulled", "reason": reason}, headers=operator
    )
    assert annulled.status_code == 200, annulled.text
    assert (annulled.json()["status"], annulled.json()["resolution_reason"]) == ("annulled", reason)
    settlement = await settlement_of(client, lid)
    assert settlement is not None and (settlement.status, settlement.annulled_reason) == ("annulled", reason)
    assert not await _blocks(client, lid)
    public = (await client.get(f"/api/v1/results/{lid}/objections")).json()
    assert [(o["status"], o["resolution_reason"]) for o in public] == [("annulled", reason)]
    page = await client.get(f"/results/{lid}")
    assert page.status_code == 200 and reason in page.text and "成交无效" in page.text
    assert 'data-section="winners"' in page.text and "原竞得人（成交无效）" in page.text
    assert 'data-field="winners_void"' in page.text
    listed = (await client.get("/results")).text
    row = listed[listed.index(f'data-listing="{lid}"') :]
    assert "data-annulled" in row[: row.index("</tr>")] and "成交无效" in row[: row.index("</tr>")]
    # the API keeps the auction's outcome and says the sale was annulled, and why
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert (result["outcome"], result["annulled"], result["annulled_reason"]) == ("sold", True, reason)
    exported = list(
        csv.DictReader(
            io.StringIO((await client.get("/api/v1/results/export.csv")).content.decode("utf-8-sig"))
        )
    )
    (mine,) = [r for r in exported if r["listing_id"] == str(lid)]
    assert (mine["outcome"], mine["annulled"], mine["annulled_reason"]) == ("sold", "true", reason)
    dumped = (await client.get("/api/v1/results/export.json")).json()["results"]
    assert [(r["annulled"], r["annulled_reason"]) for r in dumped if r["listing_id"] == lid] == [
        (True, reason)
    ]
    stands = await client.post(f"{url}/resolve", json={"outcome": "stands", "reason": "x"}, headers=operator)
    assert stands.status_code == 409 and stands.json()["code"] == "objection_not_upheld"
    assert [n.kind for n in await _notices(client, winner)][-2:] == ["objection_upheld", "objection_annulled"]
    assert (await _actions(client, lid))[:3] == [
        "objection.filed",
        "objection.upheld",
        "objection.resolved_annulled",
    ]


@pytest.mark.databases()
async def test_the_result_page_shows_the_publicity_and_the_objection_route(client: Client) -> None:
    lid, _winner, _operator = await sold_in_publicity(client)
    settlement = await settlement_of(client, lid)
    assert settlement is not None and settlement.publicity_ends_at is not None
    page = (await client.get(f"/results/{lid}")).text
    assert "成交公示与异议" in page and "公示期" in page and "年" in page
    assert "（演示环境：240 秒）" in page and "个工作日" not in page  # the sandbox counts seconds
    assert SELLER["seller_name"] in page and SELLER["seller_contact"] in page
    assert "登录后提交异议" in page and "尚无异议" in page
    english = (await client.get(f"/results/{lid}?lang=en")).text
    assert "How to object" in english
    filer = await bidder(client)
    reasons = "竞得人提交的资质证明疑似伪造，请核查。"
    objection = await _file(client, lid, filer, reasons)
    name = (await client.get("/api/v1/users/me", headers=filer)).json()["display_name"]
    anonymous = (await client.get(f"/results/{lid}?lang=zh")).text
    assert f'data-objection="{objection["id"]}"' in anonymous and "待答复" in anonymous
    assert reasons not in anonymous and name not in anonymous and "data-attach-form" not in anonymous
    others = (await as_user(client, await bidder(client), f"/results/{lid}")).text
    assert reasons not in others and name not in others and "我提出的" not in others
    own = (await as_user(client, filer, f"/results/{lid}")).text
    assert reasons in own and "我提出的" in own
    assert f'data-attach-form data-objection="{objection["id"]}"' in own  # a file may still be added
    await set_publicity_end(client, lid, ago(1))
    assert "不再受理异议" in (await client.get(f"/results/{lid}?lang=zh")).text


@pytest.mark.databases("postgresql")
async def test_filing_is_rate_limited_per_user(client: Client) -> None:
    lid, _winner, _operator = await sold_in_publicity(client)
    limiter: FilingLimiter = client.app.state.objection_limiter
    frozen = time.time()
    limiter.clock = lambda: frozen  # one window for the whole test, whatever the wall clock does
    filer = await bidder(client)
    url = f"/api/v1/results/{lid}/objections"
    # attempts that file nothing do not count
    for _ in range(limiter.limit + 1):
        blank = await client.post(url, json={"reasons": " "}, headers=filer)
        assert blank.status_code == 422 and blank.json()["code"] == "reasons_required"
    for n in range(limiter.limit):
        await _file(client, lid, filer, f"理由 {n}")
    limited = await client.post(url, json={"reasons": "第六条"}, headers=filer)
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    again = await client.post(url, json={"reasons": "第七条"}, headers=filer)
    assert again.status_code == 429  # a refused attempt takes no place either way
    await _file(client, lid, await bidder(client))  # another user is not held back
    public = (await client.get(url)).json()
    assert len(public) == limiter.limit + 1


async def test_the_limiter_counts_only_what_was_filed() -> None:
    """In memory (no Redis): a released place is free again; the next window starts afresh."""
    now = [1_000_000.0]
    limiter = FilingLimiter(None, "test", limit=2, window=600, clock=lambda: now[0])
    first = await limiter.check(7)
    await limiter.check(7)
    await limiter.release(7, first)  # that filing failed
    await limiter.check(7)
    with pytest.raises(RateLimited):
        await limiter.check(7)
    await limiter.check(8)  # per user
    now[0] += 600
    await limiter.check(7)


async def _decide(client: Client, objection: dict, step: str, body: dict, operator: dict[str, str]) -> Any:
    """POST an operator's ``answer`` or ``resolve`` to an objection."""
    return await client.post(f"/api/v1/objections/{objection['id']}/{step}", json=body, headers=operator)


@pytest.mark.databases()
async def test_once_annulled_no_other_objection_is_upheld(client: Client) -> None:
    lid, _winner, operator = await sold_in_publicity(client)
    filer = await bidder(client)
    one, two, three = [await _file(client, lid, filer, f"理由 {n}") for n in range(3)]
    upheld = {"decision": "upheld", "answer": "成立"}
    for o in (one, two):
        assert (await _decide(client, o, "answer", upheld, operator)).status_code == 200
    annul = {"outcome": "annulled", "reason": "成交无效"}
    assert (await _decide(client, one, "resolve", annul, operator)).status_code == 200
    refused = await _decide(client, three, "answer", upheld, operator)
    assert refused.status_code == 409 and refused.json()["code"] == "settlement_annulled"
    dismiss = {"decision": "dismissed", "answer": "成交已无效，不再处理"}
    assert (await _decide(client, three, "answer", dismiss, operator)).status_code == 200
    # the other upheld one is closed as annulled too; the sale is annulled once, for the first reason
    second = await _decide(client, two, "resolve", {"outcome": "annulled", "reason": "同上"}, operator)
    assert second.status_code == 200, second.text
    settlement = await settlement_of(client, lid)
    assert settlement is not None
    assert (settlement.status, settlement.annulled_reason) == ("annulled", "成交无效")
    assert not await _blocks(client, lid)


@pytest.mark.databases()
async def test_the_console_shows_operators_the_objections_to_answer_and_resolve(client: Client) -> None:
    lid, _winner, operator = await sold_in_publicity(client)
    filer = await bidder(client)
    name = (await client.get("/api/v1/users/me", headers=filer)).json()["display_name"]
    reasons = "竞买人之间存在关联关系。"
    objection = await _file(client, lid, filer, reasons)
    attached = await client.post(
        f"/api/v1/objections/{objection['id']}/attachments",
        files={"file": ("证据.pdf", PDF, "application/pdf")},
        headers=filer,
    )
    assert attached.status_code == 201, attached.text
    page = (await as_user(client, operator, f"/console/listings/{lid}")).text
    assert "data-objections-panel" in page and "成交公示与异议处理" in page
    assert name in page and reasons in page
    assert f"/api/v1/objections/{objection['id']}/attachments/{attached.json()['id']}" in page
    assert f'action="/api/v1/objections/{objection["id"]}/answer"' in page
    assert "/resolve" not in page  # nothing upheld yet
    auditor = (await as_user(client, await staff(client, "auditor"), f"/console/listings/{lid}")).text
    assert reasons in auditor and "/answer" not in auditor  # auditors read, operators act

    upheld = await client.post(
        f"/api/v1/objections/{objection['id']}/answer",
        json={"decision": "upheld", "answer": "需核查"},
        headers=operator,
    )
    assert upheld.status_code == 200
    page = (await as_user(client, operator, f"/console/listings/{lid}")).text
    assert "data-stands-form" in page and "data-annul-form" in page and "data-confirm" in page
    assert f'action="/api/v1/objections/{objection["id"]}/answer"' not in page
    assert "异议处理中" in page


@pytest.mark.databases()
async def test_a_failed_result_shows_no_publicity(client: Client) -> None:
    listing, _bidders = await live_auction(client, 1, closes_in=1)  # nobody bids: no sale
    await wait_status(client, listing["id"], "failed", timeout=15)
    await wait_settlement(client, listing["id"])
    page = await client.get(f"/results/{listing['id']}?lang=zh")
    assert page.status_code == 200 and "流拍" in page.text
    assert 'data-section="publicity"' not in page.text and "异议途径" not in page.text
