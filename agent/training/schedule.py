"""Per-architecture training defaults and the learning-rate schedule."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import TrainingConfig
from ..model.arch import Architecture


@dataclass(frozen=True)
class ResolvedTraining:
    """TrainingConfig with every per-architecture default filled in."""

    batch_sequences: int  # sequences per step
    sequence_tokens: int  # tokens per sequence (inputs; targets are shifted by one)
    learning_rate: float  # peak inner AdamW lr
    config: TrainingConfig

    @property
    def tokens_per_step(self) -> int:
        return self.batch_sequences * self.sequence_tokens


# (batch sequences, learning rate) chosen so each trains visibly on two CPU cores:
# tiny reaches validation loss < 3 within 300 steps; genesis follows GPT-2-small practice.
ARCH_DEFAULTS: dict[str, tuple[int, float]] = {
    "tiny": (16, 3e-3),
    "genesis": (8, 6e-4),
}
FALLBACK_DEFAULTS = (8, 6e-4)


def resolve_training(config: TrainingConfig, arch: Architecture) -> ResolvedTraining:
    batch, learning_rate = ARCH_DEFAULTS.get(arch.name, FALLBACK_DEFAULTS)
    return ResolvedTraining(
        batch_sequences=config.batch_sequences or batch,
        sequence_tokens=min(config.sequence_tokens or arch.context_tokens, arch.context_tokens),
        learning_rate=config.learning_rate or learning_rate,
        config=config,
    )


def learning_rate_at(step: int, *, peak: float, warmup_steps: int) -> float:
    """Linear warm-up to `peak`, then constant (DiLoCo's outer loop does the annealing work)."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return peak
    return peak * (step + 1) / warmup_steps
