"""PeerService in one process: bootstrap, heartbeats, exchange, duplicates, clean lifetime."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from agent.identity import Identity
from agent.network.config import NetworkConfig
from agent.network.hello import DuplicateNodeError
from agent.network.messages import Advert
from agent.network.service import PeerService
from coordinator_free.peer_health import PeerState

FAST = NetworkConfig(
    host="127.0.0.1", port=0, local_api_port=0, mdns_enabled=False, heartbeat_interval_s=0.2,
    offline_after_s=2.0, forget_after_s=30.0, exchange_interval_s=0.2, nonce_window_s=60.0,
    record_max_age_s=30.0, backoff_base_s=0.1, backoff_cap_s=0.5,
)


class MutableAdvert:
    def __init__(self) -> None:
        self.value = Advert(arch_name="genesis", arch_version=1, vocab_version=1, tier="T3", layer_start=0,
                            layer_stop=11)

    def __call__(self) -> Advert:
        return self.value


async def wait_until(predicate, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.05)


def states(service: PeerService) -> dict[str, PeerState]:
    return {peer.node_id: peer.state for peer in service.peers()}


async def test_bootstrap_peer_becomes_alive_on_both_sides_and_heartbeats_carry_load():
    advert_b = MutableAdvert()
    async with PeerService(FAST, Identity.generate(), MutableAdvert()) as a:
        config_b = FAST.replace(bootstrap_peers=(f"127.0.0.1:{a.port}",))
        async with PeerService(config_b, Identity.generate(), advert_b) as b:
            await wait_until(lambda: states(a).get(b.node_id) == PeerState.ALIVE
                             and states(b).get(a.node_id) == PeerState.ALIVE)
            assert b.peers()[0].found_by == ("bootstrap",)
            advert_b.value = dataclasses.replace(advert_b.value, step=42, quorum_id="q-7", layer_start=4)
            await wait_until(lambda: a.peers()[0].step == 42 and a.peers()[0].layer_start == 4)
            assert a.peers()[0].quorum_id == "q-7"
            assert a.peers()[0].last_heartbeat_at_s is not None


async def test_peer_exchange_introduces_a_third_node():
    async with PeerService(FAST, Identity.generate(), MutableAdvert()) as c:  # noqa: SIM117  (each waits on the last)
        async with PeerService(FAST.replace(bootstrap_peers=(f"127.0.0.1:{c.port}",)), Identity.generate(),
                               MutableAdvert()) as b:
            await wait_until(lambda: c.node_id in states(b))
            async with PeerService(FAST.replace(bootstrap_peers=(f"127.0.0.1:{b.port}",)), Identity.generate(),
                                   MutableAdvert()) as a:
                await wait_until(lambda: states(a).get(c.node_id) == PeerState.ALIVE
                                 and states(c).get(a.node_id) == PeerState.ALIVE)


async def test_stopped_peer_goes_degraded_then_offline():
    async with PeerService(FAST, Identity.generate(), MutableAdvert()) as a:
        b = PeerService(FAST.replace(bootstrap_peers=(f"127.0.0.1:{a.port}",)), Identity.generate(), MutableAdvert())
        async with b:
            await wait_until(lambda: states(a).get(b.node_id) == PeerState.ALIVE)
        seen = []
        await wait_until(lambda: seen.append(states(a)[b.node_id]) or seen[-1] == PeerState.OFFLINE)
        assert PeerState.DEGRADED in seen and seen.index(PeerState.DEGRADED) < seen.index(PeerState.OFFLINE)


async def test_second_process_with_the_same_identity_stops_with_a_clear_error():
    identity = Identity.generate()
    async with PeerService(FAST, identity, MutableAdvert()) as first:
        copy = PeerService(FAST.replace(bootstrap_peers=(f"127.0.0.1:{first.port}",)), identity, MutableAdvert())
        with pytest.raises(DuplicateNodeError, match="already running .* delete identity.key"):
            async with copy:
                await asyncio.sleep(10)  # cancelled as soon as the duplicate is found
        assert first.peers() == []


async def test_exit_leaves_no_tasks_behind():
    before = asyncio.all_tasks()
    async with PeerService(FAST, Identity.generate(), MutableAdvert()) as service:
        assert service.port > 0
        await asyncio.sleep(0.3)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before
