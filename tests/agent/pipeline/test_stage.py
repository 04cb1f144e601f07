"""A pipeline stage behind a real peer server refuses every packet that is not its next one, with a clear 4xx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from agent.identity import Identity
from agent.model.arch import TINY
from agent.model.parameters import StageSpec
from agent.network.client import PeerRefusedError
from agent.network.config import NetworkConfig
from agent.network.messages import Advert
from agent.network.service import PeerService
from agent.pipeline.config import PipelineConfig
from agent.pipeline.layout import QuorumLayout, StageMember
from agent.pipeline.messages import (
    APPLY_PATH,
    FORWARD_PATH,
    PIPELINE_APPLIED,
    PIPELINE_APPLY,
    PIPELINE_BACKWARD,
    PIPELINE_FORWARD,
    PacketHeader,
)
from agent.pipeline.stage import PipelineStage
from agent.runtime.select import create_runtime
from agent.wire.tensors import encode_tensor

ADVERT = Advert(arch_name="tiny", arch_version=1, vocab_version=1, tier="T1", layer_start=2, layer_stop=3)
CONFIG = NetworkConfig(host="127.0.0.1", port=0, local_api_port=0, mdns_enabled=False)
BATCH = "ab" * 32
ROWS, TOKENS = 2, 8


@dataclass
class Rig:
    stage: PipelineStage
    upstream: PeerService
    stranger: PeerService
    address: str

    async def forward(self, *, sender: PeerService | None = None, activations: Any = None, **header: Any) -> Any:
        fields = {**HEADER.to_payload(), **header}
        targets = np.ones((ROWS, TOKENS), dtype=np.int64)
        if activations is None:
            activations = np.zeros((ROWS, TOKENS, TINY.hidden_size), dtype=np.float32)
        payload = {**fields, "activations": encode_tensor(activations), "targets": encode_tensor(targets)}
        return await (sender or self.upstream).client.call(
            self.address, FORWARD_PATH, message_type=PIPELINE_FORWARD, payload=payload, reply_type=PIPELINE_BACKWARD,
            response_limit_bytes=1 << 20)

    async def apply(self, **header: Any) -> Any:
        payload = {**HEADER.to_payload(), **header, "learning_rate": 1e-3}
        return await self.upstream.client.call(self.address, APPLY_PATH, message_type=PIPELINE_APPLY,
                                               payload=payload, reply_type=PIPELINE_APPLIED)


HEADER = PacketHeader(arch_name="tiny", arch_version=1, vocab_version=1, quorum_id="q1", batch_id=BATCH, step=0)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    stage = PipelineStage(arch=TINY, config=PipelineConfig())
    stage.runtime = create_runtime("onnx", StageSpec(TINY, 2, 3), seed=0, threads=1)
    routes = _routes(stage)
    async with PeerService(CONFIG, Identity.generate(), lambda: ADVERT, extra_routes=routes) as server, \
            PeerService(CONFIG, Identity.generate(), lambda: ADVERT) as upstream, \
            PeerService(CONFIG, Identity.generate(), lambda: ADVERT) as stranger:
        members = (StageMember(upstream.node_id, "", 0, 2), StageMember(server.node_id, "", 2, 3))
        stage.join(QuorumLayout(quorum_id="q1", members=members, position=1, step=0))
        yield Rig(stage, upstream, stranger, f"127.0.0.1:{server.port}")


def _routes(stage: PipelineStage) -> list[Any]:
    from agent.network.server import signed_route

    return [signed_route(FORWARD_PATH, message_type=PIPELINE_FORWARD, body_limit_bytes=1 << 20,
                         handler=stage.handle_forward),
            signed_route(APPLY_PATH, message_type=PIPELINE_APPLY, body_limit_bytes=1 << 16, handler=stage.handle_apply)]


async def refusal(call: Any) -> tuple[int, str]:
    with pytest.raises(PeerRefusedError) as refused:
        await call
    return refused.value.status, refused.value.code


async def test_the_next_packet_is_served_and_the_step_applied(rig: Rig) -> None:
    reply = await rig.forward()
    assert np.isfinite(reply.payload["loss"]) and reply.payload["grad_inputs"]["shape"] == [ROWS, TOKENS, 64]
    applied = await rig.apply()
    assert applied.payload["step"] == 1 and rig.stage.step == 1


@pytest.mark.parametrize(("header", "expected"), [
    ({"arch_version": 2}, (422, "wrong_version")),
    ({"vocab_version": 7}, (422, "wrong_version")),
    ({"quorum_id": "q2"}, (409, "wrong_quorum")),
    ({"step": 5}, (409, "wrong_step")),
    ({"batch_id": "not-hex"}, (409, "wrong_batch")),
])
async def test_a_packet_for_another_version_quorum_step_or_batch_is_refused(
    rig: Rig, header: dict[str, Any], expected: tuple[int, str]
) -> None:
    assert await refusal(rig.forward(**header)) == expected


async def test_a_packet_from_a_node_that_is_not_upstream_is_refused(rig: Rig) -> None:
    assert await refusal(rig.forward(sender=rig.stranger)) == (403, "not_upstream")


async def test_tensors_of_the_wrong_dtype_or_shape_are_refused(rig: Rig) -> None:
    wide = np.zeros((ROWS, TOKENS, 32), dtype=np.float32)
    assert await refusal(rig.forward(activations=wide)) == (400, "wrong_shape")
    doubles = np.zeros((ROWS, TOKENS, 64), dtype=np.float64)
    assert await refusal(rig.forward(activations=doubles)) == (400, "wrong_dtype")


async def test_apply_for_a_batch_this_stage_did_not_see_is_refused_and_changes_nothing(rig: Rig) -> None:
    await rig.forward()
    assert await refusal(rig.apply(batch_id="cd" * 32)) == (409, "wrong_batch")
    assert rig.stage.step == 0


async def test_a_stage_in_no_quorum_refuses_work(rig: Rig) -> None:
    rig.stage.leave()
    assert await refusal(rig.forward()) == (409, "not_ready")


async def test_a_member_answers_the_apply_then_refuses_forwards_while_its_cohort_sync_runs() -> None:
    release, seen = asyncio.Event(), []

    async def boundary(step: int, batch_id: str) -> None:  # stands for the cohort sync at the step boundary
        seen.append((step, batch_id))
        await release.wait()

    stage = PipelineStage(arch=TINY, config=PipelineConfig(), on_boundary=boundary)
    stage.runtime = create_runtime("onnx", StageSpec(TINY, 2, 3), seed=0, threads=1)
    async with PeerService(CONFIG, Identity.generate(), lambda: ADVERT, extra_routes=_routes(stage)) as server, \
            PeerService(CONFIG, Identity.generate(), lambda: ADVERT) as upstream:
        members = (StageMember(upstream.node_id, "", 0, 2), StageMember(server.node_id, "", 2, 3))
        stage.join(QuorumLayout(quorum_id="q1", members=members, position=1, step=0))
        rig = Rig(stage, upstream, upstream, f"127.0.0.1:{server.port}")
        await rig.forward()
        assert (await rig.apply()).payload["step"] == 1  # answered while the hook still runs
        assert seen == [(1, BATCH)] and stage.syncing
        assert await refusal(rig.forward(step=1)) == (409, "syncing")
        release.set()
        await stage.settle()
        assert not stage.syncing and np.isfinite((await rig.forward(step=1)).payload["loss"])
