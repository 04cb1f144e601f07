"""Bodies of the membership messages, each validated field by field at the boundary.

Message types (the envelope's `message_type`):
    peer_record          a node's signed self-description; forwarded by others
    hello / hello_reply  greet a node found by mDNS, bootstrap or exchange
    heartbeat / heartbeat_ack
    peer_exchange / peer_exchange_reply
Replies carry `in_reply_to` (the request's nonce), so an old reply cannot be
passed off as the answer to a new request.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from coordinator_free.constants import TIER_NAMES

from ..wire.errors import ErrorCode, WireError

PEER_RECORD = "peer_record"
HELLO = "hello"
HELLO_REPLY = "hello_reply"
HEARTBEAT = "heartbeat"
HEARTBEAT_ACK = "heartbeat_ack"
PEER_EXCHANGE = "peer_exchange"
PEER_EXCHANGE_REPLY = "peer_exchange_reply"

MAX_ADDRESSES = 8
_BOOT_ID_PATTERN = re.compile(r"[0-9a-f]{16,64}")
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class Advert:
    """What a node tells others about itself right now; the Node's advert_provider returns it."""

    arch_name: str  # architecture it runs, e.g. "genesis"
    arch_version: int  # bumped by layer growth
    vocab_version: int  # bumped by vocabulary governance
    tier: str | None = None  # "T1".."T5"; None until the benchmark ran
    layer_start: int | None = None  # first layer held; None: holds no layers
    layer_stop: int | None = None  # one past the last layer held (half-open)
    quorum_id: str | None = None  # quorum it is a member of
    queue_depth: int = 0  # work items waiting, count
    free_capacity_fraction: float = 1.0  # idle share of its compute, 0..1
    step: int = 0  # training steps done


@dataclass(frozen=True)
class PeerRecord:
    """Body of a `peer_record`: where a node listens and what it holds."""

    network: str  # network name; other networks are ignored
    addresses: tuple[str, ...]  # IPv4 addresses it can be reached on
    port: int  # peer server TCP port
    boot_id: str  # random per process start: tells a restart, or a copied identity
    started_ns: int  # wall clock of the service start, ns: of two copies, the later one yields
    tier: str | None
    layer_start: int | None
    layer_stop: int | None

    def to_payload(self) -> dict[str, Any]:
        return {
            "network": self.network, "addresses": list(self.addresses), "port": self.port,
            "boot_id": self.boot_id, "started_ns": self.started_ns, "tier": self.tier,
            "layer_start": self.layer_start, "layer_stop": self.layer_stop,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PeerRecord:
        addresses = require(payload, "addresses", list)
        if not 0 < len(addresses) <= MAX_ADDRESSES or not all(_is_ipv4(a) for a in addresses):
            raise WireError(ErrorCode.MALFORMED, f"addresses must be 1..{MAX_ADDRESSES} IPv4 addresses")
        port = require_int(payload, "port", 1, 65535)
        boot_id = require(payload, "boot_id", str)
        if not _BOOT_ID_PATTERN.fullmatch(boot_id):
            raise WireError(ErrorCode.MALFORMED, "boot_id must be 16..64 lower-case hex characters")
        tier = optional(payload, "tier", str)
        if tier is not None and tier not in TIER_NAMES:
            raise WireError(ErrorCode.MALFORMED, f"tier must be one of {TIER_NAMES} or nil, got {tier!r}")
        layer_start = optional_int(payload, "layer_start")
        layer_stop = optional_int(payload, "layer_stop")
        if (layer_start is None) != (layer_stop is None) or (
            layer_start is not None and not layer_start < layer_stop  # type: ignore[operator]
        ):
            raise WireError(ErrorCode.MALFORMED, "layer_start < layer_stop, or both nil")
        return cls(
            network=require_name(payload, "network"), addresses=tuple(addresses), port=port,
            boot_id=boot_id, started_ns=require_int(payload, "started_ns", 0, 2**62), tier=tier,
            layer_start=layer_start, layer_stop=layer_stop,
        )


@dataclass(frozen=True)
class Heartbeat:
    """Body of a `heartbeat`: what quorums need to know every interval."""

    boot_id: str
    quorum_id: str | None
    queue_depth: int
    free_capacity_fraction: float
    step: int

    def to_payload(self) -> dict[str, Any]:
        return {"boot_id": self.boot_id, "quorum_id": self.quorum_id, "queue_depth": self.queue_depth,
                "free_capacity_fraction": self.free_capacity_fraction, "step": self.step}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Heartbeat:
        fraction = require(payload, "free_capacity_fraction", (float, int))
        if isinstance(fraction, bool) or not 0.0 <= fraction <= 1.0:
            raise WireError(ErrorCode.MALFORMED, "free_capacity_fraction must be within 0..1")
        quorum_id = optional(payload, "quorum_id", str)
        if quorum_id is not None and not _NAME_PATTERN.fullmatch(quorum_id):
            raise WireError(ErrorCode.MALFORMED, "quorum_id must be 1..64 characters of [A-Za-z0-9_.:-]")
        return cls(boot_id=require(payload, "boot_id", str), quorum_id=quorum_id,
                   queue_depth=require_int(payload, "queue_depth", 0, 2**31),
                   free_capacity_fraction=float(fraction), step=require_int(payload, "step", 0, 2**62))


def require(payload: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(key)
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise WireError(ErrorCode.MALFORMED, f"field {key!r} must be {names}")
    return value


def optional(payload: dict[str, Any], key: str, kind: type) -> Any:
    return None if payload.get(key) is None else require(payload, key, kind)


def require_int(payload: dict[str, Any], key: str, low: int, high: int) -> int:
    value = payload.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise WireError(ErrorCode.MALFORMED, f"field {key!r} must be an integer in {low}..{high}")
    return value


def optional_int(payload: dict[str, Any], key: str) -> int | None:
    return None if payload.get(key) is None else require_int(payload, key, 0, 2**20)


def require_name(payload: dict[str, Any], key: str) -> str:
    value = require(payload, key, str)
    if not _NAME_PATTERN.fullmatch(value):
        raise WireError(ErrorCode.MALFORMED, f"field {key!r} must be 1..64 characters of [A-Za-z0-9_.:-]")
    return value


def require_reply_to(payload: dict[str, Any], request_nonce: bytes) -> None:
    if payload.get("in_reply_to") != request_nonce:
        raise WireError(ErrorCode.MALFORMED, "reply does not answer this request (in_reply_to differs)")


def _is_ipv4(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True
