"""What one node can see of the network: the input of every rule that needs peers.

The live agent builds a `NetworkView` from its peers' signed records; the
simulator builds one from its virtual nodes. Both hand the same frozen value
to the same rules. Derived indexes (holder counts, numpy columns, shard
counts) are computed lazily, once per view, so a rule that needs none of
them costs nothing and one that does costs O(nodes) numpy work, never
O(nodes²).

Layer ranges are half-open, like `range()`: `LayerRange(0, 4)` holds layers
0, 1, 2, 3. A node that holds no layer has `layer_range=None`. During a
growth grace period nodes may claim layers past the view's `layer_count`;
those layers are left out of the counts rather than refused, so one view
type serves both the old and the new architecture.

The view keeps its nodes in the order given. Rules that pick among nodes
sort what they pick from by node id, which is what makes them independent
of the order of the input list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

import numpy as np

from .errors import ProtocolError
from .tiers import Tier, tier_from_speed
from .types import NodeId, QuorumId, ShardId


@dataclass(frozen=True, order=True)
class LayerRange:
    """A contiguous run of layers, start included, stop excluded."""

    start: int  # first layer held
    stop: int  # one past the last layer held

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise ProtocolError(
                f"layer range [{self.start}, {self.stop}) is empty or negative; "
                "a range needs 0 <= start < stop (use None for no layers)"
            )

    def __len__(self) -> int:
        return self.stop - self.start

    def __contains__(self, layer: object) -> bool:
        return isinstance(layer, int) and self.start <= layer < self.stop

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def covers(self, other: LayerRange) -> bool:
        """Whether every layer of `other` is in this range."""
        return self.start <= other.start and other.stop <= self.stop


class Mode(Enum):
    """Contribution modes (DESIGN.md §7); the value is what status and records carry."""

    SOLO = "solo"
    PIPELINE = "pipeline"
    ASYNC = "async"
    DATA = "data"
    VERIFY = "verify"
    INFERENCE = "inference"
    IDLE = "idle"


@dataclass(frozen=True, init=False)
class NodeView:
    """One node as its signed records describe it."""

    node_id: NodeId
    speed_ms_per_layer: float  # benchmark: one layer's forward pass, ms
    layer_range: LayerRange | None  # layers held, None for none
    max_layers: int  # layers its free memory can hold
    memory_bytes: int  # free memory (RAM or VRAM) it offers, bytes
    quorum_id: QuorumId | None = None  # the quorum it is in, if any
    stake: float = 0.0  # NEURO staked
    shards: frozenset[ShardId] = frozenset()  # genesis data shards it holds
    mode: Mode = Mode.IDLE  # the mode it currently runs in
    tier: Tier = field(init=False)  # derived from speed_ms_per_layer

    def __init__(
        self,
        node_id: NodeId,
        speed_ms_per_layer: float,
        layer_range: LayerRange | None,
        max_layers: int,
        memory_bytes: int,
        quorum_id: QuorumId | None = None,
        stake: float = 0.0,
        shards: frozenset[ShardId] = frozenset(),
        mode: Mode = Mode.IDLE,
    ) -> None:
        # Written out rather than generated: a frozen dataclass's __init__ sets each
        # field through object.__setattr__, which made building a view 3× slower
        # (the simulator rebuilds one after every join, leave and mode change).
        if max_layers < 0 or memory_bytes < 0 or stake < 0:
            raise ProtocolError(
                f"node {node_id}: max_layers ({max_layers}), memory_bytes "
                f"({memory_bytes}) and stake ({stake}) must all be >= 0"
            )
        self.__dict__.update(
            node_id=node_id,
            speed_ms_per_layer=speed_ms_per_layer,
            layer_range=layer_range,
            max_layers=max_layers,
            memory_bytes=memory_bytes,
            quorum_id=quorum_id,
            stake=stake,
            shards=shards,
            mode=mode,
            tier=tier_from_speed(speed_ms_per_layer),
        )

    @property
    def in_quorum(self) -> bool:
        return self.quorum_id is not None

    @property
    def holds_genesis_data(self) -> bool:
        return bool(self.shards)


@dataclass(frozen=True)
class ViewColumns:
    """The view as numpy columns, one row per node in view order (no-layer nodes: 0, 0)."""

    starts: np.ndarray  # int64, first layer held
    stops: np.ndarray  # int64, one past the last layer, clipped to layer_count
    tiers: np.ndarray  # int64, 1..5
    speeds_ms_per_layer: np.ndarray  # float64
    in_quorum: np.ndarray  # bool
    memory_bytes: np.ndarray  # int64


@dataclass(frozen=True)
class NetworkView:
    """Every node one node knows of (itself included) and the model's depth."""

    nodes: tuple[NodeView, ...]
    layer_count: int  # layers of the architecture the view is about

    def __post_init__(self) -> None:
        if self.layer_count < 1:
            raise ProtocolError(f"layer_count must be >= 1, got {self.layer_count}")
        # by_id is needed at once (the duplicate check): stored where cached_property would
        # store it, without its per-access lock (the simulator builds ~10^5 views).
        by_id = {node.node_id: node for node in self.nodes}
        self.__dict__["by_id"] = by_id
        if len(by_id) != len(self.nodes):
            duplicates = sorted(i for i, c in Counter(n.node_id for n in self.nodes).items() if c > 1)
            raise ProtocolError(f"a view lists each node once; repeated node ids: {duplicates[:5]}")

    @property
    def size(self) -> int:
        """Network size n for the §7 rules."""
        return len(self.nodes)

    @cached_property
    def by_id(self) -> Mapping[NodeId, NodeView]:
        return {node.node_id: node for node in self.nodes}

    @cached_property
    def position_of(self) -> Mapping[NodeId, int]:
        """Index of each node in `nodes` (and in every column)."""
        return {node.node_id: index for index, node in enumerate(self.nodes)}

    @cached_property
    def columns(self) -> ViewColumns:
        # Python lists then one np.array each: about twice as fast as per-element
        # numpy stores and fromiter generators for the small views rules get most.
        nodes, layer_count = self.nodes, self.layer_count
        starts, stops = [0] * len(nodes), [0] * len(nodes)
        for index, node in enumerate(nodes):
            held = node.layer_range
            if held is not None and held.start < layer_count:
                starts[index], stops[index] = held.start, min(held.stop, layer_count)
        return ViewColumns(
            starts=np.array(starts, dtype=np.int64),
            stops=np.array(stops, dtype=np.int64),
            tiers=np.array([int(n.tier) for n in nodes], dtype=np.int64),
            speeds_ms_per_layer=np.array([n.speed_ms_per_layer for n in nodes], dtype=np.float64),
            in_quorum=np.array([n.quorum_id is not None for n in nodes], dtype=bool),
            memory_bytes=np.array([n.memory_bytes for n in nodes], dtype=np.int64),
        )

    def layer_holder_counts(self, *, max_tier: Tier = Tier.T5) -> np.ndarray:
        """Holders of each layer (length layer_count), counting nodes of tier <= max_tier."""
        columns = self.columns
        selected = columns.tiers <= int(max_tier)
        return count_layer_holders(columns.starts[selected], columns.stops[selected], self.layer_count)

    @cached_property
    def holder_counts(self) -> np.ndarray:
        """Holders of each layer, every tier counted."""
        return self.layer_holder_counts()

    @cached_property
    def total_memory_bytes(self) -> int:
        return int(self.columns.memory_bytes.sum())

    @cached_property
    def shard_holder_counts(self) -> Mapping[ShardId, int]:
        """Nodes holding each genesis shard, whatever their mode."""
        return Counter(shard for node in self.nodes for shard in node.shards)

    @cached_property
    def shard_server_counts(self) -> Mapping[ShardId, int]:
        """Nodes in DATA mode serving each shard."""
        return Counter(shard for node in self.nodes if node.mode is Mode.DATA for shard in node.shards)

    @cached_property
    def mode_counts(self) -> Mapping[Mode, int]:
        return Counter(node.mode for node in self.nodes)


def count_layer_holders(starts: np.ndarray, stops: np.ndarray, layer_count: int) -> np.ndarray:
    """Holders per layer of half-open ranges, in O(ranges + layers) (a difference array)."""
    difference = np.zeros(layer_count + 1, dtype=np.int64)
    held = stops > starts
    np.add.at(difference, starts[held], 1)
    np.add.at(difference, stops[held], -1)
    return np.cumsum(difference[:-1])
