"""PeerClient: verified replies, clear refusals, failing peers backed off instead of hammered."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from agent.identity import Identity
from agent.network.backoff import Backoff
from agent.network.client import (
    PeerClient,
    PeerRefusedError,
    PeerUnavailableError,
    create_client_session,
)
from agent.network.config import NetworkConfig
from agent.network.messages import Advert
from agent.network.service import PeerService
from agent.wire.envelope import Sealer, VersionStamp
from agent.wire.verify import EnvelopeVerifier, VerifyPolicy

ADVERT = Advert(arch_name="genesis", arch_version=1, vocab_version=1)
VERSIONS = VersionStamp(arch_name="genesis", arch_version=1, vocab_version=1)
CONFIG = NetworkConfig(host="127.0.0.1", port=0, mdns_enabled=False, local_api_port=0, backoff_base_s=0.2,
                       backoff_cap_s=1.0, request_timeout_s=2.0, connect_timeout_s=1.0)


class CountingBrokenPeer:
    """A plain aiohttp server that answers every request with a 500, counting them."""

    def __init__(self) -> None:
        self.hits = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(status=500, text="boom")


@pytest.fixture
async def client():
    session = create_client_session(CONFIG)
    verifier = EnvelopeVerifier(VerifyPolicy(30.0, 300.0, 600.0), lambda: VERSIONS)
    async with session:
        yield PeerClient(session, sealer=Sealer(Identity.generate(), lambda: VERSIONS), verifier=verifier,
                         backoff=Backoff(base_s=0.2, cap_s=1.0), config=CONFIG)


@pytest.fixture
async def broken_peer():
    peer = CountingBrokenPeer()
    app = web.Application()
    app.router.add_post("/v1/hello", peer.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    peer.address = f"127.0.0.1:{runner.addresses[0][1]}"
    yield peer
    await runner.cleanup()


async def call_hello(client: PeerClient, address: str, **options):
    return await client.call(address, "/v1/hello", message_type="hello", payload={"record": b"", "to": ""},
                             reply_type="hello_reply", **options)


async def test_failing_peer_is_left_out_without_touching_the_network(client, broken_peer):
    with pytest.raises(PeerUnavailableError, match="server error 500"):
        await call_hello(client, broken_peer.address)
    for _ in range(5):
        with pytest.raises(PeerUnavailableError, match="left out after failures"):
            await call_hello(client, broken_peer.address)
    assert broken_peer.hits == 1
    await asyncio.sleep(client.backoff.retry_in_s(broken_peer.address) + 0.05)
    with pytest.raises(PeerUnavailableError, match="server error 500"):
        await call_hello(client, broken_peer.address)
    assert broken_peer.hits == 2
    assert client.backoff.failures(broken_peer.address) == 2


async def test_unreachable_address_backs_off(client):
    with socket_port_closed() as address:
        with pytest.raises(PeerUnavailableError):
            await call_hello(client, address)
        assert client.backoff.is_waiting(address)


async def test_refusal_carries_the_peers_code_and_does_not_back_off(client):
    async with PeerService(CONFIG, Identity.generate(), lambda: ADVERT) as server:
        address = f"127.0.0.1:{server.port}"
        with pytest.raises(PeerRefusedError) as caught:
            await call_hello(client, address)  # b"" is no record: the server refuses it
        assert (caught.value.status, caught.value.code) == (400, "malformed")
        assert not client.backoff.is_waiting(address)


async def test_reply_from_an_unexpected_node_is_refused(client):
    async with PeerService(CONFIG, Identity.generate(), lambda: ADVERT) as server:
        expected = Identity.generate().node_id  # e.g. what a forged mDNS TXT claimed
        with pytest.raises(PeerRefusedError) as caught:
            await client.call(f"127.0.0.1:{server.port}", "/v1/peers/exchange", message_type="peer_exchange",
                              payload={"record": b"not a record"}, reply_type="peer_exchange_reply",
                              expected_node_id=expected)
        assert caught.value.code == "node_id_mismatch"


class socket_port_closed:
    """An address nobody listens on: bind a port, then close it."""

    def __enter__(self) -> str:
        import socket

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{probe.getsockname()[1]}"
        probe.close()
        return self.address

    def __exit__(self, *exc_info: object) -> None:
        return None


async def test_one_session_carries_the_configured_timeouts():
    session = create_client_session(CONFIG)
    async with session:
        assert isinstance(session, aiohttp.ClientSession)
        assert session.timeout.total == CONFIG.request_timeout_s
        assert session.timeout.sock_connect == CONFIG.connect_timeout_s


async def test_a_call_may_take_longer_than_the_sessions_default_when_it_says_so():
    # A genesis Δ or a slow stage's answer outlasts the session's short
    # control-message limit: the call's own timeout_s must replace it.
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.8)
        return web.Response(status=500, text="late but here")

    app = web.Application()
    app.router.add_post("/v1/hello", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    address = f"127.0.0.1:{runner.addresses[0][1]}"
    short = NetworkConfig(host="127.0.0.1", port=0, mdns_enabled=False, local_api_port=0,
                          request_timeout_s=0.3, connect_timeout_s=0.3)
    verifier = EnvelopeVerifier(VerifyPolicy(30.0, 300.0, 600.0), lambda: VERSIONS)
    try:
        async with create_client_session(short) as session:
            def fresh_client() -> PeerClient:
                return PeerClient(session, sealer=Sealer(Identity.generate(), lambda: VERSIONS),
                                  verifier=verifier, backoff=Backoff(base_s=0.2, cap_s=1.0), config=short)

            with pytest.raises(PeerUnavailableError, match="TimeoutError"):
                await call_hello(fresh_client(), address)
            with pytest.raises(PeerUnavailableError, match="server error 500"):
                await call_hello(fresh_client(), address, timeout_s=3.0)
    finally:
        await runner.cleanup()
