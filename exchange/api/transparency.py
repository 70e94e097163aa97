"""The transparency log's public endpoints (RFC 9162 in spirit, JSON in form), no login needed.

- ``GET /api/v1/transparency/tree-heads/latest``: the newest signed tree head;
- ``GET /api/v1/transparency/tree-heads/{tree_size}``: the newest head the log signed at that size;
- ``GET /api/v1/transparency/entries/{index}?tree_size=N``: a leaf, its data and its inclusion
  proof against the tree of ``N`` leaves (by default the latest head's);
- ``GET /api/v1/transparency/consistency?first=M&second=N``: the consistency proof from the tree of
  ``M`` leaves to the one of ``N`` (RFC 9162 2.1.4), for a mirror holding an old head.

Every hash (root, leaf hash, proof element) is 64 lowercase hex digits of SHA-256. A head is
signed as ``exchange.signing.sign_tree_head`` says, with the key of ``GET /api/v1/keys``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.params import PathParameter, QueryParameter

from exchange.deps import Session
from exchange.errors import NotFound, Unprocessable
from exchange.signing import MAX_SAFE_INTEGER
from exchange.transparency import log
from exchange.transparency.merkle import MerkleError
from exchange.transparency.models import LogEntry

Size = Annotated[int, PathParameter(description="A tree size: a number of leaves", ge=1, le=MAX_SAFE_INTEGER)]


class SignatureBlock(msgspec.Struct):
    algorithm: str
    """``Ed25519``."""
    kid: str
    """The signing key's id (``GET /api/v1/keys``)."""
    signature: str
    """Over the canonical JSON of ``{"tree_size", "timestamp", "root_hash"}``, base64url without padding."""
    development: bool


class TreeHeadView(msgspec.Struct):
    tree_size: int
    """The number of leaves the head covers."""
    timestamp: str
    """When it was signed: ISO 8601 UTC to the millisecond, ending in ``Z``."""
    root_hash: str
    """The Merkle tree hash of the first ``tree_size`` leaves (RFC 9162 2.1.1), hex."""
    signature: SignatureBlock


class EntryView(msgspec.Struct):
    index: int
    kind: str
    """``audit_head``, ``document`` or ``registry_day``."""
    subject: str
    """What the leaf is about within its kind: a listing id, a public document's key (a private
    one's SHA-256), a Beijing date (``2026-12-05#2`` for a later batch of that day)."""
    data: dict[str, Any]
    """The leaf: its bytes are the canonical JSON of this object (RFC 8785)."""
    leaf_hash: str
    """SHA-256(0x00 || data's bytes), hex."""
    logged_at: str
    tree_size: int
    inclusion_proof: list[str]
    """The audit path from the leaf to the root of ``tree_size`` leaves (RFC 9162 2.1.3), hex."""


class ConsistencyView(msgspec.Struct):
    first: int
    second: int
    proof: list[str]
    """RFC 9162 2.1.4's proof that the first ``first`` leaves are the tree of ``second``'s prefix, hex."""


def _head(row: Any) -> TreeHeadView:
    return msgspec.convert(dict(log.head_json(row)), TreeHeadView)


def _unavailable(error: MerkleError) -> Unprocessable:
    return Unprocessable(f"no proof for these sizes: {error.detail}", code="proof_unavailable")


class TransparencyController(Controller):
    path = "/api/v1/transparency"
    tags = ["documents"]
    security = [{}]

    @get(
        "/tree-heads/latest",
        operation_id="getLatestTreeHead",
        summary="The transparency log's latest signed tree head",
        description="Its size, root (hex) and time, signed by the exchange's Ed25519 key (GET /api/v1/keys) "
        "over the canonical JSON of {tree_size, timestamp, root_hash}. A new head is signed at each of the "
        "log's intervals, grown or not, with a time later than the last head's. Mirror these heads: a later one that is not consistent "
        "with a saved one (GET /api/v1/transparency/consistency) shows a rewrite. 404 before the first head.",
    )
    async def latest(self, session: Session) -> TreeHeadView:
        row = await log.latest_head(session)
        if row is None:
            raise NotFound("the transparency log has signed no tree head yet")
        return _head(row)

    @get(
        "/tree-heads/{tree_size:int}",
        operation_id="getTreeHead",
        summary="The newest tree head the log signed at one size",
        description="A quiet log signs a head at each interval at the same size: this is the newest. "
        "404 for a size the log signed no head at.",
    )
    async def head(self, session: Session, tree_size: Size) -> TreeHeadView:
        row = await log.head_at(session, tree_size)
        if row is None:
            raise NotFound(f"the transparency log signed no tree head of {tree_size} leaves")
        return _head(row)

    @get(
        "/entries/{index:int}",
        operation_id="getTransparencyEntry",
        summary="A leaf of the transparency log with its inclusion proof",
        description="The leaf's data (its canonical JSON is what was hashed), its hash and its audit path to "
        "the root of the tree of tree_size leaves (by default the latest signed head's), all hashes hex. "
        "404 for a leaf the log does not hold; 422 proof_unavailable when the leaf is not below tree_size "
        "or the log has fewer leaves.",
    )
    async def entry(
        self,
        session: Session,
        index: Annotated[int, PathParameter(description="The leaf's index", ge=0, le=MAX_SAFE_INTEGER)],
        tree_size: Annotated[
            int | None,
            QueryParameter(description="The tree to prove against (default: the latest head's)", ge=1),
        ] = None,
    ) -> EntryView:
        entry = await session.get(LogEntry, index)
        if entry is None:
            raise NotFound(f"the transparency log holds no leaf {index}")
        if tree_size is None:
            latest = await log.latest_head(session)
            if latest is None:
                raise NotFound("the transparency log has signed no tree head yet")
            tree_size = latest.tree_size
        if index >= tree_size:
            raise Unprocessable(
                f"leaf {index} is not in a tree of {tree_size} leaves", code="proof_unavailable"
            )
        try:
            (inclusion,) = await log.inclusions(session, [entry], tree_size)
        except MerkleError as error:
            raise _unavailable(error) from None
        return msgspec.convert(inclusion.json(), EntryView)

    @get(
        "/consistency",
        operation_id="getConsistencyProof",
        summary="A consistency proof between two sizes of the transparency log",
        description="RFC 9162 2.1.4: the hashes (hex) that show the tree of first leaves is a prefix of the "
        "tree of second leaves. Check it with the two signed heads: exchange verify-log "
        "OLD_HEAD.json NEW_HEAD.json PROOF.json --key KEYS.json. 422 proof_unavailable unless "
        "0 < first <= second <= the log's size.",
    )
    async def consistency(
        self,
        session: Session,
        first: Annotated[int, QueryParameter(description="The older tree size", ge=1, le=MAX_SAFE_INTEGER)],
        second: Annotated[int, QueryParameter(description="The newer tree size", ge=1, le=MAX_SAFE_INTEGER)],
    ) -> ConsistencyView:
        try:
            proof = await log.consistency(session, first, second)
        except MerkleError as error:
            raise _unavailable(error) from None
        return ConsistencyView(first=first, second=second, proof=[p.hex() for p in proof])
