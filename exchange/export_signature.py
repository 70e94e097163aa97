"""The signature of the open-data export: detached Ed25519 over the exact bytes served.

``GET /api/v1/results/export.json`` and ``export.csv`` answer with an ``Exchange-Signature``
header: the signature block of ``exchange.signing`` (algorithm, kid, signature, development)
as canonical JSON, over ``DOMAIN`` followed by the body's bytes exactly as they arrive (the
CSV's byte-order mark included). Unlike a result bundle, nothing is canonicalized: the file saved
is the file signed, so a copy kept on disk is checked as it is. The prefix separates the domains
of the one key: the same key signs canonical JSON (bundles, tree heads), and a signature over
raw bytes that happen to be someone's canonical JSON could otherwise pass for one of those.

Checked offline, with the keys saved from ``GET /api/v1/keys``::

    curl -sD export.headers -o export.json https://exchange.example.org/api/v1/results/export.json
    python -m exchange.export_signature export.json --signature @export.headers --key keys.json

``--signature`` takes the header's value, or ``@FILE``: a file holding the value or the
response's headers (``curl -D``). Exit status 0: the signature holds; 1: it does not; 2: the
input could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from exchange.signing import (
    ALGORITHM,
    Signature,
    SignatureError,
    SigningKey,
    VerifyingKey,
    canonical_json,
    sign_bytes,
    verify_bytes,
)

HEADER = "Exchange-Signature"
"""The response header that carries the export's signature block."""

DOMAIN = b"exchange-export-v1\n"
"""What the signed bytes start with, before the body: an export's signature is never one of a
record's or a tree head's (``exchange.signing`` signs their canonical JSON, which starts ``{``)."""


def signature_header(key: SigningKey, body: bytes) -> str:
    """The header's value: the signature block of ``body`` as canonical JSON (ASCII only)."""
    block: Signature = {
        "algorithm": ALGORITHM,
        "kid": key.kid,
        "signature": sign_bytes(key, DOMAIN + body),
        "development": key.development,
    }
    return canonical_json(block).decode("ascii")


def verify_export(keys: Sequence[VerifyingKey], body: bytes, header: str) -> VerifyingKey:
    """The key among ``keys`` whose signature ``header`` is over ``body``.

    Raises ``SignatureError`` with a stable reason (``exchange.signing``) when it is not.
    """
    try:
        block = json.loads(header)
    except ValueError:
        raise SignatureError("malformed", f"the {HEADER} header is not JSON") from None
    if not isinstance(block, Mapping) or set(block) != set(Signature.__annotations__):
        raise SignatureError("malformed", f"a signature block has {sorted(Signature.__annotations__)}")
    if block["algorithm"] != ALGORITHM:
        raise SignatureError("algorithm", f"not {ALGORITHM}: {block['algorithm']!r}")
    key = next((k for k in keys if k.kid == block["kid"]), None)
    if key is None:
        raise SignatureError(
            "unknown_key", f"made by key {block['kid']!r}, which is not among the keys given"
        )
    if block["development"] is not key.development:
        raise SignatureError("development_mismatch", f"key {key.kid} has development={key.development}")
    if not isinstance(block["signature"], str):
        raise SignatureError("malformed", "the signature is not a string")
    verify_bytes(key, DOMAIN + body, block["signature"])
    return key


def keys_of(published: object) -> list[VerifyingKey]:
    """The keys of a saved ``GET /api/v1/keys`` answer (or of a list of key descriptions)."""
    descriptions = published.get("keys") if isinstance(published, Mapping) else published
    if not isinstance(descriptions, list) or not all(isinstance(d, Mapping) for d in descriptions):
        raise ValueError("not a list of keys as GET /api/v1/keys publishes them")
    return [VerifyingKey.from_description(d) for d in descriptions]


def header_from(text: str) -> str:
    """The header's value from ``text``: the value itself, or a block of ``Name: value`` lines."""
    text = text.strip()
    if text.startswith("{"):
        return text
    prefix = HEADER.lower() + ":"
    for line in text.splitlines():
        if line.lower().startswith(prefix):
            return line[len(prefix) :].strip()
    raise ValueError(f"no {HEADER} header in the text given")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exchange.export_signature",
        description="Check the Exchange-Signature of an open-data export (export.json, export.csv), offline.",
    )
    parser.add_argument("export", type=Path, help="the file as downloaded, unchanged")
    parser.add_argument(
        "--signature", required=True, help="the header's value, or @FILE (the value, or the headers: curl -D)"
    )
    parser.add_argument("--key", required=True, type=Path, help="keys.json: GET /api/v1/keys as saved")
    args = parser.parse_args(argv)
    try:
        body = args.export.read_bytes()
        raw = args.signature
        header = header_from(Path(raw[1:]).read_text(encoding="utf-8") if raw.startswith("@") else raw)
        keys = keys_of(json.loads(args.key.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        print(f"无法读取 cannot read the input: {error}", file=sys.stderr)
        return 2
    try:
        key = verify_export(keys, body, header)
    except SignatureError as error:
        print(f"签名无效 signature NOT valid ({error.reason}): {error.detail}")
        return 1
    note = " (开发用密钥 a development key: proves nothing)" if key.development else ""
    print(f"签名有效 signature valid: {args.export} was signed by key {key.kid}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
