"""Real multicast between separate hosts: three network namespaces joined by a bridge.

Each agent runs in its own namespace with one veth (eth0, 10.77.0.N/24)
whose other end sits on a bridge in a fourth namespace, so nothing touches
the host's own interfaces. Needs root and iproute2 (`ip netns`); elsewhere
the test is skipped with the reason. CI runs it as root; install iproute2
there (`apt-get install -y iproute2`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from peer_agents import sees_alive, wait_for

SUBNET_PREFIX = "10.77.0."
AGENT_COUNT = 3
DISCOVERY_DEADLINE_S = 10.0

_CONNECT_SNIPPET = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
    "    print('open')\n"
    "except OSError as error:\n"
    "    print('closed', error)\n"
)


def ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True, timeout=15)


def why_no_netns() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs this test as root)"
    if shutil.which("ip") is None:
        return "iproute2 is not installed (apt-get install -y iproute2)"
    probe = f"nsprobe{uuid.uuid4().hex[:8]}"
    try:
        ip("netns", "add", probe)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        stderr = getattr(error, "stderr", b"") or b""
        return f"'ip netns add' failed here ({stderr.decode(errors='replace').strip()}); no namespaces allowed"
    ip("netns", "del", probe)
    return None


@dataclass(frozen=True)
class Host:
    netns: str
    address: str


@pytest.fixture
def lan() -> Iterator[list[Host]]:
    reason = why_no_netns()
    if reason:
        print(f"skipping the namespace test: {reason}")
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    bridge_ns = f"nsbr{tag}"
    hosts = [Host(f"nsh{tag}{index}", f"{SUBNET_PREFIX}{index}") for index in range(1, AGENT_COUNT + 1)]
    created = []
    try:
        ip("netns", "add", bridge_ns)
        created.append(bridge_ns)
        ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
        ip("-n", bridge_ns, "link", "set", "br0", "up")
        for index, host in enumerate(hosts, start=1):
            ip("netns", "add", host.netns)
            created.append(host.netns)
            port_name = f"vb{tag}{index}"  # ≤ 15 characters
            ip("link", "add", port_name, "netns", bridge_ns, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
            ip("-n", bridge_ns, "link", "set", port_name, "master", "br0", "up")
            ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            ip("-n", host.netns, "link", "set", "eth0", "up")
            ip("-n", host.netns, "link", "set", "lo", "up")
        yield hosts
    finally:
        for name in reversed(created):  # deleting a namespace deletes its veth ends
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=15, check=False)


def is_port_open(netns: str, address: str, port: int) -> bool:
    command = ["ip", "netns", "exec", netns, sys.executable, "-c", _CONNECT_SNIPPET, address, str(port)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=15)
    return result.stdout.startswith("open")


def test_three_namespaced_agents_find_each_other_by_real_multicast(lan, launcher):
    network = f"netns-{uuid.uuid4().hex[:8]}"
    agents = [
        launcher.start(f"agent{index}", "--host", "0.0.0.0", "--network", network, netns=host.netns,
                       interface="eth0")
        for index, host in enumerate(lan, start=1)
    ]
    for agent in agents:
        others = [other for other in agents if other is not agent]
        wait_for(lambda agent=agent, others=others: sees_alive(agent, others), timeout_s=DISCOVERY_DEADLINE_S,
                 what=f"{agent.name} to list the other two as alive", interval_s=0.5)
    for agent, host in zip(agents, lan, strict=True):
        peers = agent.peers()
        assert {peer["address"].split(":")[0] for peer in peers} == {h.address for h in lan if h is not host}
        assert any("mdns" in peer["found_by"] for peer in peers)


def test_local_api_is_not_reachable_from_another_host(lan, launcher):
    host, other = lan[0], lan[1]
    agent = launcher.start("agent", "--host", "0.0.0.0", "--no-mdns", netns=host.netns, interface="eth0")
    api_port = int(agent.ports["local_api_port"])
    assert is_port_open(host.netns, "127.0.0.1", api_port)  # there, on its loopback
    assert not is_port_open(other.netns, host.address, api_port)  # not from the LAN
    assert not is_port_open(host.netns, host.address, api_port)  # not even on its own LAN address
    assert is_port_open(other.netns, host.address, agent.peer_port)  # while the peer port is
