"""schemathesis against the exchange's own OpenAPI document, on a real server and PostgreSQL.

No request, however odd, may produce a 5xx, every error must be a problem
document with a stable code, and the document must say what the server does.
Grows with the API: new endpoints are fuzzed too.

The fuzzing runs schemathesis' command line, ``--checks all`` and every phase
(examples, coverage, fuzzing, stateful), once per caller: anonymous, a bidder,
an operator and an administrator (last: it may disable accounts, its own
included), then with the callers as peers. ``EXCHANGE_FUZZ_EXAMPLES`` sets the
examples per operation (small in ``make test``; ``make fuzz`` runs at least
20,000 cases, see the README); ``EXCHANGE_FUZZ_SEED`` replays a run. Each run's
output and the case counts go to ``test-artifacts/fuzz/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.clock import utcnow
from tests.conftest import BANK_SECRET, REDIS_URL, SECRET, truncate_all
from tests.support.bank import notice, signed
from tests.support.ids import credit_code
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.server import EXCHANGE, Server, base_env

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = ROOT / "tests" / "schemathesis.toml"
ARTIFACTS = ROOT / "test-artifacts" / "fuzz"
EXAMPLES = int(os.environ.get("EXCHANGE_FUZZ_EXAMPLES", "2"))
MIN_CASES = int(os.environ.get("EXCHANGE_FUZZ_MIN_CASES", "0"))
WORKERS = os.environ.get("EXCHANGE_FUZZ_WORKERS", "1")
SEED = os.environ.get("EXCHANGE_FUZZ_SEED")
EVERY_PHASE = os.environ.get("EXCHANGE_FUZZ_EVERY_PHASE") == "1"
"""``make fuzz``: every phase for every caller. ``make test`` leaves the coverage phase (the
same boundary values each run, most of the cases) to the anonymous caller and the peers."""
CALLERS = ("anonymous", "bidder", "operator", "admin")  # admin last: it may disable accounts
PASSWORD = "Fuzz-caller-2026"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def api_server(pg_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    asyncio.run(truncate_all(pg_url))  # what earlier tests left; the seeded listings are 1, 2 and 3
    env = base_env(
        EXCHANGE_DATABASE_URL=pg_url,
        EXCHANGE_REDIS_URL=REDIS_URL,
        EXCHANGE_REDIS_PREFIX=redis_prefix + "-fuzz",
        EXCHANGE_SECRET_KEY=SECRET,
        EXCHANGE_BANK_SECRET=BANK_SECRET,
        EXCHANGE_PROFILE="sandbox",
        # tokens that outlive a long `make fuzz` run
        EXCHANGE_TOKEN_TTL_SECONDS="86400",
        EXCHANGE_STAFF_TOKEN_TTL_SECONDS="86400",
        EXCHANGE_ARGON2_TIME_COST="1",
        EXCHANGE_ARGON2_MEMORY_KIB="8192",
    )
    server = Server(env, cwd=tmp_path_factory.mktemp("fuzz")).start()
    yield server
    server.stop()


def _staff(server: Server, role: str) -> str:
    username = f"fuzz_{role}_{secrets.token_hex(3)}"
    subprocess.run(
        [str(EXCHANGE), "users", "add", "--role", role, "--username", username, "--password", PASSWORD],
        env=server.env,
        check=True,
        capture_output=True,
        cwd=server.cwd,
    )
    return username


def _bidder(server: Server) -> str:
    username = f"fuzz_bidder_{secrets.token_hex(3)}"
    body = {
        "username": username,
        "password": PASSWORD,
        "display_name": "模糊测试有限公司",
        "kind": "enterprise",
        "credit_code": credit_code(),
    }
    response = httpx.post(f"{server.url}/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    return username


@pytest.fixture(scope="module")
def callers(api_server: Server) -> dict[str, dict[str, str]]:
    """Each caller's headers: none for the anonymous one, a bearer token for the others."""
    usernames = {
        "bidder": _bidder(api_server),
        "other_bidder": _bidder(api_server),
        "operator": _staff(api_server, "operator"),
        "admin": _staff(api_server, "admin"),
    }
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for caller, username in usernames.items():
        response = httpx.post(
            f"{api_server.url}/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        headers[caller] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return headers


def _wait_for(server: Server, listing_id: int, status: str) -> None:
    deadline = time.monotonic() + 30
    while httpx.get(f"{server.url}/api/v1/listings/{listing_id}").json().get("status") != status:
        assert time.monotonic() < deadline, f"listing {listing_id} never reached {status}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def seeded(api_server: Server, callers: dict[str, dict[str, str]]) -> dict[str, int]:
    """Something for the fuzzing to find: listings 1, 2 and 3 (generated ids start small).

    1 is in registration for hours, with both bidders qualified (their applications
    and deposit accounts); 2 is bidding for hours with the bidder qualified; 3 is a draft.
    """
    url, operator, bidder = api_server.url, callers["operator"], callers["bidder"]
    now = utcnow()
    hours = 3 * 3600

    def listing(schedule: dict[str, Any], publish: bool = True) -> int:
        created = httpx.post(f"{url}/api/v1/listings", json=listing_body(schedule=schedule), headers=operator)
        assert created.status_code == 201, created.text
        listing_id = int(created.json()["id"])
        if publish:
            published = httpx.post(f"{url}/api/v1/listings/{listing_id}/publish", headers=operator)
            assert published.status_code == 200, published.text
        return listing_id

    def qualify(listing_id: int, who: dict[str, str]) -> int:
        applied = httpx.post(f"{url}/api/v1/listings/{listing_id}/applications", headers=who)
        assert applied.status_code == 201, applied.text
        application = applied.json()
        decided = httpx.post(
            f"{url}/api/v1/applications/{application['id']}/decision",
            json={"approve": True},
            headers=operator,
        )
        assert decided.status_code == 200, decided.text
        body, headers = signed(notice(application["deposit_account"], application["deposit_due"], utcnow()))
        paid = httpx.post(f"{url}/api/v1/bank/notifications", content=body, headers=headers)
        assert paid.status_code == 200 and paid.json()["outcome"] == "deposit", paid.text
        return int(application["id"])

    registration = listing(
        sandbox_schedule(now, registration=1, registration_closes=hours, bidding=hours + 1, closes=2 * hours)
    )
    bidding = listing(sandbox_schedule(now, registration=1, registration_closes=8, bidding=9, closes=hours))
    draft = listing(sandbox_schedule(now + timedelta(hours=1)), publish=False)
    _wait_for(api_server, registration, "registration")
    _wait_for(api_server, bidding, "registration")
    applications = {
        "registration": qualify(registration, bidder),
        "other_registration": qualify(registration, callers["other_bidder"]),
        "bidding": qualify(bidding, bidder),
    }
    _wait_for(api_server, bidding, "bidding")
    return {"registration": registration, "bidding": bidding, "draft": draft, **applications}


@pytest.fixture(scope="module")
def document(api_server: Server) -> dict[str, Any]:
    response = httpx.get(f"{api_server.url}/schema/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def schemathesis_run(
    server: Server, caller: str, headers: dict[str, str], extra: Sequence[str] = ()
) -> dict[str, Any]:
    """One ``schemathesis run --checks all``; its JSON report, with its output beside it."""
    report = ARTIFACTS / f"{caller}.json"
    report.unlink(missing_ok=True)
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.url}/schema/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        WORKERS,
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    if SEED:
        command += ["--seed", SEED]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    command += extra
    started = time.monotonic()
    finished = subprocess.run(
        command,
        cwd=ROOT,  # where the hooks module (tests.support.fuzz) is imported from
        env={**base_env(), "NO_COLOR": "1", "COLUMNS": "200", "EXCHANGE_FUZZ_BANK_SECRET": BANK_SECRET},
        capture_output=True,
        text=True,
        timeout=6 * 3600,
    )
    (ARTIFACTS / f"{caller}.txt").write_text(finished.stdout + finished.stderr)
    assert report.exists(), (
        f"schemathesis wrote no report:\n{finished.stdout[-3000:]}{finished.stderr[-3000:]}"
    )
    result: dict[str, Any] = json.loads(report.read_text())
    result["seconds"] = round(time.monotonic() - started, 1)
    result["output"] = finished.stdout
    return result


def _failures(output: str) -> str:
    """The FAILURES and ERRORS sections of schemathesis' output, to read in the assertion."""
    start = output.find("=== FAILURES ===")
    start = output.find("=== ERRORS ===") if start < 0 else start
    end = output.find("=== WARNINGS ===")
    return output[max(start, 0) : end if end > 0 else None][:20000]


def test_api_never_fails_and_always_explains(
    api_server: Server, callers: dict[str, dict[str, str]], seeded: dict[str, int], tmp_path: Path
) -> None:
    """Every operation, every check and phase, as each caller; records how many cases ran.

    A last run has the callers as peers (a Web Fuzzing Commons auth file), each
    operation called as the first one it admits, so ``object_level_authorization``
    can replay one bidder's reads of its own objects as the other bidder and staff.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    runs = {
        caller: schemathesis_run(
            api_server,
            caller,
            callers[caller],
            () if EVERY_PHASE or caller == "anonymous" else ["--phases", "examples,fuzzing,stateful"],
        )
        for caller in CALLERS
    }
    peers = tmp_path / "peers.json"
    users = [
        {"name": name, "fixedHeaders": [{"name": k, "value": v} for k, v in callers[name].items()]}
        for name in ("bidder", "other_bidder", "operator", "admin")
    ]
    peers.write_text(json.dumps({"auth": users}))
    runs["peers"] = schemathesis_run(api_server, "peers", {}, ["--auth-wfc", str(peers)])
    summary = {
        "examples_per_operation": EXAMPLES,
        "cases": {caller: run["test_cases"]["generated"] for caller, run in runs.items()},
        "total_cases": sum(run["test_cases"]["generated"] for run in runs.values()),
        "seconds": {caller: run["seconds"] for caller, run in runs.items()},
        "seeds": {caller: run["seed"] for caller, run in runs.items()},
    }
    (ARTIFACTS / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nschemathesis: {summary['total_cases']} cases ({json.dumps(summary)})")
    for caller, run in runs.items():
        assert run["operations"]["tested"] >= 40, (caller, run["operations"])
        broken = run["failures"] or run["errors"] or run["test_cases"]["errored"]
        assert not broken, f"as {caller} (seed {run['seed']}):\n{_failures(run['output'])}"
    server_log = api_server.log.read_text(errors="replace")
    assert "unhandled error" not in server_log and "Traceback" not in server_log, server_log[-5000:]
    assert summary["total_cases"] >= MIN_CASES, summary


def test_public_operations_need_no_bearer_token(document: dict[str, Any]) -> None:
    """``security: []`` (or an optional token) where anyone may call; the bank signs instead."""
    assert document["security"] == [{"bearer": []}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bankSignature"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Signature",
        "description": schemes["bankSignature"]["description"],
    }
    public = {  # every operation without a role guard
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/token"),
        ("get", "/healthz"),
        ("get", "/api/v1/listings"),
        ("get", "/api/v1/listings/{listing_id}"),
        ("get", "/api/v1/auctions/{listing_id}"),
        ("get", "/api/v1/auctions/{listing_id}/bids"),
        ("get", "/api/v1/results"),
        ("get", "/api/v1/results/{listing_id}"),
        ("get", "/api/v1/results/{listing_id}/objections"),
        ("get", "/api/v1/results/export.json"),
        ("get", "/api/v1/results/export.csv"),
        ("get", "/api/v1/results/{listing_id}/bundle"),  # the verifiable bundle: issue 20
        ("get", "/api/v1/keys"),
        ("get", "/api/v1/transparency/tree-heads/latest"),  # the transparency log: issue 20
        ("get", "/api/v1/transparency/tree-heads/{tree_size}"),
        ("get", "/api/v1/transparency/entries/{index}"),
        ("get", "/api/v1/transparency/consistency"),
        ("get", "/api/v1/documents"),
        ("get", "/api/v1/documents/{document_id}"),
        ("get", "/api/v1/documents/verify"),
        ("get", "/api/v1/documents/verify/{sha256}"),
        ("get", "/api/v1/registry/agreements/{agreement_id}"),  # on display (公示): issue 18
        ("get", "/api/v1/registry/statistics"),
        ("get", "/api/v1/registry/statistics/export.json"),
        ("get", "/api/v1/registry/statistics/export.csv"),
    }
    signed = {("post", "/api/v1/bank/notifications"), ("post", "/api/v1/bank/refund-notifications")}
    signed.add(("post", "/api/v1/settlements/collection-notices"))  # the tax bureau signs (issue 16)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            security = operation.get("security", document["security"])
            if (method, path) in signed:
                assert security == [{"bankSignature": []}], (method, path, security)
            elif (method, path) in public:
                assert security == [] or {} in security, (method, path, security)
            else:
                assert security == [{"bearer": []}], (method, path, security)


def test_public_operations_answer_anonymous_callers(api_server: Server, document: dict[str, Any]) -> None:
    """What the document calls public is: no 401 without a token (and a 401 where it says otherwise)."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get",) or "{" in path:
                continue
            response = httpx.request(method, f"{api_server.url}{path}", params={"listing_id": 1})
            security = operation.get("security", document["security"])
            anyone = security == [] or {} in security
            assert (response.status_code != 401) == anyone, (method, path, response.status_code, security)


def test_405_and_options_agree_with_the_document(
    api_server: Server, document: dict[str, Any], callers: dict[str, dict[str, str]]
) -> None:
    """A path's methods are the same in the document, a 405's ``Allow`` and OPTIONS' ``Allow``."""
    for path, item in document["paths"].items():
        documented = {m.upper() for m in item if m in METHODS}
        url = api_server.url + path.replace("{sha256}", "0" * 64).replace("{stream}", "system")
        url = url.replace("{code}", "SUSPENSE")
        for name in ("listing_id", "application_id", "document_id", "refund_id", "user_id"):
            url = url.replace("{" + name + "}", "1")
        for name in ("notice_id", "objection_id", "attachment_id"):  # issue 16: notices and objections
            url = url.replace("{" + name + "}", "1")
        for name in ("instrument_id", "offer_id", "agreement_id", "delivery_id", "pledge_id"):  # issue 18
            url = url.replace("{" + name + "}", "1")
        url = url.replace("{credit_code}", "911401000000000013")
        for name in ("index", "tree_size"):  # issue 20: the transparency log
            url = url.replace("{" + name + "}", "1")
        expected = documented | {"OPTIONS"}
        options = httpx.options(url, headers=callers["admin"])
        assert options.status_code == 204, (path, options.status_code, options.text)
        assert set(options.headers["allow"].replace(" ", "").split(",")) == expected, (path, options.headers)
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - documented):
            refused = httpx.request(method, url, headers=callers["admin"])
            assert refused.status_code == 405, (method, path, refused.status_code)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["code"] == "method_not_allowed"
            assert set(refused.headers["allow"].replace(" ", "").split(",")) == expected, (
                method,
                path,
                refused.headers,
            )
        for method, operation in item.items():
            if method in METHODS:  # the operation's own method: never a 405
                assert "405" not in operation["responses"], (method, path)


def test_problem_schema_is_in_the_document(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code", "detail"}
    token = document["components"]["schemas"]["TokenRequest"]
    assert token["additionalProperties"] is False  # the server answers 400 to an unknown field
    bids = document["paths"]["/api/v1/auctions/{listing_id}/bids"]["post"]["responses"]
    assert bids["200"]["content"] == bids["201"]["content"]  # a replay of the same key and body
    listing_id = document["paths"]["/api/v1/listings/{listing_id}"]["get"]["parameters"][0]["schema"]
    assert listing_id["maximum"] == 2**63 - 1 and isinstance(listing_id["maximum"], int)


def test_every_operation_has_an_id_and_tags(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            assert operation.get("operationId"), f"{method} {path} lacks an operationId"
            assert operation.get("tags"), f"{method} {path} lacks tags"


def test_docs_are_served(api_server: Server) -> None:
    assert httpx.get(f"{api_server.url}/schema/").status_code == 200
    assert httpx.get(f"{api_server.url}/schema/swagger").status_code == 200
