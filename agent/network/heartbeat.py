"""Heartbeats (DESIGN.md §6): every interval, each peer gets our signed load and fresh record.

Liveness is judged by what we *receive*: the table's states come from the
silence since each peer's last hello or heartbeat, through coordinator_free's
peer_state rule. A heartbeat from a node we do not know (we restarted, or it
did) is refused with unknown_sender; the sender then says hello again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from coordinator_free.peer_health import PeerState

from ..wire.errors import ErrorCode, WireError
from ..wire.verify import EnvelopeVerifier, SequenceCounter
from .client import PeerClient, PeerRefusedError, PeerUnavailableError
from .config import NetworkConfig
from .hello import Greeter
from .messages import HEARTBEAT, HEARTBEAT_ACK, Advert, Heartbeat, require
from .peer_table import PeerInfo, PeerTable, StateChange
from .records import OwnRecord, verify_record_bytes
from .server import SignedReply, SignedRequest

logger = logging.getLogger(__name__)

HEARTBEAT_PATH = "/v1/heartbeat"
# Liveness is re-judged at least this often, s, so a state changes within
# about this much of its configured time whatever the heartbeat interval.
MAX_REFRESH_PERIOD_S = 1.0


class Heartbeats:
    def __init__(
        self,
        *,
        client: PeerClient,
        table: PeerTable,
        verifier: EnvelopeVerifier,
        greeter: Greeter,
        own_record: OwnRecord,
        advert_provider: Callable[[], Advert],
        config: NetworkConfig,
        on_state_changes: Callable[[list[StateChange]], None] = lambda changes: None,
    ) -> None:
        self._client = client
        self._table = table
        self._verifier = verifier
        self._greeter = greeter
        self._own = own_record
        self._advert_provider = advert_provider
        self._config = config
        self._on_state_changes = on_state_changes
        self._sequences = SequenceCounter()

    async def run_sender(self) -> None:
        """Forever: one heartbeat to every peer that has not said goodbye, then wait an interval."""
        loop = asyncio.get_running_loop()
        while True:
            started_s = loop.time()
            await self.send_round()
            # Keep the cadence: a round slowed by an unreachable peer (up to the
            # connect timeout) must not delay everyone's next heartbeat by as much.
            await asyncio.sleep(max(0.0, self._config.heartbeat_interval_s - (loop.time() - started_s)))

    async def run_judge(self) -> None:
        """Forever: re-apply the liveness rule to the table."""
        period_s = min(MAX_REFRESH_PERIOD_S, self._config.heartbeat_interval_s / 2)
        while True:
            changes = self._table.refresh_states()
            if changes:
                for change in changes:
                    if change.new == PeerState.FORGOTTEN:
                        self._verifier.forget_sender(change.node_id)
                self._on_state_changes(changes)
            await asyncio.sleep(period_s)

    async def send_round(self) -> None:
        targets = [peer for peer in self._table.snapshot() if not peer.said_goodbye]
        if not targets:
            return
        async with asyncio.TaskGroup() as group:
            for peer in targets:
                group.create_task(self._send_one(peer))

    async def _send_one(self, peer: PeerInfo) -> None:
        advert = self._advert_provider()
        heartbeat = Heartbeat(
            boot_id=self._own.boot_id, quorum_id=advert.quorum_id, queue_depth=advert.queue_depth,
            free_capacity_fraction=advert.free_capacity_fraction, step=advert.step,
        )
        payload = {**heartbeat.to_payload(), "record": self._own.current_bytes()}
        try:
            await self._client.call(
                peer.address, HEARTBEAT_PATH, message_type=HEARTBEAT, payload=payload,
                reply_type=HEARTBEAT_ACK, expected_node_id=peer.node_id, sequence=self._sequences.next(),
            )
        except PeerRefusedError as error:
            if error.code == ErrorCode.UNKNOWN_SENDER:
                await self._greeter.greet([peer.host], peer.port, expected_node_id=peer.node_id,
                                          found_by=peer.found_by[0])
            else:
                logger.info("heartbeat to %s… refused: %s", peer.node_id[:12], error)
        except PeerUnavailableError as error:
            logger.debug("heartbeat to %s… failed: %s", peer.node_id[:12], error)

    async def handle_heartbeat(self, request: SignedRequest) -> SignedReply:
        heartbeat = Heartbeat.from_payload(request.payload)
        record = verify_record_bytes(
            self._verifier, require(request.payload, "record", bytes), allow_same_sequence=True
        )
        if record.node_id != request.sender:
            raise WireError(ErrorCode.NODE_ID_MISMATCH, "the peer record is signed by another node than the heartbeat")
        if not self._table.record_heartbeat(record.node_id, heartbeat):
            raise WireError(ErrorCode.UNKNOWN_SENDER, "this node does not know you (yet); say hello first")
        self._table.update_record(record.node_id, record.record, record.data)
        return SignedReply(HEARTBEAT_ACK)
