"""Which layer each parameter belongs to, and per-layer hashes and flat vectors.

The cohort of a layer is every holder of that layer; the embedding rides with
layer 0 and the head with the last layer (§3), so their parameters are synced
with those layers' cohorts.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..model.arch import Architecture
from ..model.parameters import EMBEDDING_PREFIX, HEAD_PREFIX

Parameters = dict[str, np.ndarray]


def layer_of(name: str, arch: Architecture) -> int:
    if name.startswith(EMBEDDING_PREFIX):
        return 0
    if name.startswith(HEAD_PREFIX):
        return arch.layer_count - 1
    if name.startswith("layers."):
        return int(name.split(".", 2)[1])
    raise ValueError(f"parameter {name!r} belongs to no layer; names are embedding.*, layers.<i>.*, head.*")


def split_by_layer(parameters: Parameters, arch: Architecture) -> dict[int, Parameters]:
    """{layer: {name: tensor}} with names in sorted order (the canonical order of a layer)."""
    layers: dict[int, Parameters] = {}
    for name in sorted(parameters):
        layers.setdefault(layer_of(name, arch), {})[name] = parameters[name]
    return layers


def flatten(tensors: Parameters) -> np.ndarray:
    """One float32 vector, names in sorted order."""
    return np.concatenate([np.asarray(tensors[name], dtype=np.float32).ravel() for name in sorted(tensors)])


def unflatten(vector: np.ndarray, like: Parameters) -> Parameters:
    out: Parameters = {}
    offset = 0
    for name in sorted(like):
        size = like[name].size
        out[name] = vector[offset:offset + size].reshape(like[name].shape).astype(np.float32, copy=True)
        offset += size
    if offset != vector.size:
        raise ValueError(f"vector has {vector.size} values, the layer has {offset}")
    return out


def parameters_sha256(tensors: Parameters) -> str:
    """SHA-256 over (name, shape, little-endian float32 bytes) in sorted name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        digest.update(f"\0{name}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
