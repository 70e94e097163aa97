"""The CSV files open in a Chinese Excel as they should: read here as Excel reads them.

Excel takes a UTF-8 file for UTF-8 only with a byte-order mark (otherwise GBK: garbled titles),
reads a cell that parses as a number as a number (a leading ``'`` makes it text), and runs a cell
that starts with ``=`` as a formula.
"""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal
from typing import Any

from documents.results_controllers import NUMBER_COLUMNS
from tests.support.api import Client, staff
from tests.support.auctions import auction_view, bid, live_auction
from tests.support.flow import wait_status

BOM = b"\xef\xbb\xbf"


def as_excel_reads(response: Any) -> list[dict[str, str]]:
    """One charset, the BOM first, then UTF-8 CSV with CRLF lines."""
    content_type = response.headers["content-type"]
    assert content_type == "text/csv; charset=utf-8", content_type  # exactly one charset
    assert response.content.startswith(BOM), response.content[:10]
    text = response.content.decode("utf-8-sig")
    assert "\r\n" in text and "\ufeff" not in text
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_the_exports_open_in_excel(client: Client) -> None:
    title = "=HYPERLINK(1) 荷兰式地块"
    listing, (alice,) = await live_auction(client, 1, closes_in=30, extension=1, method="dutch", title=title)
    lid = listing["id"]
    await asyncio.sleep(1.2)  # the clock ticks down below the start price at least once
    for _ in range(3):  # the clock may tick between the read and the acceptance
        price = (await auction_view(client, lid))["current_price"]
        if (await bid(client, alice, lid, price)).status_code == 201:
            break
    await wait_status(client, lid, "closed", timeout=10)

    (row,) = [r for r in as_excel_reads(await client.get("/api/v1/results/export.csv")) if r["listing_id"]]
    header = list(row)
    assert header[:2] == ["listing_id", "title"] and header[-1] == "discount_rate"  # added at the end
    # numbers are numbers: no quote in front, a decimal (or empty) in every number column
    for column in NUMBER_COLUMNS:
        assert row[column] == "" or Decimal(row[column]).is_finite(), (column, row[column])
    assert int(row["listing_id"]) == lid and Decimal(row["price"]) < Decimal(row["start_price"])
    # a Dutch price below the start price is a 降价率, not a negative 溢价率
    start, paid = Decimal(row["start_price"]), Decimal(row["price"])
    assert row["premium_rate"] == ""
    assert Decimal(row["discount_rate"]) == ((start - paid) / start * 100).quantize(Decimal("0.01"))
    # a text cell that a spreadsheet would run as a formula is text
    assert row["title"] == "'" + title and row["method"] == "dutch" and row["outcome"] == "sold"

    published = (await client.get(f"/api/v1/results/{lid}")).json()
    assert (published["premium_rate"], published["discount_rate"]) == (None, row["discount_rate"])
    (exported,) = (await client.get("/api/v1/results/export.json")).json()["results"]
    assert (exported["premium_rate"], exported["discount_rate"]) == (None, row["discount_rate"])

    # the bank's refund file is opened in a spreadsheet too
    refunds = await client.get("/api/v1/refunds/file", headers=await staff(client, "operator"))
    as_excel_reads(refunds)
    assert refunds.content.decode("utf-8-sig").startswith("refund_id,payee_name,")
