"""The cohort's outer state per layer (θ_start, Nesterov momentum), its update and its file.

Each layer's OuterState is coordinator_free.diloco's: the layer's tensors
flattened in sorted name order. The state file is safetensors (never pickle)
with a content hash, written atomically at every sync next to the trainer's
checkpoint, so a restarted holder resumes with the same θ_start and momentum.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from coordinator_free.diloco import (
    CohortSync,
    DiLoCoConfig,
    OuterState,
    PseudoGradient,
    apply_cohort_sync,
    initial_outer_state,
)
from coordinator_free.types import NodeId

from ..errors import CheckpointError
from ..storage import write_atomic
from .layers import Parameters, flatten, parameters_sha256
from .rounds import Received

STATE_FILE_NAME = "outer-state.safetensors"


@dataclass
class CohortState:
    """What a holder keeps between rounds."""

    layers: dict[int, OuterState]  # θ_start and momentum per layer held
    last_round: int = -1  # last round applied; -1: none yet
    start_at_s: float = 0.0  # epoch s when the current θ_start became current
    start_hashes: dict[int, str] = field(default_factory=dict)  # layer -> hash of the current θ_start
    recent_hashes: dict[str, float] = field(default_factory=dict)  # recent θ_start hashes -> start_at_s

    def remember_start(self, hashes: dict[int, str], start_at_s: float, keep: int) -> None:
        self.start_hashes = dict(hashes)
        self.start_at_s = start_at_s
        for digest in hashes.values():
            self.recent_hashes[digest] = start_at_s
        layers = max(1, len(hashes))
        while len(self.recent_hashes) > keep * layers:
            oldest = min(self.recent_hashes, key=lambda digest: self.recent_hashes[digest])
            del self.recent_hashes[oldest]


def initial_state(layer_parameters: dict[int, Parameters], start_at_s: float, keep: int) -> CohortState:
    state = CohortState({layer: initial_outer_state(flatten(p)) for layer, p in layer_parameters.items()})
    state.remember_start({layer: parameters_sha256(p) for layer, p in layer_parameters.items()}, start_at_s, keep)
    return state


def step_layer(outer: OuterState, received: list[tuple[Received, np.ndarray]], config: DiLoCoConfig) -> OuterState:
    """One layer's outer step over the agreed contributions (Δ vectors given, in any order).

    Weights: √batches × freshness(now − start_at), with `now` the latest
    `sent_at_s` among them, so every holder computes the same weights from
    the same messages, whatever its own clock says.
    """
    now_s = max(item.message.sent_at_s for item, _ in received)
    gradients = tuple(
        PseudoGradient(NodeId(item.node_id), vector, item.message.batches, min(item.message.start_at_s, now_s))
        for item, vector in received
    )
    return apply_cohort_sync(outer, CohortSync(gradients, now_s), config)


def save_state(directory: Path, state: CohortState) -> Path:
    tensors: dict[str, np.ndarray] = {}
    for layer, outer in state.layers.items():
        tensors[f"{layer}.parameters"] = outer.parameters
        tensors[f"{layer}.momentum"] = outer.momentum
    metadata = {
        "last_round": str(state.last_round), "start_at_s": repr(state.start_at_s),
        "rounds_applied": json.dumps({str(k): v.rounds_applied for k, v in state.layers.items()}),
        "start_hashes": json.dumps({str(k): v for k, v in state.start_hashes.items()}),
        "recent_hashes": json.dumps(state.recent_hashes),
    }
    metadata["content_sha256"] = _digest(metadata, tensors)
    path = directory / STATE_FILE_NAME
    write_atomic(path, save_safetensors({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata))
    return path


def load_state(directory: Path) -> CohortState | None:
    path = directory / STATE_FILE_NAME
    if not path.exists():
        return None
    data = path.read_bytes()
    try:
        tensors = load_safetensors(data)
        metadata = _metadata(data)
    except Exception as error:  # noqa: BLE001 - safetensors raises its own types
        raise CheckpointError(f"cohort state {path} is corrupt: {error}; move it away to start a fresh θ_start") from None
    if metadata.get("content_sha256") != _digest(metadata, tensors):
        raise CheckpointError(f"cohort state {path} fails its content hash; move it away to start a fresh θ_start")
    rounds = json.loads(metadata["rounds_applied"])
    layers = {int(k): OuterState(tensors[f"{k}.parameters"], tensors[f"{k}.momentum"], int(v)) for k, v in rounds.items()}
    return CohortState(
        layers, int(metadata["last_round"]), float(metadata["start_at_s"]),
        {int(k): v for k, v in json.loads(metadata["start_hashes"]).items()},
        {k: float(v) for k, v in json.loads(metadata["recent_hashes"]).items()},
    )


def _metadata(data: bytes) -> dict[str, str]:
    header_length = int.from_bytes(data[:8], "little")
    return dict(json.loads(data[8:8 + header_length]).get("__metadata__", {}))


def _digest(metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(json.dumps({k: v for k, v in metadata.items() if k != "content_sha256"},
                                       sort_keys=True).encode())
    for name in sorted(tensors):
        digest.update(f"\0{name}\0".encode())
        digest.update(np.ascontiguousarray(tensors[name], dtype="<f4").tobytes())
    return digest.hexdigest()
