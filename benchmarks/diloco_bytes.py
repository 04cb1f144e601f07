"""Bytes per trained token: DiLoCo cohort sync at the default interval ÷ synchronous per-step gradient exchange.

A small in-process simulation with the real parts: ONNX Runtime stages of the
tiny architecture, the genesis-style corpus (here: this repository's agent
sources), the real cohort messages (their msgpack bodies are what is counted)
and the real aggregation and outer step (agent.cohort.outer.step_layer).

- DiLoCo: `workers` holders of the whole model, each trains on its own
  batches; every `interval` steps (coordinator_free.scale: 100 below 10
  nodes) each sends its contribution to the other holders, then a commit.
  Bytes = Σ over sends of the signed body (contribution with Δ as float16,
  as agent.cohort.messages sends it, + commit).
- Synchronous: the same workers exchange one float32 gradient each per step
  (all-to-all, the same wire encoding), i.e. data-parallel training; its
  final loss comes from a runtime that averages the workers' gradients each step.
  The bytes of the same exchange at float16 are printed too, so the part of
  the ratio that comes from the wire precision is plain to see.
Both see the same number of tokens. Prints the ratio (goal ≤ 1/100) and
both final validation losses.

    .venv/bin/python benchmarks/diloco_bytes.py [--steps 300] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import numpy as np

from agent.checkpoint import CheckpointStore
from agent.cohort import messages as m
from agent.cohort.layers import flatten, parameters_sha256, split_by_layer, unflatten
from agent.cohort.outer import initial_state, step_layer
from agent.cohort.rounds import Received
from agent.config import TrainingConfig
from agent.data.batches import Corpus
from agent.data.shards import ShardStore, build_or_open
from agent.model.arch import get_architecture
from agent.model.parameters import StageSpec
from agent.runtime.select import create_runtime
from agent.training.schedule import resolve_training
from agent.training.solo import SoloTrainer
from agent.wire.envelope import pack_body
from agent.wire.tensors import encode_tensor
from coordinator_free.diloco import DiLoCoConfig
from coordinator_free.scale import sync_interval_batches

ENVELOPE_OVERHEAD_BYTES = 200  # signature, key, nonce, versions around each body (both schemes pay it)


def make_trainer(root: Path, corpus: Corpus, arch, seed: int) -> SoloTrainer:
    runtime = create_runtime("onnx", StageSpec.whole(arch), seed=0, threads=1)
    return SoloTrainer(runtime=runtime, corpus=corpus, checkpoints=CheckpointStore(root / f"ck{seed}", StageSpec.whole(arch)),
                       training=resolve_training(TrainingConfig(seed=seed), arch))


def diloco_round(trainers: list[SoloTrainer], state, round_number: int, steps: int) -> int:
    """One round: contributions and commits of every worker; returns bytes sent. Updates every runtime."""
    arch = trainers[0].runtime.spec.arch
    received, sent_bytes = [], 0
    for index, trainer in enumerate(trainers):
        now = split_by_layer(trainer.runtime.state().parameters, arch)
        layers = []
        for layer, tensors in now.items():
            start = unflatten(state.layers[layer].parameters, tensors)
            layers.append(m.LayerDelta(layer, state.start_hashes[layer],
                                       {n: m.wire_values(start[n] - tensors[n]) for n in tensors}))  # as sync.py
        message = m.ContributionMessage(round_number, m.KIND_SYNC, steps, 0.0, 1.0, "0" * 64, tuple(layers))
        body = pack_body(message.to_payload())
        sent_bytes += (len(trainers) - 1) * (len(body) + ENVELOPE_OVERHEAD_BYTES)
        received.append(Received(f"node-{index:02d}", hashlib.sha256(body).hexdigest(), message))
    commit = m.CommitMessage(round_number, tuple(m.LayerCommit(layer, "0" * 64, round_number, tuple(
        (r.node_id, r.digest) for r in received)) for layer in state.layers))
    sent_bytes += len(trainers) * (len(trainers) - 1) * (len(pack_body(commit.to_payload())) + ENVELOPE_OVERHEAD_BYTES)
    new_parameters = {}
    for layer in sorted(state.layers):
        items = [(r, flatten(next(e for e in r.message.layers if e.layer == layer).tensors)) for r in received]
        state.layers[layer] = step_layer(state.layers[layer], items, DiLoCoConfig())
        like = next(e for e in received[0].message.layers if e.layer == layer).tensors
        new_parameters.update(unflatten(state.layers[layer].parameters, like))
    for trainer in trainers:
        runtime_state = trainer.runtime.state()
        runtime_state.parameters.update(new_parameters)
        trainer.runtime.load(runtime_state)
    state.start_hashes = {layer: parameters_sha256(p) for layer, p in split_by_layer(new_parameters, arch).items()}
    return sent_bytes


def run_diloco(trainers: list[SoloTrainer], steps: int, interval: int) -> int:
    arch = trainers[0].runtime.spec.arch
    state = initial_state(split_by_layer(trainers[0].runtime.state().parameters, arch), 0.0, 4)
    sent_bytes = 0
    for step in range(1, steps + 1):
        for trainer in trainers:
            trainer.train_step()
        if step % interval == 0:
            sent_bytes += diloco_round(trainers, state, step // interval, interval)
    return sent_bytes


def run_synchronous(trainer: SoloTrainer, corpus: Corpus, seeds: list[int], steps: int,
                    dtype: type = np.float32) -> int:
    """Data-parallel: each step, every worker's gradient is exchanged; the runtime averages them."""
    from agent.training.schedule import learning_rate_at

    training = trainer.training
    gradient_bytes = len(pack_body({"g": {name: encode_tensor(np.zeros(shape, dtype)) for name, shape in
                                          trainer.runtime.spec.parameter_shapes().items()}}))
    if dtype is not np.float32:  # bytes only: the same training, gradients sent at half precision
        return steps * len(seeds) * (len(seeds) - 1) * (gradient_bytes + ENVELOPE_OVERHEAD_BYTES)
    for step in range(steps):
        for seed in seeds:
            address = corpus.train_batch(seed=seed, step=step, batch_sequences=training.batch_sequences,
                                         sequence_tokens=training.sequence_tokens)
            tokens = corpus.tokens(address)
            trainer.runtime.backward(tokens[:, :-1], targets=tokens[:, 1:])
        trainer.runtime.apply_gradients(learning_rate=learning_rate_at(
            step, peak=training.learning_rate, warmup_steps=training.config.warmup_steps))
    return steps * len(seeds) * (len(seeds) - 1) * (gradient_bytes + ENVELOPE_OVERHEAD_BYTES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="inner steps per worker")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    arch = get_architecture("tiny")
    interval = sync_interval_batches(args.workers)
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        data_dir = Path(__file__).resolve().parents[1] / "agent"
        corpus = Corpus(build_or_open(ShardStore(root / "shards"), data_dir=data_dir, shard_bytes=1 << 20),
                        validation_fraction=0.05)
        seeds = list(range(1, args.workers + 1))
        workers = [make_trainer(root, corpus, arch, seed) for seed in seeds]
        diloco_bytes = run_diloco(workers, args.steps, interval)
        synchronous = make_trainer(root, corpus, arch, 1)
        sync_bytes = run_synchronous(synchronous, corpus, seeds, args.steps)
        tokens = args.steps * args.workers * workers[0].training.tokens_per_step
        print(f"tiny arch, {args.workers} workers, {args.steps} steps each, interval {interval}, {tokens:,} tokens")
        print(f"DiLoCo       {diloco_bytes / tokens:10.2f} bytes/token   final validation loss {workers[0].validate():.4f}")
        print(f"synchronous  {sync_bytes / tokens:10.2f} bytes/token   final validation loss {synchronous.validate():.4f}")
        half_bytes = run_synchronous(synchronous, corpus, seeds, args.steps, dtype=np.float16)
        if diloco_bytes:
            print(f"ratio DiLoCo / synchronous = 1/{sync_bytes / diloco_bytes:.1f} (goal ≤ 1/100)")
            print(f"(against synchronous float16 gradients, {half_bytes / tokens:.2f} bytes/token: "
                  f"1/{half_bytes / diloco_bytes:.1f})")
        else:
            print(f"no cohort round in {args.steps} steps (interval {interval}): use --steps ≥ {interval}")


if __name__ == "__main__":
    main()
