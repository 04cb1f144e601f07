"""Solo training: the loss falls, and an interrupted run equals a straight one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.checkpoint import CheckpointStore
from agent.config import TrainingConfig
from agent.data.batches import Corpus
from agent.data.shards import ShardStore, build_or_open
from agent.model.arch import TINY
from agent.model.parameters import StageSpec
from agent.runtime.select import create_runtime
from agent.training.losses import cross_entropy
from agent.training.schedule import learning_rate_at, resolve_training
from agent.training.solo import SoloTrainer

RUNTIMES = ["torch", "onnx"]
SPEC = StageSpec.whole(TINY)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """A small deterministic text corpus with learnable structure."""
    root = tmp_path_factory.mktemp("text")
    rng = np.random.default_rng(0)
    words = ["def ", "return ", "self", ".", "(", ")", ":", "\n    ", "import ", "x", "y", " = ", "1", "0"]
    for index in range(4):
        (root / f"f{index}.py").write_text("".join(rng.choice(words, size=6000)))
    shards = build_or_open(ShardStore(root / "store"), data_dir=root, shard_bytes=16384)
    return Corpus(shards, validation_fraction=0.1)


def make_trainer(runtime: str, corpus: Corpus, directory: Path) -> SoloTrainer:
    training = resolve_training(TrainingConfig(batch_sequences=4, sequence_tokens=32, warmup_steps=3), TINY)
    return SoloTrainer(
        runtime=create_runtime(runtime, SPEC, seed=0),
        corpus=corpus,
        checkpoints=CheckpointStore(directory, SPEC),
        training=training,
    )


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_interrupted_run_gives_the_same_losses_as_a_straight_run(runtime: str, corpus: Corpus, tmp_path: Path) -> None:
    straight = make_trainer(runtime, corpus, tmp_path / "a")
    straight_losses = [straight.train_step().loss for _ in range(12)]

    first = make_trainer(runtime, corpus, tmp_path / "b")
    resumed_losses = [first.train_step().loss for _ in range(5)]
    first.save()
    second = make_trainer(runtime, corpus, tmp_path / "b")
    assert second.resume() is not None and second.step == 5
    resumed_losses += [second.train_step().loss for _ in range(7)]

    np.testing.assert_allclose(resumed_losses, straight_losses, rtol=0, atol=1e-6)
    assert straight_losses[-1] < straight_losses[0]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_validation_starts_near_ln_vocab_and_falls(runtime: str, corpus: Corpus, tmp_path: Path) -> None:
    trainer = make_trainer(runtime, corpus, tmp_path)
    start = trainer.validate()
    assert abs(start - np.log(TINY.vocab_size)) < 0.3
    for _ in range(40):
        trainer.train_step()
    assert trainer.validate() < start - 1.0


def test_cross_entropy_matches_the_definition() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 5)).astype(np.float32) * 10
    targets = rng.integers(0, 5, (2, 3))
    probabilities = np.exp(logits.astype(np.float64))
    probabilities /= probabilities.sum(-1, keepdims=True)
    expected = -np.mean(np.log(np.take_along_axis(probabilities, targets[..., None], -1)))
    assert cross_entropy(logits, targets) == pytest.approx(expected, rel=1e-9)


def test_learning_rate_warms_up_linearly() -> None:
    assert learning_rate_at(0, peak=1.0, warmup_steps=4) == 0.25
    assert learning_rate_at(3, peak=1.0, warmup_steps=4) == 1.0
    assert learning_rate_at(100, peak=1.0, warmup_steps=4) == 1.0
    assert learning_rate_at(0, peak=1.0, warmup_steps=0) == 1.0
