"""The local API's JSON, as frozen dataclasses: the one agent module the dashboard imports.

Stdlib only (no aiohttp, no torch, no numpy), so `tui/` can import it on any
machine. Every type has `to_json()` (plain dicts/lists/str/int/float/None)
and `from_json()` that checks field names and types and raises SchemaError
with the path of the first bad field. Fields are only ever added, with
defaults, so an older dashboard can read a newer agent.

Endpoints (all need `Authorization: Bearer <token>`):
    GET  /v1/status           -> StatusResponse
    GET  /v1/peers            -> PeersResponse
    GET  /v1/metrics?since=N  -> MetricsResponse (points newer than seq N; all without since)
    GET  /v1/logs?since=N     -> LogsResponse (lines newer than seq N; all kept without since)
    POST /v1/control/pause    -> ControlResponse
    POST /v1/control/resume   -> ControlResponse
Errors: ErrorResponse with a 4xx (or 500) status.
"""

from __future__ import annotations

import dataclasses
import functools
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
    # Added for the dashboard (issue 6); every one has a default, so older agents still parse.
    mode_reason: str = ""  # why this mode, in a sentence for people
    activity: str = ""  # "starting", "benchmarking", "preparing data", "training", "paused", "stopping"
    device: str | None = None  # compute device of the runtime, e.g. "cpu", "cuda:0"
    layer_count: int | None = None  # layers of the architecture (this node holds layer_start..layer_stop of them)
    memory_bytes: int | None = None  # free RAM or VRAM the node may use (benchmark)
    max_layers: int | None = None  # layers that memory allows (benchmark)
    process_memory_bytes: int | None = None  # resident memory of the agent process now
    validation_loss: float | None = None  # last validation loss, nats
    max_steps: int | None = None  # where training stops; None: until stopped
    inner_step: int | None = None  # inner optimizer steps since the last cohort sync (alone: every step)
    steps_to_sync: int | None = None  # inner steps left before the next cohort sync; None: no sync planned
    checkpoint_age_s: float | None = None  # seconds since this run last saved a checkpoint; None: not yet
    quorum_id: str | None = None  # the quorum this node is a member of; None: none
    stage: int | None = None  # its 0-based position in that quorum's pipeline (0: initiator); None: none
    layer_claim_start: int | None = None  # --mode auto: the layer range claimed for quorums (advertised); None: none
    layer_claim_stop: int | None = None
    async_accepted: int | None = None  # ASYNC: contributions every holder accepted so far; None: not async
    async_last_round: int | None = None  # ASYNC: the cohort round the last accepted contribution went to
    async_last_error: str | None = None  # ASYNC: why the last attempt failed, if it did


# ---- Panes whose data later parts fill (quorums, cohort sync, ledger). Until they do, the agent
# sends None or an empty tuple and the dashboard says "not yet" / "alone": never made-up numbers.


@dataclass(frozen=True)
class QuorumMemberView:
    """One stage of this node's quorum pipeline."""

    node_id: str
    stage: int  # 0-based position in the pipeline: 0 is the initiator (embedding), the last the finisher (head)
    layer_start: int  # half-open layer range this member runs
    layer_stop: int
    tier: str | None = None  # "T1".."T5"
    latency_ms: float | None = None  # round trip from this node to the member; None: itself or not measured
    health: str = "healthy"  # "healthy", "degraded" (2 missed heartbeats), "offline"
    is_self: bool = False  # this member is the node answering


@dataclass(frozen=True)
class QuorumView:
    """The quorum this node is in (DESIGN.md §8)."""

    quorum_id: str
    state: str  # "forming", "active", "renewing"
    members: tuple[QuorumMemberView, ...]  # in pipeline order, initiator first
    tier: str | None = None  # the quorum's speed tier
    session_remaining_s: float | None = None  # until the session ends unless renewed
    batches: int = 0  # batches trained this session


@dataclass(frozen=True)
class SyncContributorView:
    """One holder's pseudo-gradient in a cohort sync round."""

    node_id: str
    weight: float  # normalised weight in the aggregate, 0..1 (0 when trimmed or left out)
    batches: int = 0  # batches behind its pseudo-gradient
    trimmed: bool = False  # cut by the robust aggregation (trimmed mean, NNM, Krum...)
    left_out: bool = False  # not aggregated at all: late, wrong shape, bad signature, backed off
    reason: str = ""  # why it was trimmed or left out, for people


@dataclass(frozen=True)
class SyncRoundView:
    """One DiLoCo cohort sync this node took part in (DESIGN.md §9)."""

    finished_at_s: float  # wall-clock time (Unix seconds) the round ended
    layer_start: int  # the cohort's layers
    layer_stop: int
    step: int = 0  # this node's training step at the sync
    rule: str = ""  # aggregation used, e.g. "nnm+trimmed_mean"
    contributors: tuple[SyncContributorView, ...] = ()
    round_number: int = -1  # the round's id: inner steps // sync interval; -1: not known


@dataclass(frozen=True)
class RewardView:
    time_s: float  # wall-clock time (Unix seconds) of the ledger event
    kind: str  # "pipeline", "async", "uptime", "data", "inference", "challenge", ...
    amount: float  # NEURO, negative for a slash


@dataclass(frozen=True)
class EarningsView:
    """This node's side of the ledger (DESIGN.md §13, §14)."""

    balance: float  # NEURO, from the ledger fold
    stake: float = 0.0  # NEURO staked
    reward_rate_per_hour: float | None = None  # NEURO per hour over the recent rewards
    recent_rewards: tuple[RewardView, ...] = ()  # newest last
    proofs_accepted: int = 0
    proofs_challenged: int = 0  # of this node's proofs, challenged by others
    proofs_pending: int = 0  # still inside the challenge window


@dataclass(frozen=True)
class NetworkSummary:
    """The network as this node sees it (DESIGN.md §7)."""

    size: int  # nodes seen alive or degraded, this one included
    phase: str  # "Genesis", "Micro", "Small", "Medium", "Growing", "Large", "Massive"
    arch_version: int  # the versions this node holds
    vocab_version: int
    quorum_count: int | None = None  # quorums known; None: not known yet (no quorum records)
    network: str = ""  # network name


@dataclass(frozen=True)
class StatusResponse:
    node: NodeStatus
    peer_counts: dict[str, int] = field(default_factory=dict)  # state -> how many peers
    api_version: int = API_VERSION
    network_summary: NetworkSummary | None = None  # None: an agent older than the dashboard
    quorum: QuorumView | None = None  # None: in no quorum (alone, the node trains SOLO)
    sync_rounds: tuple[SyncRoundView, ...] = ()  # recent cohort syncs, newest last; empty: none yet
    earnings: EarningsView | None = None  # None: no ledger on this agent yet


@dataclass(frozen=True)
class MetricPoint:
    """One point of the metrics history: one sample, or the mean of several once downsampled."""

    seq: int  # sequence number of the newest sample in it; ?since= compares with this
    time_s: float  # wall-clock time (Unix seconds) of the newest sample
    step: int  # training step at the newest sample
    samples: int = 1  # raw samples merged into this point
    loss: float | None = None  # mean training loss of its step samples, nats; None: it holds none
    validation_loss: float | None = None  # mean of its validation samples, nats; None: it holds none
    tokens_per_s: float | None = None  # mean training throughput of its step samples
    start_time_s: float | None = None  # wall-clock time of its oldest sample (= time_s for one sample)


@dataclass(frozen=True)
class MetricsResponse:
    points: tuple[MetricPoint, ...]  # oldest first; older points cover more samples each
    last_seq: int = -1  # seq of the newest sample; ask ?since=<last_seq> for what comes after
    capacity_points: int = 0  # the most points the agent keeps
    api_version: int = API_VERSION


@dataclass(frozen=True)
class LogLine:
    seq: int  # increases by one per line
    time_s: float  # wall-clock time (Unix seconds)
    level: str  # "debug", "info", "warning", "error", "critical"
    source: str  # logger name, or "node" for the node's own events (steps, checkpoints, pauses)
    message: str


@dataclass(frozen=True)
class LogsResponse:
    lines: tuple[LogLine, ...]  # oldest first
    last_seq: int = -1  # seq of the newest line; ask ?since=<last_seq> next
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


@functools.cache
def _type_hints(kind: type) -> dict[str, Any]:
    """typing.get_type_hints, once per class: evaluating the annotations is most of a parse (500 peers: 40 ms)."""
    return typing.get_type_hints(kind)


def from_json(kind: type[T], data: Any, path: str = "$") -> T:
    """Build `kind` from parsed JSON, checking names and types; unknown keys are ignored (newer agents)."""
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: expected an object for {kind.__name__}, got {type(data).__name__}")
    hints = _type_hints(kind)
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
