"""The virtual clock's queue: discrete events in time order, ties in insertion order.

Entries are plain tuples (time_s, sequence, kind, a, b) so the heap compares
numbers only: the sequence number makes the order total and independent of
anything but the order events were scheduled in, which is what makes a run
repeat exactly under the same seed.
"""

from __future__ import annotations

import heapq
from enum import IntEnum


class EventKind(IntEnum):
    ARRIVAL = 1  # a: node row
    DEPARTURE = 2  # a: node row, b: 1 if it crashes (no goodbye)
    QUORUM_CHECK = 3  # a: quorum slot, b: the slot's check token when scheduled
    GRACE_END = 4  # growth: the claim window of the pending upgrade ends
    GOVERNANCE = 5  # a: proposal index: a phase of it may end now
    STORM = 6  # the churn storm begins


class EventQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, int, int]] = []
        self._sequence = 0
        self.processed = 0  # events popped so far (the benchmark's events/s)

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, time_s: float, kind: EventKind, a: int = 0, b: int = 0) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (time_s, self._sequence, int(kind), a, b))

    def pop_before(self, end_s: float) -> tuple[float, EventKind, int, int] | None:
        """The earliest event strictly before `end_s`, or None."""
        if not self._heap or self._heap[0][0] >= end_s:
            return None
        time_s, _, kind, a, b = heapq.heappop(self._heap)
        self.processed += 1
        return time_s, EventKind(kind), a, b
