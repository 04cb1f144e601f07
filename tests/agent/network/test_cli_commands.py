"""`neuroshard peers` and `neuroshard doctor` as functions: args in, exit code and text out."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket

import pytest

from agent.api.local import LocalApi
from agent.api.schema import NodeStatus, StatusResponse
from agent.identity import Identity, load_or_create_identity
from agent.network.cli_commands import (
    add_doctor_arguments,
    add_id_arguments,
    add_peers_arguments,
    format_peer_table,
    run_doctor,
    run_id,
    run_peers,
)
from agent.network.config import NetworkConfig
from agent.network.messages import Advert
from agent.network.service import PeerService

ADVERT = Advert(arch_name="genesis", arch_version=1, vocab_version=1, tier="T2", layer_start=0, layer_stop=6)
CONFIG = NetworkConfig(host="127.0.0.1", port=0, local_api_port=0, mdns_enabled=False)


def parse(adder, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    adder(parser)
    return parser.parse_args(list(argv))


def status() -> StatusResponse:
    return StatusResponse(node=NodeStatus(
        node_id="x", agent_version="t", protocol_version=1, arch_name="genesis", arch_version=1, vocab_version=1,
        network="main", peer_port=1, uptime_s=0.0, paused=False))


async def test_peers_prints_the_running_agents_table(tmp_path, capsys):
    async with PeerService(CONFIG, Identity.generate(), lambda: ADVERT) as remote:
        config = CONFIG.replace(bootstrap_peers=(f"127.0.0.1:{remote.port}",))
        async with PeerService(config, Identity.generate(), lambda: ADVERT) as local, \
                LocalApi(config, tmp_path, status_provider=status, peers_provider=local.peer_views):
            async with asyncio.timeout(10):
                while not local.peers():
                    await asyncio.sleep(0.05)
            code = await asyncio.to_thread(run_peers, parse(add_peers_arguments, "--state-dir", str(tmp_path)))
            assert code == 0
            table = capsys.readouterr().out
            assert table.splitlines()[0].split() == ["NODE", "ADDRESS", "FOUND", "BY", "TIER", "LAYERS", "STATE",
                                                     "LAST", "HEARTBEAT"]
            row = table.splitlines()[1]
            for cell in (remote.node_id[:12], f"127.0.0.1:{remote.port}", "bootstrap", "T2", "0-6", "alive"):
                assert cell in row
            args = parse(add_peers_arguments, "--state-dir", str(tmp_path), "--json")
            assert await asyncio.to_thread(run_peers, args) == 0
            assert json.loads(capsys.readouterr().out)[0]["node_id"] == remote.node_id


def test_peers_without_a_running_agent_says_how_to_start_one(tmp_path, capsys):
    assert run_peers(parse(add_peers_arguments, "--state-dir", str(tmp_path))) == 1
    assert "neuroshard run" in capsys.readouterr().err


async def test_peers_with_a_wrong_token_reports_the_refusal(tmp_path, capsys):
    async with LocalApi(CONFIG, tmp_path, status_provider=status, peers_provider=list):
        (tmp_path / "api_token").write_text("not-the-token")
        code = await asyncio.to_thread(run_peers, parse(add_peers_arguments, "--state-dir", str(tmp_path)))
    assert code == 1
    assert "401 unauthorized" in capsys.readouterr().err


def test_id_prints_the_node_id_and_keeps_it(tmp_path, capsys):
    args = parse(add_id_arguments, "--state-dir", str(tmp_path))
    assert run_id(args) == 0
    first = capsys.readouterr().out.strip()
    assert run_id(args) == 0
    assert capsys.readouterr().out.strip() == first
    assert first == load_or_create_identity(tmp_path).node_id and len(first) == 64


def test_empty_table_says_so():
    assert "no peers known yet" in format_peer_table([])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_doctor_on_loopback_passes(tmp_path, capsys):
    args = parse(add_doctor_arguments, "--state-dir", str(tmp_path / "state"), "--interface", "127.0.0.1",
                 "--port", str(free_port()))
    assert run_doctor(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "verdict: all good" in out
    assert "multicast lo" in out and "onnxruntime" in out and "torch" in out


def test_doctor_reports_each_failure_with_a_fix(tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        args = parse(add_doctor_arguments, "--state-dir", str(not_a_dir / "state"), "--interface", "127.0.0.1",
                     "--host", "127.0.0.1", "--port", str(port))
        assert run_doctor(args) == 1
    out = capsys.readouterr().out
    assert "FAIL  state directory" in out and f"FAIL  port {port}" in out
    assert out.count("fix: ") == 2
    assert "verdict: 2 problems found" in out


def test_doctor_names_the_available_interfaces_for_a_wrong_one(tmp_path, capsys):
    args = parse(add_doctor_arguments, "--state-dir", str(tmp_path), "--interface", "nosuch0")
    assert run_doctor(args) == 1
    assert "available: " in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--peer", "--interface"])
def test_network_flags_are_repeatable(flag):
    from agent.network.cli_args import add_network_arguments, network_config_from_args

    args = parse(add_network_arguments, flag, "10.0.0.1:1", flag, "10.0.0.2:2", "--port", "0",
                 "--config-json", '{"heartbeat_interval_s": 2}')
    config = network_config_from_args(args)
    values = config.bootstrap_peers if flag == "--peer" else config.interfaces
    assert values == ("10.0.0.1:1", "10.0.0.2:2")
    assert config.port == 0 and config.heartbeat_interval_s == 2.0
