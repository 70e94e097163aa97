"""The transparency log's Merkle tree: RFC 9162's hashes and proofs, against a reference's vectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.transparency.merkle import (
    EMPTY_ROOT,
    MerkleError,
    consistency_proof,
    consistency_proof_with,
    inclusion_proof,
    inclusion_proof_with,
    leaf_hash,
    node_hash,
    root,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

# --- known answers ----------------------------------------------------------------------------
#
# The vectors of transparency-dev/merkle (commit 417fb0c314750d94e53942e9f92e79b6d35915db):
# testonly/constants.go (LeafInputs, RootHashes) and cmd/proofgen/main.go (inclusionProofs,
# consistencyProofs, with 1-based leaf numbers there, 0-based indices here), which generates the
# testdata/inclusion and testdata/consistency probes; they are certificate-transparency-go's
# 8-leaf tree. RFC 6962's hashes are RFC 9162's.

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def hexes(*values: str) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# (index, tree size, PATH)
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        hexes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        hexes(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, hexes("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        hexes(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

# (m, n, PROOF)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        hexes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        hexes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        hexes(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        hexes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
"""proofgen's sha256SomeHash: 32 bytes that are no node of the tree."""


def test_the_hashes_are_rfc_9162s() -> None:
    assert ROOTS[0] == EMPTY_ROOT
    assert leaf_hash(b"") == ROOTS[1]
    assert node_hash(LEAVES[0], LEAVES[1]) == ROOTS[2]


@pytest.mark.parametrize("size", range(9))
def test_the_root_of_every_prefix(size: int) -> None:
    assert root(LEAVES[:size]) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_the_reference_inclusion_proofs(index: int, size: int, path: list[bytes]) -> None:
    assert inclusion_proof(index, LEAVES[:size]) == path
    verify_inclusion(LEAVES[index], index, size, path, ROOTS[size])


@pytest.mark.parametrize(("m", "n", "proof"), CONSISTENCY)
def test_the_reference_consistency_proofs(m: int, n: int, proof: list[bytes]) -> None:
    assert consistency_proof(m, LEAVES[:n]) == proof
    verify_consistency(m, n, proof, ROOTS[m], ROOTS[n])


def inclusion_corruptions(
    index: int, size: int, path: list[bytes], root_hash: bytes, leaf: bytes
) -> list[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    """proofgen's invalidInclusionProof: every one must fail."""
    cases = [
        ("index - 1", (leaf, index - 1, size, path, root_hash)),
        ("index + 1", (leaf, index + 1, size, path, root_hash)),
        ("index ^ 2", (leaf, index ^ 2, size, path, root_hash)),
        ("size * 2", (leaf, index, size * 2, path, root_hash)),
        ("size // 2", (leaf, index, size // 2, path, root_hash)),
        ("wrong leaf", (b"WrongLeaf", index, size, path, root_hash)),
        ("empty root", (leaf, index, size, path, EMPTY_ROOT)),
        ("random root", (leaf, index, size, path, SOME_HASH)),
        ("trailing garbage", (leaf, index, size, [*path, b""], root_hash)),
        ("trailing root", (leaf, index, size, [*path, root_hash], root_hash)),
        ("preceding garbage", (leaf, index, size, [b"", *path], root_hash)),
        ("preceding root", (leaf, index, size, [root_hash, *path], root_hash)),
    ]
    for i in range(len(path)):
        wrong = list(path)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        cases.append((f"modified proof[{i}]", (leaf, index, size, wrong, root_hash)))
    if path:
        cases.append(("removed component", (leaf, index, size, path[:-1], root_hash)))
    if len(path) > 1:
        cases.append(("inserted component", (leaf, index, size, [path[0], SOME_HASH, *path[1:]], root_hash)))
    return cases


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_the_reference_corruptions_of_inclusion_proofs_fail(index: int, size: int, path: list[bytes]) -> None:
    for name, arguments in inclusion_corruptions(index, size, path, ROOTS[size], LEAVES[index]):
        with pytest.raises(MerkleError):
            verify_inclusion(*arguments)
            pytest.fail(name)


@pytest.mark.parametrize(("m", "n", "proof"), CONSISTENCY[1:])  # proofgen skips the trivial one
def test_the_reference_corruptions_of_consistency_proofs_fail(m: int, n: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[m], ROOTS[n]
    flipped = [
        [*proof[:i], bytes([proof[i][0] ^ 16]) + proof[i][1:], *proof[i + 1 :]] for i in range(len(proof))
    ]
    cases: list[tuple[int, int, Sequence[bytes], bytes, bytes]] = [
        (m - 1, n, proof, r1, r2),
        (m + 1, n, proof, r1, r2),
        (m ^ 2, n, proof, r1, r2),
        (m, n * 2, proof, r1, r2),
        (m, n // 2, proof, r1, r2),
        (m, n, proof, b"WrongRoot", r2),
        (m, n, proof, r1, b"WrongRoot"),
        (m, n, proof, r2, r1),
        (m, n, [], r1, r2),
        (m, n, [*proof, b""], r1, r2),
        (m, n, [*proof, r1], r1, r2),
        (m, n, [*proof, r2], r1, r2),
        (m, n, [b"", *proof], r1, r2),
        (m, n, [r1, *proof], r1, r2),
        (m, n, [r2, *proof], r1, r2),
        (m, n, [proof[0], *proof], r1, r2),
        (m, n, proof[:-1], r1, r2),
        *((m, n, wrong, r1, r2) for wrong in flipped),
    ]
    for case in cases:
        with pytest.raises(MerkleError):
            verify_consistency(*case)
            pytest.fail(repr(case[:2]))


DONT_CARE_1, DONT_CARE_2 = b"don't care 1".ljust(32, b"."), b"don't care 2".ljust(32, b".")


@pytest.mark.parametrize(
    ("m", "n", "root_m", "root_n", "proof", "reason"),
    [
        # testdata/consistency/additional, with 32-byte stand-ins for its short "don't care" roots.
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "size_out_of_range"),
        (0, 0, EMPTY_ROOT, DONT_CARE_2, [], "size_out_of_range"),
        (1, 1, EMPTY_ROOT, DONT_CARE_2, [], "root_mismatch"),
        (2, 1, DONT_CARE_1, DONT_CARE_2, [], "size_out_of_range"),
        (1, 0, DONT_CARE_1, DONT_CARE_2, [], "size_out_of_range"),
        (0, 1, DONT_CARE_1, DONT_CARE_2, [], "size_out_of_range"),
        (0, 1, EMPTY_ROOT, DONT_CARE_2, [], "size_out_of_range"),
        (1, 1, DONT_CARE_2, DONT_CARE_2, [], None),
        (1, 1, DONT_CARE_1, DONT_CARE_2, [], "root_mismatch"),
        (0, 0, DONT_CARE_1, DONT_CARE_1, [], "size_out_of_range"),
        (0, 0, DONT_CARE_1, DONT_CARE_2, [], "size_out_of_range"),
        (1, 2, DONT_CARE_1, DONT_CARE_2, [], "proof_too_short"),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "proof_too_long"),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "size_out_of_range"),
        # Their short roots themselves: a hash of another size is refused before anything else.
        (1, 1, b"don't care 2", b"don't care 2", [], "hash_size"),
    ],
)
def test_the_reference_edge_cases_of_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: list[bytes], reason: str | None
) -> None:
    if reason is None:
        verify_consistency(m, n, proof, root_m, root_n)
        return
    with pytest.raises(MerkleError) as raised:
        verify_consistency(m, n, proof, root_m, root_n)
    assert raised.value.reason == reason


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
@pytest.mark.parametrize(
    ("root_hash", "leaf"), [(b"", SOME_HASH), (EMPTY_ROOT, b""), (EMPTY_ROOT, SOME_HASH)]
)
def test_the_reference_edge_cases_of_inclusion(index: int, size: int, root_hash: bytes, leaf: bytes) -> None:
    """testdata/inclusion/additional: nothing is included in an empty tree, or past its end."""
    with pytest.raises(MerkleError):
        verify_inclusion(leaf, index, size, [], root_hash)


def test_a_single_entry_is_its_own_root() -> None:
    """testdata/inclusion/single-entry."""
    data = leaf_hash(b"data")
    verify_inclusion(data, 0, 1, [], data)
    for leaf, root_hash in ((data, b""), (b"", data), (b"", b"")):
        with pytest.raises(MerkleError) as raised:
            verify_inclusion(leaf, 0, 1, [], root_hash)
        assert raised.value.reason == "hash_size"


# --- every proof of every small tree ----------------------------------------------------------

MAX = 64
DISTINCT = [leaf_hash(i.to_bytes(4, "big")) for i in range(MAX)]
PREFIX_ROOTS = [root(DISTINCT[:n]) for n in range(MAX + 1)]
PAIRS = [(i, n) for n in range(1, MAX + 1) for i in range(n)]
PREFIXES = [(m, n) for n in range(1, MAX + 1) for m in range(1, n + 1)]


def flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def inclusion_rejected(leaf: bytes, index: int, size: int, path: Sequence[bytes], top: bytes) -> bool:
    try:
        verify_inclusion(leaf, index, size, path, top)
    except MerkleError:
        return True
    return False


def consistency_rejected(m: int, n: int, proof: Sequence[bytes], first: bytes, second: bytes) -> bool:
    try:
        verify_consistency(m, n, proof, first, second)
    except MerkleError:
        return True
    return False


def test_every_inclusion_proof_verifies() -> None:
    for i, n in PAIRS:
        path = inclusion_proof(i, DISTINCT[:n])
        verify_inclusion(DISTINCT[i], i, n, path, PREFIX_ROOTS[n])
        assert len(path) <= (n - 1).bit_length()


def test_every_consistency_proof_verifies() -> None:
    for m, n in PREFIXES:
        proof = consistency_proof(m, DISTINCT[:n])
        verify_consistency(m, n, proof, PREFIX_ROOTS[m], PREFIX_ROOTS[n])
        assert len(proof) <= (n - 1).bit_length() + 1
        assert (proof == []) == (m == n)


def test_any_flipped_bit_fails_an_inclusion_proof() -> None:
    """A bit of every proof element, of the leaf, of the root, and every bit of the index."""
    for i, n in PAIRS:
        path, leaf, top = inclusion_proof(i, DISTINCT[:n]), DISTINCT[i], PREFIX_ROOTS[n]
        for k in range(len(path)):
            wrong = [*path[:k], flip(path[k], 37 * i + 11 * k + n), *path[k + 1 :]]
            assert inclusion_rejected(leaf, i, n, wrong, top), (i, n, k)
        assert inclusion_rejected(flip(leaf, i + n), i, n, path, top), (i, n)
        assert inclusion_rejected(leaf, i, n, path, flip(top, i * n)), (i, n)
        for bit in range(n.bit_length() + 1):
            assert inclusion_rejected(leaf, i ^ (1 << bit), n, path, top), (i, n, bit)


def test_any_flipped_bit_fails_a_consistency_proof() -> None:
    for m, n in PREFIXES:
        proof, first, second = consistency_proof(m, DISTINCT[:n]), PREFIX_ROOTS[m], PREFIX_ROOTS[n]
        for k in range(len(proof)):
            wrong = [*proof[:k], flip(proof[k], 29 * m + 7 * k + n), *proof[k + 1 :]]
            assert consistency_rejected(m, n, wrong, first, second), (m, n, k)
        assert consistency_rejected(m, n, proof, flip(first, m + n), second), (m, n)
        assert consistency_rejected(m, n, proof, first, flip(second, m * n)), (m, n)


@st.composite
def leaf_in_tree(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, 300))
    return draw(st.integers(0, n - 1)), n


@settings(max_examples=150, deadline=None)
@given(leaf_in_tree(), st.integers(0, 255), st.integers(0, 64), st.sampled_from(["proof", "leaf", "root"]))
def test_any_bit_anywhere_fails_an_inclusion_proof(
    position: tuple[int, int], bit: int, element: int, target: str
) -> None:
    i, n = position
    leaves = [leaf_hash(b"entry %d" % j) for j in range(n)]
    path, leaf, top = inclusion_proof(i, leaves), leaves[i], root(leaves)
    verify_inclusion(leaf, i, n, path, top)
    if target == "proof" and path:
        k = element % len(path)
        path = [*path[:k], flip(path[k], bit), *path[k + 1 :]]
    elif target == "leaf":
        leaf = flip(leaf, bit)
    else:
        top = flip(top, bit)
    with pytest.raises(MerkleError):
        verify_inclusion(leaf, i, n, path, top)


@st.composite
def prefix_of_tree(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, 300))
    return draw(st.integers(1, n)), n


@settings(max_examples=150, deadline=None)
@given(
    prefix_of_tree(), st.integers(0, 255), st.integers(0, 64), st.sampled_from(["proof", "first", "second"])
)
def test_any_bit_anywhere_fails_a_consistency_proof(
    sizes: tuple[int, int], bit: int, element: int, target: str
) -> None:
    m, n = sizes
    leaves = [leaf_hash(b"entry %d" % j) for j in range(n)]
    proof, first, second = consistency_proof(m, leaves), root(leaves[:m]), root(leaves)
    verify_consistency(m, n, proof, first, second)
    if target == "proof" and proof:
        k = element % len(proof)
        proof = [*proof[:k], flip(proof[k], bit), *proof[k + 1 :]]
    elif target == "first":
        first = flip(first, bit)
    else:
        second = flip(second, bit)
    with pytest.raises(MerkleError):
        verify_consistency(m, n, proof, first, second)


# --- what a store is asked for ----------------------------------------------------------------


def is_node(start: int, end: int, tree_size: int) -> bool:
    """A complete subtree at its aligned place, or a range ending at the tree's right edge."""
    size = end - start
    complete = size > 0 and size & (size - 1) == 0 and start % size == 0
    return complete or (start < end == tree_size)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.integers(1, n), st.just(n)))
)
def test_proofs_ask_only_for_nodes_of_the_tree(sizes: tuple[int, int, int]) -> None:
    """So a store answers each range from its complete subtrees, in O(log n) hashes per proof."""
    index, m, n = sizes
    asked: list[tuple[int, int]] = []

    def subtree_hash(start: int, end: int) -> bytes:
        asked.append((start, end))
        return node_hash(start.to_bytes(32, "big"), end.to_bytes(32, "big"))

    path = inclusion_proof_with(index, n, subtree_hash)
    assert len(asked) == len(path) <= (n - 1).bit_length()
    proof = consistency_proof_with(m, n, subtree_hash)
    assert len(asked) == len(path) + len(proof)
    assert all(is_node(s, e, n) for s, e in asked), asked


def test_proofs_from_a_subtree_function_are_those_from_the_leaves() -> None:
    leaves = DISTINCT[:45]

    def subtree_hash(start: int, end: int) -> bytes:
        return subtree_root(leaves, start, end)

    for i in range(45):
        assert inclusion_proof_with(i, 45, subtree_hash) == inclusion_proof(i, leaves)
    for m in range(1, 46):
        assert consistency_proof_with(m, 45, subtree_hash) == consistency_proof(m, leaves)


def test_no_proof_for_what_is_not_there() -> None:
    with pytest.raises(MerkleError) as raised:
        inclusion_proof(3, DISTINCT[:3])
    assert raised.value.reason == "index_out_of_range"
    with pytest.raises(MerkleError) as raised:
        inclusion_proof(0, [])
    assert raised.value.reason == "index_out_of_range"
    for m, n in ((0, 3), (4, 3), (-1, 3)):
        with pytest.raises(MerkleError) as raised:
            consistency_proof(m, DISTINCT[:n])
        assert raised.value.reason == "size_out_of_range"
    with pytest.raises(MerkleError) as raised:
        root([DISTINCT[0], b"short"])
    assert raised.value.reason == "hash_size"


def test_the_tree_size_is_the_tree_heads_to_bind() -> None:
    """A proof does not fix the size it was made for: leaf 0's path in a tree of 5 also
    "verifies" against that root when a size of 6 is claimed. The verifier must take the size
    and the root together from one signed tree head, never the size from elsewhere."""
    path = inclusion_proof(0, DISTINCT[:5])
    verify_inclusion(DISTINCT[0], 0, 6, path, PREFIX_ROOTS[5])
    with pytest.raises(MerkleError):
        verify_inclusion(DISTINCT[0], 0, 6, path, PREFIX_ROOTS[6])


def test_the_reason_names_the_fault() -> None:
    path, proof = inclusion_proof(2, DISTINCT[:5]), consistency_proof(3, DISTINCT[:5])
    cases: list[tuple[str, Callable[[], None]]] = [
        ("proof_too_long", lambda: verify_inclusion(DISTINCT[2], 2, 5, [*path, SOME_HASH], PREFIX_ROOTS[5])),
        ("proof_too_short", lambda: verify_inclusion(DISTINCT[2], 2, 5, path[:-1], PREFIX_ROOTS[5])),
        ("root_mismatch", lambda: verify_inclusion(DISTINCT[3], 2, 5, path, PREFIX_ROOTS[5])),
        ("index_out_of_range", lambda: verify_inclusion(DISTINCT[2], 5, 5, path, PREFIX_ROOTS[5])),
        ("hash_size", lambda: verify_inclusion(DISTINCT[2], 2, 5, [*path[:-1], b""], PREFIX_ROOTS[5])),
        (
            "proof_too_long",
            lambda: verify_consistency(3, 5, [*proof, SOME_HASH], PREFIX_ROOTS[3], PREFIX_ROOTS[5]),
        ),
        ("proof_too_short", lambda: verify_consistency(3, 5, proof[:-1], PREFIX_ROOTS[3], PREFIX_ROOTS[5])),
        ("root_mismatch", lambda: verify_consistency(3, 5, proof, PREFIX_ROOTS[2], PREFIX_ROOTS[5])),
        ("root_mismatch", lambda: verify_consistency(3, 5, proof, PREFIX_ROOTS[3], PREFIX_ROOTS[4])),
        ("size_out_of_range", lambda: verify_consistency(6, 5, proof, PREFIX_ROOTS[3], PREFIX_ROOTS[5])),
    ]
    for reason, check in cases:
        with pytest.raises(MerkleError) as raised:
            check()
        assert raised.value.reason == reason, (reason, raised.value)
