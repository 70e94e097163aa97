"""The verification QR code of a document, as inline SVG (segno: pure Python, no image library).

A PDF cannot contain its own SHA-256, so the code holds the address that looks the printed
document number up (``<public_url>/verify?number=<number>``): the page names the document and
the SHA-256 of the stored original, which the holder of the file compares with its own."""

from __future__ import annotations

import io

import segno


def qr_svg(text: str, *, scale: int = 2) -> str:
    """``text`` as a QR code (error correction M), an ``<svg>`` element without XML declaration."""
    code = segno.make(text, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True, nl=False, dark="#000")
    return out.getvalue().decode("utf-8")
