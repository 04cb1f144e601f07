"""Our own signed peer record, kept current, and the check of records others send.

A record is re-signed (with a larger sequence) whenever what it says changes
and at least every `refresh_s`, so a forwarded copy is never older than the
receivers' `record_max_age_s` while we are alive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from coordinator_free.types import NodeId

from ..wire.envelope import (
    Envelope,
    Sealer,
    decode_envelope,
    encode_envelope,
    unpack_body,
)
from ..wire.verify import EnvelopeVerifier, SequenceCounter
from .messages import PEER_RECORD, Advert, PeerRecord


@dataclass(frozen=True)
class VerifiedRecord:
    envelope: Envelope
    record: PeerRecord
    data: bytes  # the signed bytes as received, forwarded unchanged

    @property
    def node_id(self) -> NodeId:
        return NodeId(self.envelope.sender_node_id)

    @property
    def versions(self) -> tuple[str, int, int]:
        return (self.envelope.arch_name, self.envelope.arch_version, self.envelope.vocab_version)


def verify_record_bytes(verifier: EnvelopeVerifier, data: bytes, *, allow_same_sequence: bool) -> VerifiedRecord:
    """Decode and check a forwarded or embedded record; raises WireError if refused."""
    envelope = verifier.verify_record(
        decode_envelope(data), expected_type=PEER_RECORD, allow_same_sequence=allow_same_sequence
    )
    return VerifiedRecord(envelope, PeerRecord.from_payload(unpack_body(envelope.body)), data)


class OwnRecord:
    def __init__(
        self,
        *,
        sealer: Sealer,
        advert_provider: Callable[[], Advert],
        addresses: tuple[str, ...],
        network: str,
        boot_id: str,
        refresh_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sealer = sealer
        self._advert_provider = advert_provider
        self.addresses = addresses
        self.network = network
        self.boot_id = boot_id
        self.started_ns = int(clock() * 1e9)  # ns: two services started in one ms must not tie
        self.port = 0  # set once the server is bound
        self._refresh_s = refresh_s
        self._clock = clock
        self._sequences = SequenceCounter(clock)
        self._sealed: tuple[PeerRecord, Advert, float, bytes] | None = None

    def facts(self) -> PeerRecord:
        advert = self._advert_provider()
        return PeerRecord(
            network=self.network, addresses=self.addresses, port=self.port, boot_id=self.boot_id,
            started_ns=self.started_ns, tier=advert.tier, layer_start=advert.layer_start,
            layer_stop=advert.layer_stop,
        )

    def current_bytes(self) -> bytes:
        """The signed record as it should travel now, re-signed if stale or changed."""
        record, advert, now_s = self.facts(), self._advert_provider(), self._clock()
        versions = (advert.arch_name, advert.arch_version, advert.vocab_version)
        if self._sealed is not None:
            old_record, old_advert, sealed_at_s, data = self._sealed
            old_versions = (old_advert.arch_name, old_advert.arch_version, old_advert.vocab_version)
            if old_record == record and old_versions == versions and now_s - sealed_at_s < self._refresh_s:
                return data
        envelope = self._sealer.seal(PEER_RECORD, record.to_payload(), sequence=self._sequences.next())
        data = encode_envelope(envelope)
        self._sealed = (record, advert, now_s, data)
        return data
