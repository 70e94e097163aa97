"""After the hammer: the 公示, the contract and the winners' payments, as the exchange's clerk, the
bank and the tax bureau would go on, through the public HTTP API.

A sold lot's settlement shows its result on display (``publicity``) for the lot's 公示, then the
exchange confirms it. Land waits for its contract (``awaiting_contract``): the clerk records the
signing today, which starts its installments. Then the bots pay what they owe:

- land and mining (the tax bureau collects the price, 财综〔2021〕19号): the bank pays the service
  fee to the line's account at the exchange and the clerk records the collecting authority's
  notice of the price paid (land: its first installment only, the balance is due in a year;
  mining: all of it);
- the other classes: the bank pays everything outstanding to the line's account.

A line paid in full gets its 交易鉴证书. A line won by someone else (the guest, a newcomer) is
left for its winner: their ``/me`` shows what to pay, by when and to which account. An objection
left unanswered holds its lot until an operator answers it in the console; the clerk waits.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from exchange.demo.api import ApiError, expect
from exchange.demo.bots import yuan
from exchange.demo.plan import Lot
from exchange.demo.seeding import Seeder

SHANGHAI = ZoneInfo("Asia/Shanghai")
FEE_LABEL = "service_fee"
"""The installment of a tracked line paid to the exchange (the price goes to the tax bureau)."""
AUTHORITIES = {
    "land_use_right": "国家税务总局苏州工业园区税务局",
    "mining_right": "国家税务总局杭州市税务局",
}
"""Who collects the price of the tracked classes (the demo's land is in Suzhou, its mine near Hangzhou)."""
WAITING = ("review", "publicity", "on_hold")
PAYING = ("pending_payment", "paid")


def today() -> date:
    """Today in Shanghai, as the exchange dates a contract and a payment."""
    return datetime.now(SHANGHAI).date()


def _clock(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone().strftime("%H:%M:%S")


def _after(moment: str | None, now: str) -> bool:
    return moment is not None and datetime.fromisoformat(moment) > datetime.fromisoformat(now)


class Follower:
    """Follows every sold lot from its close to its winners' payments (see the module docstring)."""

    def __init__(
        self,
        seeder: Seeder,
        url: str,
        lots: Sequence[tuple[Lot, int]],
        bots: Mapping[int, set[str]],
        say: Callable[[str], None],
    ) -> None:
        self.seeder = seeder
        self.url = url
        self.lots = {listing_id: lot for lot, listing_id in lots}
        self.bots = bots
        """Per listing, the bid numbers of the demo's bots: the lines the demo pays."""
        self.say = say
        self.run_tag = secrets.token_hex(3)
        """Of the tax bureau's notice references: a reused database has earlier runs' notices."""
        self._told: set[tuple[int, str]] = set()

    def _once(self, listing_id: int, what: str, text: str) -> None:
        if (listing_id, what) not in self._told:
            self._told.add((listing_id, what))
            self.say(text)

    async def run(self, every: float) -> None:
        pending = dict(self.lots)
        while pending:
            await asyncio.sleep(every)
            for listing_id, lot in list(pending.items()):
                try:
                    done = await self.step(lot, listing_id)
                except httpx.TransportError:  # a busy server: the next round reads it all again
                    continue
                except ApiError as exc:  # one lot going wrong must not stop the others
                    self.say(f"clerk: lot {lot.key}: {exc}")
                    done = True
                if done:
                    del pending[listing_id]

    async def step(self, lot: Lot, listing_id: int) -> bool:
        """One look at ``lot``'s settlement and what it asks for; True when nothing is left to do."""
        client, operator = self.seeder.client, self.seeder.operator
        listing = (await client.get(f"/api/v1/listings/{listing_id}")).json()
        if listing.get("status") in ("failed", "cancelled"):
            return True
        response = await operator.get(f"/api/v1/settlements/{listing_id}")
        if response.status_code == 404:  # not closed yet
            return False
        settlement: dict[str, Any] = expect(response, 200, f"read the settlement of listing {listing_id}")
        status = settlement["status"]
        if status in WAITING:
            await self._waiting(lot, listing_id, settlement)
            return False
        if status == "awaiting_contract":
            signed_on = today().isoformat()
            settlement = expect(
                await operator.post(
                    f"/api/v1/settlements/{listing_id}/contract", json={"signed_on": signed_on}
                ),
                200,
                f"record the contract of listing {listing_id}",
            )
            self.say(
                f"clerk: lot {lot.key}: the contract was signed on {signed_on} (出让合同); "
                "the installments count from it"
            )
            status = settlement["status"]
        if status not in PAYING:  # annulled, rescinded, released: nothing to pay
            return True
        for line in settlement["lines"]:
            if line["status"] != "pending_payment":
                continue
            if line["bid_number"] in self.bots.get(listing_id, set()):
                await self._pay(lot, listing_id, line)
            else:
                self.say(
                    f"clerk: lot {lot.key}: bidder {line['bid_number']} is not a bot: its winner "
                    f"pays {line['outstanding']} (see {self.url}/me)"
                )
        return True

    async def _waiting(self, lot: Lot, listing_id: int, settlement: dict[str, Any]) -> None:
        ends, now = settlement.get("publicity_ends_at"), settlement["server_time"]
        if settlement["status"] == "publicity" and _after(ends, now):
            assert ends is not None
            self._once(
                listing_id,
                "publicity",
                f"clerk: lot {lot.key}'s result is on 公示 until {_clock(ends)}: file an objection "
                f"(异议) at {self.url}/results/{listing_id}",
            )
        elif settlement["status"] == "publicity" and ends is not None:
            # over, yet not confirmed: an objection not answered yet (or the next sweep is due)
            objections = (await self.seeder.client.get(f"/api/v1/results/{listing_id}/objections")).json()
            if any(o.get("status") == "filed" for o in objections if isinstance(o, dict)):
                self._once(
                    listing_id,
                    "objection",
                    f"clerk: lot {lot.key} waits for an objection's answer: the operator answers it at "
                    f"{self.url}/console/listings/{listing_id}",
                )
        elif settlement["status"] == "on_hold":
            self._once(
                listing_id,
                "on_hold",
                f"clerk: lot {lot.key} is on hold (异议处理中): the operator resolves the upheld "
                f"objection at {self.url}/console/listings/{listing_id}",
            )

    async def _pay(self, lot: Lot, listing_id: int, line: dict[str, Any]) -> None:
        """The bot's payments: the bank's notices to the line's account, the tax bureau's notice."""
        pending = [i for i in line["installments"] if i["status"] == "pending"]
        if not line.get("tracked"):
            await self.seeder.pay(line["payment_account"], line["outstanding"], outcome="payment")
            self.say(
                f"clerk: lot {lot.key}: the bank paid bidder {line['bid_number']}'s "
                f"{yuan(line['outstanding'])} to {line['payment_account']}"
            )
            return
        for fee in (i for i in pending if i["label"] == FEE_LABEL):
            await self.seeder.pay(line["payment_account"], fee["amount"], outcome="payment")
            self.say(
                f"clerk: lot {lot.key}: the bank paid bidder {line['bid_number']}'s service fee "
                f"{yuan(fee['amount'])} to {line['payment_account']}"
            )
        price = [i for i in pending if i["label"] != FEE_LABEL]
        if lot.asset_class == "land_use_right":
            price = price[:1]  # the first installment; the balance is due in a year
        amount = sum((Decimal(i["amount"]) for i in price), Decimal(0))
        if not amount:
            return
        authority = AUTHORITIES[lot.asset_class]
        labels = "+".join(i["label"] for i in price)
        recorded = expect(
            await self.seeder.operator.post(
                f"/api/v1/settlements/{listing_id}/payments",
                json={
                    "application_id": line["application_id"],
                    "amount": f"{amount:.2f}",
                    "paid_on": today().isoformat(),
                    "authority": authority,
                    # one notice per line and installments: sent again, it is recorded once
                    "reference": f"DEMO-TAX-{self.run_tag}-{line['application_id']}-{price[0]['seq']}",
                },
            ),
            200,
            f"record the tax bureau's notice for listing {listing_id}",
        )
        self.say(
            f"clerk: lot {lot.key}: {authority} collected bidder {line['bid_number']}'s {labels} "
            f"{yuan(amount)} (recorded, not held by the exchange); settlement {recorded['status']}"
        )
