"""The transparency check of the offline verifier, and the consistency of two tree heads, over a
log built in memory with the exchange's own leaves, Merkle tree and signatures (issue 20, item 3).

The bundle's other checks are not the point here (``tests/unit/test_verifier.py``): only the
``transparency`` line is asserted.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exchange.cli import main as cli
from exchange.signing import SigningKey, TreeHead, generate_development_key, sign_tree_head
from exchange.transparency import merkle
from exchange.transparency.leaves import (
    Leaf,
    audit_head_leaf,
    document_leaf,
    registry_day_digest,
    registry_day_leaf,
)
from exchange.verifier import Check, Report, main, verify_bundle, verify_consistency_of

KEY = generate_development_key()
AT = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
HEAD = "ab" * 32
DIGEST = "cd" * 32


def _record() -> dict[str, Any]:
    return {
        "listing": {"id": 7, "title": "某地块", "method": "english"},
        "audit_head": HEAD,
        "documents": [{"kind": "bid_record", "number": "BR-7", "sha256": DIGEST}],
    }


def _log(key: SigningKey = KEY) -> tuple[list[Leaf], list[bytes]]:
    """Leaves of other listings around the record's own (2: its close, 4: its document)."""
    leaves = [
        audit_head_leaf(5, "01" * 32, AT),
        document_leaf("bid_record:5", 5, "bid_record", "02" * 32),
        audit_head_leaf(7, HEAD, AT),
        registry_day_leaf(AT.date(), [{"entry": 1, "amount": 100}]),
        document_leaf("bid_record:7", 7, "bid_record", DIGEST),
        audit_head_leaf(8, "03" * 32, AT),
    ]
    return leaves, [leaf.hash() for leaf in leaves]


def _signed(hashes: list[bytes], key: SigningKey = KEY) -> dict[str, Any]:
    return dict(sign_tree_head(key, TreeHead(len(hashes), AT, merkle.root(hashes))))


def _bundle(key: SigningKey = KEY) -> dict[str, Any]:
    leaves, hashes = _log(key)
    entries = [
        {
            "index": i,
            "data": leaves[i].data,
            "inclusion_proof": [p.hex() for p in merkle.inclusion_proof(i, hashes)],
        }
        for i in (2, 4)
    ]
    return {
        "format": "exchange-result-bundle/1",
        "record": _record(),
        "key": dict(key.public.description()),
        "transparency": {
            "status": "logged",
            "tree_head": _signed(hashes, key),
            "entries": entries,
            "pending": [],
        },
    }


def _check(bundle: dict[str, Any], **kwargs: Any) -> Check:
    (check,) = [c for c in verify_bundle(bundle, **kwargs).checks if c.name == "transparency"]
    return check


def test_a_logged_result_is_proven_against_the_signed_head() -> None:
    check = _check(_bundle())
    assert check.passed is True, check.detail
    assert "the audit head: leaf 2" in check.detail and "document BR-7: leaf 4" in check.detail
    assert _check(_bundle(), keys=[KEY.public]).passed is True


def _tampered() -> dict[str, Any]:
    cases = {}

    def case(name: str, change: Any) -> None:
        bundle = _bundle()
        change(bundle["transparency"])
        cases[name] = bundle

    case("leaf data", lambda t: t["entries"][0]["data"].update(audit_head="ee" * 32))
    case(
        "leaf's other field",
        lambda t: t["entries"][0]["data"].update(committed_at="2026-12-06T09:00:00.000000Z"),
    )
    case("document digest in the leaf", lambda t: t["entries"][1]["data"].update(sha256="ee" * 32))
    case("proof element", lambda t: t["entries"][0]["inclusion_proof"].__setitem__(0, "00" * 32))
    case("proof cut short", lambda t: t["entries"][1]["inclusion_proof"].pop())
    case("index", lambda t: t["entries"][0].update(index=3))
    case("root", lambda t: t["tree_head"].update(root_hash="00" * 32))
    case("size", lambda t: t["tree_head"].update(tree_size=7))
    case("a leaf left out", lambda t: t["entries"].pop())
    case(
        "another listing's leaf",
        lambda t: t["entries"][0].update(
            index=0,
            data=audit_head_leaf(5, "01" * 32, AT).data,
            inclusion_proof=[p.hex() for p in merkle.inclusion_proof(0, _log()[1])],
        ),
    )
    return cases


@pytest.mark.parametrize("name", list(_tampered()))
def test_each_tampering_of_the_log_is_named(name: str) -> None:
    bundle = _tampered()[name]
    report = verify_bundle(bundle)
    check = _check(bundle)
    assert check.passed is False, (name, check.detail)
    assert "transparency" in [c.name for c in report.failures]
    assert any(line.startswith("不通过 / FAILED: transparency: ") for line in report.lines())


def test_the_record_changed_no_longer_matches_its_leaf() -> None:
    bundle = _bundle()
    bundle["record"]["audit_head"] = "ee" * 32
    check = _check(bundle)
    assert check.passed is False and "not the record's" in check.detail


def test_a_head_signed_by_another_key_fails() -> None:
    stranger = generate_development_key()
    bundle = _bundle()
    _, hashes = _log()
    bundle["transparency"]["tree_head"] = _signed(hashes, stranger)
    assert _check(bundle).passed is False
    assert _check(bundle, keys=[KEY.public]).passed is False


def test_what_is_not_yet_logged_is_said_not_passed() -> None:
    bundle = _bundle()
    bundle["transparency"].update(
        status="partial",
        entries=bundle["transparency"]["entries"][:1],
        pending=[{"kind": "document", "subject": "bid_record:7"}],
    )
    report = verify_bundle(bundle)
    check = _check(bundle)
    assert check.passed is None and check.pending and "not checked yet: document BR-7" in check.detail
    assert "未核验 NOT YET" in check.line()
    assert "transparency" not in [c.name for c in report.failures]
    partial = Report("t", (Check("format", True, "exchange-result-bundle/1"), check))
    # not yet checked is not verified: a verdict of its own and exit code 2
    assert partial.lines()[-1].startswith("未完全核验 / INCOMPLETE: transparency not yet logged")
    assert not partial.verified and partial.incomplete and partial.exit_code == 2
    empty = _bundle()
    empty["transparency"] = {
        "status": "pending",
        "tree_head": None,
        "entries": [],
        "pending": [{"kind": "audit_head", "subject": "7"}, {"kind": "document", "subject": "bid_record:7"}],
    }
    assert _check(empty).pending and _check(empty).passed is None
    del empty["transparency"]
    assert _check(empty).pending
    assert not verify_bundle(empty).verified


def _pending_close(committed: datetime, interval: int | None = 60_000) -> Check:
    """The record's close said pending beside the head signed at ``AT`` (which holds it)."""
    bundle = _bundle()
    bundle["record"]["log"] = {"close_committed_at": committed.isoformat(), "interval_ms": interval}
    bundle["transparency"].update(
        status="partial",
        entries=bundle["transparency"]["entries"][1:],
        pending=[{"kind": "audit_head", "subject": "7"}],
    )
    return _check(bundle)


def test_a_leaf_pending_long_after_it_was_due_fails() -> None:
    # a head signed two intervals after the close: the log took the close in, so pending is a lie
    late = _pending_close(AT - timedelta(seconds=121))
    assert late.passed is False and "the audit head: due from" in late.detail, late.detail
    assert "withheld" in late.detail
    # within two intervals, or without an interval stated, it may honestly be pending
    for check in (_pending_close(AT - timedelta(seconds=119)), _pending_close(AT - timedelta(hours=1), None)):
        assert check.passed is None and check.pending, check.detail


def test_the_transparency_line_says_where_the_key_came_from() -> None:
    assert "embedded in the bundle" in _check(_bundle()).detail
    assert "given with --key" in _check(_bundle(), keys=[KEY.public]).detail


def test_consistency_of_two_heads_and_a_rewrite() -> None:
    _, hashes = _log()
    old, new = _signed(hashes[:4]), _signed(hashes)
    proof = {"first": 4, "second": 6, "proof": [p.hex() for p in merkle.consistency_proof(4, hashes)]}
    assert verify_consistency_of(old, new, proof, [KEY.public]).verified
    # the log rewrote leaf 2 (the close's audit head) and signed its new tree: the mirror's old head shows it
    rewritten = [*hashes[:2], audit_head_leaf(7, "ee" * 32, AT).hash(), *hashes[3:]]
    forged = _signed(rewritten)
    bad = {"first": 4, "second": 6, "proof": [p.hex() for p in merkle.consistency_proof(4, rewritten)]}
    report = verify_consistency_of(old, forged, bad, [KEY.public])
    assert [c.name for c in report.failures] == ["consistency"] and "rewritten" in report.failures[0].detail
    unsigned = copy.deepcopy(new)
    unsigned["root_hash"] = "00" * 32
    assert [c.name for c in verify_consistency_of(old, unsigned, proof, [KEY.public]).failures] == [
        "tree_heads",
        "consistency",
    ]


def test_the_consistency_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, hashes = _log()
    files = {
        "old.json": _signed(hashes[:3]),
        "new.json": _signed(hashes),
        "proof.json": {
            "first": 3,
            "second": 6,
            "proof": [p.hex() for p in merkle.consistency_proof(3, hashes)],
        },
        "keys.json": {"keys": [KEY.public.description()]},
    }
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content), encoding="utf-8")
    paths = [str(tmp_path / n) for n in ("old.json", "new.json", "proof.json")]
    assert main(["--consistency", *paths, "--key", str(tmp_path / "keys.json")]) == 0
    assert capsys.readouterr().out.strip().endswith("通过 / VERIFIED")
    files["proof.json"]["proof"][0] = "00" * 32
    (tmp_path / "proof.json").write_text(json.dumps(files["proof.json"]), encoding="utf-8")
    assert main(["--consistency", *paths, "--key", str(tmp_path / "keys.json")]) == 1
    assert "不通过 / FAILED: consistency: " in capsys.readouterr().out
    # the same through the exchange command
    rewritten = CliRunner().invoke(cli, ["verify-log", *paths, "--key", str(tmp_path / "keys.json")])
    assert rewritten.exit_code == 1 and "不通过 / FAILED: consistency: " in rewritten.output


def test_a_registry_day_digests_its_entries_in_order() -> None:
    first, second = {"entry": 1, "amount": 5}, {"entry": 2, "amount": -5}
    leaf = registry_day_leaf(AT.date(), [first, second])
    assert leaf.subject == "2026-12-06" and leaf.data["movements"] == 2
    assert leaf.data["sha256"] == registry_day_digest([first, second]) != registry_day_digest([second, first])
    # movements that committed after their day was logged: a further batch of the day
    late = registry_day_leaf(AT.date(), [first], batch=2, covers=[1])
    assert late.subject == "2026-12-06#2" and late.covers == (1,) and late.data["date"] == "2026-12-06"
