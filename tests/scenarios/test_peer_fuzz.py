"""Fuzz a live agent process: ≥ 2000 mutated requests, zero 5xx, no crash, /v1/status still answers.

Mutations come from a seeded generator (reproducible): bit flips, cuts,
splices and random bytes over valid envelopes; and — the deeper half —
*validly signed* envelopes whose bodies or embedded records are garbage, so
the handlers' own validation is exercised, not just the signature check.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
import msgpack

from agent.identity import Identity
from agent.network.messages import (
    HEARTBEAT,
    HELLO,
    PEER_EXCHANGE,
    PEER_RECORD,
    PeerRecord,
)
from agent.wire.envelope import VersionStamp, encode_envelope, pack_body, seal

REQUEST_COUNT = 2400
CONCURRENCY = 16
SEED = 20240521
VERSIONS = VersionStamp(arch_name="genesis", arch_version=1, vocab_version=1)
PATHS = ["/v1/hello", "/v1/heartbeat", "/v1/peers/exchange"]
ODD_PATHS = ["/v1/info", "/v1/nope", "/", "/v1/hello/", "/v1/peers", "/v1/%00", "/v1/" + "x" * 300]


class Fuzzer:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.identity = Identity.generate()
        self.sequence = 1

    def value(self, depth: int = 0) -> Any:
        """A random msgpack-packable value."""
        kinds = ["none", "bool", "int", "float", "str", "bytes"] + (["list", "map"] if depth < 3 else [])
        kind = self.random.choice(kinds)
        r = self.random
        if kind == "int":
            return r.choice([0, -1, 1, 2**31, 2**63 - 1, -(2**63), r.randint(-(2**40), 2**40)])
        if kind == "float":
            return r.choice([0.0, -1.5, float("nan"), float("inf"), 1e308, r.random()])
        if kind == "str":
            return r.choice(["", "main", "T3", "\x00", "é" * r.randint(1, 50), "a" * r.randint(0, 300)])
        if kind == "bytes":
            return r.randbytes(r.choice([0, 1, 16, 32, 64, r.randint(0, 500)]))
        if kind == "list":
            return [self.value(depth + 1) for _ in range(r.randint(0, 5))]
        if kind == "map":
            return {r.choice(["record", "to", "boot_id", "step", "records", "x"]): self.value(depth + 1)
                    for _ in range(r.randint(0, 5))}
        return {"none": None, "bool": r.random() < 0.5}[kind]

    def record(self) -> bytes:
        payload = PeerRecord(network="main", addresses=("127.0.0.1",), port=9, boot_id="ab" * 8, started_ns=1,
                             tier="T3", layer_start=0, layer_stop=11).to_payload()
        if self.random.random() < 0.5:  # a signed record with broken fields
            payload[self.random.choice(list(payload))] = self.value()
        self.sequence += 1
        return encode_envelope(seal(self.identity, message_type=PEER_RECORD, body=pack_body(payload),
                                    versions=VERSIONS, sequence=self.sequence))

    def signed(self, message_type: str, payload: dict[str, Any]) -> bytes:
        self.sequence += 1
        return encode_envelope(seal(self.identity, message_type=message_type, body=pack_body(payload),
                                    versions=VERSIONS, sequence=self.sequence))

    def valid_ish(self) -> bytes:
        r = self.random
        message_type = r.choice([HELLO, HEARTBEAT, PEER_EXCHANGE])
        payload: dict[str, Any] = {"record": self.record(), "to": "", "boot_id": "ab" * 8, "quorum_id": None,
                                   "queue_depth": 0, "free_capacity_fraction": 1.0, "step": 0}
        for key in r.sample(list(payload), r.randint(0, 3)):
            payload[key] = self.value()
        if r.random() < 0.2:
            return self.signed(message_type, self.value() if r.random() < 0.5 else {})  # type: ignore[arg-type]
        return self.signed(message_type, payload)

    def mutate(self, data: bytes) -> bytes:
        r = self.random
        buffer = bytearray(data)
        operation = r.choice(["flip", "cut", "splice", "random", "repeat", "as_is"])
        if operation == "flip":
            for _ in range(r.randint(1, 8)):
                buffer[r.randrange(len(buffer))] ^= 1 << r.randrange(8)
        elif operation == "cut":
            buffer = buffer[: r.randrange(len(buffer))]
        elif operation == "splice":
            start = r.randrange(len(buffer))
            buffer[start:start + r.randint(0, 40)] = r.randbytes(r.randint(0, 40))
        elif operation == "random":
            buffer = bytearray(r.randbytes(r.randint(0, 2000)))
        elif operation == "repeat":
            buffer = buffer * r.randint(2, 4)
        elif r.random() < 0.5:  # as_is, but with one envelope field swapped for junk
            fields = msgpack.unpackb(bytes(buffer))
            fields[r.randrange(len(fields))] = self.value()
            buffer = bytearray(msgpack.packb(fields))
        return bytes(buffer)

    def request(self) -> tuple[str, str, bytes, dict[str, str]]:
        r = self.random
        path = r.choice(PATHS) if r.random() < 0.9 else r.choice(ODD_PATHS)
        method = "POST" if r.random() < 0.95 else r.choice(["GET", "PUT", "DELETE", "PATCH"])
        headers = {"Content-Type": r.choice(["application/x-neuroshard-msgpack", "application/json", "text/plain"])}
        return method, path, self.mutate(self.valid_ish()), headers


async def fire(base_url: str, fuzzer: Fuzzer) -> dict[int, int]:
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[str, str, bytes, dict[str, str]]] = asyncio.Queue()
    for _ in range(REQUEST_COUNT):
        queue.put_nowait(fuzzer.request())
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def worker() -> None:
            while not queue.empty():
                method, path, data, headers = queue.get_nowait()
                async with session.request(method, base_url + path, data=data, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        async with asyncio.TaskGroup() as group:
            for _ in range(CONCURRENCY):
                group.create_task(worker())
    return statuses


def test_fuzzed_requests_get_no_5xx_and_the_agent_survives(launcher):
    agent = launcher.start("target", "--no-mdns")
    statuses = asyncio.run(fire(f"http://127.0.0.1:{agent.peer_port}", Fuzzer(SEED)))
    assert sum(statuses.values()) == REQUEST_COUNT >= 2000
    assert not {status for status in statuses if status >= 500}, statuses
    assert all(200 <= status < 500 for status in statuses), statuses
    assert sum(count for status, count in statuses.items() if 400 <= status < 500) > REQUEST_COUNT // 2
    assert agent.process.poll() is None, agent.log_tail()
    status = agent.api_get("/v1/status")
    assert status["node"]["node_id"] == agent.node_id
    assert "Traceback" not in agent.log_path.read_text(), agent.log_tail(60)
