"""Receiver-side checks of envelopes: signature, ids, versions, clocks, nonces, sequences.

Checks run cheapest-first and nothing is remembered (nonce, sequence) until
every other check has passed, so a refused message changes no state.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..identity import node_id_from_public_key, verify_signature
from .envelope import Envelope, VersionStamp
from .errors import ErrorCode, WireError


@dataclass(frozen=True)
class VerifyPolicy:
    max_clock_skew_s: float  # a request's timestamp may differ from ours by this much
    nonce_window_s: float  # how long a seen nonce is remembered; ≥ 2 × skew
    record_max_age_s: float  # records older than this are refused as stale
    max_remembered_nonces: int = 200_000  # memory bound of the replay cache

    def __post_init__(self) -> None:
        if self.nonce_window_s < 2 * self.max_clock_skew_s:
            # A message is accepted for skew seconds on either side of "now", so a
            # shorter memory would let a replay in after its nonce was forgotten.
            raise ValueError(
                f"nonce_window_s ({self.nonce_window_s}) must be at least twice "
                f"max_clock_skew_s ({self.max_clock_skew_s})"
            )


class NonceCache:
    """Nonces seen within the window, oldest first."""

    def __init__(self, window_s: float, max_entries: int) -> None:
        self._window_s = window_s
        self._max_entries = max_entries
        self._seen: OrderedDict[tuple[str, bytes], float] = OrderedDict()

    def __contains__(self, key: tuple[str, bytes]) -> bool:
        return key in self._seen

    def remember(self, key: tuple[str, bytes], now_s: float) -> None:
        self._expire(now_s)
        self._seen[key] = now_s
        while len(self._seen) > self._max_entries:
            # Known weakness: a flood of valid signed messages can push a nonce out
            # before its window ends. The flooder must be a keyed peer, so it is
            # also the peer that backoff and reputation deal with.
            self._seen.popitem(last=False)

    def _expire(self, now_s: float) -> None:
        while self._seen:
            key, seen_at_s = next(iter(self._seen.items()))
            if now_s - seen_at_s < self._window_s:
                break
            del self._seen[key]


class EnvelopeVerifier:
    """One per node: holds the replay cache and the last record sequence per sender and type."""

    def __init__(
        self,
        policy: VerifyPolicy,
        versions_provider: Callable[[], VersionStamp],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._versions_provider = versions_provider
        self._clock = clock
        self._nonces = NonceCache(policy.nonce_window_s, policy.max_remembered_nonces)
        self._sequences: dict[tuple[str, str], int] = {}

    def verify_request(self, envelope: Envelope, *, expected_type: str) -> Envelope:
        """A message sent to us directly: fresh, never seen before, newer if it is a record."""
        now_s = self._clock()
        self._check_authentic(envelope, expected_type)
        skew_s = abs(now_s - envelope.timestamp_ms / 1000)
        if skew_s > self._policy.max_clock_skew_s:
            raise WireError(
                ErrorCode.CLOCK_SKEW,
                f"message timestamp is {skew_s:.1f} s away from this node's clock "
                f"(limit {self._policy.max_clock_skew_s:.0f} s); sync both clocks with NTP",
            )
        nonce_key = (envelope.sender_node_id, envelope.nonce)
        if nonce_key in self._nonces:
            raise WireError(ErrorCode.REPLAYED_NONCE, "this message was already received (nonce seen before)")
        if envelope.sequence:
            self._check_sequence(envelope)
        self._nonces.remember(nonce_key, now_s)
        if envelope.sequence:
            self._remember_sequence(envelope)
        return envelope

    def verify_record(self, envelope: Envelope, *, expected_type: str, allow_same_sequence: bool = False) -> Envelope:
        """A record that may have been forwarded: signed by its owner, recent, newer than known.

        `allow_same_sequence`: the record we already hold may come again (a
        node's hello repeats its unchanged record); only older ones are refused.
        """
        now_s = self._clock()
        self._check_authentic(envelope, expected_type)
        age_s = now_s - envelope.timestamp_ms / 1000
        if age_s < -self._policy.max_clock_skew_s:
            raise WireError(ErrorCode.CLOCK_SKEW, f"record is dated {-age_s:.1f} s in the future")
        if age_s > self._policy.record_max_age_s:
            raise WireError(
                ErrorCode.STALE_RECORD,
                f"record is {age_s:.0f} s old (limit {self._policy.record_max_age_s:.0f} s)",
            )
        if envelope.sequence <= 0:
            raise WireError(ErrorCode.MALFORMED, "a record needs a positive sequence number")
        self._check_sequence(envelope, allow_same=allow_same_sequence)
        self._remember_sequence(envelope)
        return envelope

    def _check_authentic(self, envelope: Envelope, expected_type: str) -> None:
        if envelope.message_type != expected_type:
            raise WireError(
                ErrorCode.WRONG_MESSAGE_TYPE,
                f"expected a {expected_type!r} message here, got {envelope.message_type!r}",
            )
        if node_id_from_public_key(envelope.sender_public_key) != envelope.sender_node_id:
            raise WireError(
                ErrorCode.NODE_ID_MISMATCH,
                f"the sender's public key does not hash to the node id it claims "
                f"({envelope.sender_node_id[:16]}…)",
            )
        if hashlib.sha256(envelope.body).digest() != envelope.body_sha256:
            raise WireError(ErrorCode.BAD_BODY_HASH, "the body does not match its signed SHA-256")
        if not verify_signature(envelope.sender_public_key, envelope.signature, envelope.signed_bytes()):
            raise WireError(ErrorCode.BAD_SIGNATURE, f"bad signature on a {envelope.message_type!r} message")
        ours = self._versions_provider()
        if (envelope.arch_name, envelope.arch_version) != (ours.arch_name, ours.arch_version):
            raise WireError(
                ErrorCode.UNSUPPORTED_ARCHITECTURE,
                f"sender runs architecture {envelope.arch_name} v{envelope.arch_version}; this "
                f"node holds {ours.arch_name} v{ours.arch_version}",
            )

    def _check_sequence(self, envelope: Envelope, *, allow_same: bool = False) -> None:
        last = self._sequences.get((envelope.sender_node_id, envelope.message_type), 0)
        if envelope.sequence < last or (envelope.sequence == last and not allow_same):
            raise WireError(
                ErrorCode.STALE_SEQUENCE,
                f"{envelope.message_type} sequence {envelope.sequence} is not newer than {last}",
            )

    def _remember_sequence(self, envelope: Envelope) -> None:
        self._sequences[(envelope.sender_node_id, envelope.message_type)] = envelope.sequence

    def forget_sender(self, node_id: str) -> None:
        """Drop per-sender sequence memory (when a peer is forgotten), bounding memory."""
        for key in [key for key in self._sequences if key[0] == node_id]:
            del self._sequences[key]


class SequenceCounter:
    """Record sequence numbers that grow across restarts: wall-clock ms, forced upward."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, int(self._clock() * 1000))
        return self._last
