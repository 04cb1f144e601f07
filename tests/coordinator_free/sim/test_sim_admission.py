"""The Sybil admission rule the simulator needed (coordinator_free/admission.py)."""

from __future__ import annotations

import pytest

from coordinator_free.admission import decide_admission, is_admission_enforced
from coordinator_free.constants import (
    ADMISSION_FROM_NETWORK_SIZE,
    ADMISSION_MAX_NODES_PER_HOST,
    ADMISSION_MIN_STAKE,
)
from coordinator_free.errors import ProtocolError


def test_below_the_growing_phase_everyone_is_admitted() -> None:
    small = ADMISSION_FROM_NETWORK_SIZE - 1
    assert not is_admission_enforced(small)
    assert decide_admission(0.0, admitted_on_host=50, network_size=small).admitted


def test_from_the_growing_phase_stake_and_host_limit_decide() -> None:
    n = ADMISSION_FROM_NETWORK_SIZE
    assert decide_admission(
        ADMISSION_MIN_STAKE, admitted_on_host=0, network_size=n
    ).admitted
    unstaked = decide_admission(
        ADMISSION_MIN_STAKE * 0.99, admitted_on_host=0, network_size=n
    )
    assert not unstaked.admitted and "stake" in unstaked.reason
    crowded = decide_admission(
        ADMISSION_MIN_STAKE,
        admitted_on_host=ADMISSION_MAX_NODES_PER_HOST,
        network_size=n,
    )
    assert not crowded.admitted and "host" in crowded.reason
    last_slot = ADMISSION_MAX_NODES_PER_HOST - 1
    assert decide_admission(
        ADMISSION_MIN_STAKE, admitted_on_host=last_slot, network_size=n
    ).admitted


def test_nonsense_is_refused_loudly() -> None:
    with pytest.raises(ProtocolError):
        decide_admission(-1.0, admitted_on_host=0, network_size=200)
    with pytest.raises(ProtocolError):
        is_admission_enforced(0)
