"""The signed envelope: one codec for every message and record that travels (DESIGN.md §5).

On the wire an envelope is one msgpack array, fields in this fixed order:

    0 protocol_version   int
    1 message_type       str, [a-z][a-z0-9_.]*
    2 sender_public_key  32 bytes, raw Ed25519
    3 sender_node_id     64 hex chars = SHA-256 of the key
    4 timestamp_ms       int, sender's wall clock
    5 nonce              16 random bytes
    6 sequence           int; > 0 for records, newer records have larger numbers
    7 arch_name          str
    8 arch_version       int
    9 vocab_version      int
   10 body_sha256        32 bytes
   11 signature          64 bytes
   12 body               bytes (itself msgpack; tensors inside as raw bytes)

The signature covers `neuroshard/v<protocol>/<type>` + a 0 byte + msgpack of
fields 0..10, so a signature made for one message type never verifies as
another, and the body is bound through its hash. Checking the envelope
against clocks, nonces and sequences is `verify.py`'s job; this module only
builds, encodes and decodes, and checks structure.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from coordinator_free.constants import PROTOCOL_VERSION

from ..identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity
from .errors import ErrorCode, WireError

NONCE_BYTES = 16
SHA256_BYTES = 32
FIELD_COUNT = 13
SIGNATURE_DOMAIN = b"neuroshard/v"
_MESSAGE_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_NODE_ID_PATTERN = re.compile(r"[0-9a-f]{64}")
_MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class VersionStamp:
    """The versions a sender runs; every envelope names them."""

    arch_name: str  # e.g. "genesis"
    arch_version: int  # bumped by layer growth
    vocab_version: int  # bumped by vocabulary governance
    protocol_version: int = PROTOCOL_VERSION  # wire protocol


@dataclass(frozen=True)
class Envelope:
    protocol_version: int
    message_type: str
    sender_public_key: bytes
    sender_node_id: str
    timestamp_ms: int
    nonce: bytes
    sequence: int
    arch_name: str
    arch_version: int
    vocab_version: int
    body_sha256: bytes
    signature: bytes
    body: bytes

    def signed_fields(self) -> list[Any]:
        return [
            self.protocol_version, self.message_type, self.sender_public_key,
            self.sender_node_id, self.timestamp_ms, self.nonce, self.sequence,
            self.arch_name, self.arch_version, self.vocab_version, self.body_sha256,
        ]

    def signed_bytes(self) -> bytes:
        return signed_bytes_for(self.protocol_version, self.message_type, self.signed_fields())


def signed_bytes_for(protocol_version: int, message_type: str, fields: list[Any]) -> bytes:
    domain = SIGNATURE_DOMAIN + f"{protocol_version}/{message_type}".encode() + b"\0"
    return domain + msgpack.packb(fields, use_bin_type=True)


def seal(
    identity: Identity,
    *,
    message_type: str,
    body: bytes,
    versions: VersionStamp,
    sequence: int = 0,
    timestamp_ms: int | None = None,
    nonce: bytes | None = None,
) -> Envelope:
    """Sign `body` as a `message_type` message from `identity`."""
    if not _MESSAGE_TYPE_PATTERN.fullmatch(message_type):
        raise ValueError(f"message type {message_type!r} must match {_MESSAGE_TYPE_PATTERN.pattern}")
    fields: list[Any] = [
        versions.protocol_version, message_type, identity.public_key_bytes, identity.node_id,
        int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        os.urandom(NONCE_BYTES) if nonce is None else nonce,
        sequence, versions.arch_name, versions.arch_version, versions.vocab_version,
        hashlib.sha256(body).digest(),
    ]
    signature = identity.sign(signed_bytes_for(versions.protocol_version, message_type, fields))
    return Envelope(*fields, signature, body)


def encode_envelope(envelope: Envelope) -> bytes:
    return msgpack.packb([*envelope.signed_fields(), envelope.signature, envelope.body], use_bin_type=True)


def decode_envelope(data: bytes) -> Envelope:
    """Parse and type-check an envelope; signature and freshness are checked by the verifier."""
    fields = unpack_msgpack(data)
    if not isinstance(fields, list) or len(fields) != FIELD_COUNT:
        raise WireError(ErrorCode.MALFORMED, f"an envelope is a msgpack array of {FIELD_COUNT} fields")
    protocol, message_type, public_key, node_id, timestamp_ms, nonce, sequence = fields[:7]
    arch_name, arch_version, vocab_version, body_sha256, signature, body = fields[7:]
    _require_int(protocol, "protocol_version")
    if protocol != PROTOCOL_VERSION:
        raise WireError(
            ErrorCode.UNSUPPORTED_PROTOCOL,
            f"protocol version {protocol} is not supported; this node speaks version "
            f"{PROTOCOL_VERSION}. Upgrade the older of the two agents",
        )
    if not isinstance(message_type, str) or not _MESSAGE_TYPE_PATTERN.fullmatch(message_type):
        raise WireError(ErrorCode.MALFORMED, "message_type must be a short lower-case name")
    if not isinstance(node_id, str) or not _NODE_ID_PATTERN.fullmatch(node_id):
        raise WireError(ErrorCode.MALFORMED, "sender_node_id must be 64 lower-case hex characters")
    if not isinstance(arch_name, str) or not 0 < len(arch_name) <= 64:
        raise WireError(ErrorCode.MALFORMED, "arch_name must be a non-empty string of at most 64 characters")
    for value, name in ((timestamp_ms, "timestamp_ms"), (sequence, "sequence"),
                        (arch_version, "arch_version"), (vocab_version, "vocab_version")):
        _require_int(value, name)
    for value, name, size in ((public_key, "sender_public_key", PUBLIC_KEY_BYTES),
                              (nonce, "nonce", NONCE_BYTES), (body_sha256, "body_sha256", SHA256_BYTES),
                              (signature, "signature", SIGNATURE_BYTES)):
        if not isinstance(value, bytes) or len(value) != size:
            raise WireError(ErrorCode.MALFORMED, f"{name} must be {size} bytes")
    if not isinstance(body, bytes):
        raise WireError(ErrorCode.MALFORMED, "body must be bytes")
    return Envelope(*fields)


def unpack_msgpack(data: bytes) -> Any:
    """msgpack without surprises: no ext types, str keys only, every failure a WireError."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as error:  # noqa: BLE001  (msgpack raises a zoo of types for bad input)
        raise WireError(ErrorCode.MALFORMED, f"not valid msgpack: {type(error).__name__}") from None


def pack_body(payload: dict[str, Any]) -> bytes:
    return msgpack.packb(payload, use_bin_type=True)


def unpack_body(body: bytes) -> dict[str, Any]:
    """A message body is a msgpack map with str keys."""
    payload = unpack_msgpack(body)
    if not isinstance(payload, dict):
        raise WireError(ErrorCode.MALFORMED, "a message body must be a msgpack map")
    return payload


def _require_int(value: Any, name: str) -> None:
    # bool is an int subclass; msgpack never yields one for an int field, but reject it anyway
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_INT64:
        raise WireError(ErrorCode.MALFORMED, f"{name} must be a non-negative 64-bit integer")


class Sealer:
    """Seals bodies as this node, stamped with the versions it runs at that moment."""

    def __init__(self, identity: Identity, versions_provider: Callable[[], VersionStamp]) -> None:
        self.identity = identity
        self._versions_provider = versions_provider

    def seal(self, message_type: str, payload: dict[str, Any], *, sequence: int = 0) -> Envelope:
        return seal(self.identity, message_type=message_type, body=pack_body(payload),
                    versions=self._versions_provider(), sequence=sequence)
