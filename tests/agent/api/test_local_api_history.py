"""GET /v1/metrics and /v1/logs on a real LocalApi: schema, ?since=, a clear 400 for a bad since."""

from __future__ import annotations

import aiohttp
import pytest

from agent.api.local import LocalApi
from agent.api.schema import (
    LogsResponse,
    MetricsResponse,
    NodeStatus,
    StatusResponse,
    from_json,
)
from agent.log_buffer import LogBuffer
from agent.metrics import MetricsHistory
from agent.network.config import NetworkConfig

STATUS = StatusResponse(node=NodeStatus(node_id="ab" * 32, agent_version="t", protocol_version=1, arch_name="tiny",
                                        arch_version=1, vocab_version=1, network="t", peer_port=1, uptime_s=1.0,
                                        paused=False))


@pytest.fixture
def history() -> MetricsHistory:
    metrics = MetricsHistory()
    for step in range(1, 6):
        metrics.record_step(step=step, loss=1.0 / step, tokens_per_s=100.0, time_s=1000.0 + step)
    return metrics


@pytest.fixture
async def api(tmp_path, history):
    logs = LogBuffer()
    logs.add(level="info", source="node", message="hello")
    logs.add(level="warning", source="agent.x", message="careful")
    local = LocalApi(NetworkConfig(local_api_port=0), tmp_path, status_provider=lambda: STATUS,
                     peers_provider=list, metrics_provider=history.response, logs_provider=logs.response)
    async with local, aiohttp.ClientSession(headers={"Authorization": f"Bearer {local.token}"}) as session:
        yield local, session


async def get(session, url):
    async with session.get(url) as response:
        return response.status, await response.json()


async def test_metrics_whole_and_since(api):
    local, session = api
    status, body = await get(session, f"{local.url}/v1/metrics")
    whole = from_json(MetricsResponse, body)
    assert status == 200 and [p.step for p in whole.points] == [1, 2, 3, 4, 5] and whole.last_seq == 4
    _, body = await get(session, f"{local.url}/v1/metrics?since=2")
    assert [p.step for p in from_json(MetricsResponse, body).points] == [4, 5]


async def test_logs_whole_and_since(api):
    local, session = api
    _, body = await get(session, f"{local.url}/v1/logs?since=0")
    assert [(line.level, line.message) for line in from_json(LogsResponse, body).lines] == [("warning", "careful")]


@pytest.mark.parametrize("path", ["/v1/metrics?since=abc", "/v1/logs?since=1.5"])
async def test_a_bad_since_is_a_clear_400(api, path):
    local, session = api
    status, body = await get(session, local.url + path)
    assert status == 400 and "integer sequence number" in body["error"]["message"]


async def test_an_agent_without_history_answers_empty(tmp_path):
    local = LocalApi(NetworkConfig(local_api_port=0), tmp_path, status_provider=lambda: STATUS,
                     peers_provider=list)
    async with local, aiohttp.ClientSession(headers={"Authorization": f"Bearer {local.token}"}) as session:
        _, body = await get(session, f"{local.url}/v1/metrics")
        assert from_json(MetricsResponse, body).points == ()
