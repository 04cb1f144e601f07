"""PoNW records, spot-check sampling, tolerance verdicts and judging a real answer."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.merkle import InclusionProof, MerkleTree, gradient_chunks
from coordinator_free.ponw import (
    ChallengeAnswer,
    CohortSyncProof,
    PipelineProof,
    ToleranceConfig,
    compare_recomputed,
    decode_proof,
    gradient_chunk_count,
    judge_pipeline_answer,
    proof_bytes,
    proof_id,
    sample_gradient_chunks,
    should_spot_check,
)
from coordinator_free.types import NodeId, QuorumId, ShardId

PROVER = NodeId("a" * 64)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StageWork:
    """One stage's honest work on one batch: real bytes, a real gradient tree."""

    def __init__(self, seed: int = 0, gradient_values: int = 2500) -> None:
        rng = np.random.default_rng(seed)
        self.input_bytes = rng.standard_normal(64).astype("<f4").tobytes()
        self.output = rng.standard_normal(64).astype(np.float32)
        self.gradient = rng.standard_normal(gradient_values).astype(np.float32)
        self.chunks = gradient_chunks(self.gradient)
        self.tree = MerkleTree(self.chunks)

    def proof(self, output: np.ndarray | None = None) -> PipelineProof:
        claimed = self.output if output is None else output
        return PipelineProof(
            node_id=PROVER,
            quorum_id=QuorumId("q1"),
            arch_version=1,
            first_layer=2,
            last_layer=5,
            shard_id=ShardId("d" * 64),
            batch_offset=4096,
            batch_length=2048,
            step=17,
            input_activations_sha256=sha(self.input_bytes),
            output_activations_sha256=sha(claimed.astype("<f4").tobytes()),
            gradient_merkle_root=self.tree.root.hex(),
            gradient_value_count=self.gradient.size,
            previous_node_id=NodeId("b" * 64),
            next_node_id=None,
            created_at_s=1000.0,
        )

    def answer(
        self, indices=(0, 2), output: np.ndarray | None = None
    ) -> ChallengeAnswer:
        claimed = self.output if output is None else output
        return ChallengeAnswer(
            input_activations=self.input_bytes,
            output_activations=claimed.astype("<f4").tobytes(),
            gradient_chunks=tuple(
                (self.tree.inclusion_proof(i), self.chunks[i]) for i in indices
            ),
        )

    def recomputed_chunks(
        self, indices=(0, 2), noise: float = 0.0
    ) -> dict[int, np.ndarray]:
        rng = np.random.default_rng(99)
        return {
            i: np.frombuffer(self.chunks[i], "<f4")
            + noise * rng.standard_normal(len(self.chunks[i]) // 4)
            for i in indices
        }


# ---------------------------------------------------------------- records


def test_proofs_round_trip_through_canonical_bytes():
    proof = StageWork().proof()
    assert decode_proof(proof_bytes(proof)) == proof
    assert proof_id(proof) == sha(proof_bytes(proof))
    sync = CohortSyncProof(PROVER, 1, 0, 10, 3, 500, "1" * 64, "2" * 64, "3" * 64, 5.0)
    assert decode_proof(proof_bytes(sync)) == sync
    assert proof_id(sync) != proof_id(proof)


def test_malformed_proofs_cannot_be_built():
    work = StageWork()
    with pytest.raises(ProtocolError, match="64 lowercase hex"):
        CohortSyncProof(PROVER, 1, 0, 10, 3, 500, "XYZ", "2" * 64, "3" * 64, 5.0)
    with pytest.raises(ProtocolError, match="layer range"):
        PipelineProof(**{**work.proof().__dict__, "first_layer": 6})


# --------------------------------------------------------------- sampling


def test_no_spot_checks_below_twenty_nodes_and_the_table_rate_above():
    draws = [bytes([i % 256, i // 256]) for i in range(20000)]
    assert not any(should_spot_check("p", randomness, 19) for randomness in draws)
    rate = sum(should_spot_check("p", randomness, 100) for randomness in draws) / len(
        draws
    )
    assert rate == pytest.approx(0.03, abs=0.006)
    assert should_spot_check("p", b"x", 600) == should_spot_check("p", b"x", 600)


def test_sampled_chunks_are_distinct_sorted_in_range_and_reproducible():
    chosen = sample_gradient_chunks("proof", b"signature", 3079, 4)
    assert len(set(chosen)) == 4 and list(chosen) == sorted(chosen)
    assert all(0 <= i < 3079 for i in chosen)
    assert chosen == sample_gradient_chunks("proof", b"signature", 3079, 4)
    assert chosen != sample_gradient_chunks("proof", b"other signature", 3079, 4)
    assert sample_gradient_chunks("proof", b"s", 3, 4) == (0, 1, 2)


# --------------------------------------------------------------- verdicts


def test_values_within_tolerance_pass_with_their_measurements():
    recomputed = np.linspace(-2, 2, 100)
    verdict = compare_recomputed(
        recomputed * (1 + 5e-3), recomputed, ToleranceConfig(), "output"
    )
    assert (
        verdict.passed
        and verdict.compared_values == 100
        and verdict.mismatched_values == 0
    )
    assert verdict.max_abs_difference == pytest.approx(0.01)
    assert "within tolerance" in verdict.reason


def test_values_beyond_tolerance_fail_and_say_how_far():
    recomputed = np.ones(10)
    claimed = recomputed.copy()
    claimed[3] = 1.5
    verdict = compare_recomputed(claimed, recomputed, what="output")
    assert not verdict.passed and verdict.mismatched_values == 1
    assert verdict.max_abs_difference == pytest.approx(0.5)
    assert "1 of 10 values differ" in verdict.reason


@pytest.mark.parametrize(
    ("claimed", "recomputed", "reason"),
    [
        (np.ones(3), np.ones(4), "3 values claimed but 4 recomputed"),
        (np.ones(0), np.ones(0), "nothing to compare"),
        (np.array([1.0, math.nan]), np.ones(2), "NaN or infinity"),
        (np.ones(2), np.array([1.0, math.inf]), "NaN or infinity"),
    ],
)
def test_verification_fails_closed(claimed, recomputed, reason):
    verdict = compare_recomputed(claimed, recomputed)
    assert not verdict.passed and reason in verdict.reason
    assert verdict.max_abs_difference == math.inf


def test_an_honest_answer_passes_on_other_hardware():
    work = StageWork()
    recomputed_output = work.output + np.float32(1e-5) * np.random.default_rng(
        1
    ).standard_normal(64)
    verdict = judge_pipeline_answer(
        work.proof(),
        work.answer(),
        recomputed_output=recomputed_output,
        recomputed_gradient_chunks=work.recomputed_chunks(noise=1e-6),
    )
    assert verdict.passed, verdict.reason
    assert verdict.compared_values == 64 + 1024 + (2500 - 2048)


def test_a_lazy_prover_is_caught_even_though_its_hashes_are_consistent():
    work = StageWork()
    lazy_output = np.zeros(64, dtype=np.float32)  # never ran the layers
    verdict = judge_pipeline_answer(
        work.proof(lazy_output),
        work.answer(output=lazy_output),
        recomputed_output=work.output,
        recomputed_gradient_chunks=work.recomputed_chunks(),
    )
    assert not verdict.passed
    assert verdict.reason.startswith("output activations: ")
    assert verdict.max_abs_difference > 1.0


def test_answers_that_do_not_match_the_proof_fail():
    work = StageWork()
    proof, answer = work.proof(), work.answer()
    judge = lambda a, chunks=None: judge_pipeline_answer(
        proof,
        a,
        recomputed_output=work.output,
        recomputed_gradient_chunks=chunks or work.recomputed_chunks(),
    )
    other_input = ChallengeAnswer(
        b"other", answer.output_activations, answer.gradient_chunks
    )
    assert "input activations do not hash" in judge(other_input).reason
    forged_chunk = ((answer.gradient_chunks[0][0], b"\x00" * 4096),)
    assert (
        "not under the proof's Merkle root"
        in judge(
            ChallengeAnswer(work.input_bytes, answer.output_activations, forged_chunk)
        ).reason
    )
    inclusion = answer.gradient_chunks[0][0]
    wrong_count = (
        (InclusionProof(inclusion.leaf_index, 4, inclusion.path), work.chunks[0]),
    )
    assert (
        "not under"
        in judge(
            ChallengeAnswer(work.input_bytes, answer.output_activations, wrong_count)
        ).reason
    )
    assert (
        "no gradient chunks"
        in judge(
            ChallengeAnswer(work.input_bytes, answer.output_activations, ())
        ).reason
    )
    assert (
        "was not recomputed"
        in judge(answer, chunks={0: work.recomputed_chunks()[0]}).reason
    )


def test_leaf_count_follows_the_gradient_size():
    assert [gradient_chunk_count(n) for n in (0, 1, 1024, 1025, 3_152_384)] == [
        0,
        1,
        1,
        2,
        3079,
    ]
