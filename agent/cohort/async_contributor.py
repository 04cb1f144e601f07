"""Async contributors (DESIGN §9): fetch current weights, train locally, submit Δ to the next round.

Choice: an async contributor trains the **whole model** when it fits (the
tiny and genesis models fit any tier's memory), so it needs no quorum's
activations and no read-only embedding/head: it fetches θ_start of every
layer from the holders, trains `async_steps` inner steps on genesis data,
and submits Δ = θ_start − θ_now to the holders of every layer. Each holder
keeps only the layers it holds (messages.ContributionMessage skips others),
checks the starting-weights hash against its recent θ_start hashes (refused
with wrong_start_weights otherwise) and counts it with weight
√batches × freshness(now − start_at), like any holder's.

The contribution names a round: the round the holders are in (their
`next_round`). A holder that already committed it answers round_closed with
its next round, and the contributor resubmits there to every holder; the
agreement rule (rounds.py) counts it only where every holder of a layer
accepted it, so a half-accepted submission counts nowhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..model.arch import Architecture
from ..network.peer_table import PeerInfo
from ..runtime.base import StageRuntime
from . import messages as m
from .handoff import WeightsSnapshot
from .layers import layer_of, parameters_sha256, split_by_layer
from .transfer import CohortRefusedError, CohortTransfer

log = logging.getLogger(__name__)
MAX_RESUBMISSIONS = 8  # round_closed answers followed before giving up on one contribution


class AsyncContributionError(Exception):
    """A contribution could not be made; `code` says why (e.g. wrong_start_weights, no_holders)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Submitted:
    round_number: int  # the round every holder accepted it for
    batches: int  # inner steps trained
    holders: tuple[str, ...]  # node ids that accepted it


class AsyncContributor:
    def __init__(self, *, arch: Architecture, runtime: StageRuntime, transfer: CohortTransfer,
                 peers: Callable[[], list[PeerInfo]], train_step: Callable[[], str], steps: int) -> None:
        """`train_step()` trains one inner step on `runtime` and returns the batch id."""
        self.arch = arch
        self.runtime = runtime
        self.transfer = transfer
        self.peers = peers
        self.train_step = train_step
        self.steps = steps

    def _shapes(self) -> dict[int, dict[str, tuple[int, ...]]]:
        shapes: dict[int, dict[str, tuple[int, ...]]] = {}
        for name, shape in sorted(self.runtime.spec.parameter_shapes().items()):
            shapes.setdefault(layer_of(name, self.arch), {})[name] = shape
        return shapes

    def holders(self) -> dict[str, PeerInfo]:
        return {p.node_id: p for p in self.peers()
                if p.layer_start is not None and p.arch_name == self.arch.name and p.arch_version == self.arch.arch_version}

    async def contribute_once(self) -> Submitted:
        """Fetch, train, submit; raises AsyncContributionError when no holder took it."""
        holders = self.holders()
        if not holders:
            raise AsyncContributionError("no_holders", "no peer holds layers of this architecture yet")
        snapshot = await self._fetch(holders)
        start_hashes = await asyncio.to_thread(self._load, snapshot)
        batch_ids = [await asyncio.to_thread(self.train_step) for _ in range(self.steps)]
        message = await asyncio.to_thread(self._message, snapshot, start_hashes, batch_ids,
                                          max(1, snapshot.last_round + 1))  # the round the holders are in
        return await self.submit(message, holders)

    async def _fetch(self, holders: dict[str, PeerInfo]) -> WeightsSnapshot:
        """Every layer's θ_start, from the holder that trained most (then lowest id) among those holding it."""
        shapes = self._shapes()
        layers = []
        for layer in sorted(shapes):
            donors = sorted((p for p in holders.values() if p.layer_start <= layer < p.layer_stop),  # type: ignore[operator]
                            key=lambda p: (-p.step, p.node_id))
            if not donors:
                raise AsyncContributionError("no_holders", f"no peer holds layer {layer}")
            snapshot = await self.transfer.fetch_weights(donors[0], [layer], shapes, min_round=-1, wait_s=0.0)
            if snapshot is None:
                raise AsyncContributionError("fetch_failed", f"layer {layer} from {donors[0].node_id[:12]}")
            layers.append(snapshot)
        return WeightsSnapshot(min(s.last_round for s in layers), min(s.start_at_s for s in layers),
                               tuple(item for s in layers for item in s.layers))

    def _load(self, snapshot: WeightsSnapshot) -> dict[int, str]:
        state = self.runtime.state()
        for item in snapshot.layers:
            state.parameters.update({k: v.copy() for k, v in item.parameters.items()})
        self.runtime.load(state)
        return {item.layer: parameters_sha256(item.parameters) for item in snapshot.layers}

    def _message(self, snapshot: WeightsSnapshot, start_hashes: dict[int, str], batch_ids: list[str],
                 round_number: int) -> m.ContributionMessage:
        now = split_by_layer(self.runtime.state().parameters, self.arch)
        layers = tuple(
            m.LayerDelta(item.layer, start_hashes[item.layer],
                         {name: item.parameters[name] - now[item.layer][name] for name in item.parameters})
            for item in snapshot.layers)
        data_sha256 = hashlib.sha256("\n".join(batch_ids).encode()).hexdigest()
        return m.ContributionMessage(round_number, m.KIND_ASYNC, len(batch_ids), snapshot.start_at_s, time.time(),
                                     data_sha256, layers)

    async def submit(self, message: m.ContributionMessage, holders: dict[str, PeerInfo]) -> Submitted:
        """Send to every holder; follow round_closed to the round they are in. Refusals other than that raise."""
        round_number = message.round_number
        for _ in range(MAX_RESUBMISSIONS):
            payload = {**message.to_payload(), "round": round_number}
            results = await asyncio.gather(*(self._send(peer, payload) for peer in holders.values()))
            closed = [r for r in results if isinstance(r, CohortRefusedError) and r.code == m.ROUND_CLOSED]
            refused = [r for r in results if isinstance(r, CohortRefusedError) and r.code != m.ROUND_CLOSED]
            if refused:
                raise AsyncContributionError(refused[0].code, str(refused[0]))
            if not closed:
                accepted = tuple(node for node, r in zip(holders, results, strict=True) if r is None)
                if not accepted:
                    raise AsyncContributionError("no_answer", "no holder answered")
                log.info("async contribution of %d batches accepted for round %d by %d holders",
                         message.batches, round_number, len(accepted))
                return Submitted(round_number, message.batches, accepted)
            round_number = max(r.next_round or round_number + 1 for r in closed)
        raise AsyncContributionError(m.ROUND_CLOSED, f"rounds kept closing; gave up at round {round_number}")

    async def _send(self, peer: PeerInfo, payload: dict) -> CohortRefusedError | Exception | None:
        try:
            await self.transfer.call(peer, m.CONTRIBUTION_PATH, m.CONTRIBUTION, m.CONTRIBUTION_REPLY, payload)
        except CohortRefusedError as error:
            return error
        except Exception as error:  # noqa: BLE001 - a peer failing is data: the others may still take it
            log.info("async contribution to %s: %s", peer.node_id[:12], error)
            return error
        return None
