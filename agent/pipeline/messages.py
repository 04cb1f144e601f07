"""Pipeline packets: every one names arch and vocab versions, quorum, batch and step.

Message types (envelope `message_type`), each answered by a signed reply:
    pipeline_forward / pipeline_backward   activations of one micro-batch down the chain;
                                           the reply carries the input gradient back up
    pipeline_apply / pipeline_applied      one optimizer step of every stage, after the last
                                           micro-batch of the step came back
A stage refuses a packet for another architecture or vocabulary (422), another
quorum, step or batch (409), from a node that is not its upstream stage (403),
or before its quorum is active (409), each with a code from `RefusalCode`.
A stage in a cohort sync at a step boundary refuses forward packets with 409
`syncing` (also passed up by the stages above it); the initiator waits and
resends that micro-batch, which no stage has computed a gradient for yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..network.messages import require, require_int, require_name
from ..wire.errors import WireError

PIPELINE_FORWARD = "pipeline_forward"
PIPELINE_BACKWARD = "pipeline_backward"
PIPELINE_APPLY = "pipeline_apply"
PIPELINE_APPLIED = "pipeline_applied"
FORWARD_PATH = "/v1/pipeline/forward"
APPLY_PATH = "/v1/pipeline/apply"

_BATCH_ID = re.compile(r"[0-9a-f]{64}")
MAX_MICRO_BATCHES = 1024


class RefusalCode(StrEnum):
    WRONG_VERSION = "wrong_version"  # arch name/version or vocab version not the stage's
    WRONG_QUORUM = "wrong_quorum"  # not the quorum this stage serves (or none is active)
    WRONG_STEP = "wrong_step"  # not the step this stage is at
    WRONG_BATCH = "wrong_batch"  # apply for a batch this stage did not see this step
    NOT_UPSTREAM = "not_upstream"  # sender is not the stage before this one
    NOT_READY = "not_ready"  # no runtime yet, or not in a quorum
    DOWNSTREAM_FAILED = "downstream_failed"  # a stage below this one did not answer; details name it
    SYNCING = "syncing"  # a stage is in a cohort sync at the step boundary; the initiator retries the micro-batch


REFUSAL_STATUS: dict[RefusalCode, int] = {
    RefusalCode.WRONG_VERSION: 422,
    RefusalCode.WRONG_QUORUM: 409,
    RefusalCode.WRONG_STEP: 409,
    RefusalCode.WRONG_BATCH: 409,
    RefusalCode.NOT_UPSTREAM: 403,
    RefusalCode.NOT_READY: 409,
    RefusalCode.DOWNSTREAM_FAILED: 424,  # "failed dependency": not this stage's fault, so no backoff of it
    RefusalCode.SYNCING: 409,
}


class PipelineRefusal(WireError):
    """A pipeline packet this stage will not process; a 4xx with its own code."""

    def __init__(self, code: RefusalCode, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(code, message, details)  # type: ignore[arg-type]  # our codes travel like ErrorCode's

    @property
    def http_status(self) -> int:
        return REFUSAL_STATUS[RefusalCode(self.code)]


@dataclass(frozen=True)
class PacketHeader:
    """What every pipeline packet names."""

    arch_name: str
    arch_version: int
    vocab_version: int
    quorum_id: str
    batch_id: str  # hex SHA-256 of the batch address
    step: int  # the training step this packet belongs to
    micro_batch: int = 0  # index within the step
    micro_batches: int = 1  # micro-batches of the step

    def to_payload(self) -> dict[str, Any]:
        return {"arch_name": self.arch_name, "arch_version": self.arch_version,
                "vocab_version": self.vocab_version, "quorum_id": self.quorum_id, "batch_id": self.batch_id,
                "step": self.step, "micro_batch": self.micro_batch, "micro_batches": self.micro_batches}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PacketHeader:
        batch_id = require(payload, "batch_id", str)
        if not _BATCH_ID.fullmatch(batch_id):
            raise PipelineRefusal(RefusalCode.WRONG_BATCH, "batch_id must be 64 lower-case hex characters")
        micro_batches = require_int(payload, "micro_batches", 1, MAX_MICRO_BATCHES)
        return cls(
            arch_name=require_name(payload, "arch_name"),
            arch_version=require_int(payload, "arch_version", 0, 2**31),
            vocab_version=require_int(payload, "vocab_version", 0, 2**31),
            quorum_id=require_name(payload, "quorum_id"), batch_id=batch_id,
            step=require_int(payload, "step", 0, 2**62),
            micro_batch=require_int(payload, "micro_batch", 0, micro_batches - 1), micro_batches=micro_batches,
        )
