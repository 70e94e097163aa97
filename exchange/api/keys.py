"""``GET /api/v1/keys``: the public keys of the exchange's signatures, for ``exchange verify --key``.

The answer is a verifier's KEYS.json as it stands: save it once from the exchange (or from
wherever its keys are announced) and check every bundle against it. Each key is described as
``exchange.signing`` publishes it; ``development: true`` marks a key generated because none was
configured (``EXCHANGE_SIGNING_KEY``), whose signatures prove nothing.

``pdf_certificates`` (added with the PAdES signatures; a verifier that reads ``keys`` only is
unaffected) is the certificate chain that signs every PDF (``documents.pades``).
"""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Controller, get
from litestar.datastructures import State

from documents.issuing import DocumentIssuer
from documents.pades import describe
from exchange.signing import SigningKey


class PublicKey(msgspec.Struct):
    kid: str
    """The first 16 bytes of SHA-256 of the raw public key, in hex: what a signature names."""
    algorithm: str
    """``Ed25519``."""
    public_key: str
    """The 32-byte public key, base64url without padding."""
    development: bool
    """A development key (no key configured): its signatures prove nothing."""


class PdfCertificate(msgspec.Struct):
    role: Literal["signing", "intermediate", "root"]
    """``signing``: the certificate of the key that signs the PDFs (first); then its issuers,
    ``root`` last when the chain includes it."""
    subject: str
    """The certificate's subject (RFC 4514)."""
    issuer: str
    serial_number: str
    """Hex."""
    not_before: str
    not_after: str
    sha256: str
    """SHA-256 of the certificate's DER, hex: compare it with what the exchange announces elsewhere."""
    development: bool
    """A chain generated for the process because none was configured: its signatures prove nothing."""
    pem: str
    """The certificate, PEM: a root to trust in a PDF reader or pyHanko (docs/signatures.md)."""


class PublishedKeys(msgspec.Struct):
    keys: list[PublicKey]
    """The Ed25519 keys of the signed records and of the open-data export."""
    pdf_certificates: list[PdfCertificate]
    """The chain that signs every PDF (PAdES), the signing certificate first."""


class KeyController(Controller):
    path = "/api/v1/keys"
    tags = ["documents"]
    security = [{}]

    @get(
        "/",
        operation_id="listSigningKeys",
        summary="The exchange's public signing keys (for exchange verify --key)",
        description="keys: the Ed25519 keys that sign the result bundles (GET /api/v1/results/{listing_id}/bundle) "
        "and the open-data export (its Exchange-Signature header). Every instance of one exchange serves the "
        "same key; development: true marks a key generated because none was configured, whose signatures "
        "prove nothing. pdf_certificates: the certificate chain of the PAdES signature in every PDF, the "
        "signing certificate first (docs/signatures.md says how to validate a PDF against it).",
    )
    async def keys(self, state: State) -> PublishedKeys:
        key: SigningKey = state.signing_key
        issuer: DocumentIssuer = state.document_issuer
        return PublishedKeys(
            keys=[PublicKey(**key.public.description())],
            pdf_certificates=[PdfCertificate(**c) for c in describe(issuer.pdf_signing)],
        )
