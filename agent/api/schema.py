"""The local API's JSON, as frozen dataclasses: the one agent module the dashboard imports.

Stdlib only (no aiohttp, no torch, no numpy), so `tui/` can import it on any
machine. Every type has `to_json()` (plain dicts/lists/str/int/float/None)
and `from_json()` that checks field names and types and raises SchemaError
with the path of the first bad field. Fields are only ever added, with
defaults, so an older dashboard can read a newer agent.

Endpoints (all need `Authorization: Bearer <token>`):
    GET  /v1/status           -> StatusResponse
    GET  /v1/peers            -> PeersResponse
    POST /v1/control/pause    -> ControlResponse
    POST /v1/control/resume   -> ControlResponse
Errors: ErrorResponse with a 4xx (or 500) status.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

API_VERSION = 1
TOKEN_FILE_NAME = "api_token"  # in the state directory, mode 0600
LOCAL_API_FILE_NAME = "local_api.json"  # in the state directory: {"url": ..., "pid": ...}

T = TypeVar("T")


class SchemaError(ValueError):
    """A JSON document does not have the shape this schema version expects."""


@dataclass(frozen=True)
class PeerView:
    node_id: str
    address: str  # "host:port" of its peer server
    found_by: tuple[str, ...]  # "mdns", "bootstrap", "exchange", "inbound"
    state: str  # "alive", "degraded", "offline"
    tier: str | None  # "T1".."T5", None if not benchmarked
    layer_start: int | None  # half-open layer range; None: holds no layers
    layer_stop: int | None
    arch_version: int
    vocab_version: int
    last_heartbeat_age_s: float | None  # seconds since its last heartbeat; None: none yet
    quorum_id: str | None = None
    queue_depth: int = 0
    free_capacity_fraction: float = 1.0
    step: int = 0


@dataclass(frozen=True)
class NodeStatus:
    node_id: str
    agent_version: str
    protocol_version: int
    arch_name: str
    arch_version: int
    vocab_version: int
    network: str  # network name
    peer_port: int  # where peers reach this node
    uptime_s: float
    paused: bool  # training paused by POST /v1/control/pause
    mode: str = "idle"  # contribution mode, coordinator_free Mode values
    tier: str | None = None
    compute_speed_ms: float | None = None  # benchmark: ms per layer
    runtime: str | None = None  # "onnx" or "torch"
    layer_start: int | None = None
    layer_stop: int | None = None
    step: int = 0  # training steps done
    loss: float | None = None  # last training loss
    tokens_per_s: float | None = None  # recent training throughput


@dataclass(frozen=True)
class StatusResponse:
    node: NodeStatus
    peer_counts: dict[str, int] = field(default_factory=dict)  # state -> how many peers
    api_version: int = API_VERSION


@dataclass(frozen=True)
class PeersResponse:
    peers: tuple[PeerView, ...]
    api_version: int = API_VERSION


@dataclass(frozen=True)
class ControlResponse:
    paused: bool  # state after the request


@dataclass(frozen=True)
class ErrorDetail:
    code: str  # machine-readable, e.g. "unauthorized"
    message: str  # a sentence for people


@dataclass(frozen=True)
class ErrorResponse:
    error: ErrorDetail


def to_json(value: Any) -> Any:
    """A dataclass (or list/tuple/dict of them) as JSON-ready plain values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return value


def from_json(kind: type[T], data: Any, path: str = "$") -> T:
    """Build `kind` from parsed JSON, checking names and types; unknown keys are ignored (newer agents)."""
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: expected an object for {kind.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(kind)
    values = {}
    for f in dataclasses.fields(kind):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name], f"{path}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SchemaError(f"{path}: missing field {f.name!r}")
    return kind(**values)


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [arg for arg in args if arg is not type(None)]
        return _convert(inner[0], value, path)
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value, path)
    if origin is tuple:
        if not isinstance(value, list):
            raise SchemaError(f"{path}: expected a list")
        return tuple(_convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{path}: expected an object")
        return {str(k): _convert(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise SchemaError(f"{path}: expected {hint.__name__}, got {type(value).__name__}")
    return value
