"""Bids signed by their bidders: the keys they register, the message they sign, its check.

Pure: no database, no web, no setting, so the offline verifier (``exchange.verifier``) checks
a published bid with the very function the exchange ran before the bid counted.

A bidder registers a public key of one of two algorithms:

- ``ES256``: ECDSA on P-256 with SHA-256, what a browser's WebCrypto makes (the hall keeps the
  private key non-extractable in IndexedDB). Its signature is WebCrypto's: ``r || s``, 64 bytes
  (IEEE P1363), not DER.
- ``Ed25519`` (RFC 8032), for programs (``openssl genpkey -algorithm ed25519``).

The key arrives as SubjectPublicKeyInfo (DER in base64, or PEM), as a JWK (``{"kty": "EC",
"crv": "P-256", "x", "y"}`` or ``{"kty": "OKP", "crv": "Ed25519", "x"}``), or for Ed25519 as its
32 raw bytes in base64url. It is stored and published in one form, SPKI DER in base64, and named
by its ``kid`` as ``exchange.signing`` names the exchange's own key: the first 16 bytes of
SHA-256 of the raw public key (P-256: the uncompressed point, 65 bytes), in hex.

An Ed25519 key of small order (the eight points of order 1, 2, 4 or 8, in any of their
encodings) is refused: such a "key" has no private half, and a constant signature verifies
under it for every message, so it would sign every bid.

What a bidder signs is the canonical JSON (``exchange.signing.canonical_json``, RFC 8785) of::

    {"amount": "1250000.00", "bidder_number": "A07", "context": "exchange-bid/1",
     "idempotency_key": "...", "last_seq": 41, "listing_id": 12, "nonce_sha256": null,
     "quantity": null}

``context`` a constant, so that a bidder's signature cannot be passed off as anything but a
bid; ``amount`` in yuan with two decimals as the exchange writes money, ``quantity`` as the
exchange writes the listing's quantities (``"12.500"``) or ``null``, ``nonce_sha256`` the SHA-256
(hex) of the bid's nonce (its randomness for a draw, ``auctions.mechanisms.draw``) or ``null``:
the hash, so the signature binds the nonce and the exchange cannot swap it, while a nonce the
record withholds stays withheld. ``last_seq`` the last feed event the bidder had seen (its view
of the auction, which the signature pins). The signature travels as ``{"kid", "algorithm",
"value"}``, ``value`` in unpadded base64url.

A key is registered for one listing (``exchange.identity.keys``): a key used on several listings
would link a losing bidder's anonymous bid numbers once the keys are published after the close.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from exchange.signing import CanonicalJSONError, canonical_json, key_id

Algorithm = Literal["ES256", "Ed25519"]
ALGORITHMS: Final[tuple[Algorithm, ...]] = ("ES256", "Ed25519")
Policy = Literal["none", "optional", "required"]
POLICIES: Final[tuple[Policy, ...]] = ("none", "optional", "required")

_P256_POINT = 65  # 0x04 || X || Y
_COORDINATE = 32
_ED25519_RAW = 32
_SIGNATURE_SIZE = 64  # both: Ed25519's, and ES256's r || s

CONTEXT: Final = "exchange-bid/1"
"""What every signed bid message says it is: a signature over it is not valid as anything else."""

_P = 2**255 - 19
_SMALL_ORDER_Y: Final[frozenset[int]] = frozenset(
    {
        0,  # order 4
        1,  # the neutral element, order 1
        _P - 1,  # order 2
        _P,  # 0 again, not reduced
        _P + 1,  # 1 again, not reduced
        # the two y of the points of order 8 (libsodium's has_small_order list)
        int.from_bytes(
            bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little"
        ),
        int.from_bytes(
            bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "little"
        ),
    }
)
"""The y coordinates of Ed25519's eight points of small order, also in their unreduced form;
the top bit of an encoding is x's sign and does not matter here."""

Reason = Literal[
    "missing",  # the listing requires a signature and the bid has none
    "malformed",  # not a signature block, an unknown algorithm, not base64url of 64 bytes
    "key_unknown",  # no registered key has this kid
    "key_revoked",  # the key was revoked before the bid
    "key_not_yours",  # the key is another bidder's
    "key_other_listing",  # the key was registered for another listing
    "mismatch",  # the signature does not verify over this bid's message
]


class BidSignatureError(ValueError):
    """A bid's signature that does not hold, with a stable ``reason``."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


class KeyFormatError(ValueError):
    """A public key the exchange does not take (another curve, RSA, a private key, garbage)."""


@dataclass(frozen=True, slots=True)
class BidderKey:
    """A bidder's public key in its one stored form."""

    algorithm: Algorithm
    spki: bytes
    """SubjectPublicKeyInfo, DER."""
    raw: bytes
    """The raw public key: P-256's uncompressed point, Ed25519's 32 bytes; ``kid`` hashes it."""

    @property
    def kid(self) -> str:
        return key_id(self.raw)

    @property
    def public_key(self) -> str:
        """SPKI DER in standard base64, as stored and published."""
        return base64.b64encode(self.spki).decode("ascii")


def _b64(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not; ``None`` when it is neither."""
    cleaned = re.sub(r"\s+", "", text)
    if not re.fullmatch(r"[A-Za-z0-9+/_-]*=*", cleaned):
        return None
    cleaned = cleaned.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_exact(text: object, size: int) -> bytes | None:
    """The bytes of unpadded base64url ``text`` if it is exactly their encoding and ``size`` long."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if len(data) == size and _b64url(data) == text else None


def small_order(raw: bytes) -> bool:
    """Whether 32 bytes encode an Ed25519 point of small order (the neutral element among them)."""
    return int.from_bytes(raw, "little") & ((1 << 255) - 1) in _SMALL_ORDER_Y


def _from_loaded(loaded: object) -> BidderKey:
    if isinstance(loaded, ec.EllipticCurvePublicKey):
        if not isinstance(loaded.curve, ec.SECP256R1):
            raise KeyFormatError(f"an ECDSA key on {loaded.curve.name}; only P-256 is taken")
        raw = loaded.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        algorithm: Algorithm = "ES256"
    elif isinstance(loaded, Ed25519PublicKey):
        raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if small_order(raw):  # no private key behind it: one signature would verify for every bid
            raise KeyFormatError("an Ed25519 point of small order, not a public key")
        algorithm = "Ed25519"
    else:
        raise KeyFormatError(f"a {type(loaded).__name__}; only ECDSA P-256 and Ed25519 keys are taken")
    spki = loaded.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return BidderKey(algorithm, spki, raw)


def parse_public_key(text: str) -> BidderKey:
    """A key given as SPKI (base64 DER or PEM), or Ed25519's 32 raw bytes in base64url.

    Raises ``KeyFormatError`` saying what is wrong.
    """
    stripped = text.strip()
    if "PRIVATE KEY" in stripped:
        raise KeyFormatError("a private key: register only the public key")
    try:
        if stripped.startswith("-----BEGIN"):
            return _from_loaded(serialization.load_pem_public_key(stripped.encode("ascii", "replace")))
        data = _b64(stripped)
        if data is None:
            raise KeyFormatError("neither PEM nor base64")
        if len(data) == _ED25519_RAW:
            return _from_loaded(Ed25519PublicKey.from_public_bytes(data))
        if len(data) == _P256_POINT and data[0] == 4:
            return _from_loaded(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data))
        return _from_loaded(serialization.load_der_public_key(data))
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        if isinstance(error, KeyFormatError):
            raise
        raise KeyFormatError(f"not a public key the exchange reads ({type(error).__name__})") from None


def parse_jwk(jwk: Mapping[str, object]) -> BidderKey:
    """A public JWK (RFC 7517/8037): EC P-256 or OKP Ed25519; a private member is refused."""
    if "d" in jwk:
        raise KeyFormatError("a private JWK (it has 'd'): register only the public key")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    try:
        if kty == "EC" and crv == "P-256":
            x, y = _b64url_exact(jwk.get("x"), _COORDINATE), _b64url_exact(jwk.get("y"), _COORDINATE)
            if x is None or y is None:
                raise KeyFormatError("x and y must be base64url of 32 bytes each")
            point = b"\x04" + x + y
            return _from_loaded(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point))
        if kty == "OKP" and crv == "Ed25519":
            raw = _b64url_exact(jwk.get("x"), _ED25519_RAW)
            if raw is None:
                raise KeyFormatError("x must be base64url of 32 bytes")
            return _from_loaded(Ed25519PublicKey.from_public_bytes(raw))
    except ValueError as error:
        if isinstance(error, KeyFormatError):
            raise
        raise KeyFormatError("the point is not on the curve") from None
    raise KeyFormatError(f"kty {kty!r} crv {crv!r}: only EC P-256 and OKP Ed25519 are taken")


def load_published(algorithm: str, public_key: str) -> BidderKey:
    """A key as the exchange stores and publishes it (``algorithm``, SPKI in base64), checked
    to be of that algorithm; ``KeyFormatError`` otherwise."""
    key = parse_public_key(public_key)
    if key.algorithm != algorithm:
        raise KeyFormatError(f"the key is {key.algorithm}, not {algorithm}")
    return key


def nonce_digest(nonce: str | None) -> str | None:
    """What a signed bid's message says of its nonce: SHA-256 of its UTF-8, hex; None for none."""
    return None if nonce is None else hashlib.sha256(nonce.encode("utf-8")).hexdigest()


def bid_message(
    *,
    listing_id: int,
    bidder_number: str,
    amount: str,
    quantity: str | None,
    idempotency_key: str,
    last_seq: int,
    nonce_sha256: str | None = None,
) -> bytes:
    """The bytes a bidder signs (module docstring); ``nonce_sha256`` is ``nonce_digest(nonce)``."""
    return canonical_json(
        {
            "context": CONTEXT,
            "listing_id": listing_id,
            "bidder_number": bidder_number,
            "amount": amount,
            "quantity": quantity,
            "idempotency_key": idempotency_key,
            "last_seq": last_seq,
            "nonce_sha256": nonce_sha256,
        }
    )


def _check(key: BidderKey, message: bytes, raw: bytes) -> bool:
    try:
        if key.algorithm == "Ed25519":
            Ed25519PublicKey.from_public_bytes(key.raw).verify(raw, message)
        else:
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key.raw)
            r, s = int.from_bytes(raw[:_COORDINATE], "big"), int.from_bytes(raw[_COORDINATE:], "big")
            point.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def check_block(signature: Mapping[str, object]) -> tuple[str, Algorithm, bytes]:
    """The ``kid``, algorithm and 64 signature bytes of a signature block, or ``malformed``."""
    if set(signature) != {"kid", "algorithm", "value"}:
        raise BidSignatureError("malformed", "a bid's signature has kid, algorithm and value")
    kid, algorithm = signature["kid"], signature["algorithm"]
    if not isinstance(kid, str) or not re.fullmatch(r"[0-9a-f]{32}", kid):
        raise BidSignatureError("malformed", "kid is 32 lowercase hex digits")
    if algorithm not in ALGORITHMS:
        raise BidSignatureError("malformed", f"algorithm {algorithm!r} is not one of {list(ALGORITHMS)}")
    raw = _b64url_exact(signature["value"], _SIGNATURE_SIZE)
    if raw is None:
        raise BidSignatureError("malformed", "value is not unpadded base64url of 64 bytes")
    return kid, algorithm, raw


def verify_bid_signature(
    *,
    algorithm: str,
    public_key: str,
    signature: Mapping[str, object],
    listing_id: int,
    bidder_number: str,
    amount: str,
    quantity: str | None,
    idempotency_key: str,
    last_seq: int,
    nonce_sha256: str | None = None,
) -> None:
    """Check a bid's signature block against the bidder's published key and the bid.

    ``public_key`` is SPKI in base64 as published, ``amount``/``quantity`` as the exchange
    writes them, ``nonce_sha256`` as published with the signature (``nonce_digest`` of the
    bid's nonce; None: the bid had none). Raises ``BidSignatureError``: ``malformed`` (the block, or a key that does
    not load), ``key_unknown`` (the block names another key) or ``mismatch``.
    """
    kid, block_algorithm, raw = check_block(signature)
    try:
        key = load_published(algorithm, public_key)
    except KeyFormatError as error:
        raise BidSignatureError("malformed", f"the published key: {error}") from None
    if kid != key.kid:
        raise BidSignatureError("key_unknown", f"signed by key {kid}, not {key.kid}")
    if block_algorithm != key.algorithm:
        raise BidSignatureError("malformed", f"key {kid} is {key.algorithm}, not {block_algorithm}")
    try:
        message = bid_message(
            listing_id=listing_id,
            bidder_number=bidder_number,
            amount=amount,
            quantity=quantity,
            idempotency_key=idempotency_key,
            last_seq=last_seq,
            nonce_sha256=nonce_sha256,
        )
    except CanonicalJSONError as error:
        raise BidSignatureError("malformed", str(error)) from None
    if not _check(key, message, raw):
        raise BidSignatureError("mismatch", f"not key {kid}'s signature of this bid")
