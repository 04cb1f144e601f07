"""Merkle tree over gradient chunks, with inclusion proofs (DESIGN §13).

A PoNW proof commits to a stage's gradients with one root; a challenger later
asks for a few sampled chunks and checks each against that root with its
path, without ever holding the whole gradient.

The tree is RFC 9162's (Certificate Transparency v2): leaf hash =
SHA-256(0x00 ‖ chunk), node hash = SHA-256(0x01 ‖ left ‖ right); the
different prefixes stop a node from passing as a leaf (second preimage), and
an odd node is carried up unpaired rather than duplicated, so no two leaf
lists share a root (Bitcoin's duplicated-last-node flaw, CVE-2012-2459).
Inclusion proofs are RFC 9162 audit paths, verified with its algorithm
(§2.1.3.2). The root of no leaves is SHA-256 of the empty string.

A gradient is cut into chunks of MERKLE_CHUNK_VALUES float32 values, as
little-endian bytes (the wire format, §5); the last chunk may be shorter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coordinator_free.constants import MERKLE_CHUNK_VALUES
from coordinator_free.errors import ProtocolError

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(chunk: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + chunk).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def gradient_chunks(
    values: np.ndarray, chunk_values: int = MERKLE_CHUNK_VALUES
) -> list[bytes]:
    """The gradient as little-endian float32 chunks of `chunk_values` values."""
    if chunk_values < 1:
        raise ProtocolError(f"chunk_values must be >= 1, got {chunk_values}")
    flat = np.ascontiguousarray(values, dtype="<f4").ravel()
    chunk_bytes = 4 * chunk_values
    raw = flat.tobytes()
    return [
        raw[start : start + chunk_bytes] for start in range(0, len(raw), chunk_bytes)
    ]


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int  # position of the chunk, from 0
    leaf_count: int  # chunks in the tree
    path: tuple[bytes, ...]  # sibling hashes, leaf level first


class MerkleTree:
    """All levels of the tree, built once; proofs are read from it."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        level = [leaf_hash(chunk) for chunk in chunks]
        self._levels: list[list[bytes]] = [level]
        while len(level) > 1:
            paired = [
                node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)
            ]
            if len(level) % 2:
                paired.append(level[-1])  # carried up unpaired
            level = paired
            self._levels.append(level)

    @property
    def leaf_count(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        if self.leaf_count == 0:
            return hashlib.sha256(b"").digest()
        return self._levels[-1][0]

    def inclusion_proof(self, leaf_index: int) -> InclusionProof:
        if not 0 <= leaf_index < self.leaf_count:
            raise ProtocolError(
                f"leaf_index {leaf_index} is outside the tree's {self.leaf_count} leaves (0..{self.leaf_count - 1})"
            )
        path = []
        index = leaf_index
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return InclusionProof(
            leaf_index=leaf_index, leaf_count=self.leaf_count, path=tuple(path)
        )


def merkle_root(chunks: Sequence[bytes]) -> bytes:
    return MerkleTree(chunks).root


def verify_inclusion(root: bytes, chunk: bytes, proof: InclusionProof) -> bool:
    """True iff `chunk` is leaf `proof.leaf_index` of the `proof.leaf_count`-leaf tree with `root`.

    RFC 9162 §2.1.3.2, step by step; any malformed proof is simply False.
    As there, the root does not authenticate `proof.leaf_count` by itself:
    the caller must check it equals the count it expects (ponw does).
    """
    if not 0 <= proof.leaf_index < proof.leaf_count:
        return False
    index, last = proof.leaf_index, proof.leaf_count - 1
    running = leaf_hash(chunk)
    for sibling in proof.path:
        if last == 0:
            return False  # path longer than the tree is tall
        if index % 2 == 1 or index == last:
            running = node_hash(sibling, running)
            if index % 2 == 0:
                # A node carried up unpaired: climb until it is a right child.
                while index % 2 == 0 and index != 0:
                    index //= 2
                    last //= 2
        else:
            running = node_hash(running, sibling)
        index //= 2
        last //= 2
    return last == 0 and running == root
