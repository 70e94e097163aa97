"""RFC 9162 (Certificate Transparency 2.0) section 2.1: Merkle tree hashes and their proofs.

Pure and synchronous, over SHA-256 hashes (``bytes`` of 32). The tree is the RFC's: the leaves
are ``leaf_hash(entry)``, and a tree of ``n > 1`` leaves splits at ``k``, the largest power of
two below ``n``, into ``D[0:k]`` and ``D[k:n]``. Its hashes are the same as those of RFC 6962
(CT version 1), so the reference implementations' test vectors apply unchanged.

The proofs are computed from the hashes of subtrees (``SubtreeHash``: the root of the leaves
``[start, end)``). Over a plain sequence of leaf hashes (``inclusion_proof``,
``consistency_proof``) that costs O(n) hashes per proof: every range asked for is hashed from
its leaves. A store that keeps the roots of its complete subtrees answers each range in
O(log n) instead (``inclusion_proof_with``, ``consistency_proof_with``): every range asked for
is a node of the tree, either a complete subtree (a power of two of leaves, starting at a
multiple of its size, so it never changes once the log has grown past it) or a range ending at
the tree's right edge (``end == tree_size``), which is a few complete subtrees put together.

Verification follows RFC 9162 2.1.3.2 and 2.1.4.2 step by step and raises ``MerkleError`` with a
stable ``reason`` on any failure. The tree size is not authenticated by a proof: the signed tree
head binds a root to its size, and a verifier takes both from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Literal

HASH_SIZE = 32
"""SHA-256: every leaf hash, node hash, root and proof element is this many bytes."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() (RFC 9162 2.1.1): the root of the empty tree."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

Reason = Literal[
    "hash_size",  # a leaf hash, root or proof element is not 32 bytes
    "index_out_of_range",  # not 0 <= index < tree_size
    "size_out_of_range",  # a consistency proof needs 0 < m <= n
    "proof_too_long",
    "proof_too_short",
    "root_mismatch",
]

SubtreeHash = Callable[[int, int], bytes]
"""``subtree_hash(start, end)`` is MTH(D[start:end]) of the log's first ``tree_size`` leaves."""


class MerkleError(ValueError):
    """A proof that does not verify, or a request no proof exists for."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry (RFC 9162 2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior node (RFC 9162 2.1.1).

    The distinct prefixes keep a leaf from ever passing for an interior node (second preimages).
    """
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """``k``: the largest power of two smaller than ``size`` (``size > 1``)."""
    return 1 << ((size - 1).bit_length() - 1)


def subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) hashed from the leaf hashes, in ``end - start - 1`` node hashes."""
    if not 0 <= start <= end <= len(leaves):
        raise MerkleError("index_out_of_range", f"range [{start}, {end}) of {len(leaves)} leaves")
    if start == end:
        return EMPTY_ROOT
    return _range_root(leaves, start, end)


def _range_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    if end - start == 1:
        leaf = leaves[start]
        _check_size(leaf, f"leaf {start}")
        return leaf
    middle = start + _split(end - start)
    return node_hash(_range_root(leaves, start, middle), _range_root(leaves, middle, end))


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of a sequence of leaf hashes; the empty tree's is ``EMPTY_ROOT``."""
    return subtree_root(leaves, 0, len(leaves))


def _over(leaves: Sequence[bytes]) -> SubtreeHash:
    def subtree_hash(start: int, end: int) -> bytes:
        return subtree_root(leaves, start, end)

    return subtree_hash


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) over all the given leaf hashes: O(n) hashes (see the module's note)."""
    return inclusion_proof_with(index, len(leaves), _over(leaves))


def inclusion_proof_with(index: int, tree_size: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """PATH(index, D[tree_size]) (RFC 9162 2.1.3.1): the siblings from the leaf up to the root.

    Asks ``subtree_hash`` for at most ceil(log2(tree_size)) ranges, each a node of the tree.
    """
    if not 0 <= index < tree_size:
        raise MerkleError("index_out_of_range", f"leaf {index} in a tree of {tree_size}")
    # Walk down from the root; the RFC's recursion appends each level's sibling after the
    # deeper ones, so the path is the siblings met on the way down, read back up.
    siblings: list[tuple[int, int]] = []
    start, end = 0, tree_size
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            siblings.append((middle, end))
            end = middle
        else:
            siblings.append((start, middle))
            start = middle
    return [subtree_hash(s, e) for s, e in reversed(siblings)]


def consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) over all the given leaf hashes: O(n) hashes (see the module's note)."""
    return consistency_proof_with(m, len(leaves), _over(leaves))


def consistency_proof_with(m: int, tree_size: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """PROOF(m, D[tree_size]) (RFC 9162 2.1.4.1): that the first ``m`` leaves are a prefix.

    Empty when ``m == tree_size``. ``m == 0`` is refused: RFC 9162 defines the proof for
    ``0 < m``, and the empty tree is a prefix of every tree, which proves nothing.
    """
    if not 0 < m <= tree_size:
        raise MerkleError("size_out_of_range", f"from {m} to {tree_size} leaves")
    # SUBPROOF(m, D[start:end], b), unrolled: each step appends one range after the deeper
    # ones, so the proof is the ranges met on the way down, read back up.
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, tree_size, True
    remaining = m
    while remaining != end - start:
        k = _split(end - start)
        if remaining <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, remaining, whole = start + k, remaining - k, False
    if not whole:
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}: the old tree's root is not a node of the proof
        # when the verifier can rebuild it from the nodes that follow.
        ranges.append((start, end))
    return [subtree_hash(s, e) for s, e in reversed(ranges)]


def _check_size(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise MerkleError("hash_size", f"{what} has {len(value)} bytes, not {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, element in enumerate(proof):
        _check_size(element, f"proof element {i}")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` whose root is ``root``.

    RFC 9162 2.1.3.2; raises ``MerkleError`` when it is not, returns ``None`` when it is.
    """
    _check_size(leaf_hash, "leaf hash")
    _check_size(root, "root")
    _check_proof(proof)
    if not 0 <= index < tree_size:
        raise MerkleError("index_out_of_range", f"leaf {index} in a tree of {tree_size}")
    fn, sn = index, tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise MerkleError("proof_too_long", f"more than the path of leaf {index} in {tree_size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # On the right edge the node may have no right sibling for several levels: climb
            # them without hashing.
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise MerkleError("proof_too_short", f"less than the path of leaf {index} in {tree_size}")
    if r != root:
        raise MerkleError("root_mismatch", f"leaf {index}'s path does not lead to the root of {tree_size}")


def verify_consistency(m: int, n: int, proof: Sequence[bytes], root_m: bytes, root_n: bytes) -> None:
    """Check that the tree of ``m`` leaves with ``root_m`` is a prefix of the one of ``n`` with ``root_n``.

    RFC 9162 2.1.4.2 for ``0 < m < n``; for ``m == n`` the proof is empty and the roots equal.
    Raises ``MerkleError`` when it is not (``m == 0`` included: see ``consistency_proof_with``).
    """
    _check_size(root_m, "first root")
    _check_size(root_n, "second root")
    _check_proof(proof)
    if not 0 < m <= n:
        raise MerkleError("size_out_of_range", f"from {m} to {n} leaves")
    if m == n:
        if proof:
            raise MerkleError("proof_too_long", "trees of the same size need an empty proof")
        if root_m != root_n:
            raise MerkleError("root_mismatch", f"two roots for the same {m} leaves")
        return
    if not proof:
        raise MerkleError("proof_too_short", f"an empty proof from {m} to {n} leaves")
    path = list(proof)
    if m & (m - 1) == 0:
        # The old tree is a complete subtree of the new one: the proof leaves out its root,
        # which the verifier has.
        path.insert(0, root_m)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise MerkleError("proof_too_long", f"more than the proof from {m} to {n} leaves")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise MerkleError("proof_too_short", f"less than the proof from {m} to {n} leaves")
    if fr != root_m:
        raise MerkleError("root_mismatch", f"the proof does not rebuild the root of {m} leaves")
    if sr != root_n:
        raise MerkleError("root_mismatch", f"the proof does not lead from {m} to the root of {n} leaves")
