"""The exchange's signatures: canonical JSON (RFC 8785, restricted) and Ed25519, detached."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.signing import (
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    KeyFormatError,
    SignatureError,
    SigningKey,
    TreeHead,
    VerifyingKey,
    canonical_json,
    generate_development_key,
    key_id,
    load_signing_key,
    sign,
    sign_bytes,
    sign_tree_head,
    verify,
    verify_bytes,
    verify_tree_head,
)

# --- canonical JSON ---------------------------------------------------------------------------
#
# RFC 8785's reference test data: cyberphone/json-canonicalization (commit
# 19d51d7fe467d4706a3ff08adf8a748f29fc21e0), testdata/input/*.json and testdata/output/*.json.
# values.json is left out (floats); structures.json's one number with a fraction is 56.0, an
# integer, read here as one.

JCS_VECTORS = [
    (
        '[\n  56,\n  {\n    "d": true,\n    "10": null,\n    "1": [ ]\n  }\n]\n',
        b'[56,{"1":[],"10":null,"d":true}]',
    ),
    (
        '{\n  "peach": "This sorting order",\n  "p\u00e9ch\u00e9": "is wrong according to French",\n'
        '  "p\u00eache": "but canonicalization MUST",\n  "sin":   "ignore locale"\n}\n',
        b'{"peach":"This sorting order","p\xc3\xa9ch\xc3\xa9":"is wrong according to French",'
        b'"p\xc3\xaache":"but canonicalization MUST","sin":"ignore locale"}',
    ),
    (
        '{\n  "1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0},\n  "10": { },\n  "": "empty",\n  "a": { },\n'
        '  "111": [ {"e": "yes","E": "no" } ],\n  "A": { }\n}',
        b'{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}',
    ),
    ('{\n  "Unnormalized Unicode":"A\\u030a"\n}\n', b'{"Unnormalized Unicode":"A\xcc\x8a"}'),
    (
        '{\n  "\\u20ac": "Euro Sign",\n  "\\r": "Carriage Return",\n  "\\u000a": "Newline",\n  "1": "One",\n'
        '  "\\u0080": "Control\\u007f",\n  "\\ud83d\\ude02": "Smiley",\n'
        '  "\\u00f6": "Latin Small Letter O With Diaeresis",\n  "\\ufb33": "Hebrew Letter Dalet With Dagesh",\n'
        '  "</script>": "Browser Challenge"\n}\n',
        b'{"\\n":"Newline","\\r":"Carriage Return","1":"One","</script>":"Browser Challenge",'
        b'"\xc2\x80":"Control\x7f","\xc3\xb6":"Latin Small Letter O With Diaeresis","\xe2\x82\xac":"Euro Sign",'
        b'"\xf0\x9f\x98\x82":"Smiley","\xef\xac\xb3":"Hebrew Letter Dalet With Dagesh"}',
    ),
]


@pytest.mark.parametrize(("text", "canonical"), JCS_VECTORS)
def test_the_rfc_8785_reference_vectors(text: str, canonical: bytes) -> None:
    value = json.loads(text, parse_float=lambda number: int(Decimal(number)))
    assert canonical_json(value) == canonical


def test_control_characters_are_escaped_as_ecmascript_does() -> None:
    assert (
        canonical_json('\b\t\n\f\r\x00\x1f"\\/\x7f\u2028')
        == b'"\\b\\t\\n\\f\\r\\u0000\\u001f\\"\\\\/\x7f\xe2\x80\xa8"'
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


def reordered(value: object, seed: int) -> object:
    """The same JSON value with every object's keys inserted in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        items = items[seed % len(items) :] + items[: seed % len(items)] if items else items
        return {key: reordered(item, seed + 1) for key, item in reversed(items)}
    if isinstance(value, list):
        return [reordered(item, seed) for item in value]
    return value


@settings(max_examples=200, deadline=None)
@given(json_values, st.integers(0, 10))
def test_the_canonical_form_ignores_key_order_and_reads_back(value: object, seed: int) -> None:
    data = canonical_json(value)
    assert canonical_json(reordered(value, seed)) == data
    assert json.loads(data.decode("utf-8")) == value
    assert canonical_json(json.loads(data)) == data


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (1.5, "$"),
        ({"price": 100.0}, "$.price"),
        ({"lots": [1, float("nan")]}, "$.lots[1]"),
        ([float("inf")], "$[0]"),
        ({"amount": Decimal("1.00")}, "$.amount"),
        ({1: "a"}, "$"),
        ({"big": 2**53}, "$.big"),
        ({"small": -(2**53)}, "$.small"),
        ({"s": "\ud800"}, "$.s"),
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, "$.when"),
        (b"bytes", "$"),
    ],
)
def test_what_canonical_json_refuses(value: object, path: str) -> None:
    with pytest.raises(CanonicalJSONError) as raised:
        canonical_json(value)
    assert raised.value.path == path


def test_booleans_stay_booleans_and_the_safe_range_is_inclusive() -> None:
    assert canonical_json([True, False, None, 1, 0]) == b"[true,false,null,1,0]"
    assert canonical_json([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == b"[9007199254740991,-9007199254740991]"
    assert canonical_json(("a", ())) == b'["a",[]]'


# --- keys and signatures ----------------------------------------------------------------------

# RFC 8032 7.1, TEST 2 (one-byte message 0x72).
RFC8032_SECRET = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
RFC8032_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
RFC8032_SIGNATURE = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_rfc_8032_vector() -> None:
    key = load_signing_key(RFC8032_SECRET)
    assert key.public.raw == RFC8032_PUBLIC
    assert sign_bytes(key, b"\x72") == b64url(RFC8032_SIGNATURE)
    verify_bytes(VerifyingKey(RFC8032_PUBLIC), b"\x72", b64url(RFC8032_SIGNATURE))


def test_a_key_loads_from_pem_or_raw_and_keeps_its_id() -> None:
    key = load_signing_key(RFC8032_SECRET)
    for setting in (key.pem(), key.pem().encode(), b64url(RFC8032_SECRET), f"  {b64url(RFC8032_SECRET)}\n"):
        assert load_signing_key(setting).public == key.public
    assert key.kid == key_id(RFC8032_PUBLIC) == hashlib.sha256(RFC8032_PUBLIC).hexdigest()[:32]
    assert not key.public.development


@pytest.mark.parametrize(
    "setting",
    [
        "",
        "not a key",
        RFC8032_SECRET.hex(),  # hex is not one of the forms
        b64url(RFC8032_SECRET) + "=",
        b"\x00" * 31,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_what_is_not_a_key(setting: str | bytes) -> None:
    with pytest.raises(KeyFormatError):
        load_signing_key(setting)


def test_a_pem_of_another_algorithm_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    with pytest.raises(KeyFormatError, match="not an Ed25519 key"):
        load_signing_key(pem)


RECORD = {
    "listing": "GT2026-017",
    "winner": {"bid_number": 7, "name": "太原某某有限公司"},
    "price": "12345678.90",
    "bids": [{"seq": 1, "amount": "100.00"}, {"seq": 2, "amount": "110.00"}],
    "lottery": None,
    "sealed": False,
}


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return load_signing_key(RFC8032_SECRET)


def test_a_signature_round_trips_and_ignores_key_order(key: SigningKey) -> None:
    signature = sign(key, RECORD)
    assert signature["algorithm"] == "Ed25519" and signature["kid"] == key.kid
    assert signature["development"] is False
    verify(key.public, RECORD, signature)
    verify(key.public, json.loads(json.dumps(RECORD, indent=3, ensure_ascii=True)), signature)
    verify(key.public, dict(reversed(list(RECORD.items()))), json.loads(json.dumps(signature)))
    # Ed25519 is deterministic: one record, one signature.
    assert sign(key, dict(reversed(list(RECORD.items())))) == signature


def test_a_changed_payload_fails(key: SigningKey) -> None:
    signature = sign(key, RECORD)
    for changed in (
        {**RECORD, "price": "12345678.91"},
        {**RECORD, "sealed": True},
        {**RECORD, "extra": None},
        {k: v for k, v in RECORD.items() if k != "lottery"},
        {**RECORD, "bids": RECORD["bids"][:1]},  # type: ignore[index]
    ):
        with pytest.raises(SignatureError) as raised:
            verify(key.public, changed, signature)
        assert raised.value.reason == "invalid"


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_changed_byte_of_the_payload_or_the_signature_fails(data: st.DataObject) -> None:
    key = load_signing_key(RFC8032_SECRET)
    payload = canonical_json(RECORD)
    signature = sign_bytes(key, payload)
    raw = bytearray(payload)
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SignatureError):
        verify_bytes(key.public, bytes(raw), signature)
    text = list(signature)
    at = data.draw(st.integers(0, len(text) - 1))
    text[at] = data.draw(st.sampled_from([c for c in "AQgw_-9z" if c != text[at]]))
    with pytest.raises(SignatureError):
        verify_bytes(key.public, payload, "".join(text))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"algorithm": "ES256"}, "algorithm"),
        ({"kid": "0" * 32}, "unknown_key"),
        ({"development": True}, "development_mismatch"),
        ({"signature": "AAAA"}, "malformed"),
        ({"signature": None}, "malformed"),
        ({"extra": 1}, "malformed"),
    ],
)
def test_a_signature_block_that_does_not_hold(
    key: SigningKey, change: dict[str, object], reason: str
) -> None:
    block = {**sign(key, RECORD), **change}
    with pytest.raises(SignatureError) as raised:
        verify(key.public, RECORD, block)
    assert raised.value.reason == reason


def test_another_keys_signature_fails(key: SigningKey) -> None:
    other = generate_development_key()
    with pytest.raises(SignatureError) as raised:
        verify(key.public, RECORD, sign(other, RECORD))
    assert raised.value.reason == "unknown_key"
    forged = {**sign(other, RECORD), "kid": key.kid, "development": False}
    with pytest.raises(SignatureError) as raised:
        verify(key.public, RECORD, forged)
    assert raised.value.reason == "invalid"


def test_a_development_key_says_so_everywhere() -> None:
    dev = generate_development_key()
    description = dev.public.description()
    assert description == {
        "kid": dev.kid,
        "algorithm": "Ed25519",
        "public_key": b64url(dev.public.raw),
        "development": True,
    }
    signature = sign(dev, RECORD)
    assert signature["development"] is True
    published = VerifyingKey.from_description(json.loads(json.dumps(description)))
    assert published.development
    verify(published, RECORD, signature)
    # Stripping the mark from the signature does not pass it off as a production one.
    with pytest.raises(SignatureError) as raised:
        verify(published, RECORD, {**signature, "development": False})
    assert raised.value.reason == "development_mismatch"
    # A reloaded development key stays one only when told: the flag is the exchange's, not the key's.
    assert load_signing_key(dev.pem(), development=True).public == dev.public
    assert generate_development_key().kid != dev.kid


@pytest.mark.parametrize(
    "change",
    [
        {"algorithm": "ES256"},
        {"kid": "0" * 32},
        {"public_key": "AAAA"},
        {"development": "yes"},
    ],
)
def test_a_description_that_does_not_hold(key: SigningKey, change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        VerifyingKey.from_description({**key.public.description(), **change})


# --- signed tree heads ------------------------------------------------------------------------

ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
CST = timezone(timedelta(hours=8))


def test_a_tree_head_is_signed_in_its_one_form(key: SigningKey) -> None:
    head = TreeHead(8, datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=CST), ROOT)
    signed = sign_tree_head(key, head)
    assert {k: v for k, v in signed.items() if k != "signature"} == {
        "tree_size": 8,
        "timestamp": "2026-03-01T02:00:00.123Z",
        "root_hash": ROOT.hex(),
    }
    verify(key.public, head.payload(), signed["signature"])
    back = verify_tree_head(key.public, json.loads(json.dumps(signed)))
    assert back == TreeHead(8, datetime(2026, 3, 1, 2, 0, 0, 123000, tzinfo=UTC), ROOT)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"tree_size": 9}, "invalid"),
        ({"timestamp": "2026-03-01T02:00:00.124Z"}, "invalid"),
        ({"root_hash": "00" * 32}, "invalid"),
        ({"extra": 1}, "malformed"),
        ({"signature": "x"}, "malformed"),
    ],
)
def test_a_changed_tree_head_fails(key: SigningKey, change: dict[str, object], reason: str) -> None:
    signed = {**sign_tree_head(key, TreeHead(8, datetime(2026, 3, 1, tzinfo=UTC), ROOT)), **change}
    with pytest.raises(SignatureError) as raised:
        verify_tree_head(key.public, signed)
    assert raised.value.reason == reason


def test_a_signed_head_in_another_spelling_is_refused(key: SigningKey) -> None:
    """Signed, but not in the published form: two texts must not stand for one head."""
    for payload in (
        {"tree_size": 8, "timestamp": "2026-03-01T02:00:00Z", "root_hash": ROOT.hex()},
        {"tree_size": 8, "timestamp": "2026-03-01T02:00:00.000Z", "root_hash": ROOT.hex().upper()},
        {"tree_size": True, "timestamp": "2026-03-01T02:00:00.000Z", "root_hash": ROOT.hex()},
        {"tree_size": -1, "timestamp": "2026-03-01T02:00:00.000Z", "root_hash": ROOT.hex()},
        {"tree_size": 8, "timestamp": "2026-13-01T02:00:00.000Z", "root_hash": ROOT.hex()},
    ):
        with pytest.raises(SignatureError) as raised:
            verify_tree_head(key.public, {**payload, "signature": sign(key, payload)})
        assert raised.value.reason == "malformed"


def test_a_tree_head_needs_an_aware_time_and_a_hash() -> None:
    with pytest.raises(ValueError):
        TreeHead(1, datetime(2026, 3, 1), ROOT)  # naive
    with pytest.raises(ValueError):
        TreeHead(1, datetime(2026, 3, 1, tzinfo=UTC), ROOT[:31])
    with pytest.raises(ValueError):
        TreeHead(-1, datetime(2026, 3, 1, tzinfo=UTC), ROOT)


def test_one_signature_has_one_spelling(key: SigningKey) -> None:
    """Base64url's unused low bits of the last character would give one signature many texts."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    signature = sign_bytes(key, b"record")
    respelled = signature[:-1] + alphabet[alphabet.index(signature[-1]) ^ 1]
    assert base64.urlsafe_b64decode(respelled + "==") == base64.urlsafe_b64decode(signature + "==")
    for text in (respelled, signature + "=="):
        with pytest.raises(SignatureError) as raised:
            verify_bytes(key.public, b"record", text)
        assert raised.value.reason == "malformed"
