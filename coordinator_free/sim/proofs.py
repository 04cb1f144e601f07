"""Proof of Neural Work in the simulator: proofs, spot checks, verdicts, slashes.

Every batch a pipeline stage processes yields a proof (§13). The simulator
treats the two kinds of proof differently, because there are billions of
honest ones and few fake ones:

- **Fake proofs** (a lazy member's faked share of its batches; every proof of
  a colluding quorum) are made one by one as real `PipelineProof` records;
  each meets `ponw.should_spot_check` with the checker's randomness, exactly
  as a live verifier would draw. A drawn fake is challenged: the lazy node
  answers with the bytes it committed to, the challenger recomputes, and
  `ponw.judge_pipeline_answer` gives the verdict. A fraud verdict slashes
  (economy.slash_for_fraud) and expels the node (a colluding quorum: every
  member, and the quorum is dissolved by `AuditFailed`). Proofs a node
  would have made after its first caught one in the step are not made.
- **Honest proofs** are counted: `should_spot_check` draws an independent
  uniform per proof (a hash), so the checks among H proofs are
  Binomial(H, p) with p = spot_check_probability(n); the simulator draws
  that count. Up to `verdict_samples_per_step` of those checks per step are
  judged for real — an honest answer carries the prover's hardware noise,
  the recomputation the challenger's — and a failed verdict would slash the
  honest node as the rules say (the summary must show none).

What a challenge costs the challenger when the proof was honest (§13: half
its 10 NEURO stake goes to the prover) is tallied but not paid: at the
spot-check rates of §7 every verifier would be bankrupt within minutes; the
summary reports the sum as a finding for the protocol.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.constants import (
    CHALLENGER_STAKE,
    MERKLE_CHUNK_VALUES,
    PONW_SAMPLED_GRADIENT_CHUNKS,
    VALID_PROOF_CHALLENGER_STAKE_TO_PROVER,
)
from coordinator_free.merkle import MerkleTree, gradient_chunks
from coordinator_free.network_view import Mode
from coordinator_free.ponw import (
    ChallengeAnswer,
    PipelineProof,
    judge_pipeline_answer,
    proof_id,
    sample_gradient_chunks,
    should_spot_check,
)
from coordinator_free.scale import spot_check_probability
from coordinator_free.types import QuorumId

from .economy import slash_for_fraud
from .hardware import LAZY
from .membership import refresh_admission
from .nodes import GENESIS_SHARDS, MODE_INDEX
from .quorum_life import dissolve_for, member_gone

if TYPE_CHECKING:
    from .world import World

_OUTPUT_VALUES = 64
_GRADIENT_VALUES = 2 * MERKLE_CHUNK_VALUES
_HARDWARE_NOISE = 1e-3  # relative: fp32 on one machine vs TF32 on another
_SHARD = min(GENESIS_SHARDS)


@dataclass(frozen=True, eq=False)
class _Work:
    """One stage's outputs and gradients on one batch, as a node would commit to them."""

    input_bytes: bytes
    output: np.ndarray  # float32
    gradient: np.ndarray  # float32
    tree: MerkleTree

    @classmethod
    def of(cls, input_bytes: bytes, output: np.ndarray, gradient: np.ndarray) -> _Work:
        output, gradient = output.astype("<f4"), gradient.astype("<f4")
        return cls(input_bytes, output, gradient, MerkleTree(gradient_chunks(gradient)))


def _proof(world: World, row: int, work: _Work, offset: int) -> PipelineProof:
    table = world.table
    return PipelineProof(
        node_id=table.node_id(row),
        quorum_id=table.quorum_ids[row] or QuorumId("none"),
        arch_version=world.arch_version,
        first_layer=int(table.stage_start[row]),
        last_layer=max(int(table.stage_start[row]), int(table.stage_stop[row]) - 1),
        shard_id=_SHARD,
        batch_offset=offset,
        batch_length=4096,
        step=int(world.model_step),
        input_activations_sha256=hashlib.sha256(work.input_bytes).hexdigest(),
        output_activations_sha256=hashlib.sha256(work.output.tobytes()).hexdigest(),
        gradient_merkle_root=work.tree.root.hex(),
        gradient_value_count=_GRADIENT_VALUES,
        previous_node_id=None,
        next_node_id=None,
        created_at_s=world.now_s,
    )


def _verdict(
    proof: PipelineProof,
    work: _Work,
    truth: tuple[np.ndarray, np.ndarray],
    randomness: bytes,
    rng: np.random.Generator,
) -> bool:
    """The challenger recomputes (with its own hardware noise) and judges the answer."""
    chunks = sample_gradient_chunks(
        proof_id(proof), randomness, work.tree.leaf_count, PONW_SAMPLED_GRADIENT_CHUNKS
    )
    claimed = gradient_chunks(work.gradient)
    answer = ChallengeAnswer(
        input_activations=work.input_bytes,
        output_activations=work.output.tobytes(),
        gradient_chunks=tuple(
            (work.tree.inclusion_proof(i), claimed[i]) for i in chunks
        ),
    )
    output, gradient = (
        t * (1.0 + rng.normal(0.0, _HARDWARE_NOISE, t.size)) for t in truth
    )
    recomputed = {
        i: gradient[i * MERKLE_CHUNK_VALUES : (i + 1) * MERKLE_CHUNK_VALUES]
        for i in chunks
    }
    verdict = judge_pipeline_answer(
        proof, answer, recomputed_output=output, recomputed_gradient_chunks=recomputed
    )
    return verdict.passed


def _truth(rng: np.random.Generator) -> tuple[bytes, np.ndarray, np.ndarray]:
    return (
        rng.bytes(256),
        rng.normal(0.0, 1.0, _OUTPUT_VALUES),
        rng.normal(0.0, 0.01, _GRADIENT_VALUES),
    )


def _randomness(world: World, row: int, index: int) -> bytes:
    text = f"{world.scenario.seed}|{world.now_s!r}|{row}|{index}"
    return hashlib.sha256(text.encode()).digest()


def step_proofs(world: World) -> tuple[np.ndarray, np.ndarray]:
    """(rows, proofs) of every training member this step: one proof per batch its quorum ran."""
    book, table, count = world.book, world.table, world.table.count
    made = np.floor(book.total_batches) - np.floor(
        book.total_batches - book.step_batches
    )
    slots = table.quorum[:count]
    safe = np.maximum(slots, 0)
    rows = np.flatnonzero((slots >= 0) & book.training[safe] & (made[safe] > 0))
    return rows, made[slots[rows]].astype(np.int64)


def check_proofs(world: World) -> float:
    """This step's spot checks: fake proofs one by one, honest ones by count. Returns fake batches.

    A batch is fake when any member of its quorum faked its stage; the count
    per quorum is its members' largest number of fakes (a lower bound).
    """
    rows, made = step_proofs(world)
    fakes = _fake_counts(world, rows, made)
    slots = world.table.quorum[rows]
    worst = np.zeros(world.book.rate.size)
    np.maximum.at(worst, slots, fakes)
    p = spot_check_probability(world.network_size)
    if p > 0:
        for index in np.flatnonzero(fakes):
            row = int(rows[index])
            if world.table.online[row] and not world.table.caught[row]:
                _expose_fakes(world, row, int(fakes[index]), p)
        _check_honest(world, rows, made - fakes, p)
    return float(worst.sum())


def _fake_counts(world: World, rows: np.ndarray, made: np.ndarray) -> np.ndarray:
    """Fakes per member: all of a colluding quorum's, a binomial share of a lazy node's."""
    table = world.table
    colluding = world.book.colluding[table.quorum[rows]]
    lazy = (table.behaviour[rows] == LAZY) & ~colluding
    fakes = np.where(colluding, made, 0)
    if lazy.any():
        fakes[lazy] = world.rng.binomial(
            made[lazy], world.scenario.adversaries.lazy_fake_share
        )
    return fakes


def _expose_fakes(world: World, row: int, count: int, p: float) -> None:
    tallies, rng = world.tallies, world.rng
    truth = _truth(rng)
    garbage = _Work.of(
        truth[0],
        rng.normal(0.0, 1.0, _OUTPUT_VALUES),
        rng.normal(0.0, 1.0, _GRADIENT_VALUES),
    )
    for index in range(count):
        proof = _proof(world, row, garbage, offset=index * 4096)
        randomness = _randomness(world, row, index)
        tallies.fake_proofs_exposed += 1
        tallies.expected_catches += p
        tallies.catch_variance += p * (1.0 - p)
        if should_spot_check(proof_id(proof), randomness, world.network_size):
            tallies.fake_proofs_caught += 1
            if not _verdict(proof, garbage, truth[1:], randomness, rng):
                _punish(world, row)
            return


def _check_honest(world: World, rows: np.ndarray, honest: np.ndarray, p: float) -> None:
    tallies, rng = world.tallies, world.rng
    checks = int(rng.binomial(int(honest.sum()), p))
    tallies.honest_checks += checks
    tallies.challenger_stake_lost += (
        checks * CHALLENGER_STAKE * VALID_PROOF_CHALLENGER_STAKE_TO_PROVER
    )
    candidates = rows[honest > 0]
    for _ in range(
        min(checks, world.scenario.economy.verdict_samples_per_step, candidates.size)
    ):
        row = int(candidates[int(rng.integers(candidates.size))])
        truth = _truth(rng)
        honest_work = _Work.of(
            truth[0],
            *(t * (1.0 + rng.normal(0.0, _HARDWARE_NOISE, t.size)) for t in truth[1:]),
        )
        proof = _proof(world, row, honest_work, offset=0)
        tallies.honest_verdicts_run += 1
        if not _verdict(
            proof, honest_work, truth[1:], _randomness(world, row, -1), rng
        ):
            tallies.honest_verdicts_failed += 1
            _punish(world, row)


def _challenger(world: World, offender: int) -> int:
    table = world.table
    verifiers = [
        r
        for r in world.online.draw(world.prng, 64)
        if table.mode[r] == MODE_INDEX[Mode.VERIFY]
    ]
    others = verifiers or [
        r
        for r in world.online.draw(world.prng, 8)
        if table.quorum[r] != table.quorum[offender]
    ]
    return others[0] if others else world.online.items[0]


def _punish(world: World, row: int) -> None:
    """Fraud: slash, and expel (a colluding quorum is dissolved with every member slashed)."""
    table = world.table
    slot = int(table.quorum[row])
    record = world.book.records[slot] if slot >= 0 else None
    culprits = (
        list(record.members) if record is not None and record.colluding else [row]
    )
    if record is not None and record.colluding:
        dissolve_for(world, slot, upgrade=False)
        world.tallies.colluding_quorums_dissolved += 1
    for culprit in culprits:
        slash_for_fraud(world, culprit, _challenger(world, culprit))
        if not table.caught[culprit]:
            table.caught[culprit] = True
            world.tallies.attackers_caught += 1
        refresh_admission(world, culprit)
        if table.quorum[culprit] >= 0:
            member_gone(world, culprit, graceful=True)
        world.pools.discard(culprit)
