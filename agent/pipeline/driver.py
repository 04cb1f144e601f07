"""The initiator's side of a step: embed, send every micro-batch down, gather gradients, step everyone.

The initiator holds layer 0 (and the embedding), so it reads the batch:
batch `step` is a pure function of (seed, step), the same one SOLO training
reads, which is what makes a sharded run comparable with a whole one. Quorums
that learn together through cohort sync should read different streams
(PipelineConfig.data_stream), or they train on the same batches twice.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from ..data.batches import Corpus
from ..errors import AgentError
from ..network.client import PeerRefusedError, PeerRequestError
from ..training.schedule import ResolvedTraining, learning_rate_at
from ..training.solo import StepMetrics
from ..wire.errors import WireError
from .layout import QuorumLayout
from .messages import (
    APPLY_PATH,
    PIPELINE_APPLIED,
    PIPELINE_APPLY,
    PacketHeader,
    RefusalCode,
)
from .stage import PipelineStage

# Stream k of genesis batches is SOLO's order under seed + k·2^32: a distinct generator seed per stream that
# no ordinary --seed reaches, so two quorums with different streams never read the same batch sequence.
DATA_STREAM_SHIFT = 32


class StepFailedError(AgentError):
    """A pipeline step did not complete; `node_id` is the member that failed, when known."""

    def __init__(self, message: str, node_id: str | None) -> None:
        super().__init__(message)
        self.node_id = node_id


@dataclass(frozen=True)
class PipelineStepMetrics(StepMetrics):
    quorum_id: str = ""
    micro_batches: int = 1


class PipelineDriver:
    def __init__(self, *, stage: PipelineStage, corpus: Corpus, training: ResolvedTraining) -> None:
        self.stage = stage
        self.corpus = corpus
        self.training = training
        micro = stage.config.micro_batches
        if training.batch_sequences % micro:
            raise AgentError(f"{micro} micro-batches do not divide a batch of {training.batch_sequences} "
                             "sequences; pick a divisor with --micro-batches")

    async def train_step(self) -> PipelineStepMetrics:
        """One step of the whole quorum; raises StepFailedError naming the member at fault."""
        layout = self.stage.layout
        if layout is None or not layout.is_initiator:
            raise AgentError("only the initiator of an active quorum drives steps")
        started = time.perf_counter()
        step = self.stage.step
        address = self.corpus.train_batch(seed=self.data_seed, step=step,
                                          batch_sequences=self.training.batch_sequences,
                                          sequence_tokens=self.training.sequence_tokens)
        tokens = self.corpus.tokens(address)
        self.stage.batch_id = address.batch_id
        chunks = np.split(tokens, self.stage.config.micro_batches)
        headers = [self._header(layout, address.batch_id, step, index, len(chunks)) for index in range(len(chunks))]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._micro_batch(layout, header, chunk))
                         for header, chunk in zip(headers, chunks, strict=True)]
        except ExceptionGroup as group_error:
            raise _step_failure(group_error.exceptions[0], layout) from None
        learning_rate = learning_rate_at(step, peak=self.training.learning_rate,
                                         warmup_steps=self.training.config.warmup_steps)
        await self._apply_everywhere(layout, headers[0], learning_rate)
        metrics = PipelineStepMetrics(
            step=self.stage.step, loss=float(np.mean([task.result() for task in tasks])),
            tokens=self.training.tokens_per_step, seconds=time.perf_counter() - started,
            learning_rate=learning_rate, batch_id=address.batch_id, quorum_id=layout.quorum_id,
            micro_batches=len(chunks),
        )
        await self.stage.boundary(address.batch_id)  # this stage's cohort sync, when one is due
        return metrics

    @property
    def data_seed(self) -> int:
        """Seed of the batch stream: SOLO's for stream 0, so a sharded run reads a whole run's batches."""
        return self.training.config.seed + (self.stage.config.data_stream << DATA_STREAM_SHIFT)

    def _header(self, layout: QuorumLayout, batch_id: str, step: int, index: int, count: int) -> PacketHeader:
        arch = self.stage.arch
        return PacketHeader(arch_name=arch.name, arch_version=arch.arch_version, vocab_version=arch.vocab_version,
                            quorum_id=layout.quorum_id, batch_id=batch_id, step=step, micro_batch=index,
                            micro_batches=count)

    async def _micro_batch(self, layout: QuorumLayout, header: PacketHeader, tokens: np.ndarray) -> float:
        runtime = self.stage.runtime
        assert runtime is not None
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        if layout.is_finisher:  # a one-member quorum: the whole model here
            return float((await self.stage.compute(runtime.backward, inputs, targets=targets)).loss)
        outputs = await self.stage.compute(runtime.forward, inputs)
        gradient, loss = await self._send_down_when_ready(layout, header, outputs, np.ascontiguousarray(targets))
        await self.stage.compute(runtime.backward, inputs, grad_outputs=gradient)
        return loss

    async def _send_down_when_ready(self, layout: QuorumLayout, header: PacketHeader, outputs: np.ndarray,
                                    targets: np.ndarray) -> tuple[np.ndarray, float]:
        """Send one micro-batch down, resending it while a stage answers "syncing" (up to sync_wait_s).

        A refused micro-batch left no gradient anywhere (backward runs only on the way up, after the
        finisher answered), so resending it keeps the step exactly the single-process step.
        """
        config = self.stage.config
        deadline_s = time.monotonic() + config.sync_wait_s
        while True:
            try:
                return await self.stage.send_down(layout, header, outputs, targets)
            except PeerRefusedError as error:
                if error.code != RefusalCode.SYNCING or time.monotonic() >= deadline_s:
                    raise
            await asyncio.sleep(config.sync_retry_s)

    async def _apply_everywhere(self, layout: QuorumLayout, header: PacketHeader, learning_rate: float) -> None:
        client = self.stage.client
        payload = {**header.to_payload(), "learning_rate": learning_rate}
        others = layout.members[1:]
        try:
            async with asyncio.timeout(self.stage.config.apply_timeout_s), asyncio.TaskGroup() as group:
                for member in others:
                    assert client is not None
                    group.create_task(client.call(member.address, APPLY_PATH, message_type=PIPELINE_APPLY,
                                                  payload=payload, reply_type=PIPELINE_APPLIED,
                                                  expected_node_id=member.node_id,
                                                  timeout_s=self.stage.config.apply_timeout_s))
        except (ExceptionGroup, TimeoutError) as error:
            first = error.exceptions[0] if isinstance(error, ExceptionGroup) else error
            raise _step_failure(first, layout) from None
        await self.stage.apply(learning_rate)


def _step_failure(error: BaseException, layout: QuorumLayout) -> StepFailedError:
    """Which member to blame for `error`: the one a stage named, else the first one downstream."""
    node_id = None
    if isinstance(error, PeerRefusedError):
        named = error.details.get("node_id")
        node_id = named if isinstance(named, str) else None
    if node_id is None and isinstance(error, PeerRequestError):
        node_id = next((m.node_id for m in layout.members if m.address == error.address), None)
    if node_id is None and layout.downstream is not None:
        node_id = layout.downstream.node_id
    if not isinstance(error, (PeerRequestError, TimeoutError, WireError, AgentError)):
        raise error  # a bug of ours, not a peer's failure
    return StepFailedError(f"step failed: {type(error).__name__}: {error}", node_id)
