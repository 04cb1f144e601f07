"""ModeController: `--mode auto` (and `--mode async`) — select, re-select and switch the node's work.

Every heartbeat interval it builds the network view (agent/quorum/view.py)
and asks mode_rules.plan_mode what to run. A different plan must come out
of `mode_hold_evaluations` re-selections in a row, and the node must have
run its current work for `mode_min_dwell_s`, before it switches: a peer
missing one heartbeat, or a quorum forming while another dissolves, would
otherwise make it flap. The first layer claim is made once: `--layers`, or
choose_layer_claim(max_layers from the benchmark, the view's holder counts,
the §7 replica target); the advert announces it (agent/quorum/status.py).

A switch happens between two steps (the work in flight returns first):
- into a quorum stage: the stage starts from the whole-model weights the
  node trained so far (its claim's part of them) at the same step;
- out of one (the quorum dissolved and none can form): the node trains the
  whole model, its own layers from the stage, the others fetched from their
  holders through the cohort weights handoff when someone holds them, else
  from its last whole-model checkpoint, else the initial weights;
- cohort sync restarts from the new weights (its θ_start) for the layers
  now held.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from coordinator_free.claims import choose_layer_claim
from coordinator_free.network_view import LayerRange, Mode, NetworkView, NodeView
from coordinator_free.scale import target_replicas_per_layer
from coordinator_free.types import NodeId

from .async_work import AsyncWork
from .mode_rules import Hysteresis, Plan, Work, plan_mode
from .mode_switch import into_pipeline, into_solo
from .quorum.view import build_network_view
from .work import PipelineWork

if TYPE_CHECKING:
    from aiohttp import web

    from .node import Node

log = logging.getLogger(__name__)


class ModeController:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.config = node.config.pipeline
        self.forced_async = self.config.mode == "async"
        self.pipeline = PipelineWork(node) if node.config.network is not None else None
        self.async_work = AsyncWork(node)
        self.claim: tuple[int, int] | None = self.config.layers
        self.plan = Plan(Mode.SOLO, Work.SOLO, "starting: looking for peers")
        self.hysteresis = Hysteresis(hold=self.config.mode_hold_evaluations,
                                     min_dwell_s=self.config.mode_min_dwell_s, now_s=time.monotonic())
        self._next: Plan | None = None  # the plan the hysteresis let through, applied between steps
        self._switch = asyncio.Event()

    # ------------------------------------------------------------ what status and adverts read
    @property
    def mode(self) -> Mode:
        return self.plan.mode

    @property
    def reason(self) -> str:
        return self.plan.reason

    def advertised_layers(self) -> tuple[int, int] | None:
        """What peers see this node hold: its claim (every layer before it claims); none when ASYNC or IDLE.

        A partial claim is advertised while the node trains every layer alone
        (SOLO), so founders still see it as a holder of its claim and a quorum
        can form again. An async contributor holds nothing others may fetch,
        and advertising a range would make every cohort round wait for it.
        """
        if self.plan.work in (Work.ASYNC, Work.IDLE):
            return None
        if self.claim is None:
            return (0, self.node.arch.layer_count) if self.node.trainer is not None else None
        return self.claim

    @property
    def holds_layers(self) -> bool:
        """False while ASYNC or IDLE: cohort sync then serves and counts nothing of ours."""
        return self.plan.work not in (Work.ASYNC, Work.IDLE)

    def routes(self) -> list[web.RouteDef]:
        return self.pipeline.routes() if self.pipeline is not None else []

    # ------------------------------------------------------------ selection
    def own_view(self, layer_range: tuple[int, int] | None) -> NodeView | None:
        node = self.node
        if node.bench is None or node.node_id is None:
            return None
        quorum_id = self.pipeline.quorum.quorum_id if self.pipeline is not None and node.work is not None else None
        return NodeView(node_id=NodeId(node.node_id), speed_ms_per_layer=max(node.bench.ms_per_layer, 1e-3),
                        layer_range=LayerRange(*layer_range) if layer_range else None,
                        max_layers=node.bench.max_layers, memory_bytes=node.bench.memory_bytes,
                        quorum_id=quorum_id, mode=self.plan.mode)  # type: ignore[arg-type]

    def view(self, own: NodeView) -> NetworkView:
        peers = self.node.peers.peers() if self.node.peers is not None else []
        return build_network_view(own, peers, self.node.arch)

    def evaluate(self) -> Plan | None:
        """One re-selection; the plan to switch to once hysteresis lets it through, else None."""
        node = self.node
        if node.peers is None or node.bench is None:
            return None
        if self.claim is None:
            self.claim = self._claim()
        own = self.own_view(self.claim)
        if own is None:
            return None
        plan = plan_mode(own, self.view(own), now_s=time.time(), forced_async=self.forced_async)
        if plan.same_as(self.plan):
            self.plan = plan  # the same work, a fresher reason
        return self.hysteresis.offer(self.plan, plan, time.monotonic())

    def _claim(self) -> tuple[int, int]:
        node = self.node
        assert node.bench is not None
        own = self.own_view(None)
        assert own is not None
        view = self.view(own)
        claimed = choose_layer_claim(max(node.bench.max_layers, 1), view.holder_counts,
                                     target_replicas_per_layer(view.size))
        assert claimed is not None
        claim = (claimed.start, claimed.stop)
        log.info("claimed layers [%d, %d) (max_layers %d, holders per layer %s)", *claim, node.bench.max_layers,
                 view.holder_counts.tolist())
        if self.pipeline is not None:
            self.pipeline.config = self.pipeline.config.replace(layers=claim)
        return claim

    # ------------------------------------------------------------ the loop
    async def run(self) -> None:
        """Run the planned work; re-select every heartbeat; switch between steps (one documented loop)."""
        node = self.node
        if self.claim is not None and self.pipeline is not None:
            self.pipeline.config = self.pipeline.config.replace(layers=self.claim)
        async with asyncio.TaskGroup() as group:
            watcher = group.create_task(self._watch())
            try:
                while not node.stopping and not self._finished():
                    self._switch.clear()
                    await self._run_work()
                    if node.stopping or self._finished():
                        break
                    if self._next is not None:
                        await self._apply(self._next)
            finally:
                watcher.cancel()

    def _finished(self) -> bool:
        max_steps = self.node.config.training.max_steps
        return max_steps is not None and self.node.status.step >= max_steps

    async def _watch(self) -> None:
        network = self.node.config.network
        interval_s = network.heartbeat_interval_s if network is not None else 1.0
        while True:
            if self.node.stopping:
                self._switch.set()
            elif not self._switch.is_set() and (plan := self.evaluate()) is not None:
                log.info("mode: switching from %s to %s (%s)", self.plan.mode.value, plan.mode.value, plan.reason)
                self._next = plan
                self._switch.set()
            await asyncio.sleep(interval_s)

    async def _run_work(self) -> None:
        node = self.node
        work = self.plan.work
        if work == Work.PIPELINE and node.work is not None:
            await node.work.run(stop=self._switch, running=node._running, record=node._record)
        elif work == Work.ASYNC:
            await self.async_work.run(until=self._switch)
        elif work == Work.SOLO and node.trainer is not None:
            await node.run_solo(self._switch)
        else:
            await self._switch.wait()

    async def _apply(self, plan: Plan) -> None:
        node = self.node
        if plan.work == Work.PIPELINE and node.work is None and self.pipeline is not None:
            await into_pipeline(node, self.pipeline)
        elif plan.work in (Work.SOLO, Work.ASYNC) and node.work is not None:
            await into_solo(node, self.pipeline)
        self.plan, self._next = plan, None
        self.hysteresis.switched(time.monotonic())
        node.on_event("mode", {"mode": plan.mode.value, "reason": plan.reason, "step": node.status.step})
