"""schemathesis against the exchange's own OpenAPI document, on a real server and PostgreSQL.

No request, however odd, may produce a 5xx, and every error must be a problem
document with a stable code. Grows with the API: new endpoints are fuzzed too.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import BANK_SECRET, REDIS_URL, SECRET
from tests.support.server import Server, base_env


@pytest.fixture(scope="module")
def api_server(pg_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = base_env(
        EXCHANGE_DATABASE_URL=pg_url,
        EXCHANGE_REDIS_URL=REDIS_URL,
        EXCHANGE_REDIS_PREFIX=redis_prefix + "-fuzz",
        EXCHANGE_SECRET_KEY=SECRET,
        EXCHANGE_BANK_SECRET=BANK_SECRET,
        EXCHANGE_PROFILE="sandbox",
    )
    server = Server(env, cwd=tmp_path_factory.mktemp("fuzz")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin_headers(api_server: Server, pg_url: str) -> dict[str, str]:
    import subprocess

    from tests.support.server import EXCHANGE

    subprocess.run(
        [
            str(EXCHANGE),
            "users",
            "add",
            "--role",
            "admin",
            "--username",
            "fuzz_admin",
            "--password",
            "Fuzz-admin-2026",
        ],
        env=api_server.env,
        check=True,
        capture_output=True,
        cwd=api_server.cwd,
    )
    token = httpx.post(
        f"{api_server.url}/api/v1/auth/token", json={"username": "fuzz_admin", "password": "Fuzz-admin-2026"}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_schema(api_server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_server.url}/schema/openapi.json")


def problem_documents(ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx/5xx answer is RFC 9457 JSON with a machine-readable code."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/problem+json"), f"{response.status_code} as {content_type}"
    body = response.json()
    assert isinstance(body.get("code"), str) and body["code"], body
    assert body.get("status") == response.status_code, body


CHECKS = [not_a_server_error, problem_documents, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_api_never_fails_and_always_explains(
    api_schema: schemathesis.BaseSchema, admin_headers: dict[str, str], mode: GenerationMode
) -> None:
    """Every operation, valid and invalid inputs, as an administrator and anonymously.

    Driven through Hypothesis directly: schemathesis' pytest plugin does not
    support pytest 9 yet.
    """
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8
    impossible = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode), as_admin=st.booleans())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case: schemathesis.Case, as_admin: bool) -> None:
            case.call_and_validate(headers=admin_headers if as_admin else None, checks=CHECKS)

        try:
            exercise()
        except Unsatisfiable:  # e.g. no negative input exists for a parameterless GET
            impossible.append(operation.label)
    assert len(impossible) <= len(operations) // 4, impossible


def test_every_operation_has_an_id_and_tags(api_server: Server) -> None:
    document = httpx.get(f"{api_server.url}/schema/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            assert operation.get("operationId"), f"{method} {path} lacks an operationId"
            assert operation.get("tags"), f"{method} {path} lacks tags"


def test_docs_are_served(api_server: Server) -> None:
    assert httpx.get(f"{api_server.url}/schema/").status_code == 200
    assert httpx.get(f"{api_server.url}/schema/swagger").status_code == 200
