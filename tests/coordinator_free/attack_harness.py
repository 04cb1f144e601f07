"""A small Byzantine attack harness for the cohort aggregator (tests only).

Ten workers train logistic regression (20 features, 400 examples each) with
DiLoCo exactly as a cohort does: each round every worker takes 5 local SGD
steps from the shared θ_start, sends Δ = θ_start − θ_local, and the real
`apply_cohort_sync` aggregates and takes the outer Nesterov step. Attackers
replace their Δ with a crafted vector; they see every honest Δ of the round
(omniscient, the standard worst case) and know nothing else.

The data are mildly non-IID: each worker's features are shifted by its own
N(0, 0.5²) offset, so honest Δs disagree the way real cohorts do and an attack
hiding inside that spread has room. Attackers get node ids at random places in
the canonical order, so tie-breaking by node id favours nobody.

Attacks (f attackers out of 10):
- GAUSSIAN: N(0, 100²) per coordinate, about 1000× an honest Δ.
- SIGN_FLIP: the attacker's own honest Δ, negated.
- ALIE ("a little is enough", Baruch et al. 2019): mean − z·std of the honest
  Δs per coordinate, z = 2. The paper's z_max for n = 10 (0.25–0.84) barely
  moves any aggregator here; z = 2 stays inside the honest spread on most
  coordinates and is the setting where plain trimmed mean visibly fails.
- IPM (inner-product manipulation, Xie et al. 2020): −ε × honest mean, ε = 0.1.

`final_loss` returns the global training loss (all workers' data) after the
last round; tests compare it with the clean loss (plain mean, no attackers).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

import numpy as np

from coordinator_free.aggregation import PLAIN_MEAN_CONFIG, AggregationConfig
from coordinator_free.diloco import (
    CohortSync,
    DiLoCoConfig,
    PseudoGradient,
    apply_cohort_sync,
    initial_outer_state,
)
from coordinator_free.types import NodeId


class Attack(enum.Enum):
    NONE = "none"
    GAUSSIAN = "gaussian"
    SIGN_FLIP = "sign_flip"
    ALIE = "alie"
    IPM = "ipm"


@dataclass(frozen=True)
class HarnessConfig:
    workers: int = 10
    features: int = 20
    examples_per_worker: int = 400
    heterogeneity: float = 0.5  # std of each worker's feature offset
    rounds: int = 60  # cohort syncs
    inner_steps: int = 5  # local SGD steps per round
    inner_learning_rate: float = 0.1
    batch_size: int = 32  # examples per local step
    gaussian_std: float = 100.0
    alie_z: float = 2.0
    ipm_epsilon: float = 0.1


@dataclass(frozen=True)
class Problem:
    features: tuple[np.ndarray, ...]  # per worker, examples × features
    labels: tuple[np.ndarray, ...]  # per worker, 0/1
    node_ids: tuple[NodeId, ...]  # per worker


def make_problem(seed: int, config: HarnessConfig) -> Problem:
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal(config.features)
    features, labels = [], []
    for _ in range(config.workers):
        offset = rng.standard_normal(config.features) * config.heterogeneity
        x = rng.standard_normal((config.examples_per_worker, config.features)) + offset
        probability = 1.0 / (1.0 + np.exp(-(x @ truth)))
        features.append(x)
        labels.append(
            (rng.random(config.examples_per_worker) < probability).astype(np.float64)
        )
    node_ids = tuple(
        NodeId(hashlib.sha256(f"harness-{seed}-{worker}".encode()).hexdigest())
        for worker in range(config.workers)
    )
    return Problem(tuple(features), tuple(labels), node_ids)


def global_loss(theta: np.ndarray, problem: Problem) -> float:
    x = np.concatenate(problem.features)
    y = np.concatenate(problem.labels)
    logits = x @ theta.astype(np.float64)
    return float(np.mean(np.logaddexp(0.0, logits) - y * logits))


def _gradient(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    logits = np.clip(x @ theta, -60.0, 60.0)
    return x.T @ (1.0 / (1.0 + np.exp(-logits)) - y) / len(y)


def _honest_deltas(
    theta: np.ndarray, problem: Problem, rng: np.random.Generator, config: HarnessConfig
) -> np.ndarray:
    deltas = []
    for x, y in zip(problem.features, problem.labels):
        local = theta.astype(np.float64)
        for _ in range(config.inner_steps):
            batch = rng.integers(0, len(y), config.batch_size)
            local = local - config.inner_learning_rate * _gradient(
                local, x[batch], y[batch]
            )
        deltas.append(theta - local)
    return np.array(deltas)


def _attacked(
    deltas: np.ndarray,
    attack: Attack,
    attackers: int,
    rng: np.random.Generator,
    config: HarnessConfig,
) -> np.ndarray:
    if attack is Attack.NONE or attackers == 0:
        return deltas
    honest = deltas[: len(deltas) - attackers]
    crafted = deltas.copy()
    if attack is Attack.GAUSSIAN:
        crafted[-attackers:] = (
            rng.standard_normal((attackers, deltas.shape[1])) * config.gaussian_std
        )
    elif attack is Attack.SIGN_FLIP:
        crafted[-attackers:] = -deltas[-attackers:]
    elif attack is Attack.ALIE:
        crafted[-attackers:] = honest.mean(axis=0) - config.alie_z * honest.std(axis=0)
    elif attack is Attack.IPM:
        crafted[-attackers:] = -config.ipm_epsilon * honest.mean(axis=0)
    return crafted


def final_loss(
    *,
    attack: Attack,
    attackers: int,
    seed: int,
    aggregation: AggregationConfig,
    config: HarnessConfig = HarnessConfig(),
) -> float:
    """Global loss after `config.rounds` cohort syncs under `attack` by `attackers` workers."""
    problem = make_problem(seed, config)
    rng = np.random.default_rng(seed + 1_000_003)
    state = initial_outer_state(np.zeros(config.features, dtype=np.float32))
    diloco = DiLoCoConfig(aggregation=aggregation)
    for round_index in range(config.rounds):
        deltas = _attacked(
            _honest_deltas(state.parameters, problem, rng, config),
            attack,
            attackers,
            rng,
            config,
        )
        now_s = 60.0 * round_index
        sync = CohortSync(
            pseudo_gradients=tuple(
                PseudoGradient(
                    node_id, delta.astype(np.float32), config.inner_steps, now_s
                )
                for node_id, delta in zip(problem.node_ids, deltas)
            ),
            now_s=now_s,
        )
        state = apply_cohort_sync(state, sync, diloco)
    return global_loss(state.parameters, problem)


def clean_loss(seed: int, config: HarnessConfig = HarnessConfig()) -> float:
    """The reference: plain weighted mean, nobody attacking."""
    return final_loss(
        attack=Attack.NONE,
        attackers=0,
        seed=seed,
        aggregation=PLAIN_MEAN_CONFIG,
        config=config,
    )
