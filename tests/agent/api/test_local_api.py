"""Local API: token required (0600 file, constant-time compare), loopback only, schema JSON."""

from __future__ import annotations

import json
import stat

import aiohttp
import pytest

from agent.api.local import LocalApi, load_or_create_token, read_local_api_url
from agent.api.schema import (
    LOCAL_API_FILE_NAME,
    TOKEN_FILE_NAME,
    ControlResponse,
    NodeStatus,
    PeersResponse,
    PeerView,
    StatusResponse,
    from_json,
)
from agent.network.config import NetworkConfig
from agent.network.interfaces import list_interfaces

CONFIG = NetworkConfig(local_api_port=0)
STATUS = StatusResponse(
    node=NodeStatus(node_id="ab" * 32, agent_version="test", protocol_version=1, arch_name="genesis",
                    arch_version=1, vocab_version=1, network="main", peer_port=8470, uptime_s=1.5, paused=False),
    peer_counts={"alive": 1},
)
PEER = PeerView(node_id="cd" * 32, address="10.0.0.2:8470", found_by=("mdns",), state="alive", tier="T2",
                layer_start=0, layer_stop=4, arch_version=1, vocab_version=1, last_heartbeat_age_s=0.5)


class PauseSwitch:
    """The Node's pause callback, as a plain object."""

    def __init__(self) -> None:
        self.paused = False

    async def __call__(self, paused: bool) -> bool:
        self.paused = paused
        return self.paused


@pytest.fixture
def switch() -> PauseSwitch:
    return PauseSwitch()


@pytest.fixture
async def api(tmp_path, switch):
    local = LocalApi(CONFIG, tmp_path, status_provider=lambda: STATUS, peers_provider=lambda: [PEER], control=switch)
    async with local:
        yield local


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


async def get_json(session, url, token=None, method="GET"):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with session.request(method, url, headers=headers) as response:
        return response.status, await response.json()


@pytest.mark.parametrize("path, method", [("/v1/status", "GET"), ("/v1/peers", "GET"),
                                          ("/v1/control/pause", "POST"), ("/v1/nope", "GET")])
async def test_requests_without_the_right_token_are_refused(api, session, switch, path, method):
    for token in (None, "", "wrong", api.token + "x", api.token[:-1]):
        status, body = await get_json(session, api.url + path, token, method)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
    async with session.request(method, api.url + path, headers={"Authorization": f"Basic {api.token}"}) as response:
        assert response.status == 401
    assert switch.paused is False


async def test_status_and_peers_follow_the_schema(api, session):
    status, body = await get_json(session, api.url + "/v1/status", api.token)
    assert status == 200 and from_json(StatusResponse, body) == STATUS
    status, body = await get_json(session, api.url + "/v1/peers", api.token)
    assert status == 200 and from_json(PeersResponse, body).peers == (PEER,)


async def test_pause_and_resume_call_the_nodes_callback(api, session, switch):
    status, body = await get_json(session, api.url + "/v1/control/pause", api.token, "POST")
    assert status == 200 and from_json(ControlResponse, body).paused is True and switch.paused is True
    status, body = await get_json(session, api.url + "/v1/control/resume", api.token, "POST")
    assert from_json(ControlResponse, body).paused is False and switch.paused is False


async def test_token_file_is_private_and_stable(api, tmp_path):
    path = tmp_path / TOKEN_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(tmp_path) == api.token and len(api.token) >= 32


async def test_running_api_announces_its_url_and_removes_it_on_exit(tmp_path):
    local = LocalApi(CONFIG, tmp_path, status_provider=lambda: STATUS, peers_provider=list)
    async with local:
        assert read_local_api_url(tmp_path) == local.url
        assert json.loads((tmp_path / LOCAL_API_FILE_NAME).read_text())["url"].startswith("http://127.0.0.1:")
    assert not (tmp_path / LOCAL_API_FILE_NAME).exists()


async def test_not_reachable_on_other_interfaces(api, session):
    others = [i.ipv4 for i in list_interfaces() if not i.is_loopback]
    if not others:
        pytest.skip("this machine has no non-loopback IPv4 address to try the API on")
    for address in others:
        with pytest.raises(aiohttp.ClientConnectorError):
            await get_json(session, f"http://{address}:{api.port}/v1/status", api.token)
