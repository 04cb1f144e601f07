"""Moving the node's weights between the solo trainer (every layer) and a quorum stage (its claim).

Both directions run between steps, never with a step in flight. Names are
the same in every stage (agent/model/parameters.py), so a stage's part of
the whole model is a matter of picking names; AdamW moments travel with
their parameters when the source has them for every name, else the target
keeps its own (a fresh optimizer for those names: a brief warm-up, no harm).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from coordinator_free.peer_health import PeerState

from .cohort.layers import layer_of
from .cohort.transfer import CohortTransfer
from .runtime.base import RuntimeState, StageRuntime

if TYPE_CHECKING:
    from .node import Node
    from .work import PipelineWork

log = logging.getLogger(__name__)


def overlay(runtime: StageRuntime, source: RuntimeState) -> list[str]:
    """Load into `runtime` every parameter `source` has for it; returns the names it took."""
    state = runtime.state()
    taken = [name for name in state.parameters if name in source.parameters]
    for name in taken:
        state.parameters[name] = source.parameters[name]
    if all(name in source.first_moments and name in source.second_moments for name in taken) and \
            set(taken) == set(state.parameters):
        state.first_moments = {name: source.first_moments[name] for name in taken}
        state.second_moments = {name: source.second_moments[name] for name in taken}
        state.optimizer_step = source.optimizer_step
    runtime.load(state)
    return taken


async def into_pipeline(node: Node, pipeline: PipelineWork) -> None:
    """Solo trainer → quorum stage of the claim, starting from the trainer's weights at its step."""
    trainer = node.trainer
    source, step = None, node.status.step
    if trainer is not None:
        await node.checkpoint_solo()
        source, step = await asyncio.to_thread(trainer.runtime.state), trainer.step
        node.trainer = None  # cohort and status stop reading it before it closes
        trainer.runtime.close()
    await asyncio.to_thread(pipeline.setup)
    runtime = pipeline.stage.runtime
    assert runtime is not None
    if source is not None:
        await asyncio.to_thread(overlay, runtime, source)
        pipeline.stage.step, pipeline.saved_step = step, -1
    node.work = pipeline
    node.status.step = pipeline.stage.step
    await node.cohort.rebase()
    log.info("mode: now a quorum stage of layers [%d, %d) at step %d", *pipeline.layers, pipeline.stage.step)


async def into_solo(node: Node, pipeline: PipelineWork | None) -> None:
    """Quorum stage → solo trainer of every layer (own layers from the stage, the rest fetched or saved)."""
    work = node.work
    source, step = None, node.status.step
    if work is not None and work.runtime is not None:
        if work.quorum.record is not None:
            work.quorum.leave("switching to train every layer alone")
        await asyncio.to_thread(work.save)
        source, step = await asyncio.to_thread(work.runtime.state), work.inner_steps
        runtime = work.runtime
        node.work = None
        work.stage.runtime, work.driver = None, None
        runtime.close()
    trainer = await asyncio.to_thread(node.make_trainer)
    resumed = await asyncio.to_thread(trainer.resume)  # the last whole-model checkpoint, if any
    fetched = await _fetch_missing(node, trainer.runtime, own=set(source.parameters) if source else set())
    if source is not None:
        await asyncio.to_thread(overlay, trainer.runtime, source)
    trainer.step = step
    node.trainer = trainer
    node.status.step = step
    await node.cohort.rebase()
    log.info("mode: training every layer at step %d (own layers from the stage, layers %s fetched from holders, "
             "the rest from %s)", step, fetched, resumed or "the initial weights")


async def _fetch_missing(node: Node, runtime: StageRuntime, *, own: set[str]) -> list[int]:
    """Layers this node lacks, from the holder that trained most (cohort weights handoff); the ones fetched."""
    peers = node.peers
    network = node.config.network
    if peers is None or network is None:
        return []
    transfer = CohortTransfer(peers.client, call_timeout_s=node.config.cohort.call_timeout_s,
                              body_limit_bytes=network.tensor_body_limit_bytes)
    shapes: dict[int, dict[str, tuple[int, ...]]] = {}
    for name, shape in sorted(runtime.spec.parameter_shapes().items()):
        if name not in own:
            shapes.setdefault(layer_of(name, node.arch), {})[name] = shape
    alive = [p for p in peers.peers() if p.state is PeerState.ALIVE and p.layer_start is not None
             and p.layer_stop is not None and p.arch_name == node.arch.name and p.arch_version == node.arch.arch_version]
    fetched = []
    for layer in sorted(shapes):
        donors = sorted((p for p in alive if p.layer_start <= layer < p.layer_stop),  # type: ignore[operator]
                        key=lambda p: (-p.step, p.node_id))
        for donor in donors[:2]:
            snapshot = await transfer.fetch_weights(donor, [layer], {layer: shapes[layer]}, min_round=-1, wait_s=0.0)
            if snapshot is not None:
                parameters = {k: v.copy() for item in snapshot.layers for k, v in item.parameters.items()
                              if k in shapes[layer]}
                await asyncio.to_thread(overlay, runtime, RuntimeState(parameters=parameters))
                fetched.append(layer)
                break
    return fetched
