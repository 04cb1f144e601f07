"""Exponential backoff for failing peers: a failing peer is data, not a retry loop.

Keyed by "host:port", because a bootstrap address has no node id yet. After
the n-th failure in a row a peer is left out for min(cap, base × 2^(n-1)) s;
one success clears it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_REMEMBERED_KEYS = 10_000


def backoff_delay_s(failures: int, *, base_s: float, cap_s: float) -> float:
    """How long to leave a peer out after `failures` failures in a row."""
    if failures <= 0:
        return 0.0
    # the exponent is capped so a peer that failed for weeks does not overflow a float
    return min(cap_s, base_s * 2 ** min(failures - 1, 60))


@dataclass
class _Failures:
    count: int
    retry_at_s: float


class Backoff:
    def __init__(self, *, base_s: float, cap_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._base_s = base_s
        self._cap_s = cap_s
        self._clock = clock
        self._failures: dict[str, _Failures] = {}

    def is_waiting(self, key: str) -> bool:
        """True while `key` is left out after failures."""
        entry = self._failures.get(key)
        return entry is not None and self._clock() < entry.retry_at_s

    def retry_in_s(self, key: str) -> float:
        entry = self._failures.get(key)
        return 0.0 if entry is None else max(0.0, entry.retry_at_s - self._clock())

    def failures(self, key: str) -> int:
        entry = self._failures.get(key)
        return 0 if entry is None else entry.count

    def record_failure(self, key: str) -> float:
        """Count a failure; returns how long `key` is now left out, s."""
        if len(self._failures) >= MAX_REMEMBERED_KEYS:
            self._prune()
        count = self.failures(key) + 1
        delay_s = backoff_delay_s(count, base_s=self._base_s, cap_s=self._cap_s)
        self._failures[key] = _Failures(count, self._clock() + delay_s)
        return delay_s

    def record_success(self, key: str) -> None:
        self._failures.pop(key, None)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self) -> None:
        # Addresses whose wait ended more than a cap ago start from scratch;
        # hostile records naming endless addresses cannot grow this forever.
        horizon_s = self._clock() - self._cap_s
        for key in [key for key, entry in self._failures.items() if entry.retry_at_s < horizon_s]:
            del self._failures[key]
