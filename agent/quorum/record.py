"""The quorum record: what the founder signs in a proposal and a commit, and every member keeps.

Message types:
    quorum_propose / quorum_accept       "will you run this stage in this quorum?"
    quorum_commit / quorum_committed     "everyone accepted: start at this step" (also after a
                                         replacement: same quorum id, new member list)
    quorum_dissolve / quorum_dissolved   "this quorum is over; you are free"
A refusal is a 409 with code `busy` (in another quorum) or `wrong_stage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from coordinator_free.constants import TIER_NAMES

from ..network.messages import require, require_int, require_name
from ..pipeline.layout import QuorumLayout, StageMember
from ..wire.errors import ErrorCode, WireError

QUORUM_PROPOSE = "quorum_propose"
QUORUM_ACCEPT = "quorum_accept"
QUORUM_COMMIT = "quorum_commit"
QUORUM_COMMITTED = "quorum_committed"
QUORUM_DISSOLVE = "quorum_dissolve"
QUORUM_DISSOLVED = "quorum_dissolved"
PROPOSE_PATH = "/v1/quorum/propose"
COMMIT_PATH = "/v1/quorum/commit"
DISSOLVE_PATH = "/v1/quorum/dissolve"
MAX_MEMBERS = 1024


class QuorumRefusalCode(StrEnum):
    BUSY = "busy"  # already in another quorum
    WRONG_STAGE = "wrong_stage"  # the stage offered is not the layer range this node runs
    NOT_MEMBER = "not_member"  # the record does not list this node, or the sender is not its founder
    NO_PROPOSAL = "no_proposal"  # a commit for a proposal this node did not accept (or that expired)


class QuorumRefusal(WireError):
    def __init__(self, code: QuorumRefusalCode, message: str) -> None:
        super().__init__(code, message)  # type: ignore[arg-type]

    @property
    def http_status(self) -> int:
        return 403 if self.code == QuorumRefusalCode.NOT_MEMBER else 409


@dataclass(frozen=True)
class RecordMember:
    node_id: str
    address: str  # "host:port" of its peer server
    layer_start: int
    layer_stop: int
    tier: str  # "T1".."T4"
    speed_ms_per_layer: float  # what formation and replacement used for it

    def to_payload(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "address": self.address, "layer_start": self.layer_start,
                "layer_stop": self.layer_stop, "tier": self.tier, "speed_ms_per_layer": self.speed_ms_per_layer}

    @classmethod
    def from_payload(cls, payload: Any) -> RecordMember:
        if not isinstance(payload, dict):
            raise WireError(ErrorCode.MALFORMED, "each member must be a map")
        tier = require(payload, "tier", str)
        if tier not in TIER_NAMES:
            raise WireError(ErrorCode.MALFORMED, f"member tier must be one of {TIER_NAMES}")
        start, stop = require_int(payload, "layer_start", 0, 2**20), require_int(payload, "layer_stop", 1, 2**20)
        if not start < stop:
            raise WireError(ErrorCode.MALFORMED, "member layer_start must be below layer_stop")
        speed = require(payload, "speed_ms_per_layer", (float, int))
        return cls(node_id=require_name(payload, "node_id"), address=require(payload, "address", str),
                   layer_start=start, layer_stop=stop, tier=tier, speed_ms_per_layer=float(speed))


@dataclass(frozen=True)
class QuorumRecord:
    quorum_id: str
    founder: str  # node id that signs proposals and commits
    members: tuple[RecordMember, ...]  # pipeline order, layer 0 first
    created_at_s: float  # founder's wall clock at the proposal
    session_s: float  # session length, s
    step: int  # training step the members start (or resume) at

    def to_payload(self) -> dict[str, Any]:
        return {"quorum_id": self.quorum_id, "founder": self.founder,
                "members": [member.to_payload() for member in self.members],
                "created_at_s": self.created_at_s, "session_s": self.session_s, "step": self.step}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> QuorumRecord:
        members = require(payload, "members", list)
        if not 0 < len(members) <= MAX_MEMBERS:
            raise WireError(ErrorCode.MALFORMED, f"a quorum has 1..{MAX_MEMBERS} members")
        parsed = tuple(RecordMember.from_payload(member) for member in members)
        for before, after in zip(parsed, parsed[1:]):
            if before.layer_stop != after.layer_start:
                raise WireError(ErrorCode.MALFORMED, "member stages must be contiguous, in pipeline order")
        if parsed[0].layer_start != 0:
            raise WireError(ErrorCode.MALFORMED, "the first member must run layer 0")
        return cls(quorum_id=require_name(payload, "quorum_id"), founder=require_name(payload, "founder"),
                   members=parsed, created_at_s=float(require(payload, "created_at_s", (float, int))),
                   session_s=float(require(payload, "session_s", (float, int))),
                   step=require_int(payload, "step", 0, 2**62))

    def position_of(self, node_id: str) -> int | None:
        return next((index for index, member in enumerate(self.members) if member.node_id == node_id), None)

    def layout_for(self, node_id: str) -> QuorumLayout:
        position = self.position_of(node_id)
        if position is None:
            raise QuorumRefusal(QuorumRefusalCode.NOT_MEMBER, "this quorum record does not list this node")
        members = tuple(StageMember(m.node_id, m.address, m.layer_start, m.layer_stop) for m in self.members)
        return QuorumLayout(quorum_id=self.quorum_id, members=members, position=position, step=self.step)
