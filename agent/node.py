"""The composition root: `async with Node(config) as node: await node.run()`.

It owns every part of a running node: the benchmark result, the runtime, the
data, the trainer and (as later issues add them) the peer service and local
API. Training steps run in a worker thread so the event loop stays free for
the network; stopping (Ctrl-C, SIGTERM, the dashboard) lets the step in flight
finish, then saves a checkpoint before the node exits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bench import BenchCache, BenchResult, run_benchmark
from .checkpoint import CheckpointStore
from .config import AgentConfig
from .data.batches import Corpus
from .data.shards import ShardStore, build_or_open, shard_dir
from .model.arch import get_architecture
from .model.parameters import StageSpec
from .runtime.select import create_runtime
from .training.schedule import resolve_training
from .training.solo import SoloTrainer, StepMetrics

log = logging.getLogger(__name__)

EventCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class TrainingStatus:
    """What the node is doing now, for progress lines, status and the dashboard."""

    step: int = 0
    max_steps: int | None = None
    loss: float | None = None
    validation_loss: float | None = None
    tokens_per_s: float | None = None
    last_checkpoint: Path | None = None
    last_checkpoint_time_s: float | None = None  # time.time() of the last save
    paused: bool = False


class Node:
    """One NeuroShard node; alone for now, so it trains in SOLO mode."""

    def __init__(self, config: AgentConfig, *, on_event: EventCallback = lambda kind, data: None) -> None:
        self.config = config
        self.arch = get_architecture(config.arch_name)
        self.training = resolve_training(config.training, self.arch)
        self.on_event = on_event
        self.status = TrainingStatus(max_steps=config.training.max_steps)
        self.bench: BenchResult | None = None
        self.trainer: SoloTrainer | None = None
        self._stop = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._saved_step = -1  # step of the last checkpoint written by this process
        self.started_at_s = time.time()

    async def __aenter__(self) -> Node:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.bench = await asyncio.to_thread(self._benchmark)
        self.trainer = await asyncio.to_thread(self._make_trainer)
        resumed = await asyncio.to_thread(self.trainer.resume)
        self.status.step = self.trainer.step
        if resumed is not None:
            self._saved_step = self.trainer.step
        self.on_event("ready", {"bench": self.bench, "resumed_from": resumed, "step": self.trainer.step,
                                "training": self.training, "arch": self.arch})
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.trainer is not None:
            try:
                await self._checkpoint()
            finally:
                self.trainer.runtime.close()

    # ------------------------------------------------------------ control
    def request_stop(self) -> None:
        """Finish the step in flight, save, and return from run()."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self.status.paused = True
        self._running.clear()

    def resume(self) -> None:
        self.status.paused = False
        self._running.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------ main loop
    async def run(self) -> None:
        """Train until max_steps or a stop request (one documented loop per entry point)."""
        assert self.trainer is not None, "use `async with Node(...)` before run()"
        config = self.config.training
        if self.trainer.step == 0:  # the starting point of the curve: about ln(vocab) for random weights
            await self._validate()
        while not self._stop.is_set():
            if config.max_steps is not None and self.trainer.step >= config.max_steps:
                break
            await self._running.wait()
            if self._stop.is_set():
                break
            metrics = await asyncio.to_thread(self.trainer.train_step)
            self._record(metrics)
            step = self.trainer.step
            if step % config.validate_every_steps == 0 or step == config.max_steps:
                await self._validate()
            if step % config.checkpoint_every_steps == 0:
                await self._checkpoint()
        self.on_event("stopped", {"step": self.trainer.step})

    async def _validate(self) -> None:
        assert self.trainer is not None
        self.status.validation_loss = await asyncio.to_thread(self.trainer.validate)
        self.on_event("validation", {"step": self.trainer.step, "validation_loss": self.status.validation_loss})

    def _record(self, metrics: StepMetrics) -> None:
        self.status.step = metrics.step
        self.status.loss = metrics.loss
        self.status.tokens_per_s = metrics.tokens / metrics.seconds if metrics.seconds > 0 else None
        self.on_event("step", {"metrics": metrics, "status": self.status})

    async def _checkpoint(self) -> None:
        assert self.trainer is not None
        if self._saved_step == self.trainer.step:
            return
        path = await asyncio.to_thread(self.trainer.save)
        self._saved_step = self.trainer.step
        self.status.last_checkpoint = path
        self.status.last_checkpoint_time_s = time.time()
        self.on_event("checkpoint", {"path": path, "step": self.trainer.step})

    # ------------------------------------------------------------ setup (worker thread)
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

    def _make_trainer(self) -> SoloTrainer:
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
