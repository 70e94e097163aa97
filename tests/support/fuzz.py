"""Schemathesis hooks of ``tests/integration/test_api_schema.py``, loaded through ``tests/schemathesis.toml``.

- ``problem_documents``: the exchange's own check, run by ``--checks all`` beside
  schemathesis' checks.
- The bank's signature: a notice is read only once ``X-Signature`` (HMAC-SHA256 of
  the raw body) verifies, so without it every generated notice would stop at 401
  and the parsing and booking behind it would never be fuzzed. With
  ``EXCHANGE_FUZZ_BANK_SECRET`` set, generated notices are signed as the bank
  signs them; schemathesis still sends them unsigned and wrongly signed to check
  that those are refused (``ignored_auth``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import requests
import schemathesis

BANK_SECRET = os.environ.get("EXCHANGE_FUZZ_BANK_SECRET", "")
BANK_PATHS = "^/api/v1/bank/"
_UNSIGNED = "signed-when-sent"
"""What the auth provider puts in ``X-Signature``: the body is only final when it is sent."""


@schemathesis.check
def problem_documents(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx/5xx answer is an RFC 9457 document with a machine-readable code (README "Errors")."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/problem+json"), f"{response.status_code} as {content_type}"
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), str) and body["code"], body
    assert body.get("status") == response.status_code, body
    return None


class _SignBody(requests.auth.AuthBase):
    """Signs the exact bytes going out, where the provider left its placeholder."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.headers.get("X-Signature") == _UNSIGNED:
            body = request.body or b""
            raw = body.encode() if isinstance(body, str) else body
            request.headers["X-Signature"] = hmac.new(BANK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        return request


if BANK_SECRET:

    @schemathesis.auth(refresh_interval=None).apply_to(path_regex=BANK_PATHS)
    class BankSignature:
        def get(self, case: schemathesis.Case, context: Any) -> str:
            return _UNSIGNED

        def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "X-Signature": data}

    @schemathesis.hook
    def before_call(context: Any, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
        if case.operation.path.startswith("/api/v1/bank/"):
            kwargs["auth"] = _SignBody()
