"""Who counts in a round: the buffer of contributions and commits, and the agreement rule.

A round is named by its number = inner steps // sync interval (the arch and
the layer range are implied by the layers each message carries). Every
holder of a layer runs the same three phases:

1. *Contribute*: send its Δ to every other holder of its layers, then wait
   until each of them has either contributed or committed this round, or
   until `contribution_wait_s` passes.
2. *Commit*: the round closes here (later contributions to it are refused
   with round_closed); send, per layer, the set of (node id, digest) it
   received — its own included — to the holders that contributed, and wait
   for their commits until `commit_wait_s` passes.
3. *Agree*: for each layer, the contributions that count are the
   **intersection** of the sets in every commit received for that layer
   (its own included). A contribution some member lacks counts nowhere.

Why it converges: when every member answered in time, every set is the same,
so every holder aggregates the same contributions sorted by node id and
computes bit-identical weights. When a member's contribution reached only
some holders, every holder that saw the short commit drops it. The only
disagreement left is a holder that missed another's commit; each commit
also carries the committer's θ_start hash, and a holder whose θ_start hash
differs from the *canonical* one — the hash in the commit of the committer
with the most outer steps applied to the layer, then the lowest node id —
adopts that holder's weights after the round (weights handoff). So holders that disagree converge
one round later, and lost work stays within one interval. Messages arriving
before a holder reaches the round are buffered, so a fast holder never waits
for a slow one's wake-up, only for its answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .messages import CommitMessage, ContributionMessage


@dataclass(frozen=True, eq=False)
class Received:
    node_id: str
    digest: str  # SHA-256 of the signed body, so two holders name the same bytes
    message: ContributionMessage


def agreed_contributors(commits: Mapping[str, CommitMessage], layer: int) -> frozenset[tuple[str, str]]:
    """The (node id, digest) pairs every commit naming `layer` contains."""
    sets = [frozenset(commit.by_layer()[layer].contributors) for commit in commits.values()
            if layer in commit.by_layer()]
    if not sets:
        return frozenset()
    return frozenset.intersection(*sets)


def canonical_start(commits: Mapping[str, CommitMessage], layer: int) -> tuple[str, str] | None:
    """(node id, θ_start hash) of the committer of `layer` with the most outer steps applied, then lowest id.

    Most rounds first, so a newcomer's fresh weights never win over a layer
    the cohort has been training.
    """
    holders = [(-commit.by_layer()[layer].applied_rounds, node_id) for node_id, commit in commits.items()
               if layer in commit.by_layer()]
    if not holders:
        return None
    node_id = min(holders)[1]
    return node_id, commits[node_id].by_layer()[layer].start_sha256


class RoundBook:
    """Contributions and commits by round, including early ones; waiters wake on each arrival."""

    def __init__(self) -> None:
        self.contributions: dict[int, dict[str, Received]] = {}
        self.commits: dict[int, dict[str, CommitMessage]] = {}
        self.closed_round = -1  # highest round this node committed; later contributions to it are refused
        self._changed = asyncio.Event()

    def add_contribution(self, round_number: int, received: Received) -> None:
        self.contributions.setdefault(round_number, {})[received.node_id] = received
        self._notify()

    def add_commit(self, round_number: int, node_id: str, commit: CommitMessage) -> None:
        self.commits.setdefault(round_number, {})[node_id] = commit
        self._notify()

    def is_closed(self, round_number: int) -> bool:
        return round_number <= self.closed_round

    def forget_before(self, round_number: int) -> None:
        for table in (self.contributions, self.commits):
            for old in [r for r in table if r < round_number]:
                del table[old]

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until `predicate()` holds or `timeout_s` passes; returns the final predicate."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return False
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining_s)
            except TimeoutError:
                return predicate()
        return True

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
