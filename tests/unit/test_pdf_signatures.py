"""PAdES signatures of the PDFs (documents.pades) and the settings of their key and chain.

Pure: one small PDF is rendered in this process (no pool, no database) and signed as the render
worker signs it; pyHanko's validator is the judge. Tampering with a byte of the signed content,
or appending a revision that changes a page, must make the signature fail.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from documents.pades import FIELD_NAME, PdfSigning, describe, development_signing, sign_pdf, signing_from
from documents.render import PdfMetadata, html_to_pdf
from exchange.settings import DocumentSettings, load_settings

NAME = "公共资源交易平台"


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return html_to_pdf(
        "<h1>成交公示</h1><p>竞得人 苏州星海科技</p>", PdfMetadata("成交公示", datetime.now(UTC))
    )


@pytest.fixture(scope="module")
def signed(unsigned: bytes) -> bytes:
    return sign_pdf(unsigned, development_signing(NAME))


def root_of(signing: PdfSigning) -> asn1_x509.Certificate:
    der = signing.certificates()[-1].public_bytes(serialization.Encoding.DER)
    return asn1_x509.Certificate.load(der)


def validate(pdf: bytes, root: asn1_x509.Certificate) -> PdfSignatureStatus:
    (signature,) = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
    assert signature.field_name == FIELD_NAME
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[root]))


def test_a_signed_pdf_validates_as_intact_and_unmodified(unsigned: bytes, signed: bytes) -> None:
    assert signed.startswith(unsigned)  # an incremental update: WeasyPrint's bytes stay as written
    status = validate(signed, root_of(development_signing(NAME)))
    assert status.bottom_line, status.pretty_print_details()
    assert status.intact and status.valid and status.trusted
    assert status.coverage.name == "ENTIRE_FILE"
    assert status.modification_level is not None and status.modification_level.name == "NONE"
    (signature,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert signature.docmdp_level is not None and signature.docmdp_level.name == "NO_CHANGES"
    subject = status.signing_cert.subject.human_friendly
    assert "development" in subject and "开发用" in subject


def test_a_changed_byte_breaks_the_signature(signed: bytes) -> None:
    # a byte inside the first page's content stream, well within what the signature covers
    at = signed.index(b"stream\n", signed.index(b"/Contents")) + 40
    tampered = signed[:at] + bytes([signed[at] ^ 0x01]) + signed[at + 1 :]
    status = validate(tampered, root_of(development_signing(NAME)))
    assert not status.intact
    assert not status.bottom_line


def test_a_revision_that_changes_a_page_is_reported(signed: bytes) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    # draw a box over the first page: the kind of edit that changes what the page says
    box = writer.add_object(generic.StreamObject(stream_data=b"q 1 0 0 rg 50 50 200 40 re f Q"))
    writer.add_stream_to_page(0, box)
    out = io.BytesIO()
    writer.write(out)
    edited = out.getvalue()
    status = validate(edited, root_of(development_signing(NAME)))
    assert status.intact and status.trusted  # the signed revision itself is untouched
    assert status.coverage.name != "ENTIRE_FILE"
    assert status.modification_level is not None and status.modification_level.name == "OTHER"
    assert not status.docmdp_ok
    assert not status.bottom_line


def test_another_root_does_not_trust_it(signed: bytes) -> None:
    status = validate(signed, root_of(development_signing("另一个交易平台")))
    assert status.intact and status.valid and not status.trusted
    assert not status.bottom_line


def test_the_development_chain_is_made_once_per_process() -> None:
    assert _documents().pdf_signing_key is None
    assert development_signing(NAME) is development_signing(NAME)
    assert signing_from(DocumentSettings(exchange_name=NAME)) is development_signing(NAME)
    chain = describe(development_signing(NAME))
    assert [c["role"] for c in chain] == ["signing", "root"]
    assert all(c["development"] for c in chain)
    assert chain[0]["issuer"] == chain[1]["subject"]


def test_no_private_key_in_a_repr() -> None:
    """A PdfSigning or the settings logged, or shown in a traceback, carry no private key."""
    signing = development_signing(NAME)
    body = signing.key_pem.split(b"\n")[1].decode()  # a line of the PEM's base64
    settings = DocumentSettings(pdf_signing_key=signing.key_pem, pdf_signing_chain=signing.chain_pem)
    for shown in (repr(signing), repr(settings)):
        assert body not in shown and "PRIVATE KEY" not in shown


# --- a configured chain (EXCHANGE_PDF_SIGNING_CERT / _KEY) ------------------------------------


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    ca: bool,
    days: int = 30,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]) if issuer else subject
    now = datetime.now(UTC)
    usage = dict.fromkeys(
        ("key_encipherment", "data_encipherment", "key_agreement", "encipher_only", "decipher_only"), False
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca, content_commitment=not ca, key_cert_sign=ca, crl_sign=ca, **usage
            ),
            critical=True,
        )
        .sign(issuer[1] if issuer else key, hashes.SHA256())  # type: ignore[arg-type]
    )


def _pem(*items: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in items)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class Chain:
    def __init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.root = _certificate("Test Root", self.root_key, None, ca=True)
        self.ca = _certificate("Test CA", self.ca_key, ("Test Root", self.root_key), ca=True)
        self.leaf = _certificate("交易平台 文件签名", self.key, ("Test CA", self.ca_key), ca=False)


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    yield Chain()


def _documents(**env: str) -> DocumentSettings:
    return load_settings({f"EXCHANGE_{k}": v for k, v in env.items()}).documents


def test_a_configured_chain_is_ordered_and_signs(chain: Chain, unsigned: bytes, tmp_path: Path) -> None:
    bundle = [chain.root, chain.leaf, chain.ca]
    random.shuffle(bundle)
    key_file = tmp_path / "key.pem"
    key_file.write_text(_key_pem(chain.key))  # a path works as well as the PEM itself
    documents = _documents(PDF_SIGNING_CERT=_pem(*bundle), PDF_SIGNING_KEY=str(key_file), NAME="某市交易中心")
    signing = signing_from(documents)
    assert not signing.development and signing.signer_name == "某市交易中心"
    assert [c["role"] for c in describe(signing)] == ["signing", "intermediate", "root"]
    status = validate(
        sign_pdf(unsigned, signing),
        asn1_x509.Certificate.load(chain.root.public_bytes(serialization.Encoding.DER)),
    )
    assert status.bottom_line, status.pretty_print_details()  # the intermediate travels in the signature


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PDF_SIGNING_CERT": "leaf"}, "EXCHANGE_PDF_SIGNING_KEY is not set"),
        ({"PDF_SIGNING_KEY": "key"}, "EXCHANGE_PDF_SIGNING_CERT is not set"),
        (
            {
                "PDF_SIGNING_CERT": "leaf",
                "PDF_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            },
            "does not load",
        ),
        ({"PDF_SIGNING_CERT": "leaf", "PDF_SIGNING_KEY": "/nonexistent/key.pem"}, "cannot be read"),
        (
            {
                "PDF_SIGNING_CERT": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                "PDF_SIGNING_KEY": "key",
            },
            "no readable PEM certificate",
        ),
        ({"PDF_SIGNING_CERT": "root", "PDF_SIGNING_KEY": "key"}, "is for the key"),
        ({"PDF_SIGNING_CERT": "leaf", "PDF_SIGNING_KEY": "rsa1024"}, "at least 2048"),
        ({"PDF_SIGNING_CERT": "leaf", "PDF_SIGNING_KEY": "ed25519"}, "RSA or EC key"),
        ({"PDF_SIGNING_CERT": "expired", "PDF_SIGNING_KEY": "key"}, "not now"),
    ],
)
def test_a_bad_configuration_is_an_error_naming_its_variable(
    chain: Chain, env: dict[str, str], says: str
) -> None:
    texts = {
        "leaf": _pem(chain.leaf, chain.ca),
        "root": _pem(chain.root),
        "key": _key_pem(chain.key),
        "rsa1024": _key_pem(rsa.generate_private_key(65537, 1024)),  # noqa: S505 - refused, the point
        "ed25519": Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode(),
        "expired": _pem(_certificate("old", chain.key, ("Test CA", chain.ca_key), ca=False, days=-1)),
    }
    with pytest.raises(ValueError, match=says) as raised:
        _documents(**{k: texts.get(v, v) for k, v in env.items()})
    assert "EXCHANGE_PDF_SIGNING_" in str(raised.value)
    assert "PRIVATE KEY" not in str(raised.value)  # never quotes the key
