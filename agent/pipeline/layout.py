"""Where this node sits in its quorum's pipeline: who is upstream, who is downstream."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageMember:
    node_id: str
    address: str  # "host:port" of its peer server, as the founder reaches it
    layer_start: int  # first layer it runs in this quorum
    layer_stop: int  # one past the last


@dataclass(frozen=True)
class QuorumLayout:
    """A committed quorum seen from one member: pipeline order, layer 0 first."""

    quorum_id: str
    members: tuple[StageMember, ...]
    position: int  # this node's index in `members`
    step: int  # the step every stage starts this layout at

    @property
    def me(self) -> StageMember:
        return self.members[self.position]

    @property
    def is_initiator(self) -> bool:
        return self.position == 0

    @property
    def is_finisher(self) -> bool:
        return self.position == len(self.members) - 1

    @property
    def upstream(self) -> StageMember | None:
        return None if self.is_initiator else self.members[self.position - 1]

    @property
    def downstream(self) -> StageMember | None:
        return None if self.is_finisher else self.members[self.position + 1]
