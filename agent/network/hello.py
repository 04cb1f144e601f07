"""The signed hello: how every find (mDNS, bootstrap, exchange) becomes a peer.

Both sides send their signed peer record; each checks that the record is
signed by the key that signed the hello, and the greeter checks that the
answer comes from the node id it was told about (the mDNS TXT id or the
exchanged record). Only then does either side put the other in its table.

Two processes with one node id (a copied state directory) meet here or in
mDNS; the later-started copy is told, and says so (DuplicateNodeError).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ..errors import AgentError
from ..wire.errors import ErrorCode, WireError
from ..wire.verify import EnvelopeVerifier
from .client import PeerClient, PeerRefusedError, PeerUnavailableError
from .messages import HELLO, HELLO_REPLY, require
from .peer_table import FOUND_BY_INBOUND, PeerTable
from .records import OwnRecord, VerifiedRecord, verify_record_bytes
from .server import SignedReply, SignedRequest

logger = logging.getLogger(__name__)

HELLO_PATH = "/v1/hello"


class DuplicateNodeError(AgentError, RuntimeError):
    """Another running agent uses this node's identity; this one is the later copy and stops."""


def is_later_copy(mine: tuple[int, str], theirs: tuple[int, str]) -> bool:
    """Of two processes with one identity, (started_ns, boot_id) decides who yields: the later."""
    return mine > theirs


def duplicate_message(node_id: str, where: str) -> str:
    return (
        f"another agent with this node id ({node_id[:16]}…) is already running at {where}. "
        "This state directory was probably copied from it. Give this copy its own identity: "
        "stop it, delete identity.key in its state directory, and start it again"
    )


class Greeter:
    def __init__(
        self,
        *,
        client: PeerClient,
        table: PeerTable,
        verifier: EnvelopeVerifier,
        own_record: OwnRecord,
        node_id: str,
        report_duplicate: Callable[[str], None],
        max_peers: int,
    ) -> None:
        self._client = client
        self._table = table
        self._verifier = verifier
        self._own = own_record
        self._node_id = node_id
        self._report_duplicate = report_duplicate
        self._in_flight: set[str] = set()
        self._max_peers = max_peers  # inbound hellos beyond this are refused (Sybil floods)

    async def greet(
        self, hosts: Sequence[str], port: int, *, expected_node_id: str | None, found_by: str
    ) -> bool:
        """Say hello at each host in turn until one answers as `expected_node_id`; True if one did."""
        is_new = expected_node_id is not None and expected_node_id not in self._table
        if is_new and len(self._table) >= self._max_peers:
            return False  # the table is full; known peers keep their places
        for host in hosts:
            address = f"{host}:{port}"
            if address in self._in_flight:
                continue
            self._in_flight.add(address)
            try:
                if await self._greet_once(address, host, expected_node_id, found_by):
                    return True
            finally:
                self._in_flight.discard(address)
        return False

    async def _greet_once(self, address: str, host: str, expected_node_id: str | None, found_by: str) -> bool:
        payload = {"record": self._own.current_bytes(), "to": expected_node_id or ""}
        try:
            reply = await self._client.call(
                address, HELLO_PATH, message_type=HELLO, payload=payload, reply_type=HELLO_REPLY,
                expected_node_id=expected_node_id,
            )
            record = self._check_record(reply.sender, require(reply.payload, "record", bytes))
        except PeerRefusedError as error:
            if error.code == ErrorCode.DUPLICATE_NODE:
                self._on_duplicate_refusal(address, error)
            logger.info("hello to %s refused: %s", address, error)
            return False
        except PeerUnavailableError as error:
            logger.debug("hello to %s failed: %s", address, error)
            return False
        except WireError as error:
            logger.info("hello reply from %s refused (%s): %s", address, error.code, error)
            return False
        if record.node_id == self._node_id:
            return False  # our own address (a bootstrap list that includes us)
        self._table.record_hello(node_id=record.node_id, host=host, found_by=found_by,
                                 record=record.record, record_bytes=record.data, versions=record.versions)
        return True

    async def handle_hello(self, request: SignedRequest) -> SignedReply:
        addressed_to = require(request.payload, "to", str)
        if addressed_to and addressed_to != self._node_id:
            raise WireError(
                ErrorCode.NOT_ADDRESSED_TO_US,
                f"this is node {self._node_id[:16]}…, not {addressed_to[:16]}…; its address changed hands",
            )
        record = self._check_record(request.sender, require(request.payload, "record", bytes))
        if record.node_id == self._node_id:
            raise self._duplicate_refusal(record, f"{request.http.remote}:{record.record.port}")
        if record.node_id not in self._table and len(self._table) >= self._max_peers:
            raise WireError(ErrorCode.PEER_TABLE_FULL, f"this node already keeps {self._max_peers} peers; try another")
        host = request.http.remote or record.record.addresses[0]
        self._table.record_hello(node_id=record.node_id, host=host, found_by=FOUND_BY_INBOUND,
                                 record=record.record, record_bytes=record.data, versions=record.versions)
        return SignedReply(HELLO_REPLY, {"record": self._own.current_bytes()})

    def _check_record(self, sender: str, data: bytes) -> VerifiedRecord:
        record = verify_record_bytes(self._verifier, data, allow_same_sequence=True)
        if record.node_id != sender:
            raise WireError(ErrorCode.NODE_ID_MISMATCH, "the peer record is signed by another node than the hello")
        if record.record.network != self._own.network:
            raise WireError(
                ErrorCode.WRONG_NETWORK,
                f"peer is on network {record.record.network!r}, this node on {self._own.network!r}",
            )
        return record

    def _duplicate_refusal(self, record: VerifiedRecord, where: str) -> WireError:
        if record.record.boot_id == self._own.boot_id:
            return WireError(ErrorCode.BAD_REQUEST, "a node cannot greet itself")
        mine = (self._own.started_ns, self._own.boot_id)
        theirs = (record.record.started_ns, record.record.boot_id)
        if is_later_copy(mine, theirs):
            self._report_duplicate(duplicate_message(self._node_id, where))
        else:
            logger.warning("a copy of this node's identity at %s tried to join; it was told to stop", where)
        details = {"started_ns": self._own.started_ns, "boot_id": self._own.boot_id}
        return WireError(ErrorCode.DUPLICATE_NODE, duplicate_message(self._node_id, "the answering address"), details)

    def _on_duplicate_refusal(self, address: str, error: PeerRefusedError) -> None:
        theirs = (error.details.get("started_ns"), error.details.get("boot_id"))
        if not isinstance(theirs[0], int) or not isinstance(theirs[1], str):
            return
        if is_later_copy((self._own.started_ns, self._own.boot_id), (theirs[0], theirs[1])):
            self._report_duplicate(duplicate_message(self._node_id, address))
