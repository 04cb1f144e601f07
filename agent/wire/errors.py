"""Every way a message from outside can be refused, each with a code and an HTTP status.

The code is the machine-readable part of every 4xx body; the message is the
sentence for people. Codes are part of the protocol: add, never rename.
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import AgentError


class ErrorCode(StrEnum):
    MALFORMED = "malformed"  # not a msgpack envelope of the expected layout
    BAD_BODY_HASH = "bad_body_hash"  # body does not hash to the signed body_sha256
    BAD_SIGNATURE = "bad_signature"
    NODE_ID_MISMATCH = "node_id_mismatch"  # public key does not hash to the claimed node id
    CLOCK_SKEW = "clock_skew"
    REPLAYED_NONCE = "replayed_nonce"
    STALE_SEQUENCE = "stale_sequence"  # a record not newer than the last one seen
    STALE_RECORD = "stale_record"  # a record older than receivers keep
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    UNSUPPORTED_ARCHITECTURE = "unsupported_architecture"
    WRONG_MESSAGE_TYPE = "wrong_message_type"  # a valid envelope sent where another type belongs
    WRONG_NETWORK = "wrong_network"  # a node of another network name
    NOT_ADDRESSED_TO_US = "not_addressed_to_us"  # hello meant for another node id
    DUPLICATE_NODE = "duplicate_node"  # our own node id, used by another process
    UNKNOWN_SENDER = "unknown_sender"  # a heartbeat from a node that has not said hello
    PEER_TABLE_FULL = "peer_table_full"  # this node knows as many peers as it keeps
    WRONG_DTYPE = "wrong_dtype"
    WRONG_SHAPE = "wrong_shape"
    BODY_TOO_LARGE = "body_too_large"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BAD_REQUEST = "bad_request"
    INTERNAL = "internal"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_SIGNATURE: 401,
    ErrorCode.NODE_ID_MISMATCH: 401,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.REPLAYED_NONCE: 409,
    ErrorCode.STALE_SEQUENCE: 409,
    ErrorCode.DUPLICATE_NODE: 409,
    ErrorCode.UNKNOWN_SENDER: 409,
    ErrorCode.PEER_TABLE_FULL: 429,
    ErrorCode.NOT_ADDRESSED_TO_US: 421,  # "misdirected request"
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.UNSUPPORTED_PROTOCOL: 426,  # "upgrade required"
    ErrorCode.UNSUPPORTED_ARCHITECTURE: 422,
    ErrorCode.INTERNAL: 500,
}


class WireError(AgentError, ValueError):
    """A message was refused; `code` says why for machines, the text says why for people."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}  # JSON-serialisable facts a machine may act on

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)

    def to_json(self) -> dict[str, dict[str, object]]:
        body: dict[str, object] = {"code": str(self.code), "message": str(self)}
        if self.details:
            body["details"] = self.details
        return {"error": body}
