"""Weights handoff: a holder serves θ_start (and outer momentum) of its layers as safetensors.

The reply carries the safetensors bytes and their SHA-256; the fetcher checks
the hash before parsing a byte, then checks every name and shape against the
layers it asked for. Never pickle, never torch.load: safetensors holds raw
little-endian arrays and a JSON header only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from ..errors import AgentError
from .layers import Parameters

MOMENTUM_PREFIX = "outer.momentum."


class HandoffError(AgentError, ValueError):
    """Weights received from a holder failed a check; nothing was loaded."""


@dataclass(frozen=True, eq=False)
class LayerWeights:
    layer: int
    parameters: Parameters  # θ_start, name -> float32
    momentum: Parameters  # outer Nesterov buffer, same names


@dataclass(frozen=True, eq=False)
class WeightsSnapshot:
    last_round: int  # last cohort round applied by the holder; -1: none
    start_at_s: float  # epoch s when this θ_start became current
    layers: tuple[LayerWeights, ...]


def encode_snapshot(snapshot: WeightsSnapshot) -> tuple[bytes, str]:
    """(safetensors bytes, their SHA-256 hex)."""
    tensors: dict[str, np.ndarray] = {}
    for item in snapshot.layers:
        tensors.update(item.parameters)
        tensors.update({MOMENTUM_PREFIX + name: value for name, value in item.momentum.items()})
    metadata = {"last_round": str(snapshot.last_round), "start_at_s": repr(snapshot.start_at_s),
                "layers": json.dumps([item.layer for item in snapshot.layers])}
    body = save_safetensors({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, metadata)
    return body, hashlib.sha256(body).hexdigest()


def decode_snapshot(body: bytes, sha256: str, expected: dict[int, dict[str, tuple[int, ...]]]) -> WeightsSnapshot:
    """Check the hash, then names and shapes of every layer in `expected` ({layer: {name: shape}})."""
    actual = hashlib.sha256(body).hexdigest()
    if actual != sha256:
        raise HandoffError(f"weights body hashes to {actual[:16]}…, the holder announced {sha256[:16]}…; "
                           "tampered or corrupt in transit, nothing loaded")
    try:
        tensors = load_safetensors(body)
        header_length = int.from_bytes(body[:8], "little")
        metadata = json.loads(body[8:8 + header_length])["__metadata__"]
        last_round, start_at_s = int(metadata["last_round"]), float(metadata["start_at_s"])
    except Exception as error:  # noqa: BLE001 - safetensors and json raise their own types
        raise HandoffError(f"weights body is not a valid safetensors file: {error}") from None
    layers = []
    for layer, shapes in sorted(expected.items()):
        parameters, momentum = {}, {}
        for name, shape in shapes.items():
            for table, key in ((parameters, name), (momentum, MOMENTUM_PREFIX + name)):
                value = tensors.get(key)
                if value is None or value.dtype != np.float32 or tuple(value.shape) != tuple(shape):
                    raise HandoffError(f"weights body lacks {key} as float32 {shape}; the holder runs another layout")
                table[name] = value
        layers.append(LayerWeights(layer, parameters, momentum))
    return WeightsSnapshot(last_round, start_at_s, tuple(layers))
