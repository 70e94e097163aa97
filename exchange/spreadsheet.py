"""CSV files people open in a spreadsheet: Excel (a Chinese Windows one included) reads them right.

- A UTF-8 byte-order mark first: without it a Chinese Excel reads the file as GBK and every
  Chinese title comes out garbled. Programs that read the file with ``utf-8-sig`` (Python) or
  strip a leading BOM (most CSV libraries) see the same columns as before.
- ``Content-Type: text/csv; charset=utf-8`` exactly once (Litestar appends its own charset to a
  ``media_type`` that already names one, so the media type here carries none).
- Text that starts with ``= + - @``, a tab or a carriage return gets a leading ``'``: a
  spreadsheet would run it as a formula (CSV injection). Numbers are written as numbers:
  ``-11.67`` is a number to the spreadsheet, not a formula, and a quote would make it text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

from litestar import Response

BOM = "\ufeff"
MEDIA_TYPE = "text/csv"
"""Without a charset: the response's ``charset=utf-8`` (Litestar's default) is the only one."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str | None) -> str:
    """A text cell a spreadsheet shows as written: a leading ``'`` where it would start a formula."""
    text = value or ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def number_cell(value: str | int | Decimal | None) -> str:
    """A number as the spreadsheet should read it (``-11.67``, ``1200000.00``); empty for none.

    Only what parses as a decimal passes unquoted: anything else is guarded as text.
    """
    if value is None or value == "":
        return ""
    text = str(value)
    try:
        finite = Decimal(text).is_finite()
    except ArithmeticError:
        finite = False
    return text if finite else text_cell(text)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """CRLF lines (RFC 4180) under a header row; the cells are made by ``text_cell`` or ``number_cell``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def csv_response(body: str, filename: str) -> Response[str]:
    """The file as an attachment, ``text/csv; charset=utf-8``, with a BOM first."""
    return Response(
        BOM + body,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
