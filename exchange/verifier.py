"""The offline verifier of a result's bundle: ``exchange verify BUNDLE.json`` (or
``python -m exchange.verifier``), with no database, no server and no network.

A bundle (``GET /api/v1/results/{id}/bundle``, built by ``documents.bundle``; its shape is in
``docs/verification.md``) is checked line by line, each check on its own and every one run even
after another failed, so a tampered bundle names everything that no longer holds:

- ``signature``: the exchange's Ed25519 signature over ``canonical_json(record)``, with a key
  from ``--key KEYS.json`` (what ``GET /api/v1/keys`` publishes) or else the one the bundle embeds
  (which proves the record unchanged since that key signed it, not whose key it is);
- ``replay``: the published bids, run through the published mechanism and parameters by the one
  replay the exchange has (``auctions.mechanisms.replay``, as ``exchange audit replay``), give
  the published outcome, and the mechanism accepts every published bid;
- ``result``: the result as published (status, price, winners, bid count) says what the outcome
  says;
- ``reserve``: SHA-256 of the revealed reserve and salt is the published commitment
  (``listings.reserve_commitment``);
- ``draw``: the seed matches its commitment and the draw's keys and order follow from the seed
  and the nonces (``auctions.mechanisms.draw``);
- ``documents``: the documents' digests are SHA-256 digests, and with ``--documents DIR`` each
  matches a file there;
- ``audit``: the audit head at the close is a SHA-256 digest;
- ``transparency``: the bundle's tree head is signed by the exchange's key (the record's), each
  leaf's inclusion proof leads to its root, and the leaves say what the record says (its audit
  head, its documents' digests). Leaves the log has not taken in yet are reported as not checked
  (未核验 NOT YET), never as passed, and the verdict is then 未完全核验 / INCOMPLETE, exit code 2:
  the block is outside the signed record, so dropping it or calling a leaf pending must never
  pass. The close's leaf called pending beside a tree head signed more than two of the log's
  intervals after the close committed (the record's ``log``) fails: the log signs a head every
  interval and takes in all that is due.

Exit codes: 0 verified (通过 / VERIFIED), 1 a check failed (不通过 / FAILED), 2 nothing failed but
the transparency log has not proven everything yet (未完全核验 / INCOMPLETE): fetch the bundle again
after the log's interval.

``--consistency OLD.json NEW.json PROOF.json`` (``exchange verify-log``) checks instead that two
signed tree heads (a mirror's saved one, a newer one) are one log grown, not rewritten (RFC 9162
2.1.4).

Everything this module imports is pure (``tests/unit/test_verifier.py`` runs it with SQLAlchemy
and Litestar unimportable): the mechanisms, the record's reader, the reserve commitment, the
exchange's signatures and money formatting.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from auctions.bid_signatures import BidSignatureError, nonce_digest, verify_bid_signature
from auctions.mechanisms import outcome_to_json, replay, seed_commitment, to_json
from auctions.mechanisms.draw import run_draw
from documents.bundle_record import FORMAT, RecordError, replay_from_json
from exchange.money import format_yuan
from exchange.signing import (
    CanonicalJSONError,
    SignatureError,
    TreeHead,
    VerifyingKey,
    canonical_json,
    verify,
    verify_tree_head,
)
from exchange.transparency.merkle import MerkleError, leaf_hash, verify_consistency, verify_inclusion
from listings.reserve_commitment import commitment

NAMES = {
    "format": "格式",
    "signature": "签名",
    "replay": "重放",
    "result": "公示结果",
    "reserve": "底价承诺",
    "draw": "摇号",
    "documents": "文件",
    "audit": "审计链头",
    "bid_signatures": "竞买人出价签名",
    "transparency": "透明日志",
    "tree_heads": "树头签名",
    "consistency": "一致性证明",
}
"""Every check, in the order it runs, with its Chinese name."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNDRAWN_SEED = bytes(32)
"""The seed a replay runs with when no draw decided the result: the real one is revealed only
with a draw (docs/rules.md 7.7), and without a draw no key is ever computed from it, so any
seed gives the same outcome. A replay that does draw with it differs from the published outcome."""


@dataclass(frozen=True)
class Check:
    name: str
    """One of ``NAMES``."""
    passed: bool | None
    """``None``: the check does not apply to this result (no draw, no documents yet), or with
    ``pending`` it could not be made yet."""
    detail: str
    pending: bool = False
    """Not checked yet (the transparency log has not taken the leaves in): said, never passed."""

    def line(self) -> str:
        verdict = {True: "通过 PASS", False: "不通过 FAIL", None: "不适用 N/A"}[self.passed]
        if self.pending and self.passed is None:
            verdict = "未核验 NOT YET"
        return f"  {verdict:<11} {self.name} {NAMES[self.name]}: {self.detail}"


EXIT_VERIFIED, EXIT_FAILED, EXIT_INCOMPLETE = 0, 1, 2
"""``exchange verify``'s exit codes: every check holds; one failed; none failed, some not made yet."""


@dataclass(frozen=True)
class Report:
    title: str
    checks: tuple[Check, ...]

    @property
    def verified(self) -> bool:
        """Every check holds or does not apply, and none waits for the transparency log."""
        return not self.failures and not self.unchecked

    @property
    def incomplete(self) -> bool:
        """Nothing failed, but something is not checked yet: not VERIFIED."""
        return not self.failures and bool(self.unchecked)

    @property
    def exit_code(self) -> int:
        if self.failures:
            return EXIT_FAILED
        return EXIT_INCOMPLETE if self.unchecked else EXIT_VERIFIED

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.passed is False)

    def failed(self, name: str) -> bool:
        return any(c.name == name for c in self.failures)

    @property
    def unchecked(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.pending and c.passed is None)

    def lines(self) -> list[str]:
        lines = [self.title, *(c.line() for c in self.checks)]
        if self.incomplete:
            names = ", ".join(c.name for c in self.unchecked)
            lines.append(f"未完全核验 / INCOMPLETE: {names} not yet logged: fetch the bundle again later")
        elif self.verified:
            lines.append("通过 / VERIFIED")
        else:
            lines.extend(f"不通过 / FAILED: {c.name}: {c.detail}" for c in self.failures)
        return lines


class _Mismatch(Exception):
    """A check's finding; the message is its detail."""


def _field(container: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(container, Mapping) or name not in container:
        raise _Mismatch(f"{where} has no {name}")
    value = container[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _types(kind)):
        raise _Mismatch(f"{where}.{name} is not of the expected type")
    return value


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _run(name: str, check: Callable[[], tuple[bool | None, str]]) -> Check:
    try:
        passed, detail = check()
    except _Mismatch as mismatch:
        return Check(name, False, str(mismatch))
    return Check(name, passed, detail)


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _differences(published: Mapping[str, Any], recomputed: Mapping[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(published) | set(recomputed)):
        mine, theirs = published.get(key), recomputed.get(key)
        if mine == theirs:
            continue
        if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
            found.extend(_differences(mine, theirs, f"{prefix}{key}."))
        else:
            found.append(f"{prefix}{key} (published {_short(mine)}, recomputed {_short(theirs)})")
    return found


# --- the checks -------------------------------------------------------------------------------


def _signature(bundle: Mapping[str, Any], keys: Sequence[VerifyingKey] | None) -> tuple[bool | None, str]:
    signature = _field(bundle, "signature", Mapping, "the bundle")
    kid = signature.get("kid")
    if keys is not None:
        chosen = next((k for k in keys if k.kid == kid), None)
        if chosen is None:
            raise _Mismatch(
                f"signed by key {kid!r}, which is not among the {len(keys)} key(s) given with --key"
            )
        source = "given with --key"
    else:
        try:
            chosen = VerifyingKey.from_description(_field(bundle, "key", Mapping, "the bundle"))
        except ValueError as error:
            raise _Mismatch(f"the key embedded in the bundle is not usable: {error}") from None
        source = "embedded in the bundle (compare its kid with GET /api/v1/keys, or pass --key)"
    try:
        verify(chosen, bundle["record"], signature)
    except SignatureError as error:
        raise _Mismatch(f"the signature does not hold ({error.reason}): {error.detail}") from None
    except CanonicalJSONError as error:
        raise _Mismatch(f"the record has no canonical form, so it was never signed: {error}") from None
    development = (
        "; a DEVELOPMENT key (开发密钥): it proves nothing about a real exchange"
        if chosen.development
        else ""
    )
    return True, f"the Ed25519 signature of the record holds with key {chosen.kid}, {source}{development}"


def _replay(record: Mapping[str, Any]) -> tuple[bool | None, str]:
    try:
        replayable = replay_from_json(record)
    except RecordError as error:
        raise _Mismatch(f"the record does not describe a replay: {error}") from None
    reserve = _field(_field(record, "reserve", Mapping, "the record"), "price", (int, type(None)), "reserve")
    published = _field(record, "outcome", Mapping, "the record")
    draw = published.get("draw")
    if isinstance(draw, Mapping):
        try:
            seed: bytes | None = bytes.fromhex(str(draw.get("seed_hex")))
        except ValueError:
            raise _Mismatch("the draw's seed_hex is not hexadecimal") from None
    else:
        seed = None if record.get("seed_commitment") is None else _UNDRAWN_SEED
    # The bid guarantee compares a bidder's bids with its deposit, which is not published: the
    # replay leaves it out (every published bid was accepted under it), the group limit too
    # (no bidder terms: each bid number is a group of its own, its own limit still applies).
    params = replace(replayable.params, reserve_price=reserve, seed=seed, bid_guarantee_ratio=None)
    try:
        state, outcome = replay(params, replayable.qualified, replayable.steps)
    except (ValueError, AssertionError, TypeError, KeyError) as error:
        raise _Mismatch(f"the mechanism cannot run these inputs: {error}") from None
    problems = []
    counted = outcome.bid_count if outcome is not None else state.bid_count
    if counted != replayable.counted_bids:
        problems.append(f"the mechanism accepts {counted} of the {replayable.counted_bids} published bids")
    if outcome is None:
        problems.append("replayed, the auction has not ended by the published close")
    elif (replayed := outcome_to_json(outcome)) != dict(published):
        problems.append("the replayed outcome differs in " + "; ".join(_differences(published, replayed)))
    if problems or outcome is None:
        raise _Mismatch("; ".join(problems))
    price = f" at {format_yuan(outcome.price)} yuan" if outcome.price is not None else ""
    caveat = (
        " (the bid guarantee is not rechecked: deposits are not published)"
        if replayable.params.bid_guarantee_ratio is not None
        else ""
    )
    return True, (
        f"{params.method}: the {replayable.counted_bids} published bid(s), replayed through the mechanism "
        f"and its parameters, give the published outcome: {outcome.status}{price}{caveat}"
    )


def _result(record: Mapping[str, Any]) -> tuple[bool | None, str]:
    result = _field(record, "result", Mapping, "the record")
    outcome = _field(record, "outcome", Mapping, "the record")
    scale = _field(_field(record, "parameters", Mapping, "the record"), "quantity_scale", int, "parameters")
    problems = []
    if result.get("bids") != outcome.get("bid_count"):
        problems.append(f"it counts {result.get('bids')!r} bids, the outcome {outcome.get('bid_count')!r}")
    disqualified = result.get("reason") == "winner_disqualified"
    if disqualified:
        # 资格后审: the winner failed its review after the close; the auction's sale stands replayed
        expected: dict[str, Any] = {"outcome": "failed", "price": None, "winners": []}
        if outcome.get("status") != "sold":
            problems.append("a winner disqualified after the close, but the outcome sold nothing")
    else:
        expected = {
            "outcome": outcome.get("status"),
            "reason": outcome.get("reason"),
            "price": _yuan(outcome.get("price")),
            "winners": [(w.get("bidder"), _yuan(w.get("price"))) for w in _list(outcome.get("winners"))],
        }
    published = {
        "outcome": result.get("outcome"),
        "reason": result.get("reason"),
        "price": result.get("price"),
        "winners": [(w.get("bid_number"), w.get("price")) for w in _list(result.get("winners"))],
    }
    for name, value in expected.items():
        if published[name] != value:
            problems.append(f"its {name} is {_short(published[name])}, the outcome's {_short(value)}")
    if not disqualified:
        for shown, won in zip(_list(result.get("winners")), _list(outcome.get("winners")), strict=False):
            if not _same_quantity(shown.get("quantity"), won.get("quantity"), scale):
                problems.append(
                    f"winner {shown.get('bid_number')} is shown {shown.get('quantity')!r}, "
                    f"the outcome allocates {won.get('quantity')!r} units of 1/{scale}"
                )
    if problems:
        raise _Mismatch("the published result disagrees with the outcome: " + "; ".join(problems))
    annulled = " (annulled after the close: 成交无效)" if result.get("annulled") is True else ""
    return True, (
        f"the result as published ({published['outcome']}, {published['price'] or 'no price'}, "
        f"{len(published['winners'])} winner line(s), {result.get('bids')} bids) is the outcome's{annulled}"
    )


def _list(value: Any, what: str = "a list of winners") -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise _Mismatch(f"{what} is not a list of objects")
    return value


def _yuan(fen: Any) -> str | None:
    if fen is None:
        return None
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise _Mismatch(f"an amount is not a whole number of fen: {fen!r}")
    return format_yuan(fen)


def _same_quantity(shown: Any, units: Any, scale: int) -> bool:
    if shown is None or units is None:
        return shown is None and units is None
    try:
        return bool(Decimal(str(shown)) * scale == units)
    except InvalidOperation:
        return False


def _reserve(record: Mapping[str, Any]) -> tuple[bool | None, str]:
    reserve = _field(record, "reserve", Mapping, "the record")
    price = _field(reserve, "price", (int, type(None)), "reserve")
    salt = _field(reserve, "salt", str, "reserve")
    published = _field(reserve, "commitment", str, "reserve")
    recomputed = commitment(price, salt)
    shown = "none" if price is None else str(price)
    if recomputed != published:
        raise _Mismatch(
            f'SHA-256("{shown}:<salt>") is {recomputed}, not the published commitment {published}'
        )
    what = "no reserve" if price is None else f"the reserve {format_yuan(price)} yuan"
    return True, (
        f'SHA-256("{shown}:<salt>") is the published commitment ({what}); compare it with the one the '
        "listing announced before bidding (its reserve_commitment)"
    )


def _draw(record: Mapping[str, Any]) -> tuple[bool | None, str]:
    outcome = _field(record, "outcome", Mapping, "the record")
    draw = outcome.get("draw")
    if draw is None:
        return None, "no draw decided this result"
    if not isinstance(draw, Mapping):
        raise _Mismatch("the outcome's draw is not an object")
    try:
        seed = bytes.fromhex(str(draw.get("seed_hex")))
        nonces = dict(zip(draw["candidates"], draw["nonces"], strict=True))
        recomputed = to_json(run_draw(draw["purpose"], seed, None, nonces))
    except (ValueError, KeyError, TypeError) as error:
        raise _Mismatch(f"the draw's inputs cannot be read: {error}") from None
    problems = []
    announced, computed = record.get("seed_commitment"), seed_commitment(seed)
    if computed != announced:
        problems.append(f"SHA-256(seed) is {computed}, not the seed commitment published {announced}")
    differences = _differences(draw, recomputed)
    if differences:
        problems.append("the published draw differs from its inputs' in " + "; ".join(differences))
    if problems:
        raise _Mismatch("; ".join(problems))
    return True, (
        f"{draw['purpose']}: SHA-256(seed) is the commitment published before bidding, and the keys and "
        f"order follow from the seed and the {len(nonces)} candidates' nonces"
    )


def _quantity_text(units: int | None, scale: int) -> str | None:
    """A quantity as the exchange formats it for a signature: the listing's decimal places."""
    if units is None:
        return None
    places = len(str(scale)) - 1 if scale > 1 and str(scale).strip("0") == "1" else 0
    return f"{Decimal(units) / scale:.{places}f}"


def _bid_signatures(record: Mapping[str, Any]) -> tuple[bool | None, str]:
    """Each published bid signature verifies with its bidder's key over the bid as published;
    where the listing required signatures, every bid and cap acceptance is signed; no key signs
    for two bid numbers; no bid was accepted after its key was revoked."""
    block = record.get("bid_signatures")
    if block is None:
        return None, "the record carries no bid signatures (a bundle made before they existed)"
    if not isinstance(block, Mapping):
        raise _Mismatch("bid_signatures is not an object")
    policy = block.get("policy")
    signatures = _list(block.get("signatures"), "bid_signatures.signatures")
    keys = {str(k.get("kid")): k for k in _list(block.get("keys"), "bid_signatures.keys")}
    listing_id = _field(_field(record, "listing", Mapping, "the record"), "id", int, "listing")
    scale = _field(_field(record, "parameters", Mapping, "the record"), "quantity_scale", int, "parameters")
    bids = {bid.get("seq"): bid for bid in _list(record.get("bids"), "the record's bids")}
    problems: list[str] = []
    signed_by: dict[str, str] = {}
    for signed in signatures:
        seq = signed.get("seq")
        bid, key = bids.get(seq), keys.get(str(signed.get("kid")))
        if bid is None or key is None:
            problems.append(f"the signature of seq {seq!r} names no published bid or key")
            continue
        number = str(bid.get("bid_number"))
        if signed_by.setdefault(str(key.get("kid")), number) != number:
            problems.append(f"key {key.get('kid')} signs for two bid numbers")
        nonce = bid.get("nonce")
        if nonce is not None and signed.get("nonce_sha256") != nonce_digest(str(nonce)):
            problems.append(f"seq {seq}: the published nonce is not the one signed")
        revoked = key.get("revoked_at")
        if revoked is not None and str(bid.get("at")) >= str(revoked):
            problems.append(f"seq {seq}: accepted at {bid.get('at')}, after its key was revoked at {revoked}")
        try:
            verify_bid_signature(
                algorithm=str(key.get("algorithm")),
                public_key=str(key.get("public_key")),
                signature={name: signed.get(name) for name in ("kid", "algorithm", "value")},
                listing_id=listing_id,
                bidder_number=number,
                amount=_yuan(bid.get("amount")) or "",
                quantity=_quantity_text(bid.get("quantity"), scale),
                idempotency_key=str(signed.get("idempotency_key")),
                last_seq=int(signed.get("last_seq", -1)),
                nonce_sha256=signed.get("nonce_sha256"),
            )
        except (BidSignatureError, TypeError, ValueError) as error:
            problems.append(f"seq {seq} ({number}): {error}")
    unsigned = sorted(set(bids) - {s.get("seq") for s in signatures}, key=str)
    if policy == "required" and unsigned:
        problems.append(f"signatures were required, but the bid(s) of seq {unsigned} are not signed")
    if problems:
        raise _Mismatch("; ".join(problems))
    if not signatures:
        return None, f"no bid was signed (policy {policy!r})"
    return True, (
        f"{len(signatures)} bid(s) signed by their bidders' own keys ({len(keys)} key(s); policy {policy!r}): "
        "each signature verifies over the bid as published, none after its key's revocation"
    )


def _documents(record: Mapping[str, Any], directory: Path | None) -> tuple[bool | None, str]:
    documents = _field(record, "documents", list, "the record")
    if not documents:
        return None, "no public document had been issued when the bundle was made"
    malformed = [
        str(d.get("number", i) if isinstance(d, Mapping) else i)
        for i, d in enumerate(documents)
        if not isinstance(d, Mapping)
        or not isinstance(d.get("sha256"), str)
        or not _SHA256.fullmatch(d["sha256"])
    ]
    if malformed:
        raise _Mismatch(
            f"not a SHA-256 digest (64 lowercase hex digits): the digest of {', '.join(malformed)}"
        )
    if directory is None:
        return (
            True,
            f"{len(documents)} digests are well-formed (pass --documents DIR to compare them with the files)",
        )
    digest_of = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()
    }
    problems = []
    for d in documents:
        # the file the download names (kind-id.pdf), else any file with the digest (renamed copies)
        actual = digest_of.get(str(d.get("file")))
        if actual is not None and actual != d["sha256"]:
            problems.append(
                f"{d.get('file')} ({d.get('number')}) has SHA-256 {actual}, the bundle says {d['sha256']}"
            )
        elif actual is None and d["sha256"] not in digest_of.values():
            problems.append(f"no file in {directory} has the SHA-256 of {d.get('number')} ({d.get('file')})")
    if problems:
        raise _Mismatch("; ".join(problems))
    return True, f"each of the {len(documents)} documents matches a file in {directory}"


def _audit(record: Mapping[str, Any]) -> tuple[bool | None, str]:
    head = _field(record, "audit_head", str, "the record")
    if not _SHA256.fullmatch(head):
        raise _Mismatch(f"the audit head {head!r} is not a SHA-256 digest")
    return True, (
        "the listing's audit-chain head at the close is well-formed (the transparency check proves it was logged)"
    )


def _head_key(
    signed: Mapping[str, Any], bundle: Mapping[str, Any], keys: Sequence[VerifyingKey] | None
) -> tuple[VerifyingKey, str]:
    """The key a tree head names: one of ``keys``, else the bundle's own (the record's key); and
    where it came from, as the signature line says it."""
    block = signed.get("signature")
    kid = block.get("kid") if isinstance(block, Mapping) else None
    if keys is not None:
        chosen = next((k for k in keys if k.kid == kid), None)
        if chosen is None:
            raise _Mismatch(f"the tree head is signed by key {kid!r}, not among the key(s) given with --key")
        return chosen, "given with --key"
    try:
        embedded = VerifyingKey.from_description(_field(bundle, "key", Mapping, "the bundle"))
    except ValueError as error:
        raise _Mismatch(f"the key embedded in the bundle is not usable: {error}") from None
    if embedded.kid != kid:
        raise _Mismatch(f"the tree head is signed by key {kid!r}, not the record's key {embedded.kid}")
    return embedded, "embedded in the bundle (compare its kid with GET /api/v1/keys, or pass --key)"


def _signed_head(signed: Any, key: VerifyingKey, what: str) -> TreeHead:
    if not isinstance(signed, Mapping):
        raise _Mismatch(f"{what} is not an object")
    try:
        return verify_tree_head(key, signed)
    except SignatureError as error:
        raise _Mismatch(f"the signature of {what} does not hold ({error.reason}): {error.detail}") from None


def _hashes(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list) or not all(
        isinstance(v, str) and re.fullmatch(r"[0-9a-f]*", v) and len(v) % 2 == 0 for v in values
    ):
        raise _Mismatch(f"{what} is not a list of hex hashes")
    return [bytes.fromhex(v) for v in values]


def _expected_leaves(record: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """What the log must hold for this record: (a label, the fields its leaf must have, the
    instant from which it is due as the record says it, if it does)."""
    listing = _field(record, "listing", Mapping, "the record")
    listing_id = _field(listing, "id", int, "listing")
    log = record.get("log")
    wanted: list[tuple[str, dict[str, Any], Any]] = [
        (
            "the audit head",
            {"kind": "audit_head", "listing_id": listing_id, "audit_head": record.get("audit_head")},
            log.get("close_committed_at") if isinstance(log, Mapping) else None,
        )
    ]
    for d in _field(record, "documents", list, "the record"):
        if not isinstance(d, Mapping):
            raise _Mismatch("a document of the record is not an object")
        wanted.append(
            (
                f"document {d.get('number')}",
                {
                    "kind": "document",
                    "listing_id": listing_id,
                    "document_kind": d.get("kind"),
                    "sha256": d.get("sha256"),
                },
                # no deadline: a document issued private and made public later (a bid record at
                # the close) is logged under its key from then, not from its issue
                None,
            )
        )
    return wanted


def _interval(record: Mapping[str, Any]) -> float | None:
    """The log's interval in seconds as the signed record states it (``None``: it does not)."""
    log = record.get("log")
    value = log.get("interval_ms") if isinstance(log, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value / 1000


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _overdue(head: TreeHead | None, due: Any, interval: float | None) -> str | None:
    """Why a leaf called pending should be in ``head`` already; ``None`` when it need not be.

    The log signs a head every interval and takes in, in the same round, all that committed
    before; a leaf is in the head of the round after it committed, one interval later at most.
    Twice the interval leaves room for a slow commit and a round that failed once.
    """
    moment = _moment(due)
    if head is None or moment is None or interval is None:
        return None
    deadline = moment + timedelta(seconds=2 * interval)
    if head.timestamp <= deadline:
        return None
    return (
        f"due from {due}, yet not in the tree head signed at {head.timestamp.isoformat()}, more than twice "
        f"the log's interval ({interval:g} s) later"
    )


def _matches(data: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    return all(data.get(name) == value for name, value in fields.items())


def _transparency(
    bundle: Mapping[str, Any], record: Mapping[str, Any], keys: Sequence[VerifyingKey] | None
) -> Check:
    name = "transparency"
    block = bundle.get("transparency")
    if block is None:
        return Check(name, None, "not checked: the bundle carries no transparency block", pending=True)
    try:
        if not isinstance(block, Mapping):
            raise _Mismatch("the transparency block is not an object")
        wanted = _expected_leaves(record)
        entries = _field(block, "entries", list, "transparency")
        pending = _field(block, "pending", list, "transparency")
        signed = block.get("tree_head")
        head, source = None, ""
        if signed is not None:
            key, source = _head_key(signed, bundle, keys)
            head = _signed_head(signed, key, "the tree head")
        if entries and head is None:
            raise _Mismatch("leaves are given without a tree head to prove them against")
        problems: list[str] = []
        unmatched = list(wanted)
        indices = []
        for i, entry in enumerate(entries):
            data = _field(entry, "data", Mapping, f"transparency entry {i}")
            index = _field(entry, "index", int, f"transparency entry {i}")
            proof = _hashes(
                _field(entry, "inclusion_proof", list, f"transparency entry {i}"), f"entry {i}'s proof"
            )
            assert head is not None
            try:
                leaf = leaf_hash(canonical_json(dict(data)))
                verify_inclusion(leaf, index, head.tree_size, proof, head.root_hash)
            except (MerkleError, CanonicalJSONError) as error:
                problems.append(
                    f"leaf {index} ({data.get('kind')}) is not in the tree of {head.tree_size} "
                    f"whose root the head signs: {error}"
                )
            match = next((w for w in unmatched if _matches(data, w[1])), None)
            if match is None:
                problems.append(f"leaf {index} says {_short(dict(data))}, which is not the record's")
            else:
                unmatched.remove(match)
                indices.append(f"{match[0]}: leaf {index}")
        # what is not proven must be said to be pending: as many of each kind as the block lists
        available = Counter(p.get("kind") for p in pending if isinstance(p, Mapping))
        not_yet: list[str] = []
        missing: list[str] = []
        overdue: list[str] = []
        interval = _interval(record)
        for label, fields, due in unmatched:
            if available[fields["kind"]] > 0:
                available[fields["kind"]] -= 1
                not_yet.append(label)
                late = _overdue(head, due, interval)
                if late is not None:
                    overdue.append(f"{label}: {late}")
            else:
                missing.append(label)
        if missing:
            problems.append(f"neither proven in the log nor said to be pending: {', '.join(missing)}")
        if overdue:
            problems.append(
                "said to be pending, but the log should hold it (withheld, or the block was altered): "
                + "; ".join(overdue)
            )
        if problems:
            raise _Mismatch("; ".join(problems))
    except _Mismatch as mismatch:
        return Check(name, False, str(mismatch))
    where = (
        f"the tree head of {head.tree_size} leaves ({head.timestamp.isoformat()}) is signed by the exchange's key, "
        f"{source}"
        if head is not None
        else "the log has signed no tree head yet"
    )
    if not_yet:
        return Check(
            name,
            None,
            f"not checked yet: {', '.join(not_yet)} not yet logged (the log takes "
            f"new leaves in at its interval: fetch the bundle again later); {where}"
            + (f"; proven: {'; '.join(indices)}" if indices else ""),
            pending=True,
        )
    return Check(
        name,
        True,
        f"{where}, and each inclusion proof leads to its root: {'; '.join(indices)}",
    )


# --- the whole bundle -------------------------------------------------------------------------


def verify_bundle(
    bundle: Any, keys: Sequence[VerifyingKey] | None = None, documents: Path | None = None
) -> Report:
    """Every check of ``bundle`` (a parsed bundle); ``keys``: the exchange's published keys, else
    the bundle's own; ``documents``: a directory holding the documents' files."""
    if not isinstance(bundle, Mapping) or not isinstance(bundle.get("record"), Mapping):
        return Report("核验数据包 / Verifying a bundle", (Check("format", False, "not a bundle: no record"),))
    record: Mapping[str, Any] = bundle["record"]
    listing = record.get("listing") if isinstance(record.get("listing"), Mapping) else {}
    assert isinstance(listing, Mapping)
    title = (
        f"核验成交结果数据包 / Verifying the result bundle of listing {listing.get('id')} "
        f"({listing.get('method')}): {listing.get('title')}"
    )
    form = bundle.get("format")
    format_check = (
        Check("format", True, FORMAT)
        if form == FORMAT
        else Check("format", False, f"format {form!r} is not {FORMAT!r}, the only one this verifier reads")
    )
    return Report(
        title,
        (
            format_check,
            _run("signature", lambda: _signature(bundle, keys)),
            _run("replay", lambda: _replay(record)),
            _run("result", lambda: _result(record)),
            _run("reserve", lambda: _reserve(record)),
            _run("draw", lambda: _draw(record)),
            _run("documents", lambda: _documents(record, documents)),
            _run("audit", lambda: _audit(record)),
            _run("bid_signatures", lambda: _bid_signatures(record)),
            _transparency(bundle, record, keys),
        ),
    )


def verify_consistency_of(old: Any, new: Any, proof: Any, keys: Sequence[VerifyingKey]) -> Report:
    """That the log of the signed head ``old`` is a prefix of the one of ``new``: both heads'
    signatures (``tree_heads``) and the consistency proof between them (``consistency``),
    ``proof`` being ``GET /api/v1/transparency/consistency``'s answer or its list of hashes."""
    heads: list[TreeHead] = []

    def signatures() -> tuple[bool | None, str]:
        for what, signed in (("the old tree head", old), ("the new tree head", new)):
            if not isinstance(signed, Mapping):
                raise _Mismatch(f"{what} is not an object")
            block = signed.get("signature")
            kid = block.get("kid") if isinstance(block, Mapping) else None
            key = next((k for k in keys if k.kid == kid), None)
            if key is None:
                raise _Mismatch(f"{what} is signed by key {kid!r}, not among the key(s) given with --key")
            heads.append(_signed_head(signed, key, what))
        return (
            True,
            f"both tree heads ({heads[0].tree_size} and {heads[1].tree_size} leaves) are signed by the exchange's key",
        )

    def consistent() -> tuple[bool | None, str]:
        if len(heads) != 2:
            raise _Mismatch("not checked: a tree head's signature does not hold")
        first, second = heads
        hashes = proof.get("proof") if isinstance(proof, Mapping) else proof
        if isinstance(proof, Mapping) and (proof.get("first"), proof.get("second")) != (
            first.tree_size,
            second.tree_size,
        ):
            raise _Mismatch(
                f"the proof is from {proof.get('first')} to {proof.get('second')} leaves, the heads are "
                f"{first.tree_size} and {second.tree_size}"
            )
        try:
            verify_consistency(
                first.tree_size,
                second.tree_size,
                _hashes(hashes, "the proof"),
                first.root_hash,
                second.root_hash,
            )
        except MerkleError as error:
            raise _Mismatch(
                f"the log of {second.tree_size} leaves does not extend the one of {first.tree_size} the old head "
                f"signs: it was rewritten, or the proof is wrong ({error})"
            ) from None
        return True, (
            f"the first {first.tree_size} leaves of the tree of {second.tree_size} are the tree of the old head: "
            "the log grew, nothing was rewritten"
        )

    return Report(
        "核验透明日志的一致性 / Verifying the consistency of two tree heads",
        (_run("tree_heads", signatures), _run("consistency", consistent)),
    )


def keys_from_json(data: Any) -> list[VerifyingKey]:
    """The keys of a KEYS.json: ``GET /api/v1/keys``'s answer, a list of key descriptions, or one."""
    if isinstance(data, Mapping) and "keys" in data:
        data = data["keys"]
    descriptions = data if isinstance(data, list) else [data]
    keys = []
    for description in descriptions:
        if not isinstance(description, Mapping):
            raise ValueError("a key description is not an object")
        keys.append(VerifyingKey.from_description(description))
    return keys


def run(
    bundle_path: Path,
    keys_path: Path | None = None,
    documents: Path | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Verify the bundle in ``bundle_path`` and print the report: 0 verified, 1 a check failed,
    2 nothing failed but not everything could be checked yet (``Report.exit_code``)."""
    try:
        bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        out(f"不通过 / FAILED: format: cannot read {bundle_path}: {error}")
        return 1
    keys = None
    if keys_path is not None:
        try:
            keys = keys_from_json(json.loads(keys_path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            out(f"不通过 / FAILED: signature: cannot read the keys in {keys_path}: {error}")
            return 1
    if documents is not None and not documents.is_dir():
        out(f"不通过 / FAILED: documents: {documents} is not a directory")
        return 1
    report = verify_bundle(bundle, keys, documents)
    for line in report.lines():
        out(line)
    return report.exit_code


def run_consistency(
    old: Path, new: Path, proof: Path, keys_path: Path, out: Callable[[str], None] = print
) -> int:
    """Check that the log grew from the head in ``old`` to the one in ``new``: 0 it did, 1 not."""
    try:
        loaded = [json.loads(p.read_text(encoding="utf-8")) for p in (old, new, proof)]
        keys = keys_from_json(json.loads(keys_path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        out(f"不通过 / FAILED: consistency: cannot read the heads, the proof or the keys: {error}")
        return 1
    report = verify_consistency_of(loaded[0], loaded[1], loaded[2], keys)
    for line in report.lines():
        out(line)
    return 0 if report.verified else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exchange.verifier",
        description="Verify a result bundle offline (exchange verify). Exit codes: 0 verified, 1 a check "
        "failed, 2 incomplete (nothing failed, the transparency log has not proven everything yet).",
    )
    parser.add_argument(
        "bundle", type=Path, nargs="?", help="the bundle: GET /api/v1/results/{id}/bundle, saved"
    )
    parser.add_argument("--key", type=Path, help="KEYS.json: the exchange's public keys (GET /api/v1/keys)")
    parser.add_argument("--documents", type=Path, help="a directory with the result's documents (PDF)")
    parser.add_argument(
        "--consistency",
        nargs=3,
        type=Path,
        metavar=("OLD_HEAD", "NEW_HEAD", "PROOF"),
        help="instead of a bundle: check that the log grew from a saved signed tree head to a newer one "
        "(GET /api/v1/transparency/consistency?first=&second=, saved as PROOF); needs --key",
    )
    arguments = parser.parse_args(argv)
    if arguments.consistency is not None:
        if arguments.key is None:
            parser.error("--consistency needs --key KEYS.json")
        old, new, proof = arguments.consistency
        return run_consistency(old, new, proof, arguments.key)
    if arguments.bundle is None:
        parser.error("a bundle, or --consistency OLD_HEAD NEW_HEAD PROOF")
    return run(arguments.bundle, arguments.key, arguments.documents)


if __name__ == "__main__":
    sys.exit(main())
