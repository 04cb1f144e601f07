"""The one interface every runtime backend implements.

A runtime holds one stage (a contiguous layer range, with the embedding and/or
head when the range includes them), its parameters and its inner AdamW state.

Pipeline use, per micro-batch:  forward(x) -> y  on the way down; later
backward(x, grad_outputs=gy) -> grad_x  on the way back (the head stage calls
backward(x, targets=t) and gets the loss too). backward recomputes the stage's
forward from x (activation recomputation: nothing is kept between the two calls,
so a stage's memory does not grow with micro-batches in flight). Parameter
gradients accumulate across backward calls; apply_gradients averages them over
the calls, takes one AdamW step and clears them.

Arrays in and out are numpy: tokens int64 [B, T]; hidden float32 [B, T, H];
logits float32 [B, T, V]; targets int64 [B, T].
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from ..model.parameters import StageSpec


@dataclass(frozen=True)
class OptimizerConfig:
    """Inner AdamW (decoupled weight decay; no decay on 1-D tensors)."""

    beta1: float = 0.9  # first-moment decay
    beta2: float = 0.95  # second-moment decay
    epsilon: float = 1e-8  # added to the denominator
    weight_decay: float = 0.1  # per step, times the learning rate, on matrices only


@dataclass(frozen=True)
class BackwardResult:
    loss: float | None  # mean cross-entropy, head stages only
    grad_inputs: np.ndarray | None  # d loss / d inputs; None for the embedding stage


@dataclass
class RuntimeState:
    """Everything needed to resume a stage bit for bit: parameters and AdamW moments."""

    parameters: dict[str, np.ndarray]
    first_moments: dict[str, np.ndarray] = field(default_factory=dict)
    second_moments: dict[str, np.ndarray] = field(default_factory=dict)
    optimizer_step: int = 0  # AdamW steps taken (bias correction)


class StageRuntime(abc.ABC):
    """One stage on one engine. Subclasses: OnnxRuntimeBackend, TorchBackend."""

    name: str  # "onnx" or "torch"
    device: str  # "cpu", "cuda:0", ...

    def __init__(self, spec: StageSpec, optimizer: OptimizerConfig | None = None) -> None:
        self.spec = spec
        self.optimizer = optimizer or OptimizerConfig()

    @abc.abstractmethod
    def load(self, state: RuntimeState) -> None:
        """Replace parameters (and optimizer state, when given) after checking names and shapes."""

    @abc.abstractmethod
    def state(self) -> RuntimeState:
        """A copy of parameters and optimizer state as numpy float32."""

    @abc.abstractmethod
    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Run the stage without gradients."""

    @abc.abstractmethod
    def backward(
        self,
        inputs: np.ndarray,
        *,
        grad_outputs: np.ndarray | None = None,
        targets: np.ndarray | None = None,
    ) -> BackwardResult:
        """Recompute forward from `inputs`, accumulate parameter gradients, return grad of inputs."""

    @abc.abstractmethod
    def apply_gradients(self, *, learning_rate: float) -> None:
        """Average accumulated gradients over the backward calls, one AdamW step, clear."""

    @abc.abstractmethod
    def gradients(self) -> dict[str, np.ndarray]:
        """The averaged accumulated gradients (for tests and proofs), without stepping."""

    def close(self) -> None:
        """Release engine resources; the default has none."""
