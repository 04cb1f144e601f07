"""Stages, data and the error measure shared by the runtime tests (tiny architecture)."""

from __future__ import annotations

import dataclasses

import numpy as np

from agent.model.arch import TINY
from agent.model.parameters import StageSpec

# A 3-layer tiny, so a stage with neither embedding nor head exists. Depth does
# not change the graphs, so it runs on the shipped tiny graphs.
TINY_DEEP = dataclasses.replace(TINY, layer_count=3)

STAGES = {
    "whole": StageSpec.whole(TINY),
    "embedding": StageSpec(TINY, 0, 1),
    "middle": StageSpec(TINY_DEEP, 1, 2),
    "head": StageSpec(TINY, 1, 2),
}


def stage_inputs(spec: StageSpec, rng: np.random.Generator, *, batch: int = 3, tokens: int = 17) -> np.ndarray:
    if spec.has_embedding:
        return rng.integers(0, spec.arch.vocab_size, (batch, tokens))
    return rng.standard_normal((batch, tokens, spec.arch.hidden_size)).astype(np.float32)


def backward_arguments(spec: StageSpec, inputs: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    batch, tokens = inputs.shape[:2]
    if spec.has_head:
        return {"targets": rng.integers(0, spec.arch.vocab_size, (batch, tokens))}
    return {"grad_outputs": rng.standard_normal((batch, tokens, spec.arch.hidden_size)).astype(np.float32)}


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want|: the measure every tolerance here is stated in."""
    return float(np.abs(got.astype(np.float64) - want).max() / max(np.abs(want).max(), 1e-12))
