"""The exchange's transparency log: an append-only Merkle tree in the manner of RFC 9162.

``merkle`` holds the pure hashing and proofs; the store of leaf hashes, the signed tree heads
and their endpoints build on it.
"""
