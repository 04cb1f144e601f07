"""Pipeline overhead: time per batch of a 3-stage loopback quorum ÷ the same model in one process.

Genesis architecture, PyTorch on CPU, the default batch (8 × 256 tokens),
4 micro-batches. The quorum is three real `neuroshard run --mode pipeline`
agents on 127.0.0.1 holding layers [0,4) [4,8) [8,11), each with
`--threads T`; the single process trains the whole model with 3·T threads,
so both use the same total threads. Each side runs --warmup steps, then the
median of --steps step times (the initiator logs each step's seconds) is
taken. Goal: ratio ≤ 1.25. Prints the machine, both times and the ratio.
Run: python benchmarks/pipeline_overhead.py [--steps 10 --warmup 3 --threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("0-4", "4-8", "8-11")
STEP_LINE = re.compile(r"pipeline step=(\d+) .* seconds=([0-9.]+)")
FAST = {"heartbeat_interval_s": 0.5, "offline_after_s": 30.0, "forget_after_s": 120.0, "exchange_interval_s": 0.5,
        "nonce_window_s": 120.0, "record_max_age_s": 60.0, "request_timeout_s": 300.0}


def single_process_s(*, steps: int, warmup: int, threads: int, corpus: Path) -> float:
    import torch

    from agent.config import TrainingConfig
    from agent.data.batches import Corpus
    from agent.data.shards import ShardStore, build_or_open
    from agent.model.arch import GENESIS
    from agent.model.parameters import StageSpec
    from agent.runtime.select import create_runtime
    from agent.training.schedule import resolve_training

    torch.set_num_threads(threads)
    training = resolve_training(TrainingConfig(), GENESIS)
    with tempfile.TemporaryDirectory() as shards:
        data = Corpus(build_or_open(ShardStore(Path(shards)), data_dir=corpus, shard_bytes=1 << 20),
                      validation_fraction=0.05)
        runtime = create_runtime("torch", StageSpec.whole(GENESIS), seed=0, device="cpu")
        times = []
        for step in range(warmup + steps):
            started = time.perf_counter()
            tokens = data.tokens(data.train_batch(seed=0, step=step, batch_sequences=training.batch_sequences,
                                                  sequence_tokens=training.sequence_tokens))
            runtime.backward(tokens[:, :-1], targets=tokens[:, 1:])
            runtime.apply_gradients(learning_rate=training.learning_rate)
            times.append(time.perf_counter() - started)
    return statistics.median(times[warmup:])


def pipeline_s(*, steps: int, warmup: int, threads: int, corpus: Path, root: Path) -> float:
    processes, first_port = [], None
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    try:
        for index, layers in enumerate(STAGES):
            state = root / f"stage{index}"
            state.mkdir()
            command = [sys.executable, "-m", "agent.cli", "run", "--state-dir", str(state), "--arch", "genesis",
                       "--runtime", "torch", "--device", "cpu", "--headless", "--log-level", "INFO", "--data", str(corpus),
                       "--host", "127.0.0.1", "--port", "0", "--local-api-port", "0", "--no-mdns",
                       "--config-json", json.dumps(FAST), "--mode", "pipeline", "--layers", layers,
                       "--threads", str(threads), "--max-steps", str(warmup + steps),
                       "--pipeline-config-json", json.dumps({"stage_timeout_s": 300.0, "apply_timeout_s": 300.0})]
            if first_port is not None:
                command += ["--peer", f"127.0.0.1:{first_port}"]
            with open(state / "daemon.log", "wb") as log:  # the child keeps its own copy of the descriptor
                processes.append(subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                                  env=env))
            # One after another: each agent benchmarks its tier alone (three at once on a small box measure
            # each other's load and come out T5, which §4 keeps out of quorums).
            while not (state / "ports.json").exists() or not (state / "bench-cache.json").exists():
                if processes[-1].poll() is not None:
                    raise SystemExit(f"stage {index} exited; see {state}/daemon.log")
                time.sleep(0.2)
            first_port = first_port or json.loads((state / "ports.json").read_text())["peer_port"]
        processes[0].wait(timeout=3600)
        text = (root / "stage0" / "daemon.log").read_text()
        times = {int(m[1]): float(m[2]) for m in STEP_LINE.finditer(text)}
        if len(times) < warmup + steps:
            raise SystemExit(f"the quorum trained {len(times)} steps; see {root}/stage*/daemon.log")
        return statistics.median(times[step] for step in range(warmup + 1, warmup + steps + 1))
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)


def _tier(state: Path) -> str:
    """"T4 (612 ms)" from the agent's bench cache, or "?" when it cannot be read."""
    from coordinator_free.tiers import tier_from_speed

    try:
        entries = json.loads((state / "bench-cache.json").read_text())
    except (OSError, ValueError):
        return "?"
    values = entries.values() if isinstance(entries, dict) else entries
    speeds = [entry.get("ms_per_layer") for entry in values if isinstance(entry, dict) and entry.get("ms_per_layer")]
    return f"T{int(tier_from_speed(min(speeds)))} ({min(speeds):.0f} ms)" if speeds else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="threads per stage process (single process: 3×)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        corpus = root / "corpus"
        corpus.mkdir()
        (corpus / "text.txt").write_text("".join(p.read_text(errors="replace")
                                                 for p in sorted((REPO_ROOT / "agent").rglob("*.py"))))
        whole_s = single_process_s(steps=args.steps, warmup=args.warmup, threads=3 * args.threads, corpus=corpus)
        quorum_s = pipeline_s(steps=args.steps, warmup=args.warmup, threads=args.threads, corpus=corpus, root=root)
        tiers = [_tier(root / f"stage{index}") for index in range(len(STAGES))]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
          f"load average at start {load_before[0]:.2f}, at end {os.getloadavg()[0]:.2f} (1 min)")
    print(f"genesis, 8 x 256 tokens, 4 micro-batches; threads: 3 stages x {args.threads} vs 1 process x {3 * args.threads}")
    print(f"stage tiers (start-up benchmark, ms per genesis layer): {', '.join(tiers)}")
    print(f"single process: {whole_s:.3f} s/batch   3-stage quorum: {quorum_s:.3f} s/batch")
    print(f"pipeline overhead ratio: {quorum_s / whole_s:.2f} (goal <= 1.25)")


if __name__ == "__main__":
    main()
