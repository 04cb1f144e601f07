"""A bounded history of training metrics for the dashboard (GET /v1/metrics).

A dashboard opened a week after the node started still draws the whole loss
curve, from a fixed number of points. The history keeps `levels` levels of
up to `points_per_level` points each: level 0 holds single samples, and when
a level overflows its two oldest points merge into one point of the level
above, so level i points each cover 2^i samples. Recent data stays at full
resolution, older data gets coarser, memory never grows. The top level does
not overflow into anything: when it is full its points double their width
(every pair merged, and later arrivals fill the newest point up to that
width), so a very long run keeps all of its history, evenly coarsened,
instead of dropping its beginning.

With the defaults (128 points, 16 levels: at most 2048 points) the levels
cover 128 × (2^16 − 1) ≈ 8.4 million samples before the top level starts
halving: a week of the tiny architecture at ~10 steps per second is 6 million.

A sample is one training step (loss, throughput) or one validation (its
loss). A point holds means of each kind among its samples, with how many
samples it merged, and the sequence number and time of its newest sample.
`?since=seq` returns the points whose newest sample is newer than seq.
Known imprecision: if more than `points_per_level` samples arrive between
two polls, a merged point may include a sample the client already has, so
the client's copy counts that sample twice in one mean. Harmless for a chart.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .api.schema import MetricPoint, MetricsResponse

DEFAULT_POINTS_PER_LEVEL = 128  # points per resolution level
DEFAULT_LEVELS = 16  # resolution levels; level i points cover 2^i samples

EventCallback = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class _Point:
    """Sums and counts of one point, so merging stays exact (means are taken on export)."""

    seq: int  # newest sample's sequence number
    time_s: float  # newest sample's wall-clock time
    start_time_s: float  # oldest sample's wall-clock time
    step: int  # training step at the newest sample
    samples: int
    loss_sum: float = 0.0
    loss_count: int = 0
    validation_sum: float = 0.0
    validation_count: int = 0
    throughput_sum: float = 0.0
    throughput_count: int = 0

    def merged_with(self, newer: _Point) -> _Point:
        return _Point(
            seq=newer.seq, time_s=newer.time_s, start_time_s=self.start_time_s, step=newer.step,
            samples=self.samples + newer.samples,
            loss_sum=self.loss_sum + newer.loss_sum, loss_count=self.loss_count + newer.loss_count,
            validation_sum=self.validation_sum + newer.validation_sum,
            validation_count=self.validation_count + newer.validation_count,
            throughput_sum=self.throughput_sum + newer.throughput_sum,
            throughput_count=self.throughput_count + newer.throughput_count,
        )

    def exported(self) -> MetricPoint:
        return MetricPoint(
            seq=self.seq, time_s=self.time_s, start_time_s=self.start_time_s, step=self.step, samples=self.samples,
            loss=self.loss_sum / self.loss_count if self.loss_count else None,
            validation_loss=self.validation_sum / self.validation_count if self.validation_count else None,
            tokens_per_s=self.throughput_sum / self.throughput_count if self.throughput_count else None,
        )


class MetricsHistory:
    """Loss, validation loss and throughput over time, in bounded memory. Thread-safe."""

    def __init__(self, *, points_per_level: int = DEFAULT_POINTS_PER_LEVEL, levels: int = DEFAULT_LEVELS,
                 clock: Callable[[], float] = time.time) -> None:
        if points_per_level < 2 or levels < 1:
            raise ValueError(f"a metrics history needs at least 2 points per level and 1 level "
                             f"(got {points_per_level} and {levels})")
        self.points_per_level = points_per_level
        self.levels = levels
        self._clock = clock
        self._levels: list[deque[_Point]] = [deque() for _ in range(levels)]
        self._last_seq = -1
        self._top_width = 2 ** (levels - 1)  # samples per top-level point; doubles when the top level fills
        self._lock = threading.Lock()

    @property
    def capacity_points(self) -> int:
        return self.points_per_level * self.levels

    def record_step(self, *, step: int, loss: float, tokens_per_s: float | None, time_s: float | None = None) -> None:
        has_throughput = tokens_per_s is not None
        self._add(step=step, time_s=time_s, loss_sum=loss, loss_count=1,
                  throughput_sum=tokens_per_s if has_throughput else 0.0, throughput_count=int(has_throughput))

    def record_validation(self, *, step: int, validation_loss: float, time_s: float | None = None) -> None:
        self._add(step=step, time_s=time_s, validation_sum=validation_loss, validation_count=1)

    def _add(self, *, step: int, time_s: float | None, **sums: Any) -> None:
        with self._lock:
            self._last_seq += 1
            now_s = self._clock() if time_s is None else time_s
            point = _Point(seq=self._last_seq, time_s=now_s, start_time_s=now_s, step=step, samples=1, **sums)
            self._push(0, point)

    def _push(self, index: int, point: _Point) -> None:
        level = self._levels[index]
        if index == self.levels - 1:
            self._push_top(point)
            return
        level.append(point)
        if len(level) > self.points_per_level:  # the two oldest go up one level as one point
            older = level.popleft()
            self._push(index + 1, older.merged_with(level.popleft()))

    def _push_top(self, point: _Point) -> None:
        top = self._levels[-1]
        if top and top[-1].samples < self._top_width:
            top[-1] = top[-1].merged_with(point)
        else:
            top.append(point)
        if len(top) > self.points_per_level:  # full: every point doubles its width
            self._top_width *= 2
            points = list(top)
            top.clear()
            top.extend(a.merged_with(b) for a, b in zip(points[0::2], points[1::2]))
            if len(points) % 2:
                top.append(points[-1])

    def points(self, since_seq: int = -1) -> list[MetricPoint]:
        """Every point whose newest sample is newer than `since_seq`, oldest first."""
        with self._lock:
            ordered = [point for level in reversed(self._levels) for point in level if point.seq > since_seq]
        return [point.exported() for point in ordered]

    def response(self, since_seq: int = -1) -> MetricsResponse:
        points = self.points(since_seq)
        return MetricsResponse(points=tuple(points), last_seq=self._last_seq, capacity_points=self.capacity_points)

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        """A Node EventCallback: steps and validations become samples."""
        if kind == "step":
            metrics = data["metrics"]
            throughput = metrics.tokens / metrics.seconds if metrics.seconds > 0 else None
            self.record_step(step=metrics.step, loss=metrics.loss, tokens_per_s=throughput)
        elif kind == "validation" and data.get("validation_loss") is not None:
            self.record_validation(step=data["step"], validation_loss=data["validation_loss"])


def fan_out(*callbacks: EventCallback) -> EventCallback:
    """One Node EventCallback that calls each of `callbacks` in order."""

    def call_each(kind: str, data: dict[str, Any]) -> None:
        for callback in callbacks:
            callback(kind, data)

    return call_each
