"""canonical.py: the exact bytes records are signed over, pinned.

Signatures and event ids depend on these bytes staying the same across
versions and speed-ups, so they are written out here in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import pytest

from coordinator_free.canonical import canonical_bytes, decode_record, record_id
from coordinator_free.errors import ProtocolError
from coordinator_free.ledger_events import EscrowRelease, Reward


@dataclass(frozen=True)
class _Mixed:
    KIND: ClassVar[str] = "test.mixed"
    name: str
    when_s: float
    count: int
    flag: bool
    nothing: str | None
    ratio: float | int  # not declared `float`: written as given
    nested: tuple[tuple[str, int], ...]


def test_reward_bytes_are_pinned():
    event = Reward("n00000001", 7, "n00000002", 5_000, "pipeline")
    assert canonical_bytes(event) == (
        b'{"fields":{"amount_nano":5000,"issuer":"n00000001","node":"n00000002",'
        b'"reason":"pipeline","timestamp_s":7.0},"kind":"ledger.reward","protocol":1}'
    )


def test_nested_tuples_become_lists_and_floats_keep_their_repr():
    event = EscrowRelease("rewards", 0.1, "e-1", (("n1", 3), ("n2", 4)), 0)
    assert canonical_bytes(event) == (
        b'{"fields":{"burn_nano":0,"escrow_id":"e-1","issuer":"rewards",'
        b'"payments":[["n1",3],["n2",4]],"timestamp_s":0.1},'
        b'"kind":"ledger.escrow_release","protocol":1}'
    )


def test_every_field_kind_round_trips():
    record = _Mixed("é", 1, 2, True, None, 0.5, (("a", 1),))
    data = canonical_bytes(record)
    assert data == (
        b'{"fields":{"count":2,"flag":true,"name":"\\u00e9","nested":[["a",1]],'
        b'"nothing":null,"ratio":0.5,"when_s":1.0},"kind":"test.mixed","protocol":1}'
    )
    assert decode_record(data, {"test.mixed": _Mixed}) == _Mixed("é", 1.0, 2, True, None, 0.5, (("a", 1),))
    assert len(record_id(record)) == 64


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(ProtocolError):
        canonical_bytes(_Mixed("x", 1.0, 1, False, None, bad, ()))
    with pytest.raises(ValueError):  # a declared float goes to JSON, which refuses NaN
        canonical_bytes(_Mixed("x", bad, 1, False, None, 1, ()))
