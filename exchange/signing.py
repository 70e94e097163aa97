"""The exchange's signatures: Ed25519 over a canonical JSON form, detached.

What the exchange publishes (result records, tree heads of the transparency log) is signed as
the bytes of ``canonical_json(record)``, so anyone who has the record as JSON, in whatever key
order or spacing it travelled, recomputes the same bytes and checks the signature offline.

The canonical form is RFC 8785's (JSON Canonicalization Scheme) restricted to the values the
exchange publishes: objects with string keys, arrays, strings, integers, ``true``, ``false`` and
``null``. Within that subset JCS is simple and leaves no choice: UTF-8, no insignificant
whitespace, object keys sorted by their UTF-16 code units, strings escaped as ECMAScript's
``JSON.stringify`` does (``\\" \\\\ \\b \\f \\n \\r \\t``, other control characters as
lowercase ``\\u00xx``, everything else as itself). Floats are refused rather than formatted:
money is a decimal string here, a float would already have rounded it, and JCS's number form is
the one place where implementations disagree. Integers are held to I-JSON's exact range
(RFC 7493, +-(2**53 - 1)), which a JavaScript verifier reads without rounding.

Ed25519 (RFC 8032) is from ``cryptography``. A signature travels as base64url without padding,
in a small block naming the key (``kid``: the first 16 bytes of SHA-256 of the raw public key,
in hex). A development key (``generate_development_key``, for the sandbox) says so in its
public description and in every signature block it makes, and a verifier holds the two equal.

This module reads no setting: ``exchange.settings`` hands it the key's text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypedDict, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "Ed25519"
MAX_SAFE_INTEGER = 2**53 - 1
"""I-JSON's exact integer range (RFC 7493 2.2), the largest a JavaScript number holds exactly."""

_RAW_KEY_SIZE = 32
_SIGNATURE_SIZE = 64


class CanonicalJSONError(ValueError):
    """A value outside the canonical JSON subset; ``path`` says where (``$.lots[2].price``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


SignatureReason = Literal[
    "malformed",  # not a signature block, or its signature is not base64url of 64 bytes
    "algorithm",  # not Ed25519
    "unknown_key",  # made by another key than the one given
    "development_mismatch",  # the block's development flag is not the key's
    "invalid",  # the signature does not verify
]


class SignatureError(ValueError):
    """A signature that does not verify, with a stable ``reason``."""

    def __init__(self, reason: SignatureReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: SignatureReason = reason
        self.detail = detail


class KeyFormatError(ValueError):
    """A configured private key that is neither an Ed25519 PEM nor a raw 32-byte key."""


# --- canonical JSON ---------------------------------------------------------------------------


def canonical_json(value: object) -> bytes:
    """The RFC 8785 (JCS) bytes of ``value``, restricted as the module says.

    ``value`` is made of ``dict`` (string keys), ``list`` or ``tuple``, ``str``, ``int``,
    ``bool`` and ``None``; anything else raises ``CanonicalJSONError``.
    """
    parts: list[str] = []
    _write(value, "$", parts)
    return "".join(parts).encode("utf-8")


def _write(value: object, path: str, out: list[str]) -> None:
    # bool before int: True is an int to Python and must stay ``true``.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalJSONError(path, "an integer beyond +-(2**53 - 1): publish it as a string")
        out.append(str(int(value)))
    elif isinstance(value, str):
        out.append(_string(value, path))
    elif isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalJSONError(path, f"a key that is not a string: {key!r}")
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_order)):
            if i:
                out.append(",")
            out.append(_string(key, f"{path}.{key}"))
            out.append(":")
            _write(value[key], f"{path}.{key}", out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, f"{path}[{i}]", out)
        out.append("]")
    elif isinstance(value, float):
        raise CanonicalJSONError(path, "a float (money and quantities are decimal strings here)")
    else:
        raise CanonicalJSONError(path, f"a {type(value).__name__}, which canonical JSON does not hold")


def _utf16_order(key: str) -> bytes:
    # RFC 8785 3.2.3 sorts by UTF-16 code units; big-endian bytes compare the same way. Code
    # points would order U+E000..U+FFFF after the astral planes' surrogates differently.
    return key.encode("utf-16-be", "surrogatepass")


def _string(text: str, path: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalJSONError(path, "a string with a lone surrogate (not Unicode text)") from None
    # Python's escaping with ensure_ascii off is ECMAScript's: the short escapes, other control
    # characters as lowercase \u00xx, everything else as itself.
    return json.dumps(text, ensure_ascii=False)


# --- keys -------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _from_b64url(text: str, size: int) -> bytes | None:
    """The bytes of unpadded base64url ``text`` if it is exactly their encoding, else ``None``.

    Re-encoding refuses the spellings a lenient decoder lets through (padding, stray bits), so
    one signature has one text.
    """
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(data) != size or _b64url(data) != text:
        return None
    return data


def key_id(public_raw: bytes) -> str:
    """The key's id: the first 16 bytes of SHA-256 of the raw 32-byte public key, in hex."""
    return hashlib.sha256(public_raw).digest()[:16].hex()


class PublicKeyDescription(TypedDict):
    """What the exchange publishes about a key, and a verifier takes in."""

    kid: str
    algorithm: str
    public_key: str
    development: bool


@dataclass(frozen=True)
class VerifyingKey:
    """A public Ed25519 key as the exchange publishes it."""

    raw: bytes
    """The 32 bytes of the public key (RFC 8032)."""
    development: bool = False
    """A sandbox key: what it signs proves nothing about a real exchange."""

    def __post_init__(self) -> None:
        if len(self.raw) != _RAW_KEY_SIZE:
            raise ValueError(f"an Ed25519 public key has {_RAW_KEY_SIZE} bytes, not {len(self.raw)}")

    @property
    def kid(self) -> str:
        return key_id(self.raw)

    def description(self) -> PublicKeyDescription:
        return {
            "kid": self.kid,
            "algorithm": ALGORITHM,
            "public_key": _b64url(self.raw),
            "development": self.development,
        }

    @classmethod
    def from_description(cls, description: Mapping[str, object]) -> VerifyingKey:
        """The key a published description names; ``ValueError`` when it does not hold together."""
        if description.get("algorithm") != ALGORITHM:
            raise ValueError(f"not an {ALGORITHM} key: {description.get('algorithm')!r}")
        public_key, development = description.get("public_key"), description.get("development")
        raw = _from_b64url(public_key, _RAW_KEY_SIZE) if isinstance(public_key, str) else None
        if raw is None:
            raise ValueError("public_key is not base64url of 32 bytes")
        if not isinstance(development, bool):
            raise ValueError("development is not true or false")
        key = cls(raw, development)
        if description.get("kid") != key.kid:
            raise ValueError(f"kid {description.get('kid')!r} is not the key's ({key.kid})")
        return key


@dataclass(frozen=True)
class SigningKey:
    """The exchange's private Ed25519 key, with its public half."""

    private: Ed25519PrivateKey
    development: bool = False
    public: VerifyingKey = field(init=False)

    def __post_init__(self) -> None:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        object.__setattr__(self, "public", VerifyingKey(raw, self.development))

    @property
    def kid(self) -> str:
        return self.public.kid

    def pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM, the form ``load_signing_key`` reads."""
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")


def load_signing_key(value: str | bytes, *, development: bool = False) -> SigningKey:
    """The key a setting holds: PKCS#8 PEM (``openssl genpkey -algorithm ed25519``), or the raw
    32-byte private key as bytes or as unpadded base64url text.

    Raises ``KeyFormatError`` (a ``ValueError``) naming what is wrong, never the key itself.
    """
    data = value.encode("utf-8") if isinstance(value, str) else value
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            # The library's message may quote the key's bytes: keep only its type.
            raise KeyFormatError(f"the PEM key does not load ({type(error).__name__})") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFormatError(f"the PEM key is not an Ed25519 key but {type(private).__name__}")
        return SigningKey(private, development)
    if isinstance(value, bytes) and len(value) == _RAW_KEY_SIZE:
        raw: bytes | None = value
    else:
        raw = _from_b64url(data.decode("ascii", "replace").strip(), _RAW_KEY_SIZE)
    if raw is None:
        raise KeyFormatError("neither a PEM private key nor 32 raw bytes (as bytes or base64url)")
    return SigningKey(Ed25519PrivateKey.from_private_bytes(raw), development)


def generate_development_key() -> SigningKey:
    """A fresh key for the sandbox, marked as such in its description and its signatures."""
    return SigningKey(Ed25519PrivateKey.generate(), development=True)


# --- signatures -------------------------------------------------------------------------------


class Signature(TypedDict):
    """A detached signature as published beside what it signs."""

    algorithm: str
    kid: str
    signature: str
    development: bool


def sign_bytes(key: SigningKey, data: bytes) -> str:
    """The Ed25519 signature of ``data``, as unpadded base64url (86 characters)."""
    return _b64url(key.private.sign(data))


def verify_bytes(key: VerifyingKey, data: bytes, signature: str) -> None:
    """Check a base64url signature of ``data``; raises ``SignatureError`` when it does not hold."""
    raw = _from_b64url(signature, _SIGNATURE_SIZE)
    if raw is None:
        raise SignatureError("malformed", "the signature is not base64url of 64 bytes")
    try:
        Ed25519PublicKey.from_public_bytes(key.raw).verify(raw, data)
    except InvalidSignature:
        raise SignatureError("invalid", f"not signed by key {key.kid}") from None


def sign(key: SigningKey, value: object) -> Signature:
    """The detached signature of ``canonical_json(value)``."""
    return {
        "algorithm": ALGORITHM,
        "kid": key.kid,
        "signature": sign_bytes(key, canonical_json(value)),
        "development": key.development,
    }


def verify(key: VerifyingKey, value: object, signature: Mapping[str, object]) -> None:
    """Check that ``signature`` is ``key``'s over ``canonical_json(value)``.

    Raises ``SignatureError`` with a reason; ``CanonicalJSONError`` if ``value`` has no
    canonical form (it cannot have been signed).
    """
    if set(signature) != set(Signature.__annotations__):
        raise SignatureError("malformed", f"a signature block has {sorted(Signature.__annotations__)}")
    if signature["algorithm"] != ALGORITHM:
        raise SignatureError("algorithm", f"not {ALGORITHM}: {signature['algorithm']!r}")
    if signature["kid"] != key.kid:
        raise SignatureError("unknown_key", f"made by key {signature['kid']!r}, not {key.kid}")
    if signature["development"] is not key.development:
        raise SignatureError("development_mismatch", f"key {key.kid} has development={key.development}")
    text = signature["signature"]
    if not isinstance(text, str):
        raise SignatureError("malformed", "the signature is not a string")
    verify_bytes(key, canonical_json(value), text)


# --- signed tree heads ------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_HEAD_FIELDS = ("tree_size", "timestamp", "root_hash")
_ROOT_HASH_SIZE = 32  # SHA-256, the transparency log's hash (exchange.transparency.merkle)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC to the millisecond, with ``Z``: one spelling per instant."""
    if moment.tzinfo is None:
        raise ValueError("a tree head's time must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class TreeHead:
    """The transparency log's state at an instant: its size and root hash."""

    tree_size: int
    timestamp: datetime
    root_hash: bytes

    def __post_init__(self) -> None:
        if isinstance(self.tree_size, bool) or not 0 <= self.tree_size <= MAX_SAFE_INTEGER:
            raise ValueError(f"tree_size {self.tree_size!r} is not a count of leaves")
        if len(self.root_hash) != _ROOT_HASH_SIZE:
            raise ValueError(f"root_hash has {len(self.root_hash)} bytes, not {_ROOT_HASH_SIZE}")
        format_timestamp(self.timestamp)

    def payload(self) -> dict[str, object]:
        """What is signed: ``{"tree_size", "timestamp", "root_hash"}`` (hex)."""
        return {
            "tree_size": self.tree_size,
            "timestamp": format_timestamp(self.timestamp),
            "root_hash": self.root_hash.hex(),
        }


class SignedTreeHead(TypedDict):
    tree_size: int
    timestamp: str
    root_hash: str
    signature: Signature


def sign_tree_head(key: SigningKey, head: TreeHead) -> SignedTreeHead:
    """The tree head as published: its fields and their signature."""
    payload = head.payload()
    return cast(SignedTreeHead, {**payload, "signature": sign(key, payload)})


def verify_tree_head(key: VerifyingKey, signed: Mapping[str, object]) -> TreeHead:
    """The tree head a published one states, once its signature holds; else ``SignatureError``.

    The signature is checked over the fields as they were published; then they must also be in
    their one spelling, so two texts never stand for one head.
    """
    if set(signed) != {*_HEAD_FIELDS, "signature"}:
        raise SignatureError("malformed", f"a signed tree head has {[*_HEAD_FIELDS, 'signature']}")
    block = signed["signature"]
    if not isinstance(block, Mapping):
        raise SignatureError("malformed", "the signature is not an object")
    payload = {name: signed[name] for name in _HEAD_FIELDS}
    try:
        verify(key, payload, block)
    except CanonicalJSONError as error:
        raise SignatureError("malformed", str(error)) from None
    size, stamp, root_hex = payload["tree_size"], payload["timestamp"], payload["root_hash"]
    malformed = SignatureError("malformed", "the tree head's fields are not in their published form")
    if (
        not isinstance(size, int)
        or not isinstance(stamp, str)
        or not _TIMESTAMP.fullmatch(stamp)
        or not isinstance(root_hex, str)
        or not re.fullmatch(r"[0-9a-f]{64}", root_hex)
    ):
        raise malformed
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        return TreeHead(size, moment, bytes.fromhex(root_hex))
    except ValueError:  # a 13th month, a negative size, a boolean for a size
        raise malformed from None
