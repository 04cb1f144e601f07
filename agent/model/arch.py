"""Architectures as frozen configs (DESIGN.md §3). numpy-free, torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from coordinator_free.constants import (
    GENESIS_HIDDEN_SIZE,
    GENESIS_LAYER_COUNT,
    GENESIS_VOCAB_SIZE,
)

from ..errors import AgentError


@dataclass(frozen=True)
class Architecture:
    """One version of NeuroLLM's shape. Every message names `name` and both versions."""

    name: str  # registry key, e.g. "genesis"
    arch_version: int  # bumped by layer growth; a node refuses other versions
    layer_count: int  # transformer blocks
    hidden_size: int  # model width, features per token
    head_count: int  # attention heads; hidden_size % head_count == 0
    mlp_size: int  # inner width of each block's MLP
    context_tokens: int  # longest sequence (learned position embeddings)
    vocab_size: int = GENESIS_VOCAB_SIZE  # token ids
    vocab_version: int = 1  # bumped by vocabulary governance
    layer_norm_eps: float = 1e-5  # LayerNorm epsilon

    def __post_init__(self) -> None:
        if self.hidden_size % self.head_count:
            raise AgentError(
                f"architecture {self.name!r}: hidden_size {self.hidden_size} is not "
                f"divisible by head_count {self.head_count}"
            )

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.head_count


GENESIS = Architecture(
    name="genesis",
    arch_version=1,
    layer_count=GENESIS_LAYER_COUNT,
    hidden_size=GENESIS_HIDDEN_SIZE,
    head_count=8,
    mlp_size=4 * GENESIS_HIDDEN_SIZE,
    context_tokens=256,
)

# Small enough to train to a visible loss drop in seconds on two cores: tests and demos.
# Three layers: the fewest that make a three-stage pipeline (initiator, processor, finisher).
TINY = Architecture(
    name="tiny",
    arch_version=1,
    layer_count=3,
    hidden_size=64,
    head_count=4,
    mlp_size=256,
    context_tokens=128,
)

ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (GENESIS, TINY)}


def get_architecture(name: str) -> Architecture:
    """The built-in architecture called `name`, or a clear error listing the known ones."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise AgentError(f"unknown architecture {name!r}; built-in ones are: {known}") from None
