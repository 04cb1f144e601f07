"""The composition root: `async with Node(config) as node: await node.run()`.

It owns every part of a running node: identity, peer service (server,
discovery, heartbeats, exchange), the local API, the benchmark result, the
runtime, the data and the trainer. Networking comes up first, so peers and
the dashboard see the node while it benchmarks. Training steps run in a
worker thread so the event loop stays free for the network; stopping (Ctrl-C,
SIGTERM, the dashboard) lets the step in flight finish, then saves a
checkpoint before the node exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from .api.local import LocalApi
from .api.schema import StatusResponse
from .bench import BenchCache, BenchResult, run_benchmark
from .checkpoint import CheckpointStore
from .cohort.sync import CohortSync
from .cohort.transfer import CohortTransfer
from .config import AgentConfig
from .data.batches import Corpus
from .data.shards import ShardStore, build_or_open, shard_dir
from .identity import Identity, load_or_create_identity
from .log_buffer import LogBuffer
from .metrics import MetricsHistory, fan_out
from .model.arch import get_architecture
from .model.parameters import StageSpec
from .modes import ModeController
from .network.messages import Advert
from .network.service import PeerService
from .runtime.base import StageRuntime
from .runtime.select import create_runtime
from .status import TrainingStatus, build_advert, build_status
from .storage import write_atomic
from .training.schedule import resolve_training
from .training.solo import SoloTrainer, StepMetrics
from .work import PipelineWork

log = logging.getLogger(__name__)

EventCallback = Callable[[str, dict[str, Any]], None]
PORTS_FILE_NAME = "ports.json"  # <state>/ports.json: where this running node listens


class Node:
    """One NeuroShard node. Alone on the network it trains the whole model (SOLO)."""

    def __init__(self, config: AgentConfig, *, on_event: EventCallback = lambda kind, data: None) -> None:
        self.config = config
        self.arch = get_architecture(config.arch_name)
        self.training = resolve_training(config.training, self.arch)
        self.metrics = MetricsHistory()  # loss/throughput history for the dashboard (GET /v1/metrics)
        self.log_buffer = LogBuffer()  # recent log lines and events (GET /v1/logs)
        self.on_event = fan_out(on_event, self.metrics.on_event, self.log_buffer.on_event)
        self.status = TrainingStatus(max_steps=config.training.max_steps, paused=config.start_paused)
        self.bench: BenchResult | None = None
        self.trainer: SoloTrainer | None = None
        # PIPELINE mode (forced with --mode pipeline): this node's layers as one quorum stage (agent/work.py).
        self.work: PipelineWork | None = PipelineWork(self) if config.pipeline.mode == "pipeline" else None
        self.identity: Identity | None = None
        self.peers: PeerService | None = None
        self.api: LocalApi | None = None
        self._stack = contextlib.AsyncExitStack()
        self._stop = asyncio.Event()
        self._running = asyncio.Event()
        if not config.start_paused:
            self._running.set()
        self._saved_step = -1  # step of the last checkpoint written by this process
        self.cohort = CohortSync(arch=self.arch, config=config.cohort, network=config.network,
                                 state_dir=config.state_dir, runtime_provider=self._cohort_runtime)
        self.started_at_s = time.monotonic()
        # --mode auto|async: the §7 rules pick the work and re-pick it every heartbeat (agent/modes.py).
        self.modes = ModeController(self) if config.pipeline.mode in ("auto", "async") else None

    async def __aenter__(self) -> Node:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self._stack.callback(self.log_buffer.attach(logging.getLogger()))
        try:
            await self._start_network()
            self.bench = await asyncio.to_thread(self._benchmark)
            if self.work is not None:
                await asyncio.to_thread(self.work.setup)
                await self._start_cohort(self.work.inner_steps > 0)
                self.status.step = self.work.inner_steps
                self.on_event("ready", {"bench": self.bench, "resumed_from": None, "step": self.work.inner_steps,
                                        "training": self.training, "arch": self.arch, "node_id": self.node_id,
                                        "local_api": self.api.url if self.api else None})
                return self
            self.trainer = await asyncio.to_thread(self.make_trainer)
            resumed = await asyncio.to_thread(self.trainer.resume)
        except BaseException:
            await self._stack.aclose()
            raise
        await self._start_cohort(resumed is not None)
        self.status.step = self.trainer.step
        if resumed is not None:
            self._saved_step = self.trainer.step
        self.on_event("ready", {"bench": self.bench, "resumed_from": resumed, "step": self.trainer.step,
                                "training": self.training, "arch": self.arch, "node_id": self.node_id,
                                "local_api": self.api.url if self.api else None})
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self.work is not None and self.work.runtime is not None:
                await asyncio.to_thread(self.work.save)
                self.work.runtime.close()
            if self.trainer is not None:
                try:
                    await self.checkpoint_solo()
                finally:
                    self.trainer.runtime.close()
        finally:
            (self.config.state_dir / PORTS_FILE_NAME).unlink(missing_ok=True)
            await self._stack.aclose()

    @property
    def node_id(self) -> str | None:
        return self.identity.node_id if self.identity else None

    # ------------------------------------------------------------ control
    def request_stop(self) -> None:
        """Finish the step in flight, save, and return from run()."""
        self._stop.set()
        self._running.set()

    def set_paused(self, paused: bool) -> bool:
        """Pause or resume contributing; the step in flight finishes first. Returns the new state."""
        self.status.paused = paused
        if paused:
            self._running.clear()
        else:
            self._running.set()
        self.on_event("paused" if paused else "resumed", {"step": self.status.step})
        return paused

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def advert(self) -> Advert:
        return build_advert(self)

    def status_response(self) -> StatusResponse:
        return build_status(self)

    # ------------------------------------------------------------ main loop
    async def run(self) -> None:
        """Train until max_steps or a stop request (one documented loop per entry point)."""
        if self.modes is not None:
            await self.modes.run()
            self.on_event("stopped", {"step": self.status.step})
            return
        if self.work is not None:
            await self.work.run(stop=self._stop, running=self._running, record=self._record)
            self.on_event("stopped", {"step": self.work.inner_steps})
            return
        if self.trainer is None:
            raise RuntimeError("use `async with Node(...)` before run()")
        await self.run_solo(self._stop)
        self.on_event("stopped", {"step": self.trainer.step})

    async def run_solo(self, until: asyncio.Event) -> None:
        """The SOLO loop: every layer here, until max_steps, a stop request or `until` (a mode switch)."""
        assert self.trainer is not None
        config = self.config.training
        if self.trainer.step == 0 and not self._stop.is_set():  # the starting point of the curve: about ln(vocab) for random weights
            await self._validate()
        while not self._stop.is_set() and not until.is_set():
            if config.max_steps is not None and self.trainer.step >= config.max_steps:
                break
            await self._running.wait()
            if self._stop.is_set() or until.is_set():
                break
            metrics = await asyncio.to_thread(self.trainer.train_step)
            self._record(metrics)
            step = self.trainer.step
            if await self.cohort.after_step(step, metrics.batch_id):
                await self.checkpoint_solo()  # checkpoint at each sync: lost work ≤ one interval
            if step % config.validate_every_steps == 0 or step == config.max_steps:
                await self._validate()
            if step % config.checkpoint_every_steps == 0:
                await self.checkpoint_solo()

    async def _validate(self) -> None:
        assert self.trainer is not None
        self.status.validation_loss = await asyncio.to_thread(self.trainer.validate)
        self.on_event("validation", {"step": self.trainer.step, "validation_loss": self.status.validation_loss})

    def _record(self, metrics: StepMetrics) -> None:
        self.status.step = metrics.step
        self.status.loss = metrics.loss
        self.status.tokens_per_s = metrics.tokens / metrics.seconds if metrics.seconds > 0 else None
        self.on_event("step", {"metrics": metrics, "status": self.status})

    async def checkpoint_solo(self) -> None:
        """Save the solo trainer's weights now, unless this step is saved already (also before a mode switch)."""
        assert self.trainer is not None
        if self._saved_step == self.trainer.step:
            return
        path = await asyncio.to_thread(self.trainer.save)
        self._saved_step = self.trainer.step
        self.note_checkpoint(path, self.trainer.step)

    def peer_routes(self) -> list[web.RouteDef]:
        """Extra signed /v1/ endpoints of this node's components (pipeline, cohort sync, ...).

        Each component that serves peers contributes its routes here; they are
        fixed when the peer server starts, and their handlers reach the node
        through the component, so a route may answer "not ready" until setup ends.
        """
        return [*self.cohort.routes(), *self._work_routes()]

    def note_checkpoint(self, path: Path, step: int) -> None:
        """A checkpoint was saved (solo trainer or a pipeline stage): show it in status."""
        self.status.last_checkpoint = path
        self.status.last_checkpoint_time_s = time.time()
        self.on_event("checkpoint", {"path": path, "step": step})

    def _work_routes(self) -> list[web.RouteDef]:
        if self.modes is not None:  # the stage's routes exist from the start; they refuse until it runs
            return self.modes.routes()
        return self.work.routes() if self.work is not None else []

    # ------------------------------------------------------------ setup
    def _cohort_runtime(self) -> StageRuntime | None:
        if self.work is not None:  # a pipeline stage: its layers' cohorts span the quorums
            return self.work.runtime
        if self.modes is not None and not self.modes.holds_layers:  # ASYNC: a contributor, not a holder
            return None
        return self.trainer.runtime if self.trainer else None

    async def _start_cohort(self, resumed: bool) -> None:
        transfer = None
        if self.peers is not None and self.config.network is not None:
            transfer = CohortTransfer(self.peers.client, call_timeout_s=self.config.cohort.call_timeout_s,
                                      body_limit_bytes=self.config.network.tensor_body_limit_bytes)
        peers = self.peers.peers if self.peers is not None else list
        await self.cohort.start(node_id=self.node_id or "", transfer=transfer, peers=peers, resumed=resumed)
    async def _start_network(self) -> None:
        network = self.config.network
        if network is None:
            return
        self.identity = await asyncio.to_thread(load_or_create_identity, self.config.state_dir)
        self.peers = await self._stack.enter_async_context(
            PeerService(network, self.identity, self.advert, extra_routes=self.peer_routes())
        )
        self.api = await self._stack.enter_async_context(LocalApi(
            network, self.config.state_dir, status_provider=self.status_response,
            peers_provider=self.peers.peer_views, control=self.set_paused,
            metrics_provider=self.metrics.response, logs_provider=self.log_buffer.response,
        ))
        ports = {"node_id": self.identity.node_id, "peer_port": self.peers.port, "local_api_port": self.api.port,
                 "local_api_url": self.api.url, "pid": os.getpid()}
        write_atomic(self.config.state_dir / PORTS_FILE_NAME, json.dumps(ports).encode())
        self.on_event("network", {"node_id": self.identity.node_id, "peer_port": self.peers.port,
                                  "local_api": self.api.url})

    def _benchmark(self) -> BenchResult:
        runtimes = None if self.config.runtime == "auto" else [self.config.runtime]
        return run_benchmark(
            self.arch,
            cache=BenchCache(self.config.state_dir / "bench-cache.json"),
            runtimes=runtimes,
            device=self.config.device,
            progress=lambda runtime, done, total: self.on_event(
                "bench-progress", {"runtime": runtime, "done": done, "total": total}),
        )

    def make_trainer(self) -> SoloTrainer:
        """A whole-model trainer (at start, or a mode switch back to SOLO); blocking: call from a worker thread."""
        assert self.bench is not None
        data = self.config.data
        shards = build_or_open(
            ShardStore(shard_dir(self.config.state_dir, data.data_dir)),
            data_dir=data.data_dir,
            shard_bytes=data.shard_bytes,
            progress=lambda message: self.on_event("data", {"message": message}),
        )
        corpus = Corpus(shards, validation_fraction=data.validation_fraction)
        spec = StageSpec.whole(self.arch)
        options: dict[str, Any] = {"seed": self.config.training.seed}
        if self.bench.runtime == "torch":
            options["device"] = self.bench.device
        elif self.config.threads:
            options["threads"] = self.config.threads
        runtime = create_runtime(self.bench.runtime, spec, **options)
        checkpoints = CheckpointStore(
            self.config.state_dir / "checkpoints", spec, keep=self.config.training.keep_checkpoints
        )
        return SoloTrainer(runtime=runtime, corpus=corpus, checkpoints=checkpoints, training=self.training)
