"""``exchange demo`` as a newcomer runs it: a subprocess on a fresh SQLite file, checked through the API."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.ids import credit_code
from tests.support.server import EXCHANGE, base_env, free_port

pytestmark = pytest.mark.slow

ASSET_CLASSES = {"land_use_right", "mining_right", "emission_right", "water_right", "technology"}
METHODS = {"english", "listing", "sealed_bid", "uniform_price", "dutch"}
LOGIN = re.compile(r"^\s+login\s+(operator|auditor|registrar|bidder)\s+(\S+)\s+(\S+)", re.M)
ENGLISH_SOLD = re.compile(r"^A closed: sold to (\d+) ", re.M)  # lot A: the plain english auction
LAND_COLLECTED = re.compile(
    r"^clerk: lot A: 国家税务总局苏州工业园区税务局 collected bidder (\d+)'s first ", re.M
)
REGISTRY_GUIDE = re.compile(r"^  登记机构 ", re.M)  # the registry scene's guide is printed
GUEST_BOUGHT = re.compile(
    r"^  登记簿 .*30 t/a bought from (\S+) by 协议转让 (\d+), paid and delivered, "
    r"its 交割单 at (\S+)/registry/deliveries/(\d+)/record\.pdf",
    re.M,
)
WATER_WAITS = re.compile(r"^  登记机构 .*the paid water abstraction transfer, 交割 (\d+) ", re.M)
OFFER_PENDING = re.compile(r"^  挂牌申请 +offer (\d+) \(20 t/a COD\) awaits the operator", re.M)
BANK_PAID = re.compile(
    r"^clerk: lot ([BCE]): the bank paid bidder \d+'s ", re.M
)  # emission, technology, water

# the demo answers slowly while its bots bid and PDFs render on a loaded machine: not httpx's 5 s
_get = partial(httpx.get, timeout=30.0)
_post = partial(httpx.post, timeout=30.0)


WITH_CTRL_C = (
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
)
"""Runs a command with Ctrl-C (SIGINT) at its default: a job that a non-interactive shell starts
in the background (``nohup make test &``) inherits SIGINT ignored, and so would the demo."""


def _wait_for(log: Path, proc: subprocess.Popen[bytes], pattern: re.Pattern[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8")
        if pattern.search(text):
            return text
        assert proc.poll() is None, f"the demo exited with {proc.returncode}:\n{text}"
        time.sleep(0.2)
    raise AssertionError(f"no {pattern.pattern!r} in the demo's output:\n{log.read_text(encoding='utf-8')}")


def _token(url: str, username: str, password: str) -> dict[str, Any]:
    response = _post(f"{url}/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, (username, response.text)
    return dict(response.json())


def _newcomer_applies_and_pays_by_hand(url: str, text: str) -> None:
    """Someone who registers by hand applies to the lot kept in registration for a newcomer, pays the
    deposit with the sandbox's bank transfer, and is qualified once the demo's clerk approves."""
    kept = re.search(r"^  报名 .*lot H \(listing (\d+)\) stays in registration until ", text, re.M)
    assert kept, text
    listing_id = int(kept.group(1))
    assert re.search(r"^  保证金 .*模拟银行转账 .*POST /api/v1/sandbox/bank-transfers", text, re.M)
    schedule = _get(f"{url}/api/v1/listings/{listing_id}").json()["schedule"]
    open_for = datetime.fromisoformat(schedule["registration_closes_at"]) - datetime.now(ZoneInfo("UTC"))
    assert open_for.total_seconds() > 14 * 60, schedule  # time to read, register and apply by hand
    password = "Watching-2026-live"
    body = {
        "username": "newcomer",
        "password": password,
        "display_name": "新来的竞买人",
        "kind": "enterprise",
        "credit_code": credit_code(),
    }
    registered = _post(f"{url}/api/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {_token(url, 'newcomer', password)['access_token']}"}
    applied = _post(f"{url}/api/v1/listings/{listing_id}/applications", headers=headers)
    assert applied.status_code == 201, applied.text
    application_id = applied.json()["id"]
    paid = _post(
        f"{url}/api/v1/sandbox/bank-transfers", json={"application_id": application_id}, headers=headers
    )
    assert paid.status_code == 201 and paid.json()["outcome"] == "deposit", paid.text
    deadline = time.monotonic() + 15
    while (view := _get(f"{url}/api/v1/applications/{application_id}", headers=headers).json())[
        "status"
    ] != "qualified":
        assert time.monotonic() < deadline, view
        time.sleep(0.2)
    assert view["deposit_paid"] == view["deposit_due"] and view["bid_number"]


def _registry_scene(
    url: str, log: Path, proc: subprocess.Popen[bytes], logins: dict[str, tuple[str, str]]
) -> None:
    """The registry scene: the bot's COD sold to the guest by 协议转让 is paid and delivered (the
    guest's green account and the public statistics show it), the paid water abstraction transfer
    waits for the registrar (who consents here), the bot's offer waits for the operator."""
    text = _wait_for(log, proc, REGISTRY_GUIDE, timeout=90)
    assert not re.search(r"^registry: .* failed: ", text, re.M), text
    bought = GUEST_BOUGHT.search(text)
    assert bought, text
    seller, agreement_id, delivery_id = bought.group(1), int(bought.group(2)), int(bought.group(4))
    assert bought.group(3) == url

    guest = {"Authorization": f"Bearer {_token(url, *logins['guest'])['access_token']}"}
    account = _get(f"{url}/api/v1/registry/holders/me", headers=guest).json()
    assert account["holder"]["region_code"] == "140100" and account["holder"]["basin"] == "黄河流域"
    assert account["holder"]["credit_code"].startswith("91140100")
    [acquired] = account["acquisitions"]
    assert (acquired["delivery_id"], acquired["agreement_id"], acquired["via"]) == (
        delivery_id,
        agreement_id,
        "agreement",
    )
    assert acquired["counterparty"] == seller and acquired["status"] == "delivered"
    assert acquired["quantity"] == 30_000 and acquired["price"] == "36000.00" and acquired["delivered_at"]
    cod = [h for h in account["holdings"] if h["instrument"]["sub_type"] == "COD"]
    assert sorted((h["instrument"]["origin"], h["available"], h["total"]) for h in cod) == [
        ("free", 20_000, 20_000),  # its own allocation
        ("paid", 30_000, 30_000),  # the green account shows the delivered quantity
    ]
    agreement = _get(f"{url}/api/v1/registry/agreements/{agreement_id}").json()
    assert agreement["status"] == "delivered" and agreement["confirmed_at"] >= agreement["publicity_ends_at"]

    statistics = {
        (row["right_type"], row["sub_type"], row["region_code"]): row
        for row in _get(f"{url}/api/v1/registry/statistics").json()
    }
    traded = statistics[("emission", "COD", "140100")]
    assert (traded["issued"], traded["volume_traded"], traded["value"], traded["trades"]) == (
        420_000,  # two bots, the guest and the reserve
        30_000,
        "36000.00",
        1,
    )
    assert traded["average_unit_price"] == "1.2000" and traded["holders"] == 3
    water = statistics[("water", "abstraction_permit", "140100")]
    assert (water["issued"], water["trades"]) == (500_000, 0)  # paid, but not delivered without consent
    page = _get(f"{url}/registry/statistics")
    assert page.status_code == 200 and "36,000.00" in page.text

    waits = WATER_WAITS.search(text)
    assert waits, text
    registrar = {"Authorization": f"Bearer {_token(url, *logins['registrar'])['access_token']}"}
    water_delivery = f"{url}/api/v1/registry/deliveries/{waits.group(1)}"
    assert _get(water_delivery, headers=registrar).json()["status"] == "awaiting_approval"
    consented = _post(f"{water_delivery}/approve", headers=registrar)
    assert consented.status_code == 200 and consented.json()["status"] == "delivered", consented.text
    water = next(
        row
        for row in _get(f"{url}/api/v1/registry/statistics").json()
        if row["sub_type"] == "abstraction_permit"
    )
    assert (water["volume_traded"], water["value"], water["trades"], water["holders"]) == (
        100_000,
        "80000.00",
        1,
        2,
    )

    offered = OFFER_PENDING.search(text)
    assert offered, text
    operator = {"Authorization": f"Bearer {_token(url, *logins['operator'])['access_token']}"}
    offers = _get(f"{url}/api/v1/registry/offers", headers=operator).json()
    [pending] = [o for o in offers if o["id"] == int(offered.group(1))]
    assert pending["status"] == "pending" and pending["quantity"] == 20_000 and pending["listing_id"] is None


def _after_the_hammer(
    url: str, log: Path, proc: subprocess.Popen[bytes], staff: dict[str, str], listing_id: int, winner: str
) -> None:
    """Lot A (land): 公示, confirmation, the contract recorded by the clerk, the fee paid to the
    exchange and the first installment collected by the tax bureau; a lot of another class: paid."""
    text = _wait_for(log, proc, LAND_COLLECTED, timeout=40)
    assert LAND_COLLECTED.search(text).group(1) == winner  # type: ignore[union-attr]
    land = _get(f"{url}/api/v1/settlements/{listing_id}", headers=staff).json()
    assert land["status"] == "pending_payment"  # the balance is due in a year
    ends, confirmed = (datetime.fromisoformat(land[k]) for k in ("publicity_ends_at", "confirmed_at"))
    assert ends > datetime.fromisoformat(land["created_at"]) and confirmed >= ends  # after its 公示
    assert land["contract_signed_on"] == datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    [line] = land["lines"]
    assert line["tracked"] and line["bid_number"] == winner
    assert [(i["label"], i["status"]) for i in line["installments"]] == [
        ("service_fee", "paid"),
        ("first", "paid"),
        ("balance", "pending"),
    ]
    tracked = [t for t in land["transactions"] if t["kind"] == "payment_tracked"]
    assert len(tracked) == 1 and "国家税务总局苏州工业园区税务局" in tracked[0]["memo"]

    text = _wait_for(log, proc, BANK_PAID, timeout=30)
    key = BANK_PAID.search(text).group(1)  # type: ignore[union-attr]
    paid_id = int(re.search(rf"lot {key} is listing (\d+)", text).group(1))  # type: ignore[union-attr]
    deadline = time.monotonic() + 10  # a lot of several winners is paid line by line
    while (paid := _get(f"{url}/api/v1/settlements/{paid_id}", headers=staff).json())["status"] != "paid":
        assert time.monotonic() < deadline, paid
        time.sleep(0.2)
    assert paid["confirmed_at"] and paid["contract_signed_on"] is None  # confirmed at once: no 公示
    assert all(ln["status"] == "paid" and ln["amount_paid"] == ln["amount_due"] for ln in paid["lines"])


def test_demo_seeds_every_class_and_mechanism_and_bots_win(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    env = base_env(
        EXCHANGE_ARGON2_TIME_COST="1",
        EXCHANGE_ARGON2_MEMORY_KIB="8192",
        EXCHANGE_ISSUE_DOCUMENTS="0",  # PDFs are not what this test looks at
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*WITH_CTRL_C, str(EXCHANGE), "demo", "--port", str(port), "--time-scale", "0.05"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        text = _wait_for(log, proc, re.compile("Ctrl-C stops the demo"), timeout=45)
        assert (tmp_path / "var" / "demo" / "demo.db").is_file()  # the embedded default: no PostgreSQL
        assert "EXCHANGE_BANK_SECRET is not set" in text

        logins = LOGIN.findall(text)
        roles = {role for role, _, _ in logins}
        assert roles == {"operator", "auditor", "registrar", "bidder"} and len(logins) == 7
        for role, username, password in logins:
            assert _token(url, username, password)["role"] == role
        operator = next((u, p) for r, u, p in logins if r == "operator")
        guest = next((u, p) for r, u, p in logins if u.startswith("demo_guest"))
        registrar = next((u, p) for r, u, p in logins if r == "registrar")
        assert registrar[0] == "demo_registrar"

        listings = _get(f"{url}/api/v1/listings", params={"page_size": 100}).json()["items"]
        assert {item["asset_class"] for item in listings} == ASSET_CLASSES
        assert {item["method"] for item in listings} == METHODS
        capped = [item for item in listings if item.get("price_cap")]
        assert capped and capped[0]["method"] == "english"
        assert all("reserve_price" not in item for item in listings)  # the public view hides it
        # every lot names its seller and 文号; lot A's result is on display (公示) a few seconds
        assert all(item["seller"]["name"] and item["announcement_number"] for item in listings)
        assert sorted(item["publicity_working_days"] for item in listings)[:-2] == [0] * (len(listings) - 2)
        assert re.search(r"^  公示 .*lot A's result stays on display \d+ s", text, re.M)
        assert re.search(r"^  异议 .*/console/listings/\d+", text, re.M)
        assert re.search(r"^  /me .*/me shows each won lot: what to pay", text, re.M)

        guest_headers = {"Authorization": f"Bearer {_token(url, *guest)['access_token']}"}
        mine = _get(f"{url}/api/v1/applications/mine", headers=guest_headers).json()
        assert [a["status"] for a in mine] == ["qualified"] and mine[0]["bid_number"]
        _newcomer_applies_and_pays_by_hand(url, text)
        _registry_scene(url, log, proc, {"guest": guest, "registrar": registrar, "operator": operator})

        text = _wait_for(log, proc, ENGLISH_SOLD, timeout=90)  # extensions run long on a loaded machine
        winner = ENGLISH_SOLD.search(text).group(1)  # type: ignore[union-attr]
        listing_id = int(re.search(r"lot A is listing (\d+)", text).group(1))  # type: ignore[union-attr]
        result = _get(f"{url}/api/v1/results/{listing_id}").json()
        assert result["outcome"] == "sold" and [w["bid_number"] for w in result["winners"]] == [winner]
        bids = _get(f"{url}/api/v1/auctions/{listing_id}/bids").json()
        assert len({b["bid_number"] for b in bids}) >= 2  # the bots bid against each other
        assert bids[-1]["bid_number"] == winner and bids[-1]["amount"] == result["price"]
        staff = {"Authorization": f"Bearer {_token(url, *operator)['access_token']}"}
        assert _get(f"{url}/api/v1/listings/{listing_id}", headers=staff).json()["status"] == "closed"
        _after_the_hammer(url, log, proc, staff, listing_id, winner)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"Ctrl-C did not stop the demo within 30 s:\n{log.read_text(encoding='utf-8')[-3000:]}"
            ) from None
    assert proc.returncode == 0, log.read_text(encoding="utf-8")
    assert log.read_text(encoding="utf-8").rstrip().endswith("demo: stopped")
