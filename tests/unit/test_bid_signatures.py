"""Bids signed by their bidders, the pure part (``auctions.bid_signatures``): keys, message, check.

ES256 (WebCrypto's ECDSA P-256, signature ``r || s``) and Ed25519, each good, then each way a
signature can fail: another amount, quantity, bid number, key, idempotency key or last_seq; a
block naming another key or algorithm; malformed values.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from auctions.bid_signatures import (
    CONTEXT,
    BidSignatureError,
    KeyFormatError,
    bid_message,
    nonce_digest,
    parse_jwk,
    parse_public_key,
    verify_bid_signature,
)
from auctions.stores import Signed, signature_refusal
from exchange.identity.schemas import KeyRegister
from exchange.signing import key_id
from listings.profiles import bid_signatures


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


BID: dict[str, Any] = {
    "listing_id": 12,
    "bidder_number": "A07",
    "amount": "1250000.00",
    "quantity": None,
    "idempotency_key": "k-1",
    "last_seq": 41,
    "nonce_sha256": None,
}


class Signer:
    """A bidder's key pair as a browser (ES256) or a program (Ed25519) holds it."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        if algorithm == "ES256":
            self.private: Any = ec.generate_private_key(ec.SECP256R1())
            raw = self.private.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        else:
            self.private = Ed25519PrivateKey.generate()
            raw = self.private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        self.raw = raw
        self.spki = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def kid(self) -> str:
        return key_id(self.raw)

    @property
    def public_key(self) -> str:
        return base64.b64encode(self.spki).decode()

    def sign(self, **bid: Any) -> dict[str, str]:
        message = bid_message(**bid)
        if self.algorithm == "ES256":  # WebCrypto's form: r || s, not DER
            r, s = decode_dss_signature(self.private.sign(message, ec.ECDSA(hashes.SHA256())))
            value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            value = self.private.sign(message)
        return {"kid": self.kid, "algorithm": self.algorithm, "value": b64url(value)}


def check(signer: Signer, signature: dict[str, Any], **changes: Any) -> None:
    verify_bid_signature(
        algorithm=signer.algorithm, public_key=signer.public_key, signature=signature, **{**BID, **changes}
    )


def test_the_message_is_canonical_json_of_the_fields_and_the_context() -> None:
    assert bid_message(**BID) == (
        b'{"amount":"1250000.00","bidder_number":"A07","context":"exchange-bid/1","idempotency_key":"k-1",'
        b'"last_seq":41,"listing_id":12,"nonce_sha256":null,"quantity":null}'
    )
    # JavaScript's JSON.stringify of the keys in this order gives the same bytes (the hall signs it)
    fields = {**BID, "context": CONTEXT, "nonce_sha256": nonce_digest("9f86d081884c7d659a2feaa0c55ad015")}
    ordered = {k: fields[k] for k in sorted(fields)}
    assert json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode() == bid_message(
        **{k: v for k, v in fields.items() if k != "context"}
    )
    assert nonce_digest(None) is None
    assert nonce_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("algorithm", ["ES256", "Ed25519"])
def test_a_good_signature_verifies(algorithm: str) -> None:
    signer = Signer(algorithm)
    check(signer, signer.sign(**BID))
    with_quantity = {**BID, "quantity": "12.500"}
    check(signer, signer.sign(**with_quantity), quantity="12.500")


TAMPERED: list[tuple[str, Any]] = [
    ("amount", "1250000.01"),
    ("quantity", "1.000"),
    ("bidder_number", "A08"),
    ("idempotency_key", "k-2"),
    ("last_seq", 42),
    ("listing_id", 13),
    ("nonce_sha256", nonce_digest("a-nonce-the-exchange-swapped-in")),
]


@pytest.mark.parametrize("algorithm", ["ES256", "Ed25519"])
@pytest.mark.parametrize(("field", "value"), TAMPERED)
def test_a_changed_bid_does_not_verify(algorithm: str, field: str, value: Any) -> None:
    signer = Signer(algorithm)
    signature = signer.sign(**BID)
    with pytest.raises(BidSignatureError) as caught:
        check(signer, signature, **{field: value})
    assert caught.value.reason == "mismatch"


@pytest.mark.parametrize("algorithm", ["ES256", "Ed25519"])
def test_another_key_does_not_verify(algorithm: str) -> None:
    signer, other = Signer(algorithm), Signer(algorithm)
    # signed by the other key but naming the registered one: the signature fails
    forged = {**other.sign(**BID), "kid": signer.kid}
    with pytest.raises(BidSignatureError) as caught:
        check(signer, forged)
    assert caught.value.reason == "mismatch"
    # naming the other key: not the key given
    with pytest.raises(BidSignatureError) as caught:
        check(signer, other.sign(**BID))
    assert caught.value.reason == "key_unknown"


def test_a_block_claiming_another_algorithm_is_malformed() -> None:
    signer = Signer("Ed25519")
    with pytest.raises(BidSignatureError) as caught:
        check(signer, {**signer.sign(**BID), "algorithm": "ES256"})
    assert caught.value.reason == "malformed"


BAD_BLOCKS: list[Callable[[dict[str, str]], dict[str, Any]]] = [
    lambda b: {k: v for k, v in b.items() if k != "kid"},
    lambda b: {**b, "extra": "x"},
    lambda b: {**b, "algorithm": "RS256"},
    lambda b: {**b, "kid": b["kid"].upper()},
    lambda b: {**b, "value": b["value"] + "="},
    lambda b: {**b, "value": b["value"][:-2]},
    lambda b: {**b, "value": 5},
]


@pytest.mark.parametrize("spoil", BAD_BLOCKS)
def test_malformed_blocks_are_named_so(spoil: Callable[[dict[str, str]], dict[str, Any]]) -> None:
    signer = Signer("ES256")
    with pytest.raises(BidSignatureError) as caught:
        check(signer, spoil(signer.sign(**BID)))
    assert caught.value.reason == "malformed"


@pytest.mark.parametrize("algorithm", ["ES256", "Ed25519"])
def test_every_form_of_a_key_reads_as_one(algorithm: str) -> None:
    signer = Signer(algorithm)
    pem = signer.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forms = [signer.public_key, b64url(signer.spki), pem.decode()]
    if algorithm == "Ed25519":
        forms.append(b64url(signer.raw))
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(signer.raw)}
    else:
        jwk = {"kty": "EC", "crv": "P-256", "x": b64url(signer.raw[1:33]), "y": b64url(signer.raw[33:])}
    keys = [parse_public_key(form) for form in forms] + [parse_jwk(jwk)]
    assert {(k.kid, k.algorithm, k.public_key) for k in keys} == {(signer.kid, algorithm, signer.public_key)}


def test_keys_the_exchange_does_not_take() -> None:
    other_curve = ec.generate_private_key(ec.SECP384R1()).public_key()
    spki = other_curve.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    for text in (base64.b64encode(spki).decode(), private_pem, "not a key", b64url(b"\x01" * 31)):
        with pytest.raises(KeyFormatError):
            parse_public_key(text)
    signer = Signer("ES256")
    x, y = b64url(signer.raw[1:33]), b64url(signer.raw[33:])
    for jwk in (
        {"kty": "EC", "crv": "P-256", "x": x, "y": y, "d": x},  # a private key
        {"kty": "EC", "crv": "P-384", "x": x, "y": y},
        {"kty": "EC", "crv": "P-256", "x": x, "y": x},  # not on the curve
        {"kty": "RSA", "n": x, "e": "AQAB"},
    ):
        with pytest.raises(KeyFormatError):
            parse_jwk(jwk)


def test_the_deployment_may_require_signed_bids_for_some_classes() -> None:
    required = frozenset({"land_use_right", "mining_right"})  # EXCHANGE_SIGNED_BIDS_REQUIRED
    assert bid_signatures("land_use_right", None, required) == "required"
    assert bid_signatures("mining_right", "none", required) == "required"
    assert bid_signatures("emission_right", None, required) == "none"
    assert bid_signatures("water_right", "optional", required) == "optional"
    assert bid_signatures("land_use_right", None) == "none"  # by default the operator chooses
    assert bid_signatures("land_use_right", "required") == "required"


def test_under_the_lock_the_policy_and_the_bid_number_decide() -> None:
    signed = Signed("0" * 32, "ES256", "x", 3, "A07")
    assert signature_refusal("none", None, "A07") is None
    assert signature_refusal("optional", None, "A07") is None  # an unsigned bid counts as before
    missing = signature_refusal("required", None, "A07")
    assert missing is not None and missing.code == "signature_invalid" and missing.status == 422
    assert missing.errors[0]["code"] == "bid_signature_missing"
    for policy in ("none", "optional", "required"):
        assert signature_refusal(policy, signed, "A07") is None
        other = signature_refusal(policy, signed, "A08")  # verified for another bid number
        assert other is not None and other.errors[0]["code"] == "bid_signature_mismatch"


# Ed25519's eight points of small order (libsodium's has_small_order list, little-endian y): one
# of them "verifies" the constant signature R = neutral, S = 0 for every message
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # neutral, order 1
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4, other sign
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8, other sign
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p: 0, not reduced
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p + 1: 1, not reduced
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # the same, other sign
]


@pytest.mark.parametrize("hex_key", SMALL_ORDER)
def test_an_ed25519_key_of_small_order_is_refused_in_every_form(hex_key: str) -> None:
    raw = bytes.fromhex(hex_key)
    spki = bytes.fromhex("302a300506032b6570032100") + raw
    pem = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(spki).decode() + "\n-----END PUBLIC KEY-----\n"
    for text in (b64url(raw), base64.b64encode(spki).decode(), pem):
        with pytest.raises(KeyFormatError, match="small order"):
            parse_public_key(text)
    with pytest.raises(KeyFormatError, match="small order"):
        parse_jwk({"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)})
    # nor does a published key of small order verify anything (the offline verifier's path)
    universal = {
        "kid": key_id(raw),
        "algorithm": "Ed25519",
        "value": b64url(bytes.fromhex(SMALL_ORDER[0]) + bytes(32)),
    }
    with pytest.raises(BidSignatureError) as caught:
        verify_bid_signature(
            algorithm="Ed25519", public_key=base64.b64encode(spki).decode(), signature=universal, **BID
        )
    assert caught.value.reason == "malformed"


def test_a_jwk_as_webcrypto_exports_it_is_taken() -> None:
    signer = Signer("ES256")
    jwk: dict[str, Any] = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(signer.raw[1:33]),
        "y": b64url(signer.raw[33:]),
        "ext": True,
        "key_ops": ["verify"],
    }
    registration = msgspec.convert({"listing_id": 12, "jwk": jwk}, KeyRegister)
    assert registration.jwk is not None and parse_jwk(registration.jwk).kid == signer.kid


def test_a_revoked_key_is_refused_under_the_lock_after_the_replay_lookup() -> None:
    revoked = Signed("0" * 32, "ES256", "x", 3, "A07", None, revoked=True)
    for policy in ("none", "optional", "required"):
        refusal = signature_refusal(policy, revoked, "A07")
        assert refusal is not None and refusal.errors[0]["code"] == "bid_signature_key_revoked"
    assert Signed("0" * 32, "ES256", "x", 3, "A07", "ab").as_json()["nonce_sha256"] == "ab"
