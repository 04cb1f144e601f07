"""The dashboard's only import from the agent: stdlib-only, JSON round trips, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent.api.schema import (
    NodeStatus,
    PeersResponse,
    PeerView,
    SchemaError,
    StatusResponse,
    from_json,
    to_json,
)

PEER = PeerView(node_id="cd" * 32, address="10.0.0.2:8470", found_by=("mdns", "inbound"), state="degraded",
                tier=None, layer_start=None, layer_stop=None, arch_version=1, vocab_version=1,
                last_heartbeat_age_s=None)


def test_round_trip_through_json_text():
    response = PeersResponse(peers=(PEER,))
    assert from_json(PeersResponse, json.loads(json.dumps(to_json(response)))) == response


def test_unknown_fields_from_a_newer_agent_are_ignored_and_defaults_fill_missing_ones():
    data = to_json(PEER) | {"future_field": 1}
    del data["step"]
    assert from_json(PeerView, data) == PEER


@pytest.mark.parametrize(
    "change, message",
    [({"state": 3}, r"\$.state: expected str"), ({"arch_version": True}, "expected int"),
     ({"found_by": "mdns"}, "expected a list")],
)
def test_wrong_types_name_the_field(change, message):
    with pytest.raises(SchemaError, match=message):
        from_json(PeerView, to_json(PEER) | change)


def test_missing_required_field_is_named():
    data = to_json(PEER)
    del data["node_id"]
    with pytest.raises(SchemaError, match="missing field 'node_id'"):
        from_json(PeerView, data)


def test_nested_int_becomes_float():
    node = to_json(StatusResponse(node=NodeStatus(
        node_id="x", agent_version="v", protocol_version=1, arch_name="genesis", arch_version=1, vocab_version=1,
        network="main", peer_port=1, uptime_s=2.0, paused=True)))
    node["node"]["uptime_s"] = 2
    assert from_json(StatusResponse, node).node.uptime_s == 2.0


def test_schema_imports_nothing_heavy():
    code = ("import sys, agent.api.schema; heavy = {'aiohttp', 'torch', 'numpy', 'onnxruntime', 'zeroconf'}"
            " & set(sys.modules); print(sorted(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
