"""CohortSync: the Node's DiLoCo component (DESIGN §9) — rounds, endpoints, weights handoff.

The Node owns one, gives it the runtime of the layers it trains through a
provider, adds `routes()` to its peer server and calls `after_step` at every
step boundary; when that returns True a round ran and the node checkpoints
(lost work ≤ one interval). The rule deciding who counts when some holders do
not answer lives in rounds.py. Push, not pull: each holder sends its Δ to the
other holders, so one round costs each holder (cohort − 1) uploads of its Δ.
CPU work (Δ, aggregation) runs in worker threads; the round itself runs on
the event loop while training waits at the step boundary.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from aiohttp import web

from coordinator_free.diloco import DiLoCoConfig, OuterState
from coordinator_free.peer_health import PeerState
from coordinator_free.scale import sync_interval_batches

from ..api.schema import SyncContributorView, SyncRoundView
from ..model.arch import Architecture
from ..network.config import NetworkConfig
from ..network.peer_table import PeerInfo
from ..network.server import SignedReply, SignedRequest, signed_route
from ..runtime.base import StageRuntime
from ..wire.envelope import pack_body
from . import messages as m
from .config import CohortConfig
from .handoff import LayerWeights, WeightsSnapshot, encode_snapshot
from .layers import (
    Parameters,
    flatten,
    layer_of,
    parameters_sha256,
    split_by_layer,
    unflatten,
)
from .outer import CohortState, initial_state, load_state, save_state, step_layer
from .rounds import Received, RoundBook, agreed_contributors, canonical_start
from .transfer import CohortTransfer

log = logging.getLogger(__name__)


HISTORY_ROUNDS = 16  # recent rounds kept for the status


@dataclass
class CohortReport:
    """What the status shows: recent rounds (schema views) and the last handoff."""

    sync_interval_steps: int | None = None  # interval in force, steps
    rounds: list[SyncRoundView] = field(default_factory=list)  # newest last
    adopted_from: str | None = None  # holder whose weights we adopted (handoff), last time


class CohortSync:
    def __init__(self, *, arch: Architecture, config: CohortConfig, network: NetworkConfig | None,
                 state_dir: Path, runtime_provider: Callable[[], StageRuntime | None]) -> None:
        self.arch = arch
        self.config = config
        self.body_limit_bytes = network.tensor_body_limit_bytes if network else 0
        self.directory = state_dir / "cohort" / f"{arch.name}-v{arch.arch_version}"
        self._runtime_provider = runtime_provider
        self.transfer: CohortTransfer | None = None
        self.node_id = ""
        self.state: CohortState | None = None
        self.book = RoundBook()
        self.report = CohortReport(sync_interval_steps=config.sync_interval_steps)
        self.diloco = DiLoCoConfig()
        self._batch_ids: list[str] = []
        self._peers: Callable[[], list[PeerInfo]] = list

    # ------------------------------------------------------------ wiring
    def routes(self) -> list[web.RouteDef]:
        limit = max(self.body_limit_bytes, 1)
        return [
            signed_route(m.CONTRIBUTION_PATH, message_type=m.CONTRIBUTION, body_limit_bytes=limit,
                         handler=self._on_contribution),
            signed_route(m.COMMIT_PATH, message_type=m.COMMIT, body_limit_bytes=limit, handler=self._on_commit),
            signed_route(m.WEIGHTS_PATH, message_type=m.WEIGHTS, body_limit_bytes=64 * 1024,
                         handler=self._on_weights),
        ]

    async def start(self, *, node_id: str, transfer: CohortTransfer | None,
                    peers: Callable[[], list[PeerInfo]], resumed: bool) -> None:
        """Load θ_start (or take the runtime's), and on a fresh start adopt a holder's weights."""
        self.node_id, self.transfer, self._peers = node_id, transfer, peers
        loaded = await asyncio.to_thread(load_state, self.directory) if resumed else None
        self.state = loaded or await asyncio.to_thread(self._state_from_runtime)
        if resumed or transfer is None:
            return
        # Only a holder that has trained is worth copying: two fresh nodes would swap random weights
        # (the first round's canonical rule settles those instead).
        holders = {k: v for k, v in (await self._wait_for_holders(self.config.join_wait_s)).items() if v.step > 0}
        if holders:
            donor = min(holders, key=lambda node_id: (-holders[node_id].step, node_id))
            await self.adopt(donor, holders[donor], self._held_layers(), min_round=-1)

    async def rebase(self) -> None:
        """The layers held changed (a mode switch): θ_start := the runtime's weights now; inner steps restart.

        Outer momentum of a layer still held is kept; a newly held layer starts with none.
        """
        fresh = await asyncio.to_thread(self._state_from_runtime)
        if self.state is not None:
            for layer, outer in fresh.layers.items():
                previous = self.state.layers.get(layer)
                if previous is not None and previous.momentum.shape == outer.momentum.shape:
                    fresh.layers[layer] = OuterState(outer.parameters, previous.momentum, previous.rounds_applied)
            fresh.last_round = self.state.last_round
        self.state = fresh
        self._batch_ids.clear()

    @property
    def runtime(self) -> StageRuntime:
        runtime = self._runtime_provider()
        if runtime is None:
            raise RuntimeError("cohort sync needs the runtime of the layers this node trains")
        return runtime

    def _held_layers(self) -> list[int]:
        return list(self.runtime.spec.layers)

    def _shapes(self) -> dict[int, dict[str, tuple[int, ...]]]:
        shapes: dict[int, dict[str, tuple[int, ...]]] = {}
        for name, shape in sorted(self.runtime.spec.parameter_shapes().items()):
            shapes.setdefault(layer_of(name, self.arch), {})[name] = shape
        return shapes

    def _state_from_runtime(self) -> CohortState:
        layers = split_by_layer(self.runtime.state().parameters, self.arch)
        return initial_state(layers, time.time(), self.config.recent_start_rounds)

    def sync_interval(self) -> int:
        if self.config.sync_interval_steps is not None:
            return self.config.sync_interval_steps
        alive = sum(1 for peer in self._peers() if peer.state is PeerState.ALIVE)
        return sync_interval_batches(1 + alive)

    def holders(self) -> dict[str, PeerInfo]:
        """Alive peers of our architecture that train at least one of our layers, by node id.

        A peer holding part of the model outside any quorum (a spare stage waiting to replace a member)
        trains nothing, so it has no Δ to send: waiting for it would hold every round for
        contribution_wait_s. A peer holding every layer outside a quorum trains alone (SOLO) and counts.
        """
        if self._runtime_provider() is None:
            return {}
        spec = self.runtime.spec
        return {
            peer.node_id: peer for peer in self._peers()
            if peer.state is PeerState.ALIVE and peer.arch_name == self.arch.name
            and peer.arch_version == self.arch.arch_version and peer.layer_start is not None
            and peer.layer_stop is not None and peer.layer_start < spec.layer_end and spec.layer_start < peer.layer_stop
            and (peer.quorum_id is not None or (peer.layer_start == 0 and peer.layer_stop >= self.arch.layer_count))
        }

    async def _wait_for_holders(self, timeout_s: float) -> dict[str, PeerInfo]:
        deadline = time.monotonic() + timeout_s
        while not (holders := self.holders()) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return holders

    # ------------------------------------------------------------ training hook
    def inner_steps(self) -> int:
        """Inner steps since θ_start (the last sync, or the start)."""
        return len(self._batch_ids)

    def steps_to_sync(self, step: int) -> int | None:
        """Steps left before the next round; None while no other holder of our layers is seen."""
        if not self.holders():
            return None
        interval = self.sync_interval()
        return interval - step % interval

    async def after_step(self, step: int, batch_id: str) -> bool:
        """Call at every step boundary; runs a round when one is due. True: a round ran, checkpoint now."""
        self._batch_ids.append(batch_id)
        interval = self.sync_interval()
        self.report.sync_interval_steps = interval
        if step % interval:
            return False
        round_number = step // interval
        holders = self.holders()
        if not holders and not self.book.contributions.get(round_number):
            await asyncio.to_thread(self._restart_alone, round_number)
            return False
        await self.run_round(round_number, holders)
        return True

    def _restart_alone(self, round_number: int) -> None:
        """No cohort: plain local training; θ_start follows θ_now so a later cohort sees a fresh Δ.

        The round counts as passed (θ_start is new as of it), so a late contribution for it is told
        `round_closed` and moves on to the next round, instead of waiting for one this holder never runs.
        """
        assert self.state is not None
        self.state.last_round = max(self.state.last_round, round_number)
        self.book.closed_round = max(self.book.closed_round, round_number)
        layers = split_by_layer(self.runtime.state().parameters, self.arch)
        fresh = initial_state(layers, time.time(), self.config.recent_start_rounds)
        for layer, outer in fresh.layers.items():
            previous = self.state.layers[layer]
            self.state.layers[layer] = OuterState(outer.parameters, previous.momentum, previous.rounds_applied)
        self.state.remember_start(fresh.start_hashes, fresh.start_at_s, self.config.recent_start_rounds)
        self._batch_ids.clear()

    # ------------------------------------------------------------ one round
    async def run_round(self, round_number: int, holders: dict[str, PeerInfo]) -> None:
        assert self.state is not None
        message = await asyncio.to_thread(self._own_contribution, round_number)
        payload = message.to_payload()
        digest = hashlib.sha256(pack_body(payload)).hexdigest()
        self.book.add_contribution(round_number, Received(self.node_id, digest, message))
        await self._send_all(holders, m.CONTRIBUTION_PATH, m.CONTRIBUTION, m.CONTRIBUTION_REPLY, payload)
        contributions = self.book.contributions.setdefault(round_number, {})
        commits = self.book.commits.setdefault(round_number, {})
        await self.book.wait_until(lambda: all(h in contributions or h in commits for h in holders),
                                   self.config.contribution_wait_s)
        own_commit = self._commit(round_number)
        self.book.closed_round = max(self.book.closed_round, round_number)
        self.book.add_commit(round_number, self.node_id, own_commit)
        contributed = {node_id: peer for node_id, peer in holders.items() if node_id in contributions}
        await self._send_all(contributed, m.COMMIT_PATH, m.COMMIT, m.COMMIT_REPLY, own_commit.to_payload())
        await self.book.wait_until(lambda: all(h in commits for h in contributed), self.config.commit_wait_s)
        agreed = dict(commits)
        divergent = await asyncio.to_thread(self._apply, round_number, agreed, tuple(sorted(holders)))
        self.book.forget_before(round_number)
        await self._converge(round_number, agreed, divergent, holders)

    def _own_contribution(self, round_number: int) -> m.ContributionMessage:
        assert self.state is not None
        layers = []
        for layer, tensors in split_by_layer(self.runtime.state().parameters, self.arch).items():
            start = unflatten(self.state.layers[layer].parameters, tensors)
            delta = {name: m.wire_values(start[name] - tensors[name]) for name in tensors}  # as the others decode it
            layers.append(m.LayerDelta(layer, self.state.start_hashes[layer], delta))
        data_sha256 = hashlib.sha256("\n".join(self._batch_ids).encode()).hexdigest()
        return m.ContributionMessage(round_number, m.KIND_SYNC, len(self._batch_ids), self.state.start_at_s,
                                     time.time(), data_sha256, tuple(layers))

    def _commit(self, round_number: int) -> m.CommitMessage:
        assert self.state is not None
        received = self.book.contributions.get(round_number, {})
        layers = []
        for layer in self._held_layers():
            pairs = tuple(sorted((item.node_id, item.digest) for item in received.values()
                                 if any(entry.layer == layer for entry in item.message.layers)))
            layers.append(m.LayerCommit(layer, self.state.start_hashes[layer],
                                        self.state.layers[layer].rounds_applied, pairs))
        return m.CommitMessage(round_number, tuple(layers))

    def _apply(self, round_number: int, commits: dict[str, m.CommitMessage], cohort: tuple[str, ...]) -> list[int]:
        """Outer step per layer over the agreed contributions; returns layers whose θ_start was not canonical."""
        assert self.state is not None
        runtime_state = self.runtime.state()
        received = self.book.contributions.get(round_number, {})
        divergent, new_hashes = [], {}
        for layer, tensors in split_by_layer(runtime_state.parameters, self.arch).items():
            agreed = agreed_contributors(commits, layer)
            items = [(received[node_id], flatten(_layer_entry(received[node_id], layer).tensors))
                     for node_id, digest in sorted(agreed) if node_id in received and received[node_id].digest == digest]
            canonical = canonical_start(commits, layer)
            if canonical is not None and canonical[1] != self.state.start_hashes[layer]:
                divergent.append(layer)
            outer = step_layer(self.state.layers[layer], items, self.diloco)
            self.state.layers[layer] = outer
            parameters = unflatten(outer.parameters, tensors)
            runtime_state.parameters.update(parameters)
            new_hashes[layer] = parameters_sha256(parameters)
        first = self._held_layers()[0]
        self._report_round(round_number, self.state.layers[first], cohort, received, _combined_sha256(new_hashes))
        self.runtime.load(runtime_state)
        self.state.last_round = round_number
        self.state.remember_start(new_hashes, time.time(), self.config.recent_start_rounds)
        self._batch_ids.clear()
        save_state(self.directory, self.state)
        return divergent

    def _report_round(self, round_number: int, outer: OuterState, cohort: tuple[str, ...],
                      received: dict[str, Received], weights_sha256: str) -> None:
        """One SyncRoundView for the lowest layer held (every layer of a round has the same members)."""
        result = outer.last_aggregation
        weights = dict(zip(result.node_ids, result.weights, strict=True)) if result else {}
        trimmed = dict(result.trimmed_fraction_by_node) if result else {}
        excluded = set(result.excluded_node_ids) if result else set()
        contributors = []
        for node_id in sorted(set(cohort) | set(weights) | excluded):
            item = received.get(node_id)
            left_out = node_id not in weights
            reason = ("excluded by the aggregator" if node_id in excluded else
                      "late or not agreed by every holder" if left_out else
                      "async contributor" if item and item.message.kind == m.KIND_ASYNC else "")
            contributors.append(SyncContributorView(
                node_id=node_id, weight=weights.get(node_id, 0.0),
                batches=item.message.batches if item else 0, trimmed=trimmed.get(node_id, 0.0) > 0,
                left_out=left_out, reason=reason))
        spec = self.runtime.spec
        view = SyncRoundView(finished_at_s=time.time(), layer_start=spec.layer_start, layer_stop=spec.layer_end,
                             step=round_number * (self.report.sync_interval_steps or 0),
                             rule=self.diloco.aggregation.method.value, contributors=tuple(contributors),
                             round_number=round_number)
        self.report.rounds = [*self.report.rounds[-(HISTORY_ROUNDS - 1):], view]
        # The weights hash lets anyone check that every holder of these layers left the round bit-identical.
        log.info("cohort round %d: weights %s left out %s layers [%d, %d) weights_sha256 %s", round_number,
                 {k[:12]: round(v, 4) for k, v in weights.items()},
                 [c.node_id[:12] for c in contributors if c.left_out], spec.layer_start, spec.layer_end,
                 weights_sha256)

    async def _converge(self, round_number: int, commits: dict[str, m.CommitMessage], divergent: list[int],
                        holders: dict[str, PeerInfo]) -> None:
        """Layers whose θ_start differed from the canonical one: adopt the canonical holder's result."""
        by_donor: dict[str, list[int]] = {}
        for layer in divergent:
            canonical = canonical_start(commits, layer)
            if canonical is not None and canonical[0] != self.node_id and canonical[0] in holders:
                by_donor.setdefault(canonical[0], []).append(layer)
        for donor, layers in sorted(by_donor.items()):
            await self.adopt(donor, holders[donor], layers, min_round=round_number)

    async def _send_all(self, peers: dict[str, PeerInfo], path: str, message_type: str, reply_type: str,
                        payload: dict) -> None:
        if self.transfer is None or not peers:
            return
        await asyncio.gather(*(self.transfer.send(peer, path, message_type, reply_type, payload)
                               for peer in peers.values()))

    # ------------------------------------------------------------ weights handoff
    async def adopt(self, donor: str, peer: PeerInfo, layers: list[int], *, min_round: int) -> bool:
        """Fetch θ_start and momentum of `layers` from `donor` and train from them."""
        if self.transfer is None:
            return False
        snapshot = await self.transfer.fetch_weights(peer, layers, self._shapes(), min_round=min_round,
                                                     wait_s=self.config.adopt_wait_s)
        if snapshot is None:
            return False
        await asyncio.to_thread(self._load_snapshot, snapshot)
        self.report.adopted_from = donor
        log.info("adopted weights of layers %s from %s (its round %d)", layers, donor[:12], snapshot.last_round)
        return True

    def _load_snapshot(self, snapshot: WeightsSnapshot) -> None:
        assert self.state is not None
        runtime_state = self.runtime.state()
        hashes = dict(self.state.start_hashes)
        for item in snapshot.layers:
            runtime_state.parameters.update({k: v.copy() for k, v in item.parameters.items()})
            rounds = self.state.layers[item.layer].rounds_applied
            self.state.layers[item.layer] = OuterState(flatten(item.parameters), flatten(item.momentum),
                                                       max(rounds, snapshot.last_round + 1))
            hashes[item.layer] = parameters_sha256(item.parameters)
        self.runtime.load(runtime_state)
        self.state.last_round = max(self.state.last_round, snapshot.last_round)
        self.state.remember_start(hashes, snapshot.start_at_s, self.config.recent_start_rounds)
        self._batch_ids.clear()
        save_state(self.directory, self.state)

    # ------------------------------------------------------------ endpoints
    async def _on_contribution(self, request: SignedRequest) -> SignedReply:
        refusal, message = self._check_contribution(request)
        if refusal is not None or message is None:
            return SignedReply(m.CONTRIBUTION_REPLY, m.reply_payload(False, refusal, next_round=self.book.closed_round + 1))
        digest = hashlib.sha256(request.envelope.body).hexdigest()
        self.book.add_contribution(message.round_number, Received(request.sender, digest, message))
        return SignedReply(m.CONTRIBUTION_REPLY, m.reply_payload(True))

    def _check_contribution(self, request: SignedRequest) -> tuple[m.Refusal | None, m.ContributionMessage | None]:
        if self.state is None or self._runtime_provider() is None:
            return m.Refusal(m.NOT_READY, "this node is still starting; try again shortly"), None
        message = m.ContributionMessage.from_payload(request.payload, self._shapes())
        if not message.layers:
            return m.Refusal(m.NOT_A_HOLDER, f"this node holds layers {self._held_layers()}, none of yours"), None
        if message.kind == m.KIND_ASYNC:
            unknown = [e.layer for e in message.layers if e.start_sha256 not in self.state.recent_hashes]
            if unknown:
                return m.Refusal(m.WRONG_START_WEIGHTS, f"layers {unknown}: starting weights hash is not one of the "
                                 f"last {self.config.recent_start_rounds} θ_start of this holder; fetch the "
                                 "current weights and train again"), None
        if self.book.is_closed(message.round_number):
            return m.Refusal(m.ROUND_CLOSED, f"round {message.round_number} already committed here; "
                             f"submit to round {self.book.closed_round + 1}"), None
        return None, message

    async def _on_commit(self, request: SignedRequest) -> SignedReply:
        commit = m.CommitMessage.from_payload(request.payload)
        self.book.add_commit(commit.round_number, request.sender, commit)
        return SignedReply(m.COMMIT_REPLY, m.reply_payload(True))

    async def _on_weights(self, request: SignedRequest) -> SignedReply:
        state = self.state
        if state is None or self._runtime_provider() is None:
            return SignedReply(m.WEIGHTS_REPLY, m.reply_payload(False, m.Refusal(m.NOT_READY, "still starting")))
        wanted, min_round = m.read_weights_request(request.payload)
        if state.last_round < min_round:
            refusal = m.Refusal(m.NOT_READY, f"round {min_round} not applied here yet (last {state.last_round})")
            return SignedReply(m.WEIGHTS_REPLY, m.reply_payload(False, refusal, last_round=state.last_round))
        shapes = self._shapes()
        layers = [layer for layer in wanted if layer in shapes]
        if not layers:
            refusal = m.Refusal(m.NOT_A_HOLDER, f"this node holds layers {sorted(shapes)}")
            return SignedReply(m.WEIGHTS_REPLY, m.reply_payload(False, refusal))
        body, sha256 = await asyncio.to_thread(self.encode_weights, layers)
        return SignedReply(m.WEIGHTS_REPLY, m.reply_payload(
            True, last_round=state.last_round, next_round=self.book.closed_round + 1, sha256=sha256, body=body))

    def encode_weights(self, layers: list[int]) -> tuple[bytes, str]:
        """θ_start and momentum of `layers` as (safetensors bytes, SHA-256). Tests override it to tamper."""
        assert self.state is not None
        shapes = self._shapes()
        items = []
        for layer in layers:
            like: Parameters = {name: _zeros(shape) for name, shape in shapes[layer].items()}
            outer = self.state.layers[layer]
            items.append(LayerWeights(layer, unflatten(outer.parameters, like), unflatten(outer.momentum, like)))
        return encode_snapshot(WeightsSnapshot(self.state.last_round, self.state.start_at_s, tuple(items)))


def _combined_sha256(hashes: dict[int, str]) -> str:
    """One hash over the per-layer θ hashes of the layers held, in layer order."""
    return hashlib.sha256("".join(f"{layer}:{digest};" for layer, digest in sorted(hashes.items())).encode()).hexdigest()


def _layer_entry(received: Received, layer: int) -> m.LayerDelta:
    return next(entry for entry in received.message.layers if entry.layer == layer)


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)
