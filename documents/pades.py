"""PAdES signatures of the exchange's PDFs (pyHanko), and the certificates that make them.

Every PDF the exchange issues is signed in the render worker right after WeasyPrint wrote it
(``documents.render``), so the bytes stored, hashed and published are the signed ones. The
signature is PAdES baseline B-B (ETSI EN 319 142-1: ``ETSI.CAdES.detached``, SHA-256, the
signing certificate bound by ``signing-certificate-v2``) and a certification signature (DocMDP
"no changes"): an official notice is final, so a reader reports any later revision, even one
that only fills a form field, as a change the issuer did not allow.

The field is invisible: each document already prints its own seal block (issuer, number,
audit head, QR code of the verification page), and a widget dropped on a page would cover text
on some layouts; readers show the signature in their signature panel and banner.

Keys: production configures a chain and key (``EXCHANGE_PDF_SIGNING_CERT`` and
``EXCHANGE_PDF_SIGNING_KEY``, checked by ``exchange.settings``). Without them the process
generates a development chain once (a root and a signing certificate whose names say
"development"), shares it with its render workers, and warns. Either way the certificates are
published at ``GET /api/v1/keys`` (``pdf_certificates``).

What travels to a worker is :class:`PdfSigning`, bytes only (it is pickled for each render);
the worker builds its pyHanko signer from it once and keeps it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exchange.settings import DocumentSettings

if TYPE_CHECKING:
    from pyhanko.sign import signers


def _import_pyhanko() -> None:
    """pyHanko is imported by the render workers when they first sign, not by every process that
    imports this module (the server, each CLI command): it costs almost a second of CPU."""
    with warnings.catch_warnings():
        # pyHanko's CMS module imports DSA's key class, which cryptography marks deprecated on access;
        # the exchange never signs with DSA.
        warnings.filterwarnings("ignore", "DSA is deprecated", category=UserWarning)
        import pyhanko.sign  # noqa: F401


log = logging.getLogger("exchange.documents")

FIELD_NAME = "ExchangeSignature"
"""The signature field of every document (one per document: the exchange signs once)."""
DIGEST = "sha256"
DEVELOPMENT_UNIT = "开发用 development only, not for production"
"""The development certificates' organizational unit, so a signature panel says what they are."""
_DEVELOPMENT_DAYS = 3650
_PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class PdfSigning:
    """A signing key and its chain: what a render worker needs to sign, as bytes."""

    key_pem: bytes = field(repr=False)
    """The private key, PEM (never in repr: a logged or traced PdfSigning must not carry it)."""
    chain_pem: tuple[bytes, ...]
    """The certificates as PEM: the signing certificate first, then its issuers."""
    development: bool
    """Generated for this process because none was configured: its signatures prove nothing."""
    signer_name: str
    """Who signs, as the signature's /Name says (the exchange's name)."""

    def __post_init__(self) -> None:
        if not self.chain_pem:
            raise ValueError("a PDF signing key needs at least its own certificate")

    def certificates(self) -> list[x509.Certificate]:
        return [x509.load_pem_x509_certificate(pem) for pem in self.chain_pem]


def signing_from(settings: DocumentSettings) -> PdfSigning:
    """The configured chain, else this process's development chain (generated once, with a warning)."""
    if settings.pdf_signing_key is not None:
        return PdfSigning(settings.pdf_signing_key, settings.pdf_signing_chain, False, settings.exchange_name)
    return development_signing(settings.exchange_name)


@lru_cache(maxsize=4)
def development_signing(exchange_name: str) -> PdfSigning:
    """A root and a signing certificate made now, once per process (and name): the sandbox's.

    ECDSA P-256, generated in milliseconds; readers verify it as they do RSA.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(days=1), now + timedelta(days=_DEVELOPMENT_DAYS)
    root_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(exchange_name, "开发用根证书 development root")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(exchange_name, "开发用文件签名证书 development signing"))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        # RFC 9336 id-kp-documentSigning says what it is for; Adobe Reader accepts a certificate
        # with extended key usages only if one is on its list, which emailProtection is
        .add_extension(
            x509.ExtendedKeyUsage(
                [x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"), ExtendedKeyUsageOID.EMAIL_PROTECTION]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    signing = PdfSigning(key_pem, (leaf.public_bytes(_PEM), root.public_bytes(_PEM)), True, exchange_name)
    log.warning(
        "EXCHANGE_PDF_SIGNING_CERT and EXCHANGE_PDF_SIGNING_KEY are not set: PDFs are signed with a "
        "development chain generated for this process (root SHA-256 %s): their signatures prove nothing",
        fingerprint(root),
    )
    return signing


def _name(organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _at_most_64_bytes(organization)),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEVELOPMENT_UNIT),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _at_most_64_bytes(text: str) -> str:
    """X.520's upper bound for a name (cryptography counts UTF-8 bytes)."""
    while len(text.encode("utf-8")) > 64:
        text = text[:-1]
    return text or "-"


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=not cert_sign,  # nonRepudiation: what pyHanko asks of a signer by default
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, hex: how people compare certificates."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


# --- publishing -------------------------------------------------------------------------------

CertificateRole = Literal["signing", "intermediate", "root"]


class CertificateDescription(TypedDict):
    """One certificate as ``GET /api/v1/keys`` publishes it."""

    role: CertificateRole
    subject: str
    issuer: str
    serial_number: str
    not_before: str
    not_after: str
    sha256: str
    development: bool
    pem: str


def describe(signing: PdfSigning) -> list[CertificateDescription]:
    """The chain as published: the signing certificate first, the root (if given) last."""
    described: list[CertificateDescription] = []
    for i, certificate in enumerate(signing.certificates()):
        role: CertificateRole = (
            "signing" if i == 0 else "root" if certificate.issuer == certificate.subject else "intermediate"
        )
        described.append(
            {
                "role": role,
                "subject": certificate.subject.rfc4514_string(),
                "issuer": certificate.issuer.rfc4514_string(),
                "serial_number": format(certificate.serial_number, "x"),
                "not_before": certificate.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_after": certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "sha256": fingerprint(certificate),
                "development": signing.development,
                "pem": certificate.public_bytes(_PEM).decode("ascii"),
            }
        )
    return described


# --- signing (in the render worker) -----------------------------------------------------------


@lru_cache(maxsize=2)
def _signer(signing: PdfSigning) -> signers.SimpleSigner:
    """pyHanko's signer for ``signing``, made once per worker process."""
    _import_pyhanko()
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    private = serialization.load_pem_private_key(signing.key_pem, password=None)
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in signing.certificates()
    ]
    return signers.SimpleSigner(
        signing_cert=chain[0],
        signing_key=asn1_keys.PrivateKeyInfo.load(der),
        # the issuers travel in the signature, so a validator needs only the root
        cert_registry=SimpleCertificateStore.from_certs(chain[1:]),  # type: ignore[no-untyped-call]
    )


def sign_pdf(pdf: bytes, signing: PdfSigning, *, reason: str = "签发 Issued") -> bytes:
    """``pdf`` with the exchange's PAdES B-B certification signature appended (blocking).

    An incremental update: the bytes WeasyPrint wrote stay as they were, followed by the
    signature's revision; the signature covers the whole file.
    """
    _import_pyhanko()
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm=DIGEST,
        subfilter=SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
        reason=reason,
        name=signing.signer_name,
        location="中国 China",
    )
    signed = signers.sign_pdf(
        writer,
        metadata,
        signer=_signer(signing),
        new_field_spec=fields.SigFieldSpec(FIELD_NAME),  # no box: invisible (see the module)
    )
    return bytes(signed.getvalue())
