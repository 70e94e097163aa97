"""The open-data export's detached signature (exchange.export_signature), checked offline.

Pure: the header a response would carry, over bytes made here; the command line as an outsider
runs it on saved files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange.export_signature import DOMAIN, HEADER, keys_of, main, signature_header, verify_export
from exchange.signing import (
    SignatureError,
    canonical_json,
    generate_development_key,
    load_signing_key,
    sign,
    sign_bytes,
)

BODY = '\ufefflisting_id,title\r\n1,"国有建设用地使用权, 苏州"\r\n'.encode()


def test_the_signature_holds_for_the_exact_bytes_only() -> None:
    key = load_signing_key(generate_development_key().pem())  # a configured key: development false
    header = signature_header(key, BODY)
    assert json.loads(header)["kid"] == key.kid and header.isascii()
    assert verify_export([key.public], BODY, header) == key.public
    for tampered in (BODY.replace(b"1,", b"2,"), BODY[3:], BODY + b"\r\n"):  # a digit, the BOM, a line
        with pytest.raises(SignatureError) as refused:
            verify_export([key.public], tampered, header)
        assert refused.value.reason == "invalid"


def test_the_export_signature_is_separated_from_the_json_signatures() -> None:
    """One key signs the exports' raw bytes and records' canonical JSON: the prefix keeps a
    signature over one from ever passing for the other."""
    key = load_signing_key(generate_development_key().pem())
    record = {"result": {"price": "1.00"}}
    body = canonical_json(record)  # an "export" whose bytes are a record's canonical JSON
    header = json.loads(signature_header(key, body))
    assert header["signature"] == sign_bytes(key, DOMAIN + body) != sign(key, record)["signature"]
    with pytest.raises(SignatureError):  # the record's signature does not pass for the export's
        verify_export([key.public], body, json.dumps({**header, "signature": sign(key, record)["signature"]}))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda b: {**b, "kid": "00" * 16}, "unknown_key"),
        (lambda b: {**b, "development": True}, "development_mismatch"),
        (lambda b: {**b, "algorithm": "ES256"}, "algorithm"),
        (lambda b: {**b, "signature": b["signature"][:-2]}, "malformed"),
        (lambda b: {k: v for k, v in b.items() if k != "development"}, "malformed"),
    ],
)
def test_a_doctored_header_is_refused_with_its_reason(change: object, reason: str) -> None:
    key = load_signing_key(generate_development_key().pem())
    block = change(json.loads(signature_header(key, BODY)))  # type: ignore[operator]
    with pytest.raises(SignatureError) as refused:
        verify_export([key.public], BODY, json.dumps(block))
    assert refused.value.reason == reason


def test_the_command_checks_a_saved_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = generate_development_key()
    export, headers, keys = tmp_path / "export.csv", tmp_path / "export.headers", tmp_path / "keys.json"
    export.write_bytes(BODY)
    headers.write_text(
        f"HTTP/1.1 200 OK\r\ncontent-type: text/csv; charset=utf-8\r\n{HEADER.lower()}: "
        f"{signature_header(key, BODY)}\r\n\r\n"
    )
    keys.write_text(json.dumps({"keys": [key.public.description()]}))
    assert keys_of(json.loads(keys.read_text())) == [key.public]
    args = [str(export), "--signature", f"@{headers}", "--key", str(keys)]
    assert main(args) == 0
    assert "signature valid" in capsys.readouterr().out
    export.write_bytes(BODY.replace("苏州".encode(), "无锡".encode()))
    assert main(args) == 1
    assert "NOT valid (invalid)" in capsys.readouterr().out
    assert main([str(export), "--signature", "no header here", "--key", str(keys)]) == 2
