"""The simulator's shortcuts give exactly what the plain computation gives.

Each test states the plain form of what a sped-up path computes and checks
the two agree on inputs that reach every branch.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator_free.diloco import contribution_weight
from coordinator_free.sim.training import _weights


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            st.integers(min_value=-5, max_value=3000),
            st.sampled_from([0.0, 0.5, 600.0, 1800.0, 7200.0, 86400.0]),
        ),
        min_size=1,
        max_size=60,
    ),
    rounds=st.integers(min_value=1, max_value=4),
)
def test_cohort_weights_equal_one_rule_call_per_contributor(
    pairs: list[tuple[int, float]], rounds: int
) -> None:
    batches = np.array([b for b, _ in pairs], dtype=np.int64)
    ages_s = np.array([a for _, a in pairs], dtype=np.float64)
    weights = _weights({"batches": batches, "ages_s": ages_s}, rounds)
    expected = [contribution_weight(max(b // rounds, 0), a) for b, a in pairs]
    assert weights.tolist() == expected
