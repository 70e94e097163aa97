"""The seller (出让人 / 转让方), the 文号, the 公示 and the payment terms of a listing (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from exchange.db import unit_of_work
from exchange.settlement_terms import DEFAULT_PAYMENT_TERMS, terms_to_json
from listings import services
from listings.models import Listing
from tests.support.api import Client, staff
from tests.support.flow import use_sandbox
from tests.support.listings import SELLER, listing_body, sandbox_schedule, statutory_schedule

pytestmark = pytest.mark.databases()


@pytest.fixture(autouse=True)
def _english(client: Client) -> None:
    """The details asserted here are the domain's English sentences (``Accept-Language: en``)."""
    client.headers["Accept-Language"] = "en"


def _body(asset_class: str = "land_use_right", **overrides: Any) -> dict[str, Any]:
    return listing_body(asset_class, schedule=statutory_schedule(asset_class), **overrides)


async def _create(client: Client, operator: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/listings", json=body, headers=operator)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _publish(client: Client, operator: dict[str, str], listing_id: int) -> Any:
    return await client.post(f"/api/v1/listings/{listing_id}/publish", headers=operator)


async def test_the_seller_and_number_are_stored_and_shown(client: Client) -> None:
    operator = await staff(client, "operator")
    seller = {**SELLER, "credit_code": " 1132 0500 0141 600402 "}  # spaces are dropped
    created = await _create(
        client, operator, _body(seller=seller, announcement_number=" 苏地网挂〔2026〕12号 ")
    )
    assert created["seller"] == SELLER
    assert created["announcement_number"] == "苏地网挂〔2026〕12号"
    published = await _publish(client, operator, created["id"])
    assert published.status_code == 200, published.text
    public = (await client.get(f"/api/v1/listings/{created['id']}")).json()
    assert public["seller"] == SELLER
    assert public["announcement_number"] == "苏地网挂〔2026〕12号"
    assert public["publicity_working_days"] == 5
    assert public["payment_terms"] == terms_to_json(DEFAULT_PAYMENT_TERMS["land_use_right"])


async def test_defaults_come_from_the_profile_and_the_class(client: Client) -> None:
    operator = await staff(client, "operator")
    mining = await _create(client, operator, _body("mining_right"))
    assert mining["publicity_working_days"] == 10
    assert mining["payment_terms"]["anchor"] == "confirmation"
    assert mining["payment_terms"]["grace_days"] == 60
    water = await _create(client, operator, _body("water_right"))
    assert water["publicity_working_days"] == 5
    assert water["payment_terms"]["grace_days"] == 30
    land = await _create(client, operator, _body())
    assert land["payment_terms"]["anchor"] == "contract"
    assert land["payment_terms"]["contract_working_days"] == 10
    assert [t["share"] for t in land["payment_terms"]["terms"]] == ["0.5", "0.5"]
    assert land["payment_terms"]["rent"] is None
    lease = _body()
    lease["attributes"]["supply_mode"] = "long_term_lease"
    lease["attributes"]["term_years"] = 20
    leased = await _create(client, operator, lease)
    assert leased["payment_terms"]["rent"] == {"years": 20, "first_months": 1}
    use_sandbox(client)
    sandbox = await _create(client, operator, listing_body("mining_right", schedule=sandbox_schedule()))
    assert sandbox["publicity_working_days"] == 0


async def test_invalid_parties_and_terms_are_refused(client: Client) -> None:
    operator = await staff(client, "operator")
    bad_code = await client.post(
        "/api/v1/listings",
        json=_body(seller={"name": "某局", "credit_code": "113205000141600403"}),
        headers=operator,
    )
    assert bad_code.status_code == 422, bad_code.text
    assert bad_code.json()["code"] == "listing_invalid"
    assert {e["field"] for e in bad_code.json()["errors"]} == {"seller.credit_code"}
    blank = await client.post("/api/v1/listings", json=_body(seller={"name": "   "}), headers=operator)
    assert blank.status_code == 422
    assert {e["field"] for e in blank.json()["errors"]} == {"seller.name"}
    too_long = await client.post(
        "/api/v1/listings", json=_body(announcement_number="号" * 65), headers=operator
    )
    assert too_long.status_code == 400  # the schema's length limit
    terms = terms_to_json(DEFAULT_PAYMENT_TERMS["land_use_right"])
    terms["terms"][0]["share"] = "0.6"
    bad_terms = await client.post("/api/v1/listings", json=_body(payment_terms=terms), headers=operator)
    assert bad_terms.status_code == 422
    problem = bad_terms.json()
    assert problem["code"] == "payment_terms_invalid"
    assert "sum to 1" in problem["detail"]
    assert problem["errors"][0]["field"] == "payment_terms"
    listings = await client.get("/api/v1/listings", headers=operator)
    assert listings.json()["total"] == 0


async def test_publication_requires_the_seller_and_the_number(client: Client) -> None:
    operator = await staff(client, "operator")
    created = await _create(client, operator, _body(seller=None, announcement_number=None))
    refused = await _publish(client, operator, created["id"])
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "seller_missing"
    assert {e["field"] for e in problem["errors"]} == {"seller.name", "announcement_number"}
    url = f"/api/v1/listings/{created['id']}"
    patched = await client.patch(url, json={"seller": {"name": "苏州市自然资源和规划局"}}, headers=operator)
    assert patched.status_code == 200, patched.text
    assert patched.json()["seller"] == {"name": "苏州市自然资源和规划局"}
    still = await _publish(client, operator, created["id"])
    assert still.status_code == 422
    assert [e["field"] for e in still.json()["errors"]] == ["announcement_number"]
    await client.patch(url, json={"announcement_number": "苏地网挂〔2026〕13号"}, headers=operator)
    published = await _publish(client, operator, created["id"])
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "announced"


async def test_publication_names_every_broken_rule_at_once(client: Client) -> None:
    """The parties and the schedule in one 422: the operator fixes everything in one go."""
    operator = await staff(client, "operator")
    body = listing_body("land_use_right", seller=None, announcement_number=None)  # a sandbox schedule
    created = await _create(client, operator, body)
    refused = await _publish(client, operator, created["id"])
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "seller_missing"
    fields = [e["field"] for e in problem["errors"]]
    assert fields[:2] == ["seller.name", "announcement_number"]
    assert any(f.startswith("schedule.") for f in fields[2:]), fields
    assert "出让人" in problem["detail"] and "文号" in problem["detail"]
    # the statutory lead among the errors (the detail is shortened when a loaded machine adds a
    # violation of its own: the announcement time passed before publication)
    assert "第39号" in " ".join(e["message"] for e in problem["errors"]), problem["errors"]


@pytest.mark.parametrize(
    ("asset_class", "state_owned", "days", "code"),
    [
        ("mining_right", None, 9, "publicity_too_short"),
        ("mining_right", None, 10, None),
        ("technology", True, 4, "publicity_too_short"),
        ("technology", True, 5, None),
        ("technology", False, 0, None),
        ("water_right", None, 0, None),
    ],
)
async def test_the_publicity_minimum(
    client: Client, asset_class: str, state_owned: bool | None, days: int, code: str | None
) -> None:
    operator = await staff(client, "operator")
    body = _body(asset_class, publicity_working_days=days)
    if state_owned is not None:
        body["attributes"]["state_owned"] = state_owned
    created = await _create(client, operator, body)
    assert created["publicity_working_days"] == days
    response = await _publish(client, operator, created["id"])
    if code is None:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 422
        assert response.json()["code"] == code
        assert response.json()["errors"][0]["field"] == "publicity_working_days"


async def test_the_sandbox_requires_no_parties(client: Client) -> None:
    use_sandbox(client)
    operator = await staff(client, "operator")
    body = listing_body("mining_right", schedule=sandbox_schedule(), seller=None, announcement_number=None)
    created = await _create(client, operator, {**body, "publicity_working_days": 30})
    published = await _publish(client, operator, created["id"])
    assert published.status_code == 200, published.text
    # the sandbox counts the 公示's working days as seconds, and its pages say so
    cookie = {"cookie": f"exchange_session={operator['Authorization'].split()[1]}"}
    catalogue = (await client.get(f"/listings/{created['id']}?lang=zh")).text
    assert "30 秒（演示环境按秒计）" in catalogue and "30 个工作日" not in catalogue
    console = (await client.get(f"/console/listings/{created['id']}", headers=cookie)).text
    assert "30 秒（演示环境按秒计）" in console and "30 个工作日" not in console
    form = (await client.get("/console/listings/new", headers=cookie)).text
    assert "演示环境按秒计" in form and "矿业权 10，其余 5" not in form


async def test_parties_and_terms_are_edited_while_draft_only(client: Client) -> None:
    operator = await staff(client, "operator")
    created = await _create(client, operator, _body())
    url = f"/api/v1/listings/{created['id']}"
    terms = terms_to_json(DEFAULT_PAYMENT_TERMS["land_use_right"])
    terms["late_fee_per_mille"] = "0.5"
    terms["terms"][1]["interest_per_annum"] = "0.0435"
    edited = await client.patch(
        url,
        json={"payment_terms": terms, "publicity_working_days": 7, "seller": {**SELLER, "contact": "李女士"}},
        headers=operator,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["payment_terms"] == terms
    assert edited.json()["publicity_working_days"] == 7
    assert edited.json()["seller"]["contact"] == "李女士"
    # Attributes do not move terms an operator set ...
    lease = dict(created["attributes"], supply_mode="lease_then_transfer", term_years=10)
    kept = await client.patch(url, json={"attributes": lease}, headers=operator)
    assert kept.json()["payment_terms"] == terms
    # ... null is the default again, which for leased land is a rent over its term.
    reset = await client.patch(
        url, json={"payment_terms": None, "publicity_working_days": None}, headers=operator
    )
    assert reset.json()["payment_terms"]["rent"] == {"years": 10, "first_months": 1}
    assert reset.json()["publicity_working_days"] == 5
    # Untouched default terms follow the attributes.
    sold = await client.patch(url, json={"attributes": created["attributes"]}, headers=operator)
    assert sold.json()["payment_terms"] == terms_to_json(DEFAULT_PAYMENT_TERMS["land_use_right"])
    audit = await client.get(f"/api/v1/audit/listing:{created['id']}", headers=await staff(client, "auditor"))
    updates = [e["payload"] for e in audit.json() if e["action"] == "listing.updated"]
    assert updates[0]["seller_contact"] == "李女士"
    assert updates[0]["payment_terms"]["late_fee_per_mille"] == "0.5"
    assert updates[0]["publicity_working_days"] == 7
    assert (await _publish(client, operator, created["id"])).status_code == 200
    frozen = await client.patch(url, json={"seller": None}, headers=operator)
    assert frozen.status_code == 409
    assert frozen.json()["code"] == "listing_not_draft"


async def test_a_listing_stored_before_the_terms_reads_the_class_default(client: Client) -> None:
    operator = await staff(client, "operator")
    created = await _create(client, operator, _body("technology"))
    async with unit_of_work(client.app.state.sessions) as session:
        await session.execute(update(Listing).where(Listing.id == created["id"]).values(payment_terms=None))
    shown = (await client.get(f"/api/v1/listings/{created['id']}", headers=operator)).json()
    assert shown["payment_terms"] == terms_to_json(DEFAULT_PAYMENT_TERMS["technology"])


async def test_a_relisting_copies_the_parties(client: Client) -> None:
    operator = await staff(client, "operator")
    created = await _create(client, operator, _body("mining_right", publicity_working_days=12))
    async with client.app.state.sessions() as session:
        row = await session.get(Listing, created["id"])
        assert row is not None
        fields = services.validated_fields(services.as_create(row))
    for column in (
        "seller_name",
        "seller_credit_code",
        "seller_address",
        "seller_contact",
        "announcement_number",
        "publicity_working_days",
        "payment_terms",
    ):
        assert fields[column] == getattr(row, column), column


async def test_the_catalogue_page_names_the_seller_and_the_number(client: Client) -> None:
    operator = await staff(client, "operator")
    created = await _create(client, operator, _body("technology", announcement_number="苏技转〔2026〕3号"))
    assert (await _publish(client, operator, created["id"])).status_code == 200
    html = (await client.get(f"/listings/{created['id']}")).text
    assert "苏技转〔2026〕3号" in html
    assert SELLER["name"] in html
    assert "许可方" in html  # the sample technology is licensed: the seller is the licensor
    assert "成交公示期" in html and "5 个工作日" in html
    assert "逾期付款的，每日按逾期金额的 1‰ 缴纳违约金" in html
    english = (await client.get(f"/listings/{created['id']}?lang=en")).text
    assert "Late payment: 1‰ of the overdue amount per day" in english
