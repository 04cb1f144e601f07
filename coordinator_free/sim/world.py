"""The simulator's whole mutable state in one place, and its running tallies.

Everything the parts of the simulator share lives on `World`: the clock, the
one random generator (so one seed decides every draw, in one order), the
node table, the free pools, the quorum book, the event queue, the model's
depth and versions. The parts are functions over a World; none keeps hidden
state of its own.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from coordinator_free.growth_upgrade import UpgradeState

from .events import EventQueue
from .hardware import region_latency_ms
from .nodes import NodeTable
from .pools import FreePools, IndexedSet
from .scenario import Scenario


@dataclass
class Tallies:
    """Counts the summary reports; each is incremented where the thing happens."""

    arrivals: int = 0
    departures: int = 0
    crashes: int = 0
    formations: int = 0
    formation_failures: Counter = field(default_factory=Counter)  # by reason
    dissolutions: Counter = field(default_factory=Counter)  # by reason
    replacements: int = 0
    replacements_not_found: int = 0
    lifecycle_events: int = 0  # events applied to quorum states
    mode_decisions: int = 0
    sync_rounds: int = 0
    contributions: int = 0  # pseudo-gradients sent to cohort syncs
    poisoned_contributions: int = 0
    poisoned_clipped: float = 0.0  # scaled from the real aggregator's sample
    poisoned_trimmed: float = 0.0
    honest_clipped: float = 0.0
    real_batches: float = 0.0  # batches actually computed (pipeline + async)
    fake_batches: float = 0.0  # batches faked by lazy or colluding members
    honest_checks: int = 0  # spot checks of honest proofs
    honest_verdicts_run: int = 0  # of those, judged by the real verdict
    honest_verdicts_failed: int = 0
    challenger_stake_lost: float = (
        0.0  # NEURO §13 would move from challengers to honest provers
    )
    fake_proofs_exposed: int = 0  # fake proofs that met the spot-check draw
    fake_proofs_caught: int = 0
    expected_catches: float = 0.0  # Σ p over exposed fake proofs
    catch_variance: float = 0.0  # Σ p(1 − p)
    attackers_caught: int = 0
    colluding_quorums_dissolved: int = 0
    sybils_refused: int = 0
    growth_announced: int = 0
    growth_activated: int = 0
    growth_aborted: int = 0
    inference_requests: int = 0
    inference_tokens: int = 0
    inference_paid: float = 0.0
    inference_burned: float = 0.0
    inference_refunded: float = 0.0
    vocab_proposals: int = 0
    vocab_activated: int = 0
    vocab_rejected: int = 0
    vocab_no_proposer: int = 0
    edge_uncovered_s: float = 0.0  # embedding or head without a holder, once n >= 20
    edge_watch_s: float = 0.0  # time watched for that (n >= 20)


class World:
    def __init__(self, scenario: Scenario) -> None:
        from .economy import Economy  # these import World for their type hints
        from .quorums import QuorumBook

        self.scenario = scenario
        self.rng = np.random.default_rng(scenario.seed)
        self.prng = random.Random(
            scenario.seed
        )  # small discrete draws (pools), cheaper than numpy
        self.now_s = 0.0
        expected = scenario.population.final_nodes * 2 + 64
        self.table = NodeTable(expected)
        self.pools = FreePools(scenario.regions.count)
        self.online = IndexedSet()
        self.book = QuorumBook()
        self.queue = EventQueue()
        self.region_latency_ms = region_latency_ms(self.rng, scenario.regions)
        self.region_latency_rows_ms = self.region_latency_ms.tolist()  # for per-pair lookups
        self.depth = scenario.model.initial_depth  # layers of the active architecture
        self.arch_version = 1
        self.vocab_version = 1
        self.model_step = (
            0.0  # the network's training step (median pipeline; see training.py)
        )
        self.step_at_upgrade = (
            0.0  # model_step when the last upgrade activated (or the run began)
        )
        self.last_round_step = 0.0  # model_step at the last cohort sync
        self.sync_weight_by_tier = dict.fromkeys(
            range(1, 6), 0.0
        )  # Σ contribution weights, per tier
        self.upgrade: UpgradeState | None = None
        self.tallies = Tallies()
        self.economy = Economy()
        self.economy.reserve(self.table.capacity)
        self.mode_dirty: set[int] = set()  # rows whose mode must be decided again
        self.slow_clocks: set[int] = set()  # members whose last latency sample was over the bound
        self.host_admitted: Counter = Counter()  # admitted nodes per host
        self.admission_enforced = (
            False  # n >= the admission size (flips re-check everyone)
        )
        self.full_claims: dict = {}  # depth -> the claim of a node that holds the whole model
        self.sybil_count = 0
        self.target_factor = 1.0  # the storm lowers the population target by its share
        self.storm_started_s: float | None = None
        self.edge_watch_since_s: float | None = None  # n first reached 20
        self.edge_uncovered_since_s: float | None = None
        self.growth_log: list[dict] = []  # the rule's inputs at every announcement
        self.proposals: dict[
            int, tuple
        ] = {}  # index -> (proposer row, GovernanceState)
        self.merged_tokens: frozenset[bytes] = (
            frozenset()
        )  # tokens activated by governance
        self.table.ensure_layers(self.depth)

    @property
    def network_size(self) -> int:
        """n for the §7 rules: every online node (>= 1 so the rules accept it)."""
        return max(1, self.table.online_count)

    @property
    def claim_depth(self) -> int:
        """Layers a joining node may claim: the pending architecture's during a grace window."""
        upgrade = self.upgrade
        if upgrade is not None and upgrade.phase.value == "announced":
            return upgrade.new_depth
        return self.depth
