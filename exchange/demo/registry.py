"""The demo's registry scene: emission and water rights held, traded and delivered against payment,
through the public HTTP API as the enterprises, the registrar and the bank would.

1. The bots and the guest open registry accounts (登记账户) where their credit codes say they are:
   Taiyuan (140100), in the Yellow River basin, so COD (a water pollutant: one basin) and water
   rights may pass between them; the registrar verifies what they declared (an account trades
   nothing before).
2. The registrar (the environment and water authority) issues COD allocations to two bots and the
   guest, more COD into the government's reserve, and a water abstraction right to the third bot.
3. A bot sells part of its COD to the guest by negotiated transfer (协议转让): the sandbox's 公示
   lasts seconds; once the exchange confirms it the bank pays the price to the agreement's
   account and the quantity is delivered (交割) with the payment: the guest's ``/registry``
   shows the acquisition and its 交割单.
4. Two bots agree a water abstraction transfer, paid: it waits for the registrar's consent
   (取水许可条例 art. 27), left for the user to give in ``/console/registry``.
5. A bot offers part of its COD for sale: left pending for the operator.

Everything but the two payments is written before the lots are seeded (:func:`start`), so it
never meets a lot's bidding and each lot's schedule starts from its own seeding; the payments
follow while the lots are seeded, and the scene's guide after the demo's. A step that fails says
what failed (:class:`~exchange.demo.api.ApiError`) and the demo goes on without it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx

from exchange.demo.api import Account, ApiError, expect
from exchange.demo.bots import Say, clock, yuan
from exchange.demo.seeding import Seeder

API = "/api/v1/registry"
REGION = "140100"
"""太原市, the region of the demo's credit codes (``exchange.demo.seeding.credit_code``)."""
BASIN = "黄河流域"
WATER_SOURCE = "汾河"
LEGAL_BASIS = "并环发〔2026〕演示 1 号（排污权初始分配，演示）"
WATER_BASIS = "并水发〔2026〕演示 2 号（取水许可，演示）"
VALID_YEARS = 5
"""财税〔2015〕61号 art. 12: 排污权 are valid for five years as a rule."""
CONFIRM_PATIENCE = 90.0
"""Seconds to wait for an agreement's 公示 (seconds in the sandbox) and confirmation (a 2 s job)."""
SHANGHAI = ZoneInfo("Asia/Shanghai")

COD_ALLOCATIONS = (120_000, 80_000)
"""kg/a to the first two bots (有偿)."""
GUEST_COD = 20_000
"""kg/a to the guest (无偿)."""
RESERVE_COD = 200_000
"""kg/a into the government's reserve."""
WATER_ALLOCATION = 500_000
"""m³/a of abstraction right to the third bot."""
COD_SOLD, COD_PRICE = 30_000, "36000.00"
"""The first bot's 协议转让 to the guest: 30 t/a at 1.20 yuan per kg."""
WATER_SOLD, WATER_PRICE = 100_000, "80000.00"
"""The third bot's abstraction right to the second bot: 100,000 m³/a at 0.80 yuan per m³."""
COD_OFFERED = 20_000
"""kg/a the second bot offers for sale (pending for the operator)."""

T = TypeVar("T")


@dataclass(frozen=True)
class Holder:
    """An enterprise with a registry account, and its login."""

    account: Account
    credit_code: str
    name: str
    verified: bool


@dataclass
class Outcome:
    """What the scene left for the user to look at: ``None`` where that step failed."""

    guest: Holder | None = None
    cod_agreement: int | None = None
    cod_delivery: int | None = None
    water_delivery: int | None = None
    offer: int | None = None
    seller: str = ""
    """The name of the bot that sold COD to the guest."""


def tonnes(kg: int) -> str:
    return f"{Decimal(kg) / 1000:g} t/a"


def _valid_until(start: date) -> date:
    try:
        return start.replace(year=start.year + VALID_YEARS)
    except ValueError:  # 29 February
        return date(start.year + VALID_YEARS, 3, 1)


async def _tolerant(say: Say, what: str, step: Awaitable[T]) -> T | None:
    try:
        return await step
    except (ApiError, httpx.HTTPError) as exc:
        say(f"registry: {what} failed: {exc}")
        return None


async def open_account(account: Account) -> Holder:
    """A bidder opens its enterprise's registry account (its credit code and name come from its login)."""
    body = {"region_code": REGION, "basin": BASIN}
    opened = expect(
        await account.post(f"{API}/holders", json=body),
        201,
        f"open the registry account of {account.username}",
    )
    # a registry without verification has no such field: there every account trades
    return Holder(account, str(opened["credit_code"]), str(opened["name"]), opened.get("verified", True))


class Scene:
    """The registrar, the bank (``seeder``) and the enterprises, with this run's references."""

    def __init__(self, seeder: Seeder, registrar: Account, say: Say) -> None:
        self.seeder = seeder
        self.registrar = registrar
        self.say = say
        self.run = secrets.token_hex(3).upper()
        """Issuance references are idempotency keys: a reused database must not see them again."""
        self.today = datetime.now(SHANGHAI).date()

    async def verify(self, holder: Holder) -> None:
        """The registrar confirms the region and basin the enterprise declared."""
        response = await self.registrar.post(f"{API}/holders/{holder.credit_code}/verify", json={})
        if not expect(response, 200, f"verify the registry account of {holder.name}")["verified"]:
            raise ApiError(f"the registry account of {holder.name} is still unverified")

    async def issue(
        self, key: str, right_type: str, sub_type: str, quantity: int, holder: Holder | None, **extra: Any
    ) -> int:
        """Issue a new instrument to ``holder`` (``None``: into the reserve); its id."""
        body = {
            "right_type": right_type,
            "sub_type": sub_type,
            "region_code": REGION,
            "basin": BASIN,
            "valid_from": self.today.isoformat(),
            "valid_until": _valid_until(self.today).isoformat(),
            "quantity": quantity,
            "reference": f"DEMO-{self.run}-{key}",
            **({"holder_credit_code": holder.credit_code} if holder is not None else {}),
            **extra,
        }
        whom = holder.name if holder is not None else "the reserve"
        issued = expect(
            await self.registrar.post(f"{API}/instruments", json=body), 201, f"issue {sub_type} to {whom}"
        )
        return int(issued["instrument"]["id"])

    async def agree(
        self, seller: Holder, buyer: Holder, instrument_id: int, quantity: int, price: str
    ) -> Deal:
        """The seller's 协议转让 to ``buyer``, published for its 公示."""
        body = {
            "buyer_credit_code": buyer.credit_code,
            "instrument_id": instrument_id,
            "quantity": quantity,
            "price": price,
        }
        made = expect(
            await seller.account.post(f"{API}/agreements", json=body),
            201,
            f"{seller.name}'s negotiated transfer to {buyer.name}",
        )
        self.say(
            f"registry: {seller.name} agreed to transfer instrument {instrument_id} to {buyer.name} "
            f"(协议转让 {made['id']}, {yuan(price)} yuan): on 公示 until {clock(made['publicity_ends_at'])}"
        )
        return Deal(seller, buyer, int(made["id"]), price, str(made["payment_account"]))

    async def pay(self, deal: Deal) -> dict[str, Any]:
        """Once the 公示 is over and the exchange confirmed it, the bank pays the price to the
        agreement's account: the agreement as its seller then sees it."""
        await self._wait(deal, "confirmed")
        await self.seeder.pay(deal.payment_account, deal.price, outcome="payment")
        return await self._read(deal)

    async def _read(self, deal: Deal) -> dict[str, Any]:
        response = await deal.seller.account.get(f"{API}/agreements/{deal.agreement_id}")
        return dict(expect(response, 200, f"read agreement {deal.agreement_id}"))

    async def _wait(self, deal: Deal, status: str) -> None:
        deadline = time.monotonic() + CONFIRM_PATIENCE
        while (seen := (await self._read(deal))["status"]) != status:
            if seen == "cancelled" or time.monotonic() > deadline:
                raise ApiError(f"agreement {deal.agreement_id} is {seen}, never {status}")
            await asyncio.sleep(0.5)

    async def trade_of(self, holder: Holder, side: str, agreement_id: int) -> dict[str, Any]:
        """The line of ``holder``'s green account (``acquisitions`` or ``sales``) for the agreement."""
        account = expect(
            await holder.account.get(f"{API}/holders/me"), 200, f"read {holder.name}'s green account"
        )
        for trade in account[side]:
            if trade["agreement_id"] == agreement_id:
                return dict(trade)
        raise ApiError(f"agreement {agreement_id} is not among {holder.name}'s {side}")


@dataclass(frozen=True)
class Deal:
    """An agreement under 公示, and where its buyer pays."""

    seller: Holder
    buyer: Holder
    agreement_id: int
    price: str
    payment_account: str


@dataclass
class SetUp:
    """What :func:`set_up` made, for :func:`settle`."""

    scene: Scene
    outcome: Outcome
    cod: Deal | None
    water: Deal | None


async def set_up(
    seeder: Seeder, registrar: Account, bots: Sequence[Account], guest: Account, say: Say
) -> SetUp:
    """Accounts, their verification, the issuances, both agreements and the offer: everything the
    scene writes but the two payments."""
    scene = Scene(seeder, registrar, say)
    outcome = Outcome()
    await registrar.login()
    holders = [await open_account(a) for a in (*bots, guest)]  # one at a time: one writer anyway
    first, second, third, mine = holders
    outcome.guest = mine
    say(f"registry: opened the registry accounts of {', '.join(h.name for h in holders)} ({REGION}, {BASIN})")
    unverified = [h for h in holders if not h.verified]
    for holder in unverified:
        await scene.verify(holder)
    if unverified:
        say(f"registry: {registrar.username} verified their region and basin: they may trade")
    cod = {
        bot.credit_code: await scene.issue(
            f"COD-{n}", "emission", "COD", quantity, bot, origin="paid", legal_basis=LEGAL_BASIS
        )
        for n, (bot, quantity) in enumerate(zip((first, second), COD_ALLOCATIONS, strict=True), 1)
    }
    await scene.issue("COD-G", "emission", "COD", GUEST_COD, mine, origin="free", legal_basis=LEGAL_BASIS)
    await scene.issue("COD-R", "emission", "COD", RESERVE_COD, None, origin="paid", legal_basis=LEGAL_BASIS)
    water = await scene.issue(
        "WATER-1",
        "water",
        "abstraction_permit",
        WATER_ALLOCATION,
        third,
        origin="paid",
        legal_basis=WATER_BASIS,
        water_source=WATER_SOURCE,
        permit_reference=f"取水（晋并）字〔{scene.today.year}〕第 D{scene.run} 号",
    )
    say(
        f"registry: {registrar.username} issued COD {tonnes(COD_ALLOCATIONS[0])} to {first.name}, "
        f"{tonnes(COD_ALLOCATIONS[1])} to {second.name}, {tonnes(GUEST_COD)} to {mine.name}, "
        f"{tonnes(RESERVE_COD)} into the reserve, and {WATER_ALLOCATION:,} m³/a of abstraction right "
        f"({WATER_SOURCE}) to {third.name}"
    )
    outcome.seller = first.name
    cod_deal = await _tolerant(
        say,
        "the COD transfer to the guest",
        scene.agree(first, mine, cod[first.credit_code], COD_SOLD, COD_PRICE),
    )
    water_deal = await _tolerant(
        say, "the water abstraction transfer", scene.agree(third, second, water, WATER_SOLD, WATER_PRICE)
    )

    async def offer() -> None:
        body = {"instrument_id": cod[second.credit_code], "quantity": COD_OFFERED}
        made = expect(await second.account.post(f"{API}/offers", json=body), 201, f"{second.name}'s offer")
        outcome.offer = int(made["id"])
        say(f"registry: {second.name} offers {tonnes(COD_OFFERED)} COD (offer {made['id']}), pending")

    await _tolerant(say, "the COD offer", offer())
    return SetUp(scene, outcome, cod_deal, water_deal)


async def settle(ready: SetUp, url: str, say: Say, guide_after: asyncio.Event) -> Outcome:
    """Pay both agreements once confirmed (the COD is delivered, the water waits for the
    registrar), then, once ``guide_after`` is set, print where to look."""
    scene, outcome = ready.scene, ready.outcome

    async def cod_to_guest(deal: Deal) -> None:
        agreement = await scene.pay(deal)
        if agreement["status"] != "delivered":
            raise ApiError(f"agreement {deal.agreement_id} is {agreement['status']} after its payment")
        trade = await scene.trade_of(deal.buyer, "acquisitions", deal.agreement_id)
        outcome.cod_agreement, outcome.cod_delivery = deal.agreement_id, int(trade["delivery_id"])
        say(
            f"registry: the bank paid {yuan(deal.price)} yuan on agreement {deal.agreement_id}: "
            f"{tonnes(COD_SOLD)} COD delivered to {deal.buyer.name} (交割 {trade['delivery_id']})"
        )

    async def water_between_bots(deal: Deal) -> None:
        await scene.pay(deal)
        trade = await scene.trade_of(deal.seller, "sales", deal.agreement_id)
        if trade["status"] != "awaiting_approval":
            raise ApiError(f"the water delivery {trade['delivery_id']} is {trade['status']}")
        outcome.water_delivery = int(trade["delivery_id"])
        say(
            f"registry: the bank paid {yuan(deal.price)} yuan on agreement {deal.agreement_id}: "
            f"{WATER_SOLD:,} m³/a of abstraction right awaits the registrar's consent "
            f"(交割 {trade['delivery_id']})"
        )

    steps = []
    if ready.cod is not None:
        steps.append(_tolerant(say, "the COD transfer to the guest", cod_to_guest(ready.cod)))
    if ready.water is not None:
        steps.append(_tolerant(say, "the water abstraction transfer", water_between_bots(ready.water)))
    await asyncio.gather(*steps)
    await guide_after.wait()
    guide(url, scene.registrar.username, scene.seeder.operator.username, outcome, say)
    return outcome


async def start(
    seeder: Seeder,
    registrar: Account,
    bots: Sequence[Account],
    guest: Account,
    url: str,
    say: Say,
    guide_after: asyncio.Event,
) -> asyncio.Task[None] | None:
    """Set the scene up now, before the lots are seeded (its writes never meet a lot's bidding,
    and the lots' schedules start from their own seeding), and return the task that settles it
    meanwhile; ``None`` (said) when the set-up could not go on: the auctions go on without it."""
    ready = await _tolerant(say, "the registry scene", set_up(seeder, registrar, bots, guest, say))
    if ready is None:
        return None

    async def rest() -> None:
        await _tolerant(say, "the registry scene", settle(ready, url, say, guide_after))

    return asyncio.create_task(rest())


def guide(url: str, registrar: str, operator: str, outcome: Outcome, say: Say) -> None:
    """The lines that say where to look, for what the scene did."""
    say("")
    if outcome.guest is not None:
        bought = (
            f"; {tonnes(COD_SOLD)} bought from {outcome.seller} by 协议转让 {outcome.cod_agreement}, "
            f"paid and delivered, its 交割单 at {url}/registry/deliveries/{outcome.cod_delivery}/record.pdf"
            if outcome.cod_delivery is not None
            else ""
        )
        say(
            f"  登记簿     as {outcome.guest.account.username}, {url}/registry is {outcome.guest.name}'s "
            f"green account (绿色责任账户): {tonnes(GUEST_COD)} COD allocated{bought}"
        )
    say(
        f"  统计       {url}/registry/statistics: issued, traded, average price and holders per pollutant "
        f"and region (public; open data at {API}/statistics/export.csv)"
    )
    waiting = (
        f"consent to (or refuse) the paid water abstraction transfer, 交割 {outcome.water_delivery} "
        "(取水许可条例 art. 27), confirm the permit changes, issue more"
        if outcome.water_delivery is not None
        else "issue rights, confirm the permit changes"
    )
    say(f"  登记机构   as {registrar}, {url}/console/registry: {waiting}")
    if outcome.offer is not None:
        say(
            f"  挂牌申请   offer {outcome.offer} ({tonnes(COD_OFFERED)} COD) awaits the operator: as {operator}, "
            f"approve it into a draft listing (prices, schedule) or reject it at {url}/console/registry "
            f"(or POST {API}/offers/{outcome.offer}/approve with a listing's body)"
        )
    say("")
