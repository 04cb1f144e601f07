"""How long the default cohort aggregator takes on one genesis layer.

Ten contributions of 3,152,384 float32 values (one genesis transformer block:
4·512² attention + 8·512² MLP weights, their biases and two norms), the
default pipeline (clip → nearest-neighbour mixing → trimmed mean) against the
plain weighted mean of the same vectors, timed in the same run. Goal: the
default within 5× of the plain mean. Prints the machine, the times (best of
--rounds, interleaved) and the ratios. Run: python benchmarks/aggregation_speed.py
"""

from __future__ import annotations

import argparse
import os
import platform
import tracemalloc

import numpy as np
from interleave import interleaved_samples

from agent.bench import cpu_model
from coordinator_free.aggregation import (
    DEFAULT_CONFIG,
    PLAIN_MEAN_CONFIG,
    Contribution,
    aggregate,
)
from coordinator_free.types import NodeId

GENESIS_LAYER_FLOATS = 3_152_384
CONTRIBUTIONS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--settle-ms",
        type=float,
        default=100.0,
        help="pause before each timed call (see interleave.py)",
    )
    parser.add_argument("--floats", type=int, default=GENESIS_LAYER_FLOATS)
    arguments = parser.parse_args()
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    contributions = [
        Contribution(
            node_id=NodeId(f"{index:064x}"),
            vector=rng.standard_normal(arguments.floats, dtype=np.float32) * 0.01,
            weight=float(np.sqrt(100 + 10 * index)),
        )
        for index in range(CONTRIBUTIONS)
    ]
    vectors = [c.vector for c in contributions]
    weights = np.array([c.weight for c in contributions]) / sum(
        c.weight for c in contributions
    )
    weights32 = weights.astype(np.float32)

    def numpy_weighted_mean() -> np.ndarray:
        total = vectors[0] * weights32[0]
        for vector, weight in zip(vectors[1:], weights32[1:]):
            total += vector * weight
        return total

    stacked = np.stack(vectors)
    samples = interleaved_samples(
        {
            "default (clip+NNM+trimmed mean)": lambda: aggregate(contributions),
            "plain weighted mean, aggregate()": lambda: aggregate(
                contributions, PLAIN_MEAN_CONFIG
            ),
            "plain weighted mean, numpy loop": numpy_weighted_mean,
            "plain weighted mean, pre-stacked gemv": lambda: weights32 @ stacked,
        },
        arguments.rounds,
        settle_s=arguments.settle_ms / 1000,
    )
    timings = {name: min(values) for name, values in samples.items()}
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}"
    )
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"load average before the run: {load_before[0]:.2f}")
    print(
        f"aggregation threads: {DEFAULT_CONFIG.threads}, "
        f"block: {DEFAULT_CONFIG.block_coordinates:,} coordinates"
    )
    print(
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}"
    )
    print(
        f"{CONTRIBUTIONS} contributions × {arguments.floats:,} float32, best of {arguments.rounds} interleaved rounds"
    )
    default_s = timings["default (clip+NNM+trimmed mean)"]
    for name, seconds in timings.items():
        print(
            f"  {name:40s} {seconds * 1000:8.1f} ms   default ÷ this = {default_s / seconds:5.2f}×"
        )
    tracemalloc.start()
    aggregate(contributions)
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    input_bytes = sum(vector.nbytes for vector in vectors)
    print(
        f"default: peak extra memory {peak_bytes / 2**20:.1f} MiB "
        f"(inputs {input_bytes / 2**20:.1f} MiB, result {vectors[0].nbytes / 2**20:.1f} MiB)"
    )
    headline = default_s / timings["plain weighted mean, numpy loop"]
    print(
        f"ratio default ÷ plain weighted mean (numpy loop): {headline:.2f}× (goal ≤ 5×)"
    )


if __name__ == "__main__":
    main()
