"""Sharded = whole: a 3-stage quorum of real agents trains exactly like the single-process model.

Three `neuroshard run --mode pipeline` agents on 127.0.0.1 hold the tiny
architecture's layers [0,1) [1,2) [2,3), form a quorum over the network and
train 20 steps with 4 micro-batches; the initiator logs each step's loss.
The reference trains the whole model in this process on the same batch
addresses (same corpus, same seed, same schedule). Losses agree within 1e-4:
once with every stage on PyTorch, once with the middle stage on ONNX Runtime
in a process where `import torch` fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from peer_agents import AgentProcess, wait_for
from pipeline_agents import PipelineLauncher, pipeline_launcher, step_losses  # noqa: F401

from agent.config import TrainingConfig
from agent.data.batches import Corpus
from agent.data.shards import ShardStore, build_or_open
from agent.model.arch import TINY
from agent.model.parameters import StageSpec
from agent.runtime.select import create_runtime
from agent.training.schedule import learning_rate_at, resolve_training

STEPS = 20
TOLERANCE = 1e-4


def reference_losses(corpus_dir: Path, shards_dir: Path, steps: int) -> list[float]:
    """The whole tiny model in one process, on the batches the initiator reads."""
    training = resolve_training(TrainingConfig(seed=0), TINY)
    corpus = Corpus(build_or_open(ShardStore(shards_dir), data_dir=corpus_dir, shard_bytes=1 << 20),
                    validation_fraction=0.05)
    runtime = create_runtime("torch", StageSpec.whole(TINY), seed=0, device="cpu")
    losses = []
    for step in range(steps):
        address = corpus.train_batch(seed=0, step=step, batch_sequences=training.batch_sequences,
                                     sequence_tokens=training.sequence_tokens)
        tokens = corpus.tokens(address)
        losses.append(float(runtime.backward(tokens[:, :-1], targets=tokens[:, 1:]).loss))
        runtime.apply_gradients(learning_rate=learning_rate_at(step, peak=training.learning_rate,
                                                               warmup_steps=training.config.warmup_steps))
    return losses


def start_quorum(launcher: PipelineLauncher, *, middle_runtime: str, block_torch: bool) -> list[AgentProcess]:
    common = ("--max-steps", str(STEPS), "--seed", "0")
    first = launcher.start("initiator", *common, layers="0-1")
    middle = launcher.start("processor", *common, layers="1-2", runtime=middle_runtime, block_torch=block_torch,
                            bootstrap=first)
    last = launcher.start("finisher", *common, layers="2-3", bootstrap=first)
    return [first, middle, last]


def run_and_compare(launcher: PipelineLauncher, tmp_path: Path, *, middle_runtime: str, block_torch: bool) -> None:
    agents = start_quorum(launcher, middle_runtime=middle_runtime, block_torch=block_torch)
    initiator = agents[0]

    def finished() -> bool:
        for agent in agents:
            if agent.process.poll() not in (None, 0):
                pytest.fail(f"{agent.name} exited with {agent.process.returncode}:\n{agent.log_tail(40)}")
        return len(step_losses(initiator)) >= STEPS

    wait_for(finished, timeout_s=50, what=f"{STEPS} pipeline steps:\n{initiator.log_tail(20)}", interval_s=0.5)
    losses = step_losses(initiator)
    expected = reference_losses(launcher.corpus, tmp_path / "reference-shards", STEPS)
    differences = [abs(losses[step + 1] - expected[step]) for step in range(STEPS)]
    assert max(differences) < TOLERANCE, list(zip(expected, [losses[s + 1] for s in range(STEPS)], strict=True))
    assert expected[-1] < expected[0]  # it learnt something, so equal losses mean equal training


def test_three_torch_stages_give_the_single_process_losses(
    pipeline_launcher: PipelineLauncher, tmp_path: Path  # noqa: F811
) -> None:
    run_and_compare(pipeline_launcher, tmp_path, middle_runtime="torch", block_torch=False)


def test_onnx_middle_stage_without_torch_gives_the_single_process_losses(
    pipeline_launcher: PipelineLauncher, tmp_path: Path  # noqa: F811
) -> None:
    run_and_compare(pipeline_launcher, tmp_path, middle_runtime="onnx", block_torch=True)
    middle_log = pipeline_launcher.agents[1].log_path.read_text()
    assert "blocked by the test" not in middle_log  # nothing in that agent even tried torch
