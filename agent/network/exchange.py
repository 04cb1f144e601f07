"""Beyond the LAN: bootstrap addresses (--peer) and peer exchange (DESIGN.md §6).

Every exchange interval we ask a few random contactable peers for the signed
records of the peers they can reach, and greet every node we did not know.
A record only nominates a node to greet: it joins our table when it answers
a hello itself, so a peer cannot inject members by forging or replaying
records (they are signed by their owners, and age out).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

from ..wire.errors import WireError
from ..wire.verify import EnvelopeVerifier
from .client import PeerClient, PeerRefusedError, PeerUnavailableError
from .config import NetworkConfig, parse_peer_address
from .hello import Greeter
from .messages import PEER_EXCHANGE, PEER_EXCHANGE_REPLY, require
from .peer_table import (
    FOUND_BY_BOOTSTRAP,
    FOUND_BY_EXCHANGE,
    FOUND_BY_INBOUND,
    PeerInfo,
    PeerTable,
)
from .records import OwnRecord, VerifiedRecord, verify_record_bytes
from .server import SignedReply, SignedRequest

logger = logging.getLogger(__name__)

EXCHANGE_PATH = "/v1/peers/exchange"
MAX_CONCURRENT_GREETINGS = 16

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class PeerExchange:
    def __init__(
        self,
        *,
        client: PeerClient,
        table: PeerTable,
        verifier: EnvelopeVerifier,
        greeter: Greeter,
        own_record: OwnRecord,
        node_id: str,
        config: NetworkConfig,
        spawn: Spawn,
    ) -> None:
        self._client = client
        self._table = table
        self._verifier = verifier
        self._greeter = greeter
        self._own = own_record
        self._node_id = node_id
        self._config = config
        self._spawn = spawn
        self._random = random.Random()
        # A thousand new records must not open a thousand connections at once.
        self._greeting_slots = asyncio.Semaphore(MAX_CONCURRENT_GREETINGS)

    async def run(self) -> None:
        """Forever: greet bootstrap peers we have not reached, then exchange with a few peers."""
        while True:
            await self.bootstrap_round()
            await self.exchange_round()
            await asyncio.sleep(self._config.exchange_interval_s)

    async def bootstrap_round(self) -> None:
        reached = {peer.address for peer in self._table.contactable()}
        for text in self._config.bootstrap_peers:
            host, port = parse_peer_address(text)
            if f"{host}:{port}" not in reached:
                await self._greeter.greet([host], port, expected_node_id=None, found_by=FOUND_BY_BOOTSTRAP)

    async def exchange_round(self) -> None:
        peers = self._table.contactable()
        chosen = self._random.sample(peers, min(self._config.exchange_fanout, len(peers)))
        if not chosen:
            return
        async with asyncio.TaskGroup() as group:
            for peer in chosen:
                group.create_task(self._exchange_with(peer))

    async def _exchange_with(self, peer: PeerInfo) -> None:
        try:
            reply = await self._client.call(
                peer.address, EXCHANGE_PATH, message_type=PEER_EXCHANGE,
                payload={"record": self._own.current_bytes()}, reply_type=PEER_EXCHANGE_REPLY,
                expected_node_id=peer.node_id, response_limit_bytes=self._config.exchange_response_limit_bytes,
            )
            records = require(reply.payload, "records", list)
        except (PeerRefusedError, PeerUnavailableError, WireError) as error:
            logger.debug("peer exchange with %s… failed: %s", peer.node_id[:12], error)
            return
        await self.learn(records[: self._config.max_records_per_exchange])

    async def learn(self, records: list[Any]) -> None:
        """Check each record on its own; greet the nodes we do not know yet."""
        to_greet = []
        for data in records:
            record = self._accept(data)
            if record is None:
                continue
            known = self._table.get(record.node_id)
            if known is not None and known.boot_id == record.record.boot_id:
                self._table.update_record(record.node_id, record.record, record.data)
            else:
                to_greet.append(record)
        if to_greet:
            async with asyncio.TaskGroup() as group:
                for record in to_greet:
                    group.create_task(self._greet_bounded(record))

    async def _greet_bounded(self, record: VerifiedRecord) -> None:
        async with self._greeting_slots:
            await self._greeter.greet(record.record.addresses, record.record.port,
                                      expected_node_id=record.node_id, found_by=FOUND_BY_EXCHANGE)

    def _accept(self, data: Any) -> VerifiedRecord | None:
        if not isinstance(data, bytes):
            return None
        try:
            # Same sequence again is normal (several peers forward one record).
            record = verify_record_bytes(self._verifier, data, allow_same_sequence=True)
        except WireError as error:
            logger.debug("ignored a forwarded record (%s): %s", error.code, error)
            return None
        if record.node_id == self._node_id or record.record.network != self._own.network:
            return None
        return record

    async def handle_exchange(self, request: SignedRequest) -> SignedReply:
        their_record = self._accept(require(request.payload, "record", bytes))
        remote = request.http.remote
        if remote and their_record is not None and their_record.node_id == request.sender \
                and request.sender not in self._table:
            # It knows us but we do not know it (its hello went missing): greet it
            # after answering, and only where the request came from, so a request
            # can never make us connect to addresses of its choosing.
            self._spawn(self._greeter.greet([remote], their_record.record.port,
                                            expected_node_id=request.sender, found_by=FOUND_BY_INBOUND))
        records = self._table.records_to_share(self._config.max_records_per_exchange - 1)
        return SignedReply(PEER_EXCHANGE_REPLY, {"records": [self._own.current_bytes(), *records]})
