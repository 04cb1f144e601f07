"""Hostile input against a live peer server: each gets a 4xx with a clear code, nothing changes.

The server is a real PeerService on 127.0.0.1 (mDNS off); the attacker is a
real aiohttp client with its own Ed25519 identity that builds envelopes by
hand, so it can break them in every way a peer could.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import aiohttp
import msgpack
import numpy as np
import pytest

from agent.identity import Identity
from agent.network.config import NetworkConfig
from agent.network.messages import HEARTBEAT, HELLO, PEER_RECORD, Advert, PeerRecord
from agent.network.server import SignedReply, SignedRequest, signed_route
from agent.network.service import PeerService
from agent.wire.envelope import Envelope, VersionStamp, encode_envelope, pack_body, seal
from agent.wire.tensors import decode_tensor, encode_tensor

ADVERT = Advert(arch_name="genesis", arch_version=1, vocab_version=1, tier="T3", layer_start=0, layer_stop=11)
VERSIONS = VersionStamp(arch_name="genesis", arch_version=1, vocab_version=1)
TENSOR_PATH = "/v1/test/activations"


class TensorSink:
    """An extra route as issue 5 will add them: takes a float32 [2, 4] tensor and keeps it."""

    def __init__(self) -> None:
        self.applied: list[np.ndarray] = []

    async def handle(self, request: SignedRequest) -> SignedReply:
        tensor = decode_tensor(request.payload.get("x"), expected_dtype="float32", expected_shape=(2, 4), name="x")
        self.applied.append(tensor)
        return SignedReply("activations_ack")


class Attacker:
    """A peer with a real key that sends whatever bytes a test wants."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.identity = Identity.generate()
        self.session = session
        self.base_url = base_url
        self.record_sequence = 1000

    def record(self, *, sequence: int | None = None) -> bytes:
        if sequence is None:
            self.record_sequence += 1
            sequence = self.record_sequence
        facts = PeerRecord(network="main", addresses=("127.0.0.1",), port=9, boot_id="ab" * 8, started_ns=1,
                           tier="T3", layer_start=0, layer_stop=11)
        return encode_envelope(seal(self.identity, message_type=PEER_RECORD, body=pack_body(facts.to_payload()),
                                    versions=VERSIONS, sequence=sequence))

    def envelope(self, message_type: str, payload: dict[str, Any], **seal_options: Any) -> Envelope:
        options = {"versions": VERSIONS} | seal_options
        return seal(self.identity, message_type=message_type, body=pack_body(payload), **options)

    def hello(self, **seal_options: Any) -> Envelope:
        record = seal_options.pop("record", None) or self.record()
        return self.envelope(HELLO, {"record": record, "to": ""}, **seal_options)

    async def post(self, path: str, data: bytes) -> tuple[int, dict[str, Any] | bytes]:
        async with self.session.post(self.base_url + path, data=data) as response:
            body = await response.read()
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, body


@pytest.fixture
def sink() -> TensorSink:
    return TensorSink()


@pytest.fixture
async def server(sink):
    config = NetworkConfig(host="127.0.0.1", port=0, mdns_enabled=False, local_api_port=0)
    route = signed_route(TENSOR_PATH, message_type="activations", body_limit_bytes=4096, handler=sink.handle)
    async with PeerService(config, Identity.generate(), lambda: ADVERT, extra_routes=[route]) as service:
        yield service


@pytest.fixture
async def attacker(server):
    async with aiohttp.ClientSession() as session:
        yield Attacker(session, f"http://127.0.0.1:{server.port}")


async def expect_refusal(attacker: Attacker, path: str, data: bytes, status: int, code: str) -> None:
    got_status, body = await attacker.post(path, data)
    assert (got_status, body["error"]["code"]) == (status, code), body
    assert len(body["error"]["message"]) > 10  # a sentence for people


async def assert_still_serving(attacker: Attacker) -> None:
    async with attacker.session.get(attacker.base_url + "/v1/info") as response:
        assert response.status == 200


async def test_valid_hello_is_answered_and_adds_the_peer(server, attacker):
    status, _ = await attacker.post("/v1/hello", encode_envelope(attacker.hello()))
    assert status == 200
    assert [peer.node_id for peer in server.peers()] == [attacker.identity.node_id]


async def test_tampered_body_is_refused(server, attacker):
    envelope = attacker.hello()
    tampered = dataclasses.replace(envelope, body=envelope.body.replace(b"main", b"evil"))
    await expect_refusal(attacker, "/v1/hello", encode_envelope(tampered), 400, "bad_body_hash")
    assert server.peers() == []
    await assert_still_serving(attacker)


async def test_replayed_message_is_refused(server, attacker):
    data = encode_envelope(attacker.hello())
    assert (await attacker.post("/v1/hello", data))[0] == 200
    before = server.peers()
    await expect_refusal(attacker, "/v1/hello", data, 409, "replayed_nonce")
    assert server.peers() == before


@pytest.mark.parametrize("offset_s, accepted", [(31.0, False), (-31.0, False), (29.0, True), (-29.0, True)])
async def test_clock_skew_over_30_s_is_refused(server, attacker, offset_s, accepted):
    import time

    envelope = attacker.hello(timestamp_ms=int((time.time() + offset_s) * 1000))
    if accepted:
        assert (await attacker.post("/v1/hello", encode_envelope(envelope)))[0] == 200
        assert len(server.peers()) == 1
    else:
        await expect_refusal(attacker, "/v1/hello", encode_envelope(envelope), 400, "clock_skew")
        assert server.peers() == []


async def test_signature_reused_under_another_type_is_refused(server, attacker):
    as_heartbeat = dataclasses.replace(attacker.hello(), message_type=HEARTBEAT)
    await expect_refusal(attacker, "/v1/heartbeat", encode_envelope(as_heartbeat), 401, "bad_signature")
    await expect_refusal(attacker, "/v1/heartbeat", encode_envelope(attacker.hello()), 400, "wrong_message_type")
    assert server.peers() == []


async def test_older_record_sequence_is_refused(server, attacker):
    assert (await attacker.post("/v1/hello", encode_envelope(attacker.hello(record=attacker.record(sequence=500)))))[0] == 200
    before = server.peers()
    older = attacker.hello(record=attacker.record(sequence=499))
    await expect_refusal(attacker, "/v1/hello", encode_envelope(older), 409, "stale_sequence")
    assert server.peers() == before


async def test_older_heartbeat_sequence_is_refused(server, attacker):
    assert (await attacker.post("/v1/hello", encode_envelope(attacker.hello())))[0] == 200
    beat = {"boot_id": "ab" * 8, "quorum_id": None, "queue_depth": 3, "free_capacity_fraction": 0.5, "step": 7,
            "record": attacker.record()}
    assert (await attacker.post("/v1/heartbeat", encode_envelope(attacker.envelope(HEARTBEAT, beat, sequence=20))))[0] == 200
    stale = attacker.envelope(HEARTBEAT, beat | {"step": 99}, sequence=19)
    await expect_refusal(attacker, "/v1/heartbeat", encode_envelope(stale), 409, "stale_sequence")
    assert server.peers()[0].step == 7


async def test_hello_whose_key_does_not_match_the_claimed_node_id_is_refused(server, attacker):
    claimed = Identity.generate().node_id  # e.g. the id a forged mDNS TXT advertised
    envelope = dataclasses.replace(attacker.hello(), sender_node_id=claimed)
    await expect_refusal(attacker, "/v1/hello", encode_envelope(envelope), 401, "node_id_mismatch")
    other = Attacker(attacker.session, attacker.base_url)
    borrowed_record = attacker.hello(record=other.record())  # a record signed by someone else
    await expect_refusal(attacker, "/v1/hello", encode_envelope(borrowed_record), 401, "node_id_mismatch")
    assert server.peers() == []


async def test_greeter_refuses_an_answer_from_another_key_than_the_txt_id(server):
    impostor_config = NetworkConfig(host="127.0.0.1", port=0, mdns_enabled=False, local_api_port=0)
    async with PeerService(impostor_config, Identity.generate(), lambda: ADVERT) as impostor:
        txt_node_id = Identity.generate().node_id  # what the TXT record claimed
        greeted = await server.greeter.greet(["127.0.0.1"], impostor.port, expected_node_id=txt_node_id,
                                             found_by="mdns")
        assert not greeted
        assert server.peers() == []
        assert await server.greeter.greet(["127.0.0.1"], impostor.port, expected_node_id=impostor.node_id,
                                          found_by="mdns")


async def test_oversized_body_is_refused_with_or_without_content_length(server, attacker):
    big = os.urandom(server.config.control_body_limit_bytes + 1)
    await expect_refusal(attacker, "/v1/hello", big, 413, "body_too_large")

    async def chunks():
        for _ in range(20):
            yield os.urandom(8192)

    async with attacker.session.post(attacker.base_url + "/v1/hello", data=chunks()) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "body_too_large"
    await assert_still_serving(attacker)


@pytest.mark.parametrize(
    "array, code",
    [(np.zeros((2, 4), dtype=np.float64), "wrong_dtype"), (np.zeros((2, 5), dtype=np.float32), "wrong_shape")],
)
async def test_wrong_dtype_or_shape_is_refused_and_nothing_applied(attacker, sink, array, code):
    envelope = attacker.envelope("activations", {"x": encode_tensor(array)})
    await expect_refusal(attacker, TENSOR_PATH, encode_envelope(envelope), 400, code)
    assert sink.applied == []
    good = attacker.envelope("activations", {"x": encode_tensor(np.ones((2, 4), dtype=np.float32))})
    assert (await attacker.post(TENSOR_PATH, encode_envelope(good)))[0] == 200
    assert len(sink.applied) == 1


async def test_truncated_msgpack_and_random_bytes_are_malformed(server, attacker):
    data = encode_envelope(attacker.hello())
    for cut in (1, 17, len(data) // 2, len(data) - 1):
        await expect_refusal(attacker, "/v1/hello", data[:cut], 400, "malformed")
    for size in (0, 1, 64, 4096):
        await expect_refusal(attacker, "/v1/hello", os.urandom(size) if size else b"", 400, "malformed")
    assert server.peers() == []
    await assert_still_serving(attacker)


async def test_unknown_protocol_and_architecture_versions_are_refused(server, attacker):
    fields = msgpack.unpackb(encode_envelope(attacker.hello()))
    fields[0] = 2
    await expect_refusal(attacker, "/v1/hello", msgpack.packb(fields), 426, "unsupported_protocol")
    grown = VersionStamp(arch_name="genesis", arch_version=2, vocab_version=1)
    await expect_refusal(attacker, "/v1/hello", encode_envelope(attacker.hello(versions=grown)), 422,
                         "unsupported_architecture")
    assert server.peers() == []


async def test_heartbeat_from_a_stranger_asks_for_a_hello(server, attacker):
    beat = {"boot_id": "ab" * 8, "quorum_id": None, "queue_depth": 0, "free_capacity_fraction": 1.0, "step": 0,
            "record": attacker.record()}
    envelope = attacker.envelope(HEARTBEAT, beat, sequence=1)
    await expect_refusal(attacker, "/v1/heartbeat", encode_envelope(envelope), 409, "unknown_sender")
    assert server.peers() == []


async def test_unknown_path_and_method_get_json_errors(attacker):
    await expect_refusal(attacker, "/v2/hello", b"", 404, "not_found")
    async with attacker.session.get(attacker.base_url + "/v1/hello") as response:
        assert response.status == 405 and (await response.json())["error"]["code"] == "method_not_allowed"


async def test_peer_table_has_a_bound(attacker):
    config = NetworkConfig(host="127.0.0.1", port=0, mdns_enabled=False, local_api_port=0, max_peers=1)
    async with PeerService(config, Identity.generate(), lambda: ADVERT) as small:
        first = Attacker(attacker.session, f"http://127.0.0.1:{small.port}")
        second = Attacker(attacker.session, first.base_url)
        assert (await first.post("/v1/hello", encode_envelope(first.hello())))[0] == 200
        await expect_refusal(second, "/v1/hello", encode_envelope(second.hello()), 429, "peer_table_full")
        assert (await first.post("/v1/hello", encode_envelope(first.hello())))[0] == 200  # known peers still may
        assert [peer.node_id for peer in small.peers()] == [first.identity.node_id]
