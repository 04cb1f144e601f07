"""Solo genesis training: one node holds the whole model and trains it alone (SOLO mode).

Synchronous and engine-agnostic: it drives any StageRuntime. The async Node
runs each step in a worker thread and decides when to stop. The training
position is just the step number: batch `step` is a pure function of
(seed, step), so a resumed run and a straight run see the same batches, and
with the optimizer state restored they produce the same losses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checkpoint import CheckpointStore
from ..data.batches import Corpus
from ..runtime.base import StageRuntime
from .losses import cross_entropy
from .schedule import ResolvedTraining, learning_rate_at

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepMetrics:
    step: int  # steps completed after this one
    loss: float  # mean training cross-entropy of the batch, nats
    tokens: int  # tokens trained in this step
    seconds: float  # wall time of the step
    learning_rate: float  # inner lr used
    batch_id: str  # SHA-256 of the batch address


class SoloTrainer:
    """Trains one whole-model stage on a corpus, with checkpoints and validation."""

    def __init__(
        self,
        *,
        runtime: StageRuntime,
        corpus: Corpus,
        checkpoints: CheckpointStore,
        training: ResolvedTraining,
    ) -> None:
        if not (runtime.spec.has_embedding and runtime.spec.has_head):
            raise ValueError("solo training needs a stage holding the whole model")
        self.runtime = runtime
        self.corpus = corpus
        self.checkpoints = checkpoints
        self.training = training
        self.step = 0
        self._validation = corpus.validation_batches(
            seed=training.config.seed,
            count=training.config.validation_batches,
            batch_sequences=training.batch_sequences,
            sequence_tokens=training.sequence_tokens,
        )

    def resume(self) -> Path | None:
        """Load the newest checkpoint, if any; returns its path."""
        checkpoint = self.checkpoints.latest()
        if checkpoint is None:
            return None
        self.runtime.load(checkpoint.state)
        self.step = checkpoint.step
        log.info("resumed from %s at step %d", checkpoint.path, self.step)
        return checkpoint.path

    def train_step(self) -> StepMetrics:
        started = time.perf_counter()
        address = self.corpus.train_batch(
            seed=self.training.config.seed,
            step=self.step,
            batch_sequences=self.training.batch_sequences,
            sequence_tokens=self.training.sequence_tokens,
        )
        tokens = self.corpus.tokens(address)
        result = self.runtime.backward(tokens[:, :-1], targets=tokens[:, 1:])
        learning_rate = learning_rate_at(
            self.step, peak=self.training.learning_rate, warmup_steps=self.training.config.warmup_steps
        )
        self.runtime.apply_gradients(learning_rate=learning_rate)
        self.step += 1
        return StepMetrics(
            step=self.step,
            loss=float(result.loss),
            tokens=self.training.tokens_per_step,
            seconds=time.perf_counter() - started,
            learning_rate=learning_rate,
            batch_id=address.batch_id,
        )

    def validate(self) -> float:
        """Mean cross-entropy over the fixed held-out batches, nats."""
        losses = []
        for address in self._validation:
            tokens = self.corpus.tokens(address)
            logits = self.runtime.forward(tokens[:, :-1])
            losses.append(cross_entropy(logits, tokens[:, 1:]))
        return float(np.mean(losses))

    def save(self) -> Path:
        return self.checkpoints.save(
            self.runtime.state(),
            step=self.step,
            extra={"seed": self.training.config.seed, "corpus": self.corpus.shard_ids[:1]},
        )
