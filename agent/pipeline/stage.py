"""One pipeline stage: serves forward packets from upstream and optimizer steps from the initiator.

Schedule: every micro-batch of a step is in flight at once (GPipe's flush:
one optimizer step per batch, after all micro-batches came back), and each
stage runs one computation at a time, first come first served, so a
backward may run between two forwards as in 1F1B. A forward packet is one
nested request: the stage runs its layers, sends its output downstream, and
answers its upstream with the input gradient once the downstream answer
arrives. So a stage keeps a micro-batch's input only while that request is
open (the runtime recomputes the forward in backward), and the averaged
gradients equal the whole batch's: the step is the single-process step.
1F1B's gain is memory, which recomputation already bounds; its asynchronous
variants (PipeDream) change the maths, which the sharded = whole check forbids.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from ..model.arch import Architecture
from ..network.client import PeerClient, PeerRefusedError, PeerRequestError
from ..network.server import SignedReply, SignedRequest
from ..runtime.base import StageRuntime
from ..wire.errors import WireError
from ..wire.tensors import decode_tensor, encode_tensor
from .config import PipelineConfig
from .layout import QuorumLayout
from .messages import (
    FORWARD_PATH,
    PIPELINE_APPLIED,
    PIPELINE_BACKWARD,
    PIPELINE_FORWARD,
    PacketHeader,
    PipelineRefusal,
    RefusalCode,
)

log = logging.getLogger(__name__)


class PipelineStage:
    """The runtime of one layer range plus the quorum it serves; handlers for the peer routes."""

    def __init__(self, *, arch: Architecture, config: PipelineConfig,
                 on_applied: Callable[[int], Awaitable[None]] | None = None,
                 on_boundary: Callable[[int, str], Awaitable[None]] | None = None) -> None:
        self.arch = arch
        self.config = config
        self.runtime: StageRuntime | None = None
        self.client: PeerClient | None = None
        self.layout: QuorumLayout | None = None
        self.step = 0  # optimizer steps this stage has taken
        self.batch_id: str | None = None  # batch of the step in progress, once a packet named it
        self.compute_lock = asyncio.Lock()  # one computation at a time on this stage
        self._on_applied = on_applied
        # The step-boundary hook (cohort sync), given the step reached and the batch it trained on. A member
        # runs it after answering the apply, in `_boundary`, and refuses forward packets ("syncing") until it
        # ends; the initiator runs it in line, so no step of the quorum starts while any stage syncs.
        self._on_boundary = on_boundary
        self._boundary: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ layout
    def join(self, layout: QuorumLayout) -> None:
        """Serve `layout` from its start step; gradients of an unfinished step are dropped."""
        if self.runtime is not None:
            self.runtime.load(self.runtime.state())  # clears accumulated gradients
        self.layout = layout
        self.step = layout.step
        self.batch_id = None

    def leave(self) -> None:
        self.layout = None
        self.batch_id = None

    @property
    def syncing(self) -> bool:
        """True while this member runs its step-boundary hook (a cohort sync)."""
        return self._boundary is not None and not self._boundary.done()

    async def settle(self) -> None:
        """Wait for a step-boundary hook still running (before saving and exiting)."""
        if self._boundary is not None:
            await asyncio.gather(self._boundary, return_exceptions=True)

    # ------------------------------------------------------------ checks
    def check_header(self, header: PacketHeader, sender: str, *, expected_sender: str | None) -> QuorumLayout:
        layout = self.layout
        if self.runtime is None or layout is None:
            raise PipelineRefusal(RefusalCode.NOT_READY, "this node serves no quorum right now; form one first")
        if self.syncing:
            raise PipelineRefusal(RefusalCode.SYNCING, f"this stage is in a cohort sync after step {self.step}; "
                                  "resend shortly", {"retry_after_s": self.config.sync_retry_s})
        versions = (header.arch_name, header.arch_version, header.vocab_version)
        ours = (self.arch.name, self.arch.arch_version, self.arch.vocab_version)
        if versions != ours:
            raise PipelineRefusal(RefusalCode.WRONG_VERSION,
                                  f"packet is for arch/version/vocab {versions}, this stage holds {ours}")
        if header.quorum_id != layout.quorum_id:
            raise PipelineRefusal(RefusalCode.WRONG_QUORUM,
                                  f"packet is for quorum {header.quorum_id}, this stage serves {layout.quorum_id}")
        if expected_sender is not None and sender != expected_sender:
            raise PipelineRefusal(RefusalCode.NOT_UPSTREAM,
                                  f"sender {sender[:16]}… is not the stage before this one ({expected_sender[:16]}…)")
        if header.step != self.step:
            raise PipelineRefusal(RefusalCode.WRONG_STEP, f"packet is for step {header.step}, this stage is at {self.step}")
        if self.batch_id is not None and header.batch_id != self.batch_id:
            raise PipelineRefusal(RefusalCode.WRONG_BATCH,
                                  f"step {self.step} is batch {self.batch_id[:16]}…, packet names {header.batch_id[:16]}…")
        return layout

    def decode_activations(self, payload: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        hidden = decode_tensor(payload.get("activations"), expected_dtype="float32",
                               expected_shape=(None, None, self.arch.hidden_size), name="activations")
        rows, tokens = hidden.shape[0], hidden.shape[1]
        if not (0 < rows and 0 < tokens <= self.arch.context_tokens):
            raise PipelineRefusal(RefusalCode.WRONG_BATCH,
                                  f"activations of {rows} x {tokens} tokens; need ≥ 1 x 1..{self.arch.context_tokens}")
        targets = decode_tensor(payload.get("targets"), expected_dtype="int64", expected_shape=(rows, tokens),
                                name="targets")
        if targets.size and not (0 <= int(targets.min()) and int(targets.max()) < self.arch.vocab_size):
            raise PipelineRefusal(RefusalCode.WRONG_BATCH, f"targets must be token ids below {self.arch.vocab_size}")
        return hidden, targets

    # ------------------------------------------------------------ compute
    async def compute(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one computation of this stage in a worker thread, one at a time."""
        async with self.compute_lock:
            return await asyncio.to_thread(function, *args, **kwargs)

    async def send_down(self, layout: QuorumLayout, header: PacketHeader, outputs: np.ndarray,
                        targets: np.ndarray) -> tuple[np.ndarray, float]:
        """Send one micro-batch's outputs downstream; its input gradient and loss come back."""
        downstream = layout.downstream
        if self.client is None or downstream is None:
            raise RuntimeError("send_down needs a client and a downstream stage")
        payload = {**header.to_payload(), "activations": encode_tensor(outputs), "targets": encode_tensor(targets)}
        async with asyncio.timeout(self.config.stage_timeout_s):
            reply = await self.client.call(
                downstream.address, FORWARD_PATH, message_type=PIPELINE_FORWARD, payload=payload,
                reply_type=PIPELINE_BACKWARD, expected_node_id=downstream.node_id,
                response_limit_bytes=_reply_limit_bytes(outputs),
                timeout_s=self.config.stage_timeout_s,  # the session's default is for small messages
            )
        gradient = decode_tensor(reply.payload.get("grad_inputs"), expected_dtype="float32",
                                 expected_shape=outputs.shape, name="grad_inputs")
        loss = reply.payload.get("loss")
        if not isinstance(loss, float) or not np.isfinite(loss):
            raise PipelineRefusal(RefusalCode.WRONG_BATCH, "downstream answered without a finite loss")
        return gradient, loss

    # ------------------------------------------------------------ handlers
    async def handle_forward(self, request: SignedRequest) -> SignedReply:
        header = PacketHeader.from_payload(request.payload)
        upstream = self.layout.upstream if self.layout else None
        layout = self.check_header(header, request.sender, expected_sender=upstream.node_id if upstream else "")
        inputs, targets = self.decode_activations(request.payload)
        self.batch_id = header.batch_id
        runtime = self.runtime
        assert runtime is not None  # check_header refused otherwise
        if layout.is_finisher:
            result = await self.compute(runtime.backward, inputs, targets=targets)
            loss = float(result.loss)
        else:
            outputs = await self.compute(runtime.forward, inputs)
            gradient, loss = await self._send_down_or_refuse(layout, header, outputs, targets)
            result = await self.compute(runtime.backward, inputs, grad_outputs=gradient)
        return SignedReply(PIPELINE_BACKWARD, {**header.to_payload(), "loss": loss,
                                               "grad_inputs": encode_tensor(result.grad_inputs)})

    async def _send_down_or_refuse(self, layout: QuorumLayout, header: PacketHeader, outputs: np.ndarray,
                                   targets: np.ndarray) -> tuple[np.ndarray, float]:
        try:
            return await self.send_down(layout, header, outputs, targets)
        except PipelineRefusal:
            raise
        except PeerRefusedError as error:
            if error.code != RefusalCode.SYNCING:
                raise _downstream_failed(layout, error) from None
            raise PipelineRefusal(RefusalCode.SYNCING, f"a stage below is syncing: {error}", error.details) from None
        except (PeerRequestError, TimeoutError, WireError) as error:
            raise _downstream_failed(layout, error) from None

    async def handle_apply(self, request: SignedRequest) -> SignedReply:
        header = PacketHeader.from_payload(request.payload)
        initiator = self.layout.members[0].node_id if self.layout else ""
        self.check_header(header, request.sender, expected_sender=initiator)
        if self.batch_id != header.batch_id:
            raise PipelineRefusal(RefusalCode.WRONG_BATCH, f"no micro-batch of batch {header.batch_id[:16]}… reached "
                                                           f"this stage at step {self.step}")
        learning_rate = request.payload.get("learning_rate")
        if not isinstance(learning_rate, float) or not 0.0 <= learning_rate < 1.0:
            raise PipelineRefusal(RefusalCode.WRONG_BATCH, "learning_rate must be a float in 0..1")
        batch_id = header.batch_id
        await self.apply(learning_rate)
        if self._on_boundary is not None:  # answer first: the sync may outlast the initiator's request timeout
            self._boundary = asyncio.create_task(self._member_boundary(self.step, batch_id),
                                                 name=f"boundary-{self.step}")
        return SignedReply(PIPELINE_APPLIED, {**header.to_payload(), "step": self.step})

    async def apply(self, learning_rate: float) -> None:
        assert self.runtime is not None
        await self.compute(self.runtime.apply_gradients, learning_rate=learning_rate)
        self.step += 1
        self.batch_id = None
        if self._on_applied is not None:
            await self._on_applied(self.step)

    async def _member_boundary(self, step: int, batch_id: str) -> None:
        assert self._on_boundary is not None
        try:
            await self._on_boundary(step, batch_id)
        except Exception:  # a failed sync must not stop the stage; the next round retries (lost work ≤ one interval)
            log.exception("step-boundary hook after step %d failed", step)

    async def boundary(self, batch_id: str) -> None:
        """The initiator's step boundary, in line: its loop starts no step until the hook returns."""
        if self._on_boundary is not None:
            await self._on_boundary(self.step, batch_id)


def _downstream_failed(layout: QuorumLayout, error: Exception) -> PipelineRefusal:
    """A stage below failed: say who, so the initiator blames (and backs off) that one, not us."""
    failed = error.details.get("node_id") if isinstance(error, PeerRefusedError) else None
    node_id = failed or (layout.downstream.node_id if layout.downstream else "")
    return PipelineRefusal(RefusalCode.DOWNSTREAM_FAILED, f"stage {node_id[:16]}… failed: {error}", {"node_id": node_id})


def _reply_limit_bytes(outputs: np.ndarray) -> int:
    return int(outputs.nbytes) + 64 * 1024  # the gradient has the outputs' shape, plus the header
