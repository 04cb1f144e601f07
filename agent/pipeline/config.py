"""PipelineConfig: how this node contributes to a quorum, and every pipeline wait's timeout.

CLI flags map onto fields (--mode, --layers, --micro-batches); tests shrink
the timings with --pipeline-config-json, never by patching constants.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ..errors import AgentError

MODES = ("auto", "solo", "pipeline", "async")


class PipelineConfigError(AgentError, ValueError):
    """A pipeline setting is out of range or of the wrong type."""


@dataclass(frozen=True)
class PipelineConfig:
    mode: str = "auto"  # "auto" (the §7 rules), "solo", "pipeline" or "async" (forced)
    layers: tuple[int, int] | None = None  # held half-open layer range; None: claimed by scarcity
    micro_batches: int = 4  # micro-batches per step, in flight together; divides the batch
    stage_timeout_s: float = 60.0  # one micro-batch's forward+backward below this stage, s
    apply_timeout_s: float = 30.0  # one optimizer-step message to a stage, s
    formation_interval_s: float = 2.0  # between the founder's formation attempts, s
    proposal_timeout_s: float = 10.0  # an accepted proposal not committed by then is dropped, s
    tick_interval_s: float = 1.0  # between lifecycle ticks and member health checks, s
    failure_pause_s: float = 1.0  # after a failed step, before the next try, s
    mode_hold_evaluations: int = 3  # --mode auto: consecutive re-selections agreeing before a switch, count
    mode_min_dwell_s: float = 10.0  # --mode auto: least time in one mode before switching again, s
    sync_retry_s: float = 0.2  # a stage answered "syncing": wait this long before resending the micro-batch, s
    sync_wait_s: float = 180.0  # a stage syncing longer than this fails the step (a round's waits are ~100 s), s
    data_stream: int = 0  # which stream of genesis batches the initiator reads: 0 is SOLO's (seed, step) order;
    # quorums given different streams train on different batches (see PipelineDriver)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PipelineConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.layers is not None and not 0 <= self.layers[0] < self.layers[1]:
            raise PipelineConfigError(f"layers must be A-B with 0 <= A < B, got {self.layers}")
        if self.data_stream < 0:
            raise PipelineConfigError(f"data_stream must be >= 0, got {self.data_stream}")
        if self.mode_hold_evaluations < 1:
            raise PipelineConfigError(f"mode_hold_evaluations must be >= 1, got {self.mode_hold_evaluations}")
        if self.micro_batches < 1:
            raise PipelineConfigError(f"micro_batches must be >= 1, got {self.micro_batches}")
        for field in dataclasses.fields(self):
            if field.name.endswith("_s") and not getattr(self, field.name) > 0:
                raise PipelineConfigError(f"{field.name} must be positive, got {getattr(self, field.name)}")

    def replace(self, **changes: Any) -> PipelineConfig:
        return dataclasses.replace(self, **changes)


def parse_layers(text: str) -> tuple[int, int]:
    """"A-B" (half-open, like range(A, B)) → (A, B), with the expected form in the error."""
    start, separator, stop = text.partition("-")
    if not separator or not start.isdigit() or not stop.isdigit() or not int(start) < int(stop):
        raise PipelineConfigError(f"--layers {text!r} must look like A-B with A < B, e.g. 0-4 for layers 0,1,2,3")
    return int(start), int(stop)


def pipeline_config_from_json(text: str, base: PipelineConfig | None = None) -> PipelineConfig:
    """`base` with the fields of a JSON object replaced; unknown names are errors."""
    try:
        values = json.loads(text)
    except ValueError as error:
        raise PipelineConfigError(f"--pipeline-config-json is not JSON: {error}") from None
    if not isinstance(values, dict):
        raise PipelineConfigError("--pipeline-config-json must be a JSON object")
    known = {field.name for field in dataclasses.fields(PipelineConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise PipelineConfigError(f"unknown pipeline settings {unknown}; known: {sorted(known)}")
    if values.get("layers") is not None:
        values["layers"] = tuple(values["layers"])
    return (base or PipelineConfig()).replace(**values)
