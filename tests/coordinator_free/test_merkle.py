"""Merkle tree: RFC 9162 roots and audit paths, proofs that verify, tampering that does not."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator_free.errors import ProtocolError
from coordinator_free.merkle import (
    InclusionProof,
    MerkleTree,
    gradient_chunks,
    merkle_root,
    verify_inclusion,
)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, written from the definition (recursive split at
    the largest power of two below n)."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return _h(b"\x00" + leaves[0])
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return _h(b"\x01" + reference_root(leaves[:split]) + reference_root(leaves[split:]))


def reference_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if len(leaves) <= 1:
        return []
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < split:
        return reference_path(index, leaves[:split]) + [reference_root(leaves[split:])]
    return reference_path(index - split, leaves[split:]) + [
        reference_root(leaves[:split])
    ]


def chunks_of(count: int) -> list[bytes]:
    return [f"chunk {i}".encode() for i in range(count)]


@pytest.mark.parametrize("count", list(range(18)) + [31, 32, 33, 100])
def test_root_and_every_path_match_the_rfc_definition(count):
    leaves = chunks_of(count)
    tree = MerkleTree(leaves)
    assert tree.root == reference_root(leaves)
    for index in range(count):
        proof = tree.inclusion_proof(index)
        assert list(proof.path) == reference_path(index, leaves)
        assert verify_inclusion(tree.root, leaves[index], proof)


def test_single_leaf_root_is_its_leaf_hash_and_path_is_empty():
    tree = MerkleTree([b"only"])
    assert tree.root == _h(b"\x00only")
    assert tree.inclusion_proof(0).path == ()


def test_duplicating_the_last_leaf_changes_the_root():
    # Bitcoin's tree gives [a, b, c] and [a, b, c, c] one root; this one does not.
    assert merkle_root([b"a", b"b", b"c"]) != merkle_root([b"a", b"b", b"c", b"c"])


def test_tampering_is_caught():
    leaves = chunks_of(11)
    tree = MerkleTree(leaves)
    proof = tree.inclusion_proof(6)
    assert not verify_inclusion(tree.root, b"forged chunk", proof)
    assert not verify_inclusion(tree.root, leaves[5], proof)
    assert not verify_inclusion(tree.root, leaves[6], InclusionProof(5, 11, proof.path))
    assert not verify_inclusion(tree.root, leaves[6], InclusionProof(6, 7, proof.path))
    # As in RFC 9162 the root does not authenticate the leaf count where the
    # path has the same shape (11 and 12 leaves here): the verifier must bring
    # the count it expects (ponw derives it from the layer's size).
    assert verify_inclusion(tree.root, leaves[6], InclusionProof(6, 12, proof.path))
    assert not verify_inclusion(
        tree.root, leaves[6], InclusionProof(6, 11, proof.path[:-1])
    )
    assert not verify_inclusion(
        tree.root, leaves[6], InclusionProof(6, 11, proof.path + (b"x" * 32,))
    )
    bent = (bytes(32),) + proof.path[1:]
    assert not verify_inclusion(tree.root, leaves[6], InclusionProof(6, 11, bent))
    assert not verify_inclusion(
        tree.root, leaves[6], InclusionProof(11, 11, proof.path)
    )
    assert not verify_inclusion(
        tree.root, leaves[6], InclusionProof(-1, 11, proof.path)
    )


def test_a_leaf_cannot_pass_as_an_inner_node():
    leaves = chunks_of(4)
    tree = MerkleTree(leaves)
    inner = _h(b"\x00" + leaves[0]) + _h(
        b"\x00" + leaves[1]
    )  # the bytes of node (0, 1)
    proof = InclusionProof(0, 2, (tree._levels[1][1],))
    assert not verify_inclusion(tree.root, inner, proof)


def test_out_of_range_index_is_refused():
    with pytest.raises(ProtocolError, match="outside the tree's 3 leaves"):
        MerkleTree(chunks_of(3)).inclusion_proof(3)


def test_gradient_chunks_are_little_endian_float32_of_the_chunk_size():
    values = np.arange(
        10, dtype=np.float64
    )  # converted, not refused: the bytes are float32
    chunks = gradient_chunks(values, chunk_values=4)
    assert [len(c) for c in chunks] == [16, 16, 8]
    assert chunks[1] == np.array([4, 5, 6, 7], dtype="<f4").tobytes()
    with pytest.raises(ProtocolError):
        gradient_chunks(values, chunk_values=0)


@settings(max_examples=60, deadline=None)
@given(count=st.integers(1, 300), data=st.data())
def test_every_proof_verifies_and_only_for_its_own_leaf(count, data):
    leaves = chunks_of(count)
    tree = MerkleTree(leaves)
    index = data.draw(st.integers(0, count - 1))
    other = data.draw(st.integers(0, count - 1))
    proof = tree.inclusion_proof(index)
    assert verify_inclusion(tree.root, leaves[index], proof)
    assert verify_inclusion(tree.root, leaves[other], proof) == (other == index)
