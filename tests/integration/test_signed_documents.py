"""Signed documents and export end to end (issue 20, item 1), on PostgreSQL and SQLite.

The app as ``create_app`` builds it: a result announcement is rendered by the document issuer's
render pool (WeasyPrint, then the PAdES signature, in the worker), stored, and downloaded over
HTTP; pyHanko validates the downloaded bytes against the root published at
``GET /api/v1/keys``, and their SHA-256 is the one stored. The open-data export (JSON and CSV)
is checked against the Ed25519 key published at the same address, as served and tampered.
"""

from __future__ import annotations

import hashlib
import io

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from litestar.testing import AsyncTestClient
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from documents import samples, store
from documents.issuing import DocumentIssuer
from exchange.app import create_app
from exchange.db import unit_of_work
from exchange.export_signature import HEADER, keys_of, verify_export
from exchange.settings import Settings
from exchange.signing import SignatureError

pytestmark = pytest.mark.databases()


async def test_an_issued_pdf_and_the_export_verify_against_the_published_keys(
    db: str, settings: Settings
) -> None:
    app = create_app(settings)
    issuer: DocumentIssuer = app.state.document_issuer
    async with AsyncTestClient(app=app) as client:
        published = (await client.get("/api/v1/keys")).json()
        assert [k["algorithm"] for k in published["keys"]] == ["Ed25519"]  # what exchange verify reads
        chain = published["pdf_certificates"]
        assert [c["role"] for c in chain] == ["signing", "root"]
        assert all(c["development"] for c in chain)  # none configured: the sandbox's chain, marked
        _, _, der = pem.unarmor(chain[-1]["pem"].encode())
        root = asn1_x509.Certificate.load(der)
        assert hashlib.sha256(der).hexdigest() == chain[-1]["sha256"]

        rendered = await store.render(
            issuer.renderer,
            key="test:signed-result",
            kind="result_announcement",
            title=samples.TITLES["result_announcement"],
            data=samples.result_announcement(),
            audit_head=samples.AUDIT_HEAD,
            base_url=issuer.base_url,
            office=issuer.office,
        )
        async with unit_of_work(app.state.sessions) as session:
            document = await store.store(session, rendered, listing_id=None, public=True)
            document_id, stored_sha256 = document.id, document.sha256
        response = await client.get(f"/api/v1/documents/{document_id}")
        assert response.status_code == 200
        pdf = response.content
        assert hashlib.sha256(pdf).hexdigest() == stored_sha256 == response.headers["X-Document-SHA256"]

        (signature,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
        status = await async_validate_pdf_signature(signature, ValidationContext(trust_roots=[root]))
        assert status.bottom_line, status.pretty_print_details()
        assert status.coverage.name == "ENTIRE_FILE"
        assert status.signing_cert.sha256.hex() == chain[0]["sha256"]

        keys = keys_of(published)
        for path in ("/api/v1/results/export.json", "/api/v1/results/export.csv"):
            exported = await client.get(path)
            assert exported.status_code == 200
            header = exported.headers[HEADER]
            assert verify_export(keys, exported.content, header).kid == published["keys"][0]["kid"]
            with pytest.raises(SignatureError) as refused:
                verify_export(keys, exported.content[:-1] + bytes([exported.content[-1] ^ 1]), header)
            assert refused.value.reason == "invalid"
        assert exported.content.startswith("\ufeff".encode())  # the CSV's BOM is among the bytes signed
