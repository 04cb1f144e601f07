"""What the node trains, behind one small interface the run loop and cohort sync use.

`node.work.runtime` is the StageRuntime of the layers this node holds,
`node.work.inner_steps` the optimizer steps it took; both training paths stop
at a step boundary between steps (where a cohort sync may run).

PipelineWork: this node's layer range as one stage of a quorum. The node
holding layer 0 founds the quorum and drives its steps; the others serve the
forward/apply packets and checkpoint after each step that is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from coordinator_free.network_view import LayerRange, Mode, NodeView
from coordinator_free.types import NodeId

from .checkpoint import CheckpointStore
from .data.batches import Corpus
from .data.shards import ShardStore, build_or_open, shard_dir
from .model.parameters import StageSpec
from .network.server import signed_route
from .pipeline.driver import PipelineDriver, PipelineStepMetrics, StepFailedError
from .pipeline.messages import (
    APPLY_PATH,
    FORWARD_PATH,
    PIPELINE_APPLY,
    PIPELINE_FORWARD,
)
from .pipeline.stage import PipelineStage
from .quorum.service import QuorumService
from .runtime.base import StageRuntime
from .runtime.select import create_runtime

if TYPE_CHECKING:
    from .node import Node

log = logging.getLogger(__name__)


class PipelineWork:
    mode = Mode.PIPELINE

    def __init__(self, node: Node) -> None:
        self.node = node
        self.config = node.config.pipeline
        self.stage = PipelineStage(arch=node.arch, config=self.config, on_applied=self._on_applied,
                                   on_boundary=self._on_boundary)
        network = node.config.network
        if network is None:
            raise ValueError("pipeline mode needs the network (peers)")
        self.quorum = QuorumService(stage=self.stage, network=network, peers=lambda: node.peers,
                                    own_view=self.own_view)
        self.driver: PipelineDriver | None = None
        self.checkpoints: CheckpointStore | None = None
        self.saved_step = -1

    # ------------------------------------------------------------ interface
    @property
    def runtime(self) -> StageRuntime | None:
        return self.stage.runtime

    @property
    def inner_steps(self) -> int:
        return self.stage.step

    @property
    def layers(self) -> tuple[int, int]:
        return self.config.layers or (0, self.node.arch.layer_count)

    def routes(self) -> list[web.RouteDef]:
        limit = self.node.config.network.tensor_body_limit_bytes if self.node.config.network else 0
        return [*self.quorum.routes(),
                signed_route(FORWARD_PATH, message_type=PIPELINE_FORWARD, body_limit_bytes=limit,
                             handler=self.stage.handle_forward),
                signed_route(APPLY_PATH, message_type=PIPELINE_APPLY, body_limit_bytes=64 * 1024,
                             handler=self.stage.handle_apply)]

    def own_view(self) -> NodeView | None:
        node = self.node
        if node.bench is None or node.node_id is None or self.stage.runtime is None:
            return None
        return NodeView(node_id=NodeId(node.node_id), speed_ms_per_layer=max(node.bench.ms_per_layer, 1e-3),
                        layer_range=LayerRange(*self.layers), max_layers=node.bench.max_layers,
                        memory_bytes=node.bench.memory_bytes, quorum_id=self.quorum.quorum_id,  # type: ignore[arg-type]
                        mode=Mode.PIPELINE if self.quorum.record else Mode.IDLE)

    # ------------------------------------------------------------ setup (worker thread)
    def setup(self) -> None:
        node = self.node
        assert node.bench is not None
        start, stop = self.layers
        spec = StageSpec(node.arch, start, stop)
        options: dict[str, object] = {"seed": node.config.training.seed}
        if node.bench.runtime == "torch":
            options["device"] = node.bench.device
        elif node.config.threads:
            options["threads"] = node.config.threads
        self.stage.runtime = create_runtime(node.bench.runtime, spec, **options)
        self.stage.client = node.peers.client if node.peers is not None else None
        self.checkpoints = CheckpointStore(node.config.state_dir / "checkpoints", spec,
                                           keep=node.config.training.keep_checkpoints)
        latest = self.checkpoints.latest()
        if latest is not None:
            self.stage.runtime.load(latest.state)
            self.stage.step = self.saved_step = latest.step
            log.info("resumed layers [%d, %d) from %s at step %d", start, stop, latest.path, latest.step)
        if start == 0:  # the initiator reads the batches
            data = node.config.data
            shards = build_or_open(ShardStore(shard_dir(node.config.state_dir, data.data_dir)),
                                   data_dir=data.data_dir, shard_bytes=data.shard_bytes)
            corpus = Corpus(shards, validation_fraction=data.validation_fraction)
            self.driver = PipelineDriver(stage=self.stage, corpus=corpus, training=node.training)

    def save(self) -> None:
        if self.checkpoints is None or self.stage.runtime is None or self.saved_step == self.stage.step:
            return
        path = self.checkpoints.save(self.stage.runtime.state(), step=self.stage.step,
                                     extra={"seed": self.node.config.training.seed})
        self.saved_step = self.stage.step
        self.node.note_checkpoint(path, self.stage.step)

    async def _on_applied(self, step: int) -> None:
        if step % self.node.config.training.checkpoint_every_steps == 0:
            await asyncio.to_thread(self.save)

    async def _on_boundary(self, step: int, batch_id: str) -> None:
        """Every stage's step boundary: the cohort sync of its layers, when due (agent/cohort/sync.py)."""
        if await self.node.cohort.after_step(step, batch_id):
            self.saved_step = -1  # the sync changed the weights of this step: checkpoint them (lost work ≤ one interval)
            await asyncio.to_thread(self.save)

    # ------------------------------------------------------------ the loop
    async def run(self, *, stop: asyncio.Event, running: asyncio.Event,
                  record: Callable[[PipelineStepMetrics], None]) -> None:
        """Tend the quorum every tick; drive steps when this node is the initiator (one documented loop)."""
        max_steps = self.node.config.training.max_steps
        loop = asyncio.get_running_loop()
        last_tick_s = -float("inf")
        while not stop.is_set():
            if max_steps is not None and self.stage.step >= max_steps:
                break
            await running.wait()
            if loop.time() - last_tick_s >= self.config.tick_interval_s:
                last_tick_s = loop.time()
                await self.quorum.tend()
            layout = self.stage.layout
            if self.driver is None or layout is None or not layout.is_initiator:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.tick_interval_s)
                continue
            try:
                metrics = await self.driver.train_step()
            except StepFailedError as error:
                log.warning("pipeline step %d failed (member %s): %s", self.stage.step,
                            (error.node_id or "?")[:12], error)
                await self.quorum.on_step_failed(error.node_id)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.failure_pause_s)
                continue
            log.info("pipeline step=%d loss=%r batch=%s quorum=%s seconds=%.4f", metrics.step, metrics.loss,
                     metrics.batch_id[:16], metrics.quorum_id[:16], metrics.seconds)
            self.quorum.on_batches(1)
            record(metrics)
        await self.stage.settle()  # a member's last cohort sync ends before the node saves and exits

