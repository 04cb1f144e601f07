"""Bodies of the cohort-sync messages, validated field by field at the boundary.

Message types (the envelope's `message_type`; every one is signed):
    cohort_contribution / cohort_contribution_reply   a holder's (or async node's) Δ for one round
    cohort_commit / cohort_commit_reply               the contributors a member received, per layer
    cohort_weights / cohort_weights_reply             weights handoff: θ_start of a layer range
A contribution carries one entry per layer: the layer's θ_start hash and its Δ
tensors as float16 (little-endian, never pickle): half the bytes of float32,
and Δ — a sum of small inner steps — needs no more than float16's 3 digits.
A sender rounds its own Δ the same way (`wire_values`) before it aggregates
it, so every holder aggregates the very values on the wire, bit for bit. Replies say `accepted` and,
when refused, a machine-readable `code` (e.g. wrong_start_weights).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..network.messages import optional, require, require_int
from ..wire.errors import ErrorCode, WireError
from ..wire.tensors import decode_tensor, encode_tensor

CONTRIBUTION = "cohort_contribution"
CONTRIBUTION_REPLY = "cohort_contribution_reply"
COMMIT = "cohort_commit"
COMMIT_REPLY = "cohort_commit_reply"
WEIGHTS = "cohort_weights"
WEIGHTS_REPLY = "cohort_weights_reply"

CONTRIBUTION_PATH = "/v1/cohort/contribution"
COMMIT_PATH = "/v1/cohort/commit"
WEIGHTS_PATH = "/v1/cohort/weights"

# Refusal codes in replies.
WRONG_START_WEIGHTS = "wrong_start_weights"  # Δ computed from weights this holder never had
ROUND_CLOSED = "round_closed"  # the round already committed here; submit to the next one
NOT_A_HOLDER = "not_a_holder"  # this node holds none of those layers
NOT_READY = "not_ready"  # still starting up

KIND_SYNC = "sync"  # a holder's Δ in its own round
KIND_ASYNC = "async"  # an async contributor's Δ
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_LAYERS_PER_MESSAGE = 4096
MAX_CONTRIBUTORS = 4096


def require_sha256(payload: dict[str, Any], key: str) -> str:
    value = require(payload, key, str)
    if not _HEX64.fullmatch(value):
        raise WireError(ErrorCode.MALFORMED, f"field {key!r} must be 64 lower-case hex characters")
    return value


def require_time(payload: dict[str, Any], key: str) -> float:
    value = require(payload, key, (float, int))
    if isinstance(value, bool) or not 0.0 <= value < 1e11:
        raise WireError(ErrorCode.MALFORMED, f"field {key!r} must be seconds since the epoch")
    return float(value)


WIRE_DELTA_DTYPE = "float16"
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def wire_values(delta: np.ndarray) -> np.ndarray:
    """Δ as the receivers will decode it: rounded to float16 (clipped to its range, never inf), as float32."""
    clipped = np.clip(np.asarray(delta, dtype=np.float32), -_FLOAT16_MAX, _FLOAT16_MAX)
    return clipped.astype(np.float16).astype(np.float32)


@dataclass(frozen=True, eq=False)
class LayerDelta:
    layer: int
    start_sha256: str  # hash of the θ_start this Δ was computed from (layers.parameters_sha256)
    tensors: dict[str, np.ndarray]  # name -> Δ, float32 holding float16 values (wire_values)


@dataclass(frozen=True, eq=False)
class ContributionMessage:
    round_number: int  # inner steps // sync interval of the round it is meant for
    kind: str  # KIND_SYNC or KIND_ASYNC
    batches: int  # inner batches trained since θ_start
    start_at_s: float  # when θ_start became current (epoch s): its age sets freshness
    sent_at_s: float  # when Δ was computed (epoch s)
    data_sha256: str  # hash of the batch ids trained
    layers: tuple[LayerDelta, ...]

    def to_payload(self) -> dict[str, Any]:
        return {
            "round": self.round_number, "kind": self.kind, "batches": self.batches,
            "start_at_s": self.start_at_s, "sent_at_s": self.sent_at_s, "data_sha256": self.data_sha256,
            "layers": [
                {"layer": item.layer, "start_sha256": item.start_sha256,
                 "tensors": {name: encode_tensor(wire_values(t).astype(np.float16)) for name, t in item.tensors.items()}}
                for item in self.layers
            ],
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any], shapes: dict[int, dict[str, tuple[int, ...]]]) -> ContributionMessage:
        """`shapes`: {layer: {name: shape}} of the layers the receiver holds; other layers are skipped."""
        kind = require(payload, "kind", str)
        if kind not in (KIND_SYNC, KIND_ASYNC):
            raise WireError(ErrorCode.MALFORMED, f"kind must be {KIND_SYNC!r} or {KIND_ASYNC!r}")
        entries = require(payload, "layers", list)
        if len(entries) > MAX_LAYERS_PER_MESSAGE:
            raise WireError(ErrorCode.MALFORMED, f"at most {MAX_LAYERS_PER_MESSAGE} layers per message")
        layers = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise WireError(ErrorCode.MALFORMED, "each layer entry must be a map")
            layer = require_int(entry, "layer", 0, 2**20)
            if layer not in shapes:
                continue
            tensors = require(entry, "tensors", dict)
            expected = shapes[layer]
            if set(tensors) != set(expected):
                raise WireError(ErrorCode.WRONG_SHAPE, f"layer {layer} must carry exactly {sorted(expected)}")
            decoded = {name: decode_tensor(tensors[name], expected_dtype=WIRE_DELTA_DTYPE, expected_shape=shape,
                                           name=name).astype(np.float32) for name, shape in expected.items()}
            if not all(np.isfinite(t).all() for t in decoded.values()):
                raise WireError(ErrorCode.MALFORMED, f"layer {layer}: Δ must be finite (no inf or NaN)")
            layers.append(LayerDelta(layer, require_sha256(entry, "start_sha256"), decoded))
        return cls(
            round_number=require_int(payload, "round", 0, 2**62), kind=kind,
            batches=require_int(payload, "batches", 0, 2**40), start_at_s=require_time(payload, "start_at_s"),
            sent_at_s=require_time(payload, "sent_at_s"), data_sha256=require_sha256(payload, "data_sha256"),
            layers=tuple(sorted(layers, key=lambda item: item.layer)),
        )


@dataclass(frozen=True)
class LayerCommit:
    layer: int
    start_sha256: str  # the committer's θ_start hash of this layer
    applied_rounds: int  # outer steps this committer has applied to the layer (canonical = most)
    contributors: tuple[tuple[str, str], ...]  # (node id, contribution digest), sorted

    def to_payload(self) -> dict[str, Any]:
        return {"layer": self.layer, "start_sha256": self.start_sha256, "applied_rounds": self.applied_rounds,
                "contributors": [list(pair) for pair in self.contributors]}


@dataclass(frozen=True)
class CommitMessage:
    round_number: int
    layers: tuple[LayerCommit, ...]

    def to_payload(self) -> dict[str, Any]:
        return {"round": self.round_number, "layers": [item.to_payload() for item in self.layers]}

    def by_layer(self) -> dict[int, LayerCommit]:
        return {item.layer: item for item in self.layers}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> CommitMessage:
        entries = require(payload, "layers", list)
        if len(entries) > MAX_LAYERS_PER_MESSAGE:
            raise WireError(ErrorCode.MALFORMED, f"at most {MAX_LAYERS_PER_MESSAGE} layers per commit")
        layers = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise WireError(ErrorCode.MALFORMED, "each layer entry must be a map")
            pairs = require(entry, "contributors", list)
            if len(pairs) > MAX_CONTRIBUTORS or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) and len(s) <= 128 for s in p)
                for p in pairs
            ):
                raise WireError(ErrorCode.MALFORMED, "contributors must be [node id, digest] pairs")
            layers.append(LayerCommit(require_int(entry, "layer", 0, 2**20), require_sha256(entry, "start_sha256"),
                                      require_int(entry, "applied_rounds", 0, 2**62), tuple(sorted((str(a), str(b)) for a, b in pairs))))
        return cls(require_int(payload, "round", 0, 2**62), tuple(sorted(layers, key=lambda item: item.layer)))


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


def reply_payload(accepted: bool, refusal: Refusal | None = None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"accepted": accepted, **extra}
    if refusal is not None:
        payload.update(code=refusal.code, message=refusal.message)
    return payload


def read_refusal(payload: dict[str, Any]) -> Refusal | None:
    if require(payload, "accepted", bool):
        return None
    return Refusal(str(optional(payload, "code", str) or "unknown"), str(optional(payload, "message", str) or ""))


def weights_request(layers: list[int], min_round: int) -> dict[str, Any]:
    return {"layers": list(layers), "min_round": min_round}


def read_weights_request(payload: dict[str, Any]) -> tuple[list[int], int]:
    """(layers wanted, lowest round the weights must include; -1: any)."""
    layers = require(payload, "layers", list)
    if not 0 < len(layers) <= MAX_LAYERS_PER_MESSAGE or not all(
        isinstance(layer, int) and not isinstance(layer, bool) and 0 <= layer < 2**20 for layer in layers
    ):
        raise WireError(ErrorCode.MALFORMED, "layers must be a non-empty list of layer numbers")
    min_round = require(payload, "min_round", int)
    if isinstance(min_round, bool) or not -1 <= min_round < 2**62:
        raise WireError(ErrorCode.MALFORMED, "min_round must be an integer ≥ -1")
    return sorted(set(layers)), min_round
