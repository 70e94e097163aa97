"""Typed settings read once from ``EXCHANGE_*`` environment variables.

This is the one module that reads the environment (``tests/unit/test_settings.py``
holds every other module to that): everything else is handed its part of
``Settings``. Every value is checked when the settings are loaded, and a bad
one is an error naming its variable, so a misconfigured exchange does not
start rather than failing at its first fee or document.

Secrets come only from the environment. In the embedded default (no secret
configured) a random per-process key is generated so nothing guessable is
ever used to sign tokens; tokens then do not survive a restart, which is the
honest trade-off for a laptop run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from exchange.settlement_terms import (
    DEFAULT_FEE_SCHEDULES,
    DEFAULT_PAYMENT_SCHEDULES,
    DEFAULT_PAYMENT_TERMS,
    FeeSchedule,
    PaymentSchedule,
    PaymentTerms,
    parse_fee_schedules,
    parse_payment_schedules,
    parse_payment_terms,
)
from exchange.signing import KeyFormatError, SigningKey, load_signing_key
from exchange.vocabulary import ASSET_CLASSES

Profile = Literal["statutory", "sandbox"]
LogFormat = Literal["json", "text"]
T = TypeVar("T")

ARGON2_LANES = 4
"""Argon2id parallelism (RFC 9106's recommended profiles use 4); Argon2 needs 8 KiB of memory per lane."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    """SQLAlchemy async URL; ``postgresql+asyncpg://`` in production, SQLite file by default."""
    echo: bool = False
    """Log every SQL statement (debugging only)."""
    pool_size: int = 10
    """Connections per process (PostgreSQL): the ORM's pool keeps this many (and as many in
    overflow), the bid path's asyncpg pool opens up to this many."""
    null_pool: bool = False
    """Open a connection per checkout; tests use it so no pool crosses event loops."""

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True)
class RedisSettings:
    url: str | None
    """``redis://`` URL; ``None`` means in-memory channels and rate limits."""
    prefix: str = "exchange"
    """Prefix of every Redis key, so several exchanges (or test runs) can share one server."""


@dataclass(frozen=True)
class SecuritySettings:
    # secrets and private keys stay out of repr: a settings object logged or shown in a traceback
    # must not carry them
    secret_key: str = field(repr=False)
    """HMAC key that signs access tokens."""
    bank_secret: str = field(repr=False)
    """HMAC-SHA256 key the bank signs deposit notices with."""
    token_ttl_seconds: int = 1800
    """Lifetime of a bidder's access token (an auction's last minutes should not log it out)."""
    staff_token_ttl_seconds: int = 600
    """Lifetime of a staff token: shorter, since staff act on every listing."""
    secret_is_ephemeral: bool = False
    """True when no secret was configured and a random one was generated."""
    bank_secret_is_ephemeral: bool = False
    """True when no bank secret was configured and a random one was generated."""
    collector_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48), repr=False)
    """HMAC-SHA256 key the collecting authority (tax bureau) signs its collection notices with
    (``EXCHANGE_COLLECTOR_SECRET``; random, so nothing verifies, when unset)."""
    signing_key: SigningKey | None = field(default=None, repr=False)
    """The exchange's Ed25519 key for what it publishes signed (result bundles;
    ``EXCHANGE_SIGNING_KEY``). ``None``: the app signs with a development key of its own, which
    its signatures and ``GET /api/v1/keys`` mark ``development: true``."""

    def token_ttl(self, role: str) -> int:
        return self.token_ttl_seconds if role == "bidder" else self.staff_token_ttl_seconds


@dataclass(frozen=True)
class PasswordSettings:
    time_cost: int = 3
    """Argon2id passes over its memory (RFC 9106's second recommended profile: 3)."""
    memory_kib: int = 65536
    """Argon2id memory per hash in KiB (64 MiB); at least 8 per lane."""


@dataclass(frozen=True)
class SettlementSettings:
    fee_schedules: Mapping[str, FeeSchedule] = field(default_factory=lambda: dict(DEFAULT_FEE_SCHEDULES))
    """Service-fee brackets per asset class, the last open (see :mod:`exchange.settlement_terms`)."""
    payment_schedules: Mapping[str, PaymentSchedule] = field(
        default_factory=lambda: dict(DEFAULT_PAYMENT_SCHEDULES)
    )
    """What a winner pays by when, per asset class (see :mod:`exchange.settlement_terms`)."""
    payment_terms: Mapping[str, PaymentTerms] = field(default_factory=lambda: dict(DEFAULT_PAYMENT_TERMS))
    """The payment terms a new listing starts with, per asset class (the same variable, read whole)."""
    profile: str = "statutory"
    """A copy of ``Settings.profile`` (kept in step by ``Settings``): under ``sandbox`` the 公示 of a
    result counts its working days as seconds."""


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class DocumentSettings:
    workers: int | None = None
    """Processes rendering PDFs; ``None``: two (one on a single CPU)."""
    timeout_seconds: float = 30.0
    """Longest one PDF may take to render before it is stopped."""
    public_url: str = DEFAULT_PUBLIC_URL
    """Where the exchange is reachable from outside, printed in documents for verification (no trailing ``/``)."""
    exchange_name: str = "公共资源交易平台"
    """The exchange's name as its documents print it (红头, 签章, the third party of a 成交确认书)."""
    deposit_bank: str | None = None
    """开户行 of the deposit accounts: each application gets its own account number at this bank."""
    deposit_account_name: str | None = None
    """户名 of the deposit accounts (the exchange's deposit account holder)."""
    contact: str | None = None
    """Who to ask and where to send objections (交易机构联系人和电话), printed in the documents."""
    sandbox: bool = False
    """The sandbox profile (kept in step by ``Settings``): periods count seconds, and every document
    says it comes from a test environment."""
    pdf_signing_key: bytes | None = field(default=None, repr=False)
    """The private key (PKCS#8 or traditional PEM, RSA >= 2048 bits or EC P-256/P-384) that signs
    every PDF as PAdES (``EXCHANGE_PDF_SIGNING_KEY``: the PEM, or the path of a file holding it).
    ``None``: a development chain generated per process (documents.pades), with a warning."""
    pdf_signing_chain: tuple[bytes, ...] = ()
    """The certificates of ``pdf_signing_key`` as PEM, its own first, then each issuer up towards
    the root (``EXCHANGE_PDF_SIGNING_CERT``: a PEM bundle, or the path of one, in any order)."""


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings
    redis: RedisSettings
    security: SecuritySettings
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    """How hard a password hash is to compute."""
    settlement: SettlementSettings = field(default_factory=SettlementSettings)
    """Fee and payment schedules applied at the close."""
    documents: DocumentSettings = field(default_factory=DocumentSettings)
    """How PDFs are rendered and which address they print."""
    profile: Profile = "statutory"
    """``statutory`` enforces legal minimum periods; ``sandbox`` allows one-second periods."""
    timezone: str = "Asia/Shanghai"
    """Zone in which pages show times and working days are counted; storage is UTC."""
    var_dir: Path = field(default_factory=lambda: Path("var"))
    """Where the embedded default keeps its SQLite file and documents."""
    migrate_on_start: bool = True
    """``exchange serve`` upgrades the schema before it listens."""
    bid_rate_per_second: int = 10
    """Bids a bidder may place per second before 429 ``rate_limited``."""
    issue_documents: bool = True
    """Issue every document (announcements, results, confirmations, ...) in the background (off: tests
    that do not look)."""
    bid_jump_warning_increments: int = 10
    """The hall asks for a second, explicit confirmation of a bid more than this many increments over
    the lowest valid one (a slipped digit: 12,800,000 typed for 1,280,000)."""
    crash_at: str | None = None
    """``EXCHANGE_CRASH_AT``: the crash point (``exchange.faults``) the process dies at; tests only."""
    log_format: LogFormat = "text"
    """``json``: one JSON object per log line, for a log collector; ``text`` for people (``exchange.logs``)."""
    signed_bids_required: frozenset[str] = frozenset()
    """``EXCHANGE_SIGNED_BIDS_REQUIRED``: asset classes (comma-separated) whose listings always require
    bids signed by the bidder's registered key; none by default, the operator chooses per listing."""
    tree_head_seconds: float = 60.0
    """``EXCHANGE_TREE_HEAD_SECONDS``: how often the transparency log takes in what is new and
    publishes a signed tree head (its maximum merge delay)."""

    def __post_init__(self) -> None:
        if self.settlement.profile != self.profile:  # the settlement counts the 公示 by the profile
            object.__setattr__(self, "settlement", replace(self.settlement, profile=self.profile))
        if self.documents.sandbox != (self.profile == "sandbox"):  # so do the documents
            object.__setattr__(self, "documents", replace(self.documents, sandbox=self.profile == "sandbox"))


class _Environment:
    """The ``EXCHANGE_*`` variables, each turned into its value or into an error that names it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._environ.get(f"EXCHANGE_{name}")
        return value if value not in (None, "") else default

    def flag(self, name: str, default: bool) -> bool:
        return self.text(name, "1" if default else "0") == "1"

    def parsed(self, name: str, parse: Callable[[str], T], expected: str, default: T) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return parse(raw.strip())
        except ValueError:
            raise ValueError(f"EXCHANGE_{name} must be {expected}, not {raw!r}") from None

    def whole(self, name: str, default: int, minimum: int) -> int:
        return self.parsed(name, _at_least(minimum), f"a whole number >= {minimum}", default)


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if value < minimum:
            raise ValueError(raw)
        return value

    return parse


def _positive_seconds(raw: str) -> float:
    value = float(raw)
    if not 0 < value < float("inf"):
        raise ValueError(raw)
    return value


def _public_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(raw)
    return raw.rstrip("/")


def _signing_key(text: str | None) -> SigningKey | None:
    if text is None:
        return None
    try:
        return load_signing_key(text)
    except KeyFormatError as error:  # its message never quotes the key
        raise ValueError(
            "EXCHANGE_SIGNING_KEY must be an Ed25519 private key, as PKCS#8 PEM "
            f"(openssl genpkey -algorithm ed25519) or its 32 raw bytes in base64url: {error}"
        ) from None


PDF_KEY_VARIABLE = "EXCHANGE_PDF_SIGNING_KEY"
PDF_CERT_VARIABLE = "EXCHANGE_PDF_SIGNING_CERT"


def _pem_setting(variable: str, value: str) -> bytes:
    """A PEM setting's bytes: the value itself, or the file it names (a mounted secret)."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.strip().encode("ascii", "replace") + b"\n"
    try:
        return Path(value.strip()).read_bytes()
    except OSError as error:
        raise ValueError(
            f"{variable} must be PEM text or the path of a PEM file; {value.strip()[:200]!r} "
            f"cannot be read ({error.strerror or type(error).__name__})"
        ) from None


def _pdf_signing(key_text: str | None, chain_text: str | None) -> tuple[bytes | None, tuple[bytes, ...]]:
    """The PDF signing key and its chain (own certificate first), checked to belong together.

    Either both are set or neither; errors name the variable and never quote the key.
    """
    if key_text is None and chain_text is None:
        return None, ()
    if key_text is None or chain_text is None:
        missing = PDF_KEY_VARIABLE if key_text is None else PDF_CERT_VARIABLE
        raise ValueError(
            f"{PDF_KEY_VARIABLE} and {PDF_CERT_VARIABLE} go together: {missing} is not set "
            "(set both for production, or neither for a generated development chain)"
        )
    key_pem, chain_pem = _pem_setting(PDF_KEY_VARIABLE, key_text), _pem_setting(PDF_CERT_VARIABLE, chain_text)
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        # the library's message may quote the key's bytes: keep only its type
        raise ValueError(
            f"{PDF_KEY_VARIABLE} must be an unencrypted PEM private key: it does not load "
            f"({type(error).__name__})"
        ) from None
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < 2048:
            raise ValueError(f"{PDF_KEY_VARIABLE} is an RSA key of {private.key_size} bits: at least 2048")
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        if private.curve.name not in ("secp256r1", "secp384r1"):
            raise ValueError(f"{PDF_KEY_VARIABLE} is an EC key on {private.curve.name}: P-256 or P-384")
    else:
        # PDF readers verify RSA and ECDSA; Ed25519 PDF signatures are not widely checked yet
        raise ValueError(f"{PDF_KEY_VARIABLE} must be an RSA or EC key, not {type(private).__name__}")
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise ValueError(f"{PDF_CERT_VARIABLE} holds no readable PEM certificate") from None
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def spki(cert: x509.Certificate) -> bytes:
        return cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    own = next((c for c in certificates if spki(c) == public), None)
    if own is None:
        raise ValueError(
            f"none of the {len(certificates)} certificate(s) in {PDF_CERT_VARIABLE} is for the key "
            f"in {PDF_KEY_VARIABLE}"
        )
    now = datetime.now(UTC)
    if not own.not_valid_before_utc <= now <= own.not_valid_after_utc:
        raise ValueError(
            f"the signing certificate in {PDF_CERT_VARIABLE} ({own.subject.rfc4514_string()}) is valid "
            f"from {own.not_valid_before_utc:%Y-%m-%d} to {own.not_valid_after_utc:%Y-%m-%d}, not now"
        )
    # own certificate first, then its issuers as far as the bundle goes, then the rest as given
    chain, rest = [own], [c for c in certificates if c is not own]
    while chain[-1].issuer != chain[-1].subject:
        issuer = next((c for c in rest if c.subject == chain[-1].issuer), None)
        if issuer is None:
            break
        chain.append(issuer)
        rest.remove(issuer)
    return key_pem, tuple(c.public_bytes(serialization.Encoding.PEM) for c in chain + rest)


def _asset_classes(text: str) -> frozenset[str]:
    classes = frozenset(part.strip() for part in text.split(",") if part.strip())
    if not classes <= set(ASSET_CLASSES):
        raise ValueError(text)
    return classes


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check the environment now (``environ``: tests pass their own)."""
    env = _Environment(os.environ if environ is None else environ)
    profile = env.text("PROFILE", "statutory")
    if profile not in ("statutory", "sandbox"):
        raise ValueError(f"EXCHANGE_PROFILE must be 'statutory' or 'sandbox', not {profile!r}")
    log_format = env.text("LOG_FORMAT", "text")
    if log_format not in ("json", "text"):
        raise ValueError(f"EXCHANGE_LOG_FORMAT must be 'json' or 'text', not {log_format!r}")
    configured_secret = env.text("SECRET_KEY")
    configured_bank_secret = env.text("BANK_SECRET")
    var_dir = Path(env.text("VAR_DIR", "var") or "var")
    pdf_key, pdf_chain = _pdf_signing(env.text("PDF_SIGNING_KEY"), env.text("PDF_SIGNING_CERT"))
    return Settings(
        database=DatabaseSettings(
            url=env.text("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir.resolve() / 'exchange.db'}",
            echo=env.flag("DATABASE_ECHO", False),
            pool_size=env.whole("DATABASE_POOL_SIZE", 10, minimum=1),
            null_pool=env.flag("DATABASE_NULL_POOL", False),
        ),
        redis=RedisSettings(
            url=env.text("REDIS_URL"), prefix=env.text("REDIS_PREFIX", "exchange") or "exchange"
        ),
        security=SecuritySettings(
            secret_key=configured_secret or secrets.token_urlsafe(48),
            bank_secret=configured_bank_secret or secrets.token_urlsafe(48),
            token_ttl_seconds=env.whole("TOKEN_TTL_SECONDS", 1800, minimum=1),
            staff_token_ttl_seconds=env.whole("STAFF_TOKEN_TTL_SECONDS", 600, minimum=1),
            secret_is_ephemeral=configured_secret is None,
            bank_secret_is_ephemeral=configured_bank_secret is None,
            collector_secret=env.text("COLLECTOR_SECRET") or secrets.token_urlsafe(48),
            signing_key=_signing_key(env.text("SIGNING_KEY")),
        ),
        passwords=PasswordSettings(
            time_cost=env.whole("ARGON2_TIME_COST", 3, minimum=1),
            memory_kib=env.whole("ARGON2_MEMORY_KIB", 65536, minimum=8 * ARGON2_LANES),
        ),
        settlement=SettlementSettings(
            fee_schedules=parse_fee_schedules(env.text("FEE_SCHEDULES")),
            payment_schedules=parse_payment_schedules(env.text("PAYMENT_SCHEDULES")),
            payment_terms=parse_payment_terms(env.text("PAYMENT_SCHEDULES")),
        ),
        documents=DocumentSettings(
            workers=env.parsed("DOCUMENT_WORKERS", _at_least(1), "a whole number >= 1", None),
            timeout_seconds=env.parsed(
                "DOCUMENT_TIMEOUT_SECONDS", _positive_seconds, "a number of seconds > 0", 30.0
            ),
            public_url=env.parsed(
                "PUBLIC_URL",
                _public_url,
                "an http(s) address such as https://exchange.example.org",
                DEFAULT_PUBLIC_URL,
            ),
            exchange_name=env.text("NAME", "公共资源交易平台") or "公共资源交易平台",
            deposit_bank=env.text("DEPOSIT_BANK"),
            deposit_account_name=env.text("DEPOSIT_ACCOUNT_NAME"),
            contact=env.text("CONTACT"),
            pdf_signing_key=pdf_key,
            pdf_signing_chain=pdf_chain,
        ),
        profile=profile,  # type: ignore[arg-type]
        timezone=env.text("TIMEZONE", "Asia/Shanghai") or "Asia/Shanghai",
        var_dir=var_dir,
        migrate_on_start=env.flag("MIGRATE_ON_START", True),
        bid_rate_per_second=env.whole("BID_RATE_PER_SECOND", 10, minimum=1),
        issue_documents=env.flag("ISSUE_DOCUMENTS", True),
        bid_jump_warning_increments=env.whole("BID_JUMP_WARNING_INCREMENTS", 10, minimum=1),
        crash_at=env.text("CRASH_AT"),
        log_format=log_format,  # type: ignore[arg-type]
        signed_bids_required=env.parsed(
            "SIGNED_BIDS_REQUIRED",
            _asset_classes,
            "asset classes separated by commas, such as land_use_right,mining_right",
            frozenset(),
        ),
        tree_head_seconds=env.parsed("TREE_HEAD_SECONDS", _positive_seconds, "a number of seconds > 0", 60.0),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
