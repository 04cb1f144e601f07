"""Timing candidates side by side on a shared machine: the benchmarks' one method.

Every round runs each candidate once, the order rotated each round, so a busy
spell on a shared machine hits all of them alike. A pause before each timed
call lets worker threads a previous candidate left spinning die down (torch's
OpenMP pool after a parallel region, OpenBLAS's after a threaded call), so
they do not take a core from the next one; in the agent one process runs one
engine. Measured on the genesis block (2 threads, quiet): ONNX forward 76.6 ms
right after a torch forward, 73.0 ms after a 100 ms pause; torch forward 84.1
ms right after an ONNX one, 82.9 ms after the pause.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def interleaved_samples(
    candidates: dict[str, Callable[[], object]], rounds: int, *, warmup: int = 1, settle_s: float = 0.0
) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one sample per round (after `warmup` untimed rounds)."""
    for _ in range(warmup):
        for run in candidates.values():
            run()
    names = list(candidates)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            time.sleep(settle_s)
            started = time.perf_counter()
            candidates[name]()
            samples[name].append(time.perf_counter() - started)
    return samples
