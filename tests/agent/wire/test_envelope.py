"""Envelope codec and verifier: each refusal has its own code and changes no state."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest

from agent.identity import Identity
from agent.wire.envelope import (
    VersionStamp,
    decode_envelope,
    encode_envelope,
    pack_body,
    seal,
    unpack_body,
)
from agent.wire.errors import ErrorCode, WireError
from agent.wire.verify import EnvelopeVerifier, SequenceCounter, VerifyPolicy

VERSIONS = VersionStamp(arch_name="genesis", arch_version=1, vocab_version=1)
POLICY = VerifyPolicy(max_clock_skew_s=30.0, nonce_window_s=300.0, record_max_age_s=600.0)
NOW_S = 1_700_000_000.0


class FixedClock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def sender() -> Identity:
    return Identity.generate()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW_S)


@pytest.fixture
def verifier(clock) -> EnvelopeVerifier:
    return EnvelopeVerifier(POLICY, lambda: VERSIONS, clock)


def sealed(sender, message_type="hello", *, offset_s=0.0, sequence=0, body=b"\x80", versions=VERSIONS):
    return seal(sender, message_type=message_type, body=body, versions=versions, sequence=sequence,
                timestamp_ms=int((NOW_S + offset_s) * 1000))


def refusal_code(function, *args, **kwargs) -> ErrorCode:
    with pytest.raises(WireError) as caught:
        function(*args, **kwargs)
    return caught.value.code


def test_round_trip_keeps_every_field(sender):
    envelope = sealed(sender, body=pack_body({"x": 1}))
    decoded = decode_envelope(encode_envelope(envelope))
    assert decoded == envelope
    assert unpack_body(decoded.body) == {"x": 1}
    assert decoded.sender_node_id == sender.node_id


def test_valid_request_is_accepted_once_then_refused_as_replay(sender, verifier):
    envelope = sealed(sender)
    verifier.verify_request(envelope, expected_type="hello")
    assert refusal_code(verifier.verify_request, envelope, expected_type="hello") == ErrorCode.REPLAYED_NONCE


@pytest.mark.parametrize("offset_s, accepted", [(29.0, True), (-29.0, True), (31.0, False), (-31.0, False)])
def test_clock_skew_limit_is_30_s_either_way(sender, verifier, offset_s, accepted):
    envelope = sealed(sender, offset_s=offset_s)
    if accepted:
        verifier.verify_request(envelope, expected_type="hello")
    else:
        assert refusal_code(verifier.verify_request, envelope, expected_type="hello") == ErrorCode.CLOCK_SKEW


def test_refused_message_burns_no_nonce(sender, verifier, clock):
    envelope = sealed(sender, offset_s=31.0)
    assert refusal_code(verifier.verify_request, envelope, expected_type="hello") == ErrorCode.CLOCK_SKEW
    clock.now_s += 31.0  # now the same message is within the window, and was never remembered
    verifier.verify_request(envelope, expected_type="hello")


def test_tampered_body_and_tampered_field_are_refused(sender, verifier):
    envelope = sealed(sender, body=pack_body({"port": 1}))
    tampered_body = dataclasses.replace(envelope, body=pack_body({"port": 2}))
    assert refusal_code(verifier.verify_request, tampered_body, expected_type="hello") == ErrorCode.BAD_BODY_HASH
    tampered_time = dataclasses.replace(envelope, timestamp_ms=envelope.timestamp_ms + 1)
    assert refusal_code(verifier.verify_request, tampered_time, expected_type="hello") == ErrorCode.BAD_SIGNATURE
    verifier.verify_request(envelope, expected_type="hello")  # the untouched one still passes


def test_signature_cannot_be_reused_as_another_type(sender, verifier):
    envelope = sealed(sender, "hello")
    as_heartbeat = dataclasses.replace(envelope, message_type="heartbeat")
    assert refusal_code(verifier.verify_request, as_heartbeat, expected_type="heartbeat") == ErrorCode.BAD_SIGNATURE
    assert refusal_code(verifier.verify_request, envelope, expected_type="heartbeat") == ErrorCode.WRONG_MESSAGE_TYPE


def test_key_that_does_not_hash_to_claimed_node_id_is_refused(sender, verifier):
    other = Identity.generate()
    envelope = dataclasses.replace(sealed(sender), sender_node_id=other.node_id)
    assert refusal_code(verifier.verify_request, envelope, expected_type="hello") == ErrorCode.NODE_ID_MISMATCH


def test_other_architecture_is_refused(sender, verifier):
    other = VersionStamp(arch_name="genesis", arch_version=2, vocab_version=1)
    envelope = sealed(sender, versions=other)
    assert refusal_code(verifier.verify_request, envelope, expected_type="hello") == ErrorCode.UNSUPPORTED_ARCHITECTURE


def test_unknown_protocol_version_is_refused_at_decode(sender):
    fields = msgpack.unpackb(encode_envelope(sealed(sender)))
    fields[0] = 99
    assert refusal_code(decode_envelope, msgpack.packb(fields)) == ErrorCode.UNSUPPORTED_PROTOCOL


def test_record_sequence_must_grow(sender, verifier):
    verifier.verify_record(sealed(sender, "peer_record", sequence=10), expected_type="peer_record")
    for sequence in (10, 9):
        record = sealed(sender, "peer_record", sequence=sequence)
        assert refusal_code(verifier.verify_record, record, expected_type="peer_record") == ErrorCode.STALE_SEQUENCE
    verifier.verify_record(sealed(sender, "peer_record", sequence=11), expected_type="peer_record")


def test_forwarded_record_may_be_older_than_skew_but_not_than_max_age(sender, verifier):
    verifier.verify_record(sealed(sender, "peer_record", offset_s=-200, sequence=1), expected_type="peer_record")
    old = sealed(sender, "peer_record", offset_s=-601, sequence=2)
    assert refusal_code(verifier.verify_record, old, expected_type="peer_record") == ErrorCode.STALE_RECORD


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x93\x01\x02\x03", msgpack.packb({"a": 1}), b"\xdc\x00\x0d"])
def test_garbage_decodes_to_malformed(data):
    assert refusal_code(decode_envelope, data) == ErrorCode.MALFORMED


def test_truncated_envelope_is_malformed(sender):
    data = encode_envelope(sealed(sender))
    for cut in (1, 20, len(data) // 2, len(data) - 1):
        assert refusal_code(decode_envelope, data[:cut]) == ErrorCode.MALFORMED


def test_sequence_counter_grows_even_if_the_clock_stands_still(clock):
    counter = SequenceCounter(clock)
    first, second = counter.next(), counter.next()
    assert second == first + 1 and first == int(NOW_S * 1000)


def test_policy_refuses_a_nonce_window_shorter_than_twice_the_skew():
    with pytest.raises(ValueError, match="at least twice"):
        VerifyPolicy(max_clock_skew_s=30.0, nonce_window_s=59.0, record_max_age_s=600.0)
