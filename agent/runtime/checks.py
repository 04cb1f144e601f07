"""Boundary checks every backend runs before touching its engine.

Arrays arrive from peers: a wrong dtype or shape must fail here with a clear
ShapeError, never deep inside onnxruntime or torch with an engine message.
"""

from __future__ import annotations

import numpy as np

from ..errors import AgentError, ShapeError
from ..model.parameters import StageSpec
from .base import RuntimeState


def check_stage_inputs(spec: StageSpec, inputs: np.ndarray) -> tuple[int, int]:
    """Check what enters the stage (tokens or hidden states); return (batch, tokens)."""
    arch = spec.arch
    if spec.has_embedding:
        _check_array(inputs, np.int64, 2, "tokens", "int64 [batch, tokens]")
        batch, tokens = inputs.shape
        if inputs.size and (inputs.min() < 0 or inputs.max() >= arch.vocab_size):
            raise ShapeError(
                f"token ids must lie in [0, {arch.vocab_size}) for architecture "
                f"{arch.name!r}; got values in [{inputs.min()}, {inputs.max()}]"
            )
    else:
        _check_array(inputs, np.float32, 3, "hidden states", f"float32 [batch, tokens, {arch.hidden_size}]")
        batch, tokens, hidden = inputs.shape
        if hidden != arch.hidden_size:
            raise ShapeError(
                f"hidden states have {hidden} features, architecture {arch.name!r} "
                f"has hidden_size {arch.hidden_size}"
            )
    if batch < 1 or not 1 <= tokens <= arch.context_tokens:
        raise ShapeError(
            f"inputs of shape {inputs.shape}: need batch >= 1 and 1 <= tokens <= "
            f"{arch.context_tokens} (the context of {arch.name!r})"
        )
    return batch, tokens


def check_backward_arguments(
    spec: StageSpec,
    inputs: np.ndarray,
    grad_outputs: np.ndarray | None,
    targets: np.ndarray | None,
) -> None:
    """The head stage takes targets, every other stage the gradient of its outputs."""
    batch, tokens = check_stage_inputs(spec, inputs)
    if spec.has_head:
        if grad_outputs is not None or targets is None:
            raise ShapeError("a stage holding the head takes backward(inputs, targets=...) only")
        _check_array(targets, np.int64, 2, "targets", "int64 [batch, tokens]")
        if targets.shape != (batch, tokens):
            raise ShapeError(f"targets have shape {targets.shape}, inputs need {(batch, tokens)}")
        if targets.size and (targets.min() < 0 or targets.max() >= spec.arch.vocab_size):
            raise ShapeError(
                f"targets must lie in [0, {spec.arch.vocab_size}); "
                f"got values in [{targets.min()}, {targets.max()}]"
            )
        return
    if targets is not None or grad_outputs is None:
        raise ShapeError("a stage without the head takes backward(inputs, grad_outputs=...) only")
    expected = (batch, tokens, spec.arch.hidden_size)
    _check_array(grad_outputs, np.float32, 3, "grad_outputs", f"float32 {list(expected)}")
    if grad_outputs.shape != expected:
        raise ShapeError(f"grad_outputs have shape {grad_outputs.shape}, expected {expected}")


def _check_array(array: object, dtype: type, ndim: int, what: str, expected: str) -> None:
    if not isinstance(array, np.ndarray):
        raise ShapeError(f"{what} must be a numpy array ({expected}), got {type(array).__name__}")
    if array.dtype != dtype or array.ndim != ndim:
        raise ShapeError(f"{what} must be {expected}; got {array.dtype} of shape {array.shape}")


class GradientAccumulator:
    """Sums parameter gradients over backward calls; hands out their mean.

    Shared by both backends so "accumulate, then average over the calls" means
    exactly the same thing in each.
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.sums = {name: np.zeros(shape, dtype=np.float32) for name, shape in shapes.items()}
        self.count = 0  # backward calls since the last clear

    def add(self, gradients: dict[str, np.ndarray]) -> None:
        for name, grad in gradients.items():
            self.sums[name] += grad
        self.count += 1

    def mean(self) -> dict[str, np.ndarray]:
        if self.count == 0:
            raise AgentError("no gradients accumulated: call backward() before using or applying them")
        scale = np.float32(1.0 / self.count)
        return {name: total * scale for name, total in self.sums.items()}

    def clear(self) -> None:
        for total in self.sums.values():
            total.fill(0.0)
        self.count = 0


def has_optimizer_state(state: RuntimeState) -> bool:
    """Whether `state` carries AdamW moments (both or neither, never one alone)."""
    first, second = bool(state.first_moments), bool(state.second_moments)
    if first != second:
        raise AgentError(
            "runtime state has only one of the two AdamW moment sets; "
            "pass both first_moments and second_moments, or neither to keep the current ones"
        )
    return first
