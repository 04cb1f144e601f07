"""Proof of Neural Work: proof records, spot-check sampling and verdicts (DESIGN §13).

A pipeline stage signs one `PipelineProof` per batch; a cohort sync yields a
`CohortSyncProof`. Both are canonical records (coordinator_free/canonical.py):
their id is the SHA-256 of the bytes their node signs.

A challenger recomputes the stage's work on its own runtime. Hardware differs
in the last bits, so recomputed numbers are compared *within a tolerance*
(|claimed − recomputed| <= absolute + relative·|recomputed|, every element);
only bytes that travelled unchanged are compared by hash (the activations
against the proof's hashes, the gradient chunks against its Merkle root).
Verification fails closed: wrong sizes, NaN or infinity on either side, a
missing recomputation or nothing to compare is a failed verdict, never a pass
and never an exception. Each verdict carries its reason and measurements.

Spot checks are decided by hashing the proof id with randomness the prover
cannot predict (the checker's signature over the proof id): the prover cannot
grind its proof until no checker picks it, and anyone can re-check the draw.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from coordinator_free.canonical import canonical_bytes, decode_record, record_id
from coordinator_free.constants import (
    MERKLE_CHUNK_VALUES,
    PONW_ABSOLUTE_TOLERANCE,
    PONW_RELATIVE_TOLERANCE,
)
from coordinator_free.errors import ProtocolError
from coordinator_free.merkle import InclusionProof, verify_inclusion
from coordinator_free.scale import spot_check_probability
from coordinator_free.types import NodeId, QuorumId, ShardId


def _check_hex_digest(value: str, name: str) -> None:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ProtocolError(
            f"{name} must be 64 lowercase hex characters (a SHA-256), got {value!r}"
        )


@dataclass(frozen=True)
class PipelineProof:
    """One stage's work on one batch."""

    KIND: ClassVar[str] = "ponw.pipeline_proof"
    node_id: NodeId
    quorum_id: QuorumId
    arch_version: int
    first_layer: int  # inclusive
    last_layer: int  # inclusive
    shard_id: ShardId  # the batch is (shard, offset, length): anyone with the shard rebuilds it
    batch_offset: int  # bytes into the shard
    batch_length: int  # bytes
    step: int  # the quorum's training step
    input_activations_sha256: (
        str  # of the bytes received (for the initiator: the token ids)
    )
    output_activations_sha256: str  # of the bytes sent on (for the finisher: the loss)
    gradient_merkle_root: str  # hex, over the stage's parameter gradients (merkle.py)
    gradient_value_count: int  # values under the root; fixes the tree's leaf count
    previous_node_id: NodeId | None  # None for the initiator
    next_node_id: NodeId | None  # None for the finisher
    created_at_s: float

    def __post_init__(self) -> None:
        if not 0 <= self.first_layer <= self.last_layer:
            raise ProtocolError(
                f"layer range {self.first_layer}..{self.last_layer} is not a valid range"
            )
        if (
            min(
                self.batch_offset,
                self.batch_length,
                self.step,
                self.gradient_value_count,
            )
            < 0
        ):
            raise ProtocolError(
                "batch offset and length, step and gradient_value_count must be >= 0"
            )
        for name in (
            "input_activations_sha256",
            "output_activations_sha256",
            "gradient_merkle_root",
        ):
            _check_hex_digest(getattr(self, name), name)


@dataclass(frozen=True)
class CohortSyncProof:
    """One holder's part in one DiLoCo cohort sync."""

    KIND: ClassVar[str] = "ponw.cohort_sync_proof"
    node_id: NodeId
    arch_version: int
    first_layer: int  # inclusive
    last_layer: int  # inclusive
    sync_round: int
    batches_processed: int  # since the round's θ_start
    start_weights_sha256: str
    pseudo_gradient_sha256: str
    aggregate_sha256: str  # of the aggregate the cohort applied
    created_at_s: float

    def __post_init__(self) -> None:
        if (
            not 0 <= self.first_layer <= self.last_layer
            or min(self.sync_round, self.batches_processed) < 0
        ):
            raise ProtocolError(
                "cohort sync proof needs a valid layer range and counts >= 0"
            )
        for name in (
            "start_weights_sha256",
            "pseudo_gradient_sha256",
            "aggregate_sha256",
        ):
            _check_hex_digest(getattr(self, name), name)


Proof = PipelineProof | CohortSyncProof
PROOF_TYPES: dict[str, type] = {
    PipelineProof.KIND: PipelineProof,
    CohortSyncProof.KIND: CohortSyncProof,
}


def proof_bytes(proof: Proof) -> bytes:
    """The bytes the proving node signs."""
    return canonical_bytes(proof)


def proof_id(proof: Proof) -> str:
    return record_id(proof)


def decode_proof(data: bytes) -> Proof:
    return decode_record(data, PROOF_TYPES)


def gradient_chunk_count(gradient_value_count: int) -> int:
    return math.ceil(gradient_value_count / MERKLE_CHUNK_VALUES)


# ------------------------------------------------------------- sampling


def _unit_draw(*parts: bytes) -> float:
    digest = hashlib.sha256(b"\x00".join(parts)).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def should_spot_check(
    proof_identifier: str, checker_randomness: bytes, network_size: int
) -> bool:
    """Whether this checker challenges this proof; probability by network size (§7)."""
    draw = _unit_draw(
        b"spot-check", proof_identifier.encode("ascii"), checker_randomness
    )
    return draw < spot_check_probability(network_size)


def sample_gradient_chunks(
    proof_identifier: str, checker_randomness: bytes, chunk_count: int, samples: int
) -> tuple[int, ...]:
    """`samples` distinct chunk indices (all of them if there are fewer), sorted."""
    if chunk_count <= samples:
        return tuple(range(chunk_count))
    chosen: set[int] = set()
    counter = 0
    while len(chosen) < samples:
        draw = _unit_draw(
            b"chunk",
            proof_identifier.encode("ascii"),
            checker_randomness,
            str(counter).encode(),
        )
        chosen.add(int(draw * chunk_count))
        counter += 1
    return tuple(sorted(chosen))


# -------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class ToleranceConfig:
    relative: float = PONW_RELATIVE_TOLERANCE  # share of |recomputed|
    absolute: float = PONW_ABSOLUTE_TOLERANCE  # in the values' own units


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    compared_values: int
    mismatched_values: int  # elements outside the tolerance
    max_abs_difference: float  # inf when the values could not be compared
    max_relative_difference: float  # |diff| / max(|recomputed|, tiny); inf likewise


def _failed(reason: str, compared: int = 0) -> Verdict:
    return Verdict(False, reason, compared, compared, math.inf, math.inf)


def compare_recomputed(
    claimed: np.ndarray,
    recomputed: np.ndarray,
    tolerance: ToleranceConfig = ToleranceConfig(),
    what: str = "values",
) -> Verdict:
    """Do the claimed values match a recomputation within the tolerance?"""
    claimed = np.asarray(claimed, dtype=np.float64).ravel()
    recomputed = np.asarray(recomputed, dtype=np.float64).ravel()
    if claimed.size != recomputed.size:
        return _failed(
            f"{what}: {claimed.size} values claimed but {recomputed.size} recomputed"
        )
    if claimed.size == 0:
        return _failed(f"{what}: nothing to compare")
    if not (np.all(np.isfinite(claimed)) and np.all(np.isfinite(recomputed))):
        return _failed(
            f"{what}: NaN or infinity present, cannot be verified", claimed.size
        )
    difference = np.abs(claimed - recomputed)
    allowed = tolerance.absolute + tolerance.relative * np.abs(recomputed)
    mismatched = int(np.count_nonzero(difference > allowed))
    max_abs = float(difference.max())
    max_relative = float(
        (difference / np.maximum(np.abs(recomputed), np.finfo(np.float64).tiny)).max()
    )
    if mismatched:
        reason = f"{what}: {mismatched} of {claimed.size} values differ beyond tolerance (max |diff| {max_abs:.3g})"
    else:
        reason = f"{what}: all {claimed.size} values within tolerance (max |diff| {max_abs:.3g})"
    return Verdict(
        mismatched == 0, reason, int(claimed.size), mismatched, max_abs, max_relative
    )


@dataclass(frozen=True, eq=False)
class ChallengeAnswer:
    """What a challenged prover hands over, bytes exactly as they travelled."""

    input_activations: bytes
    output_activations: bytes  # little-endian float32
    gradient_chunks: tuple[
        tuple[InclusionProof, bytes], ...
    ]  # sampled chunks with their paths


def _float32s(data: bytes) -> np.ndarray | None:
    return None if len(data) % 4 else np.frombuffer(data, dtype="<f4")


def judge_pipeline_answer(
    proof: PipelineProof,
    answer: ChallengeAnswer,
    *,
    recomputed_output: np.ndarray,
    recomputed_gradient_chunks: dict[int, np.ndarray],
    tolerance: ToleranceConfig = ToleranceConfig(),
) -> Verdict:
    """The challenger's verdict on an answer, given its own recomputation.

    Hashes first (the bytes must be the ones the proof committed to), then
    the numbers within tolerance. The first failure is the verdict.
    """
    if (
        hashlib.sha256(answer.input_activations).hexdigest()
        != proof.input_activations_sha256
    ):
        return _failed(
            "input activations do not hash to the proof's input_activations_sha256"
        )
    if (
        hashlib.sha256(answer.output_activations).hexdigest()
        != proof.output_activations_sha256
    ):
        return _failed(
            "output activations do not hash to the proof's output_activations_sha256"
        )
    root = bytes.fromhex(proof.gradient_merkle_root)
    expected_leaves = gradient_chunk_count(proof.gradient_value_count)
    if not answer.gradient_chunks:
        return _failed("no gradient chunks were answered")
    for inclusion, chunk in answer.gradient_chunks:
        if inclusion.leaf_count != expected_leaves or not verify_inclusion(
            root, chunk, inclusion
        ):
            return _failed(
                f"gradient chunk {inclusion.leaf_index} is not under the proof's Merkle root"
            )
    claimed_output = _float32s(answer.output_activations)
    if claimed_output is None:
        return _failed(
            f"output activations are {len(answer.output_activations)} bytes, not float32s"
        )
    verdicts = [
        compare_recomputed(
            claimed_output, recomputed_output, tolerance, "output activations"
        )
    ]
    for inclusion, chunk in answer.gradient_chunks:
        recomputed = recomputed_gradient_chunks.get(inclusion.leaf_index)
        claimed = _float32s(chunk)
        if recomputed is None or claimed is None:
            return _failed(
                f"gradient chunk {inclusion.leaf_index} was not recomputed or is not float32s"
            )
        verdicts.append(
            compare_recomputed(
                claimed, recomputed, tolerance, f"gradient chunk {inclusion.leaf_index}"
            )
        )
    failing = [v for v in verdicts if not v.passed]
    return Verdict(
        passed=not failing,
        reason=failing[0].reason if failing else "; ".join(v.reason for v in verdicts),
        compared_values=sum(v.compared_values for v in verdicts),
        mismatched_values=sum(v.mismatched_values for v in verdicts),
        max_abs_difference=max(v.max_abs_difference for v in verdicts),
        max_relative_difference=max(v.max_relative_difference for v in verdicts),
    )
