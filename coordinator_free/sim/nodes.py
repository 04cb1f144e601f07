"""Every virtual node as numpy columns, and each node's record as the rules see it.

Row i is node i, for the whole run (departed nodes keep their row). Columns
grow by doubling. `view(i)` is the node's NodeView, the same frozen record a
live peer would publish; it is cached and rebuilt only after `touch(i)`, so
a view of hundreds of nodes costs a tuple, not hundreds of constructions.

Layer holders are counted incrementally (+1 on a claim, −1 on a release):
the same numbers `NetworkView.holder_counts` would give for the online nodes
(tests check that), without rebuilding a 100,000-node view per question.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from coordinator_free.network_view import LayerRange, Mode, NodeView
from coordinator_free.types import NodeId, QuorumId, ShardId

MODES = tuple(Mode)
MODE_INDEX = {mode: index for index, mode in enumerate(MODES)}
# Every node holds the embedded default corpus (DESIGN §3: the interpreter's
# own standard library), cut into these shards.
GENESIS_SHARDS = frozenset(
    ShardId(hashlib.sha256(f"stdlib-shard-{k}".encode()).hexdigest()) for k in range(4)
)

_COLUMNS: dict[str, tuple[type, object]] = {
    "online": (bool, False),
    "joined_s": (np.float64, 0.0),
    "left_s": (np.float64, np.inf),
    "tier": (np.int8, 0),
    "speed_ms": (np.float64, 0.0),  # benchmark, what the rules see
    "actual_ms": (np.float64, 0.0),  # what it really delivers (slow griefers differ)
    "memory_bytes": (np.int64, 0),
    "max_layers": (np.int32, 0),
    "region": (np.int16, 0),
    "jitter_ms": (np.float64, 0.0),
    "host": (np.int64, 0),
    "behaviour": (np.int8, 0),
    "start": (np.int32, 0),  # claimed layers [start, stop); equal: none
    "stop": (np.int32, 0),
    "mode": (np.int8, MODE_INDEX[Mode.IDLE]),
    "mode_since_s": (np.float64, 0.0),
    "quorum": (np.int32, -1),  # quorum slot, -1: none
    "stage_start": (np.int32, 0),  # layers it runs in its quorum
    "stage_stop": (np.int32, 0),
    "stake": (np.float64, 0.0),  # NEURO staked (mirrors the ledger between folds)
    "admitted": (bool, False),
    "caught": (bool, False),  # found faking proofs
    "retry_s": (np.float64, 0.0),  # next time it may found a quorum
    "silent_since_s": (np.float64, np.inf),  # crashed at (still in a quorum's books)
    "own_batches": (np.float64, 0.0),  # batches trained alone this step (solo, async)
    "since_round": (np.float64, 0.0),  # async batches since its last cohort sync
    "theta_start_s": (
        np.float64,
        0.0,
    ),  # when it took the weights it trains from (async age)
    "served_samples": (np.float64, 0.0),  # genesis samples served this step (DATA)
    "reputation": (np.float64, 0.5),  # inference reputation r in [0, 1]
}


class FixedRecord(NamedTuple):
    """A row's fields that never change after membership.create_nodes writes them."""

    node_id: NodeId
    speed_ms: float  # benchmark ms per layer
    actual_ms: float  # ms per layer it really delivers
    max_layers: int
    memory_bytes: int
    region: int
    jitter_ms: float
    tier: int
    behaviour: int


class NodeTable:
    def __init__(self, capacity: int) -> None:
        self.count = 0
        self.capacity = max(16, capacity)
        for name, (dtype, default) in _COLUMNS.items():
            setattr(self, name, np.full(self.capacity, default, dtype=dtype))
        self._views: list[NodeView | None] = [None] * self.capacity
        # Per row, as Python values: what never changes after membership.create_nodes
        # writes it (a FixedRecord), and the claim as a LayerRange (set_claim is its
        # only writer). Per-event paths (rebuilding a NodeView after a touch, offering
        # a node to the free pools, round trips) then read Python values, not numpy
        # scalars (~100 ns each, and their comparisons as much again).
        self._fixed: list[FixedRecord | None] = [None] * self.capacity
        self._claims: list[LayerRange | None] = [None] * self.capacity
        self.quorum_ids: list[QuorumId | None] = [None] * self.capacity
        self.holders = np.zeros(1, dtype=np.int64)  # per layer, online nodes only
        self.online_count = 0
        self.online_memory_bytes = 0

    # ------------------------------------------------------------ growth
    def reserve(self, extra: int) -> None:
        needed = self.count + extra
        if needed <= self.capacity:
            return
        capacity = max(needed, 2 * self.capacity)
        for name, (dtype, default) in _COLUMNS.items():
            grown = np.full(capacity, default, dtype=dtype)
            grown[: self.capacity] = getattr(self, name)
            setattr(self, name, grown)
        self._views.extend([None] * (capacity - self.capacity))
        self._fixed.extend([None] * (capacity - self.capacity))
        self._claims.extend([None] * (capacity - self.capacity))
        self.quorum_ids.extend([None] * (capacity - self.capacity))
        self.capacity = capacity

    def new_rows(self, count: int) -> np.ndarray:
        self.reserve(count)
        rows = np.arange(self.count, self.count + count)
        self.count += count
        return rows

    # ------------------------------------------------------------ identity
    @staticmethod
    def node_id(index: int) -> NodeId:
        # Zero-padded so that sorting ids sorts indices (rules tie-break by id).
        return NodeId(f"n{int(index):08d}")

    @staticmethod
    def index_of(node_id: str) -> int:
        return int(node_id[1:])

    # ------------------------------------------------------------ records
    def touch(self, index: int) -> None:
        self._views[index] = None

    def fixed(self, index: int) -> FixedRecord:
        """The row's fixed fields as Python values (read from the columns once)."""
        fixed = self._fixed[index]
        if fixed is None:
            fixed = self._fixed[index] = FixedRecord(
                self.node_id(index),
                float(self.speed_ms[index]),
                float(self.actual_ms[index]),
                int(self.max_layers[index]),
                int(self.memory_bytes[index]),
                int(self.region[index]),
                float(self.jitter_ms[index]),
                int(self.tier[index]),
                int(self.behaviour[index]),
            )
        return fixed

    def fixed_records(self, rows: list[int]) -> list[FixedRecord]:
        cache, fixed = self._fixed, self.fixed
        return [cache[row] or fixed(row) for row in rows]

    def view(self, index: int) -> NodeView:
        cached = self._views[index]
        if cached is None:
            fixed = self.fixed(index)
            cached = NodeView(
                fixed.node_id,
                fixed.speed_ms,
                self._claims[index],
                fixed.max_layers,
                fixed.memory_bytes,
                self.quorum_ids[index],
                self.stake.item(index),
                GENESIS_SHARDS,
                MODES[self.mode.item(index)],
            )
            self._views[index] = cached
        return cached

    def views(self, rows: list[int]) -> list[NodeView]:
        cache, view = self._views, self.view
        return [cache[row] or view(row) for row in rows]

    def claim(self, index: int) -> LayerRange | None:
        return self._claims[index]

    # ------------------------------------------------------------ holders
    def ensure_layers(self, depth: int) -> None:
        if depth > self.holders.size:
            self.holders = np.concatenate(
                [self.holders, np.zeros(depth - self.holders.size, dtype=np.int64)]
            )

    def set_claim(self, index: int, claim: LayerRange | None) -> None:
        """Move a node's claim, keeping the holder counts of online nodes right."""
        old = self._claims[index]
        if old is not None and self.online[index]:
            self.holders[old.start : old.stop] -= 1
        self.start[index], self.stop[index] = (
            (claim.start, claim.stop) if claim else (0, 0)
        )
        self._claims[index] = claim
        if claim is not None:
            self.ensure_layers(claim.stop)
            if self.online[index]:
                self.holders[claim.start : claim.stop] += 1
        self.touch(index)

    def set_online(self, index: int, online: bool) -> None:
        if bool(self.online[index]) == online:
            return
        delta = 1 if online else -1
        self.online[index] = online
        self.online_count += delta
        self.online_memory_bytes += delta * self.fixed(index).memory_bytes
        claim = self._claims[index]
        if claim is not None:
            self.holders[claim.start : claim.stop] += delta

    def set_mode(self, index: int, mode: Mode, now_s: float) -> None:
        if MODES[self.mode[index]] is not mode:
            self.mode[index] = MODE_INDEX[mode]
            self.mode_since_s[index] = now_s
            self.touch(index)

    def online_indices(self) -> np.ndarray:
        return np.flatnonzero(self.online[: self.count])
