"""The ONNX Runtime backend: forward and training with no PyTorch (DESIGN.md §4).

A stage runs the architecture's graphs, whose weights are inputs: the
embedding graph when it holds layer 0, the one block graph once per layer it
holds, the head graph when it holds the last layer. Training runs the
training-step graphs backwards through the stage (each recomputes its own
forward from its input) and steps a numpy AdamW. onnxruntime is imported when
a backend is made; torch is never imported.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from ..errors import RuntimeUnavailableError
from ..model.parameters import (
    EMBEDDING_PREFIX,
    HEAD_PREFIX,
    StageSpec,
    check_parameters,
    init_parameters,
    layer_prefix,
)
from .adamw import NumpyAdamW, check_moments
from .base import BackwardResult, OptimizerConfig, RuntimeState, StageRuntime
from .checks import (
    GradientAccumulator,
    check_backward_arguments,
    check_stage_inputs,
    has_optimizer_state,
)
from .graphs import GraphSet

logger = logging.getLogger(__name__)

GRADIENT_PREFIX = "grad."  # parameter gradient outputs are "grad.<local name>" (exporters/graphs.py)


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise RuntimeUnavailableError(
            f"the onnx runtime needs onnxruntime, which failed to import ({error}); fix: pip install onnxruntime"
        ) from None
    return onnxruntime


class OnnxRuntimeBackend(StageRuntime):
    """One stage on onnxruntime's CPU provider, trained with a numpy AdamW."""

    name = "onnx"
    device = "cpu"

    def __init__(
        self,
        spec: StageSpec,
        optimizer: OptimizerConfig | None = None,
        *,
        graphs_dir: os.PathLike[str] | str | None = None,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(spec, optimizer)
        self._ort = import_onnxruntime()
        self.threads = threads or os.cpu_count() or 1  # intra-op threads per session
        self._graphs = GraphSet(spec.arch, graphs_dir)
        for name in self._graph_names():
            self._graphs.read_verified(name)  # fail now, not at the first batch
        self._sessions: dict[str, Any] = {}
        self._parameters = init_parameters(spec, seed)
        self._adamw = NumpyAdamW(self._parameters, self.optimizer)
        self._gradients = GradientAccumulator(spec.parameter_shapes())

    def _graph_names(self) -> list[str]:
        parts = (["embedding"] if self.spec.has_embedding else []) + ["block"] + (["head"] if self.spec.has_head else [])
        return [f"{part}_{kind}" for part in parts for kind in ("forward", "train")]

    def _session(self, name: str) -> Any:
        """The session of graph `name`, made on first use (a forward-only node never builds train graphs)."""
        if name not in self._sessions:
            ort = self._ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle workers busy-spin by default and steal the CPU the numpy optimizer
            # and the network code need on small devices.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            data = self._graphs.read_verified(name)
            self._sessions[name] = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        return self._sessions[name]

    def _run(self, graph: str, prefix: str, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run `graph` with the stage's parameters under `prefix`; outputs by name."""
        entry = self._graphs.entry(graph)
        feeds = {local: self._parameters[prefix + local] for local in entry.parameters}
        feeds.update(data)
        outputs = self._session(graph).run(list(entry.outputs), feeds)
        return dict(zip(entry.outputs, outputs))

    # ------------------------------------------------------------------ state
    def load(self, state: RuntimeState) -> None:
        check_parameters(self.spec, state.parameters)
        with_moments = has_optimizer_state(state)
        if with_moments:
            check_moments(state.parameters, state.first_moments, "first")
            check_moments(state.parameters, state.second_moments, "second")
        for name, array in state.parameters.items():
            self._parameters[name][...] = array  # in place: the optimizer holds these arrays
        if with_moments:
            self._adamw.load(state)
        self._gradients.clear()

    def state(self) -> RuntimeState:
        return RuntimeState(
            parameters={n: a.copy() for n, a in self._parameters.items()},
            first_moments={n: a.copy() for n, a in self._adamw.first_moments.items()},
            second_moments={n: a.copy() for n, a in self._adamw.second_moments.items()},
            optimizer_step=self._adamw.step_count,
        )

    # ---------------------------------------------------------------- compute
    def forward(self, inputs: np.ndarray) -> np.ndarray:
        check_stage_inputs(self.spec, inputs)
        hidden = self._layer_inputs(inputs)[-1]
        if self.spec.has_head:
            return self._run("head_forward", HEAD_PREFIX, {"x": hidden})["logits"]
        return hidden

    def _layer_inputs(self, inputs: np.ndarray, *, with_output: bool = True) -> list[np.ndarray]:
        """The hidden state entering each held layer, then (with_output) the one leaving the last.

        backward of a stage without the head skips the last one: block_train recomputes it.
        """
        hidden = inputs
        if self.spec.has_embedding:
            hidden = self._run("embedding_forward", EMBEDDING_PREFIX, {"tokens": inputs})["y"]
        states = [hidden]
        layers = self.spec.layers if with_output else self.spec.layers[:-1]
        for layer in layers:
            states.append(self._run("block_forward", layer_prefix(layer), {"x": states[-1]})["y"])
        return states

    def backward(
        self,
        inputs: np.ndarray,
        *,
        grad_outputs: np.ndarray | None = None,
        targets: np.ndarray | None = None,
    ) -> BackwardResult:
        check_backward_arguments(self.spec, inputs, grad_outputs, targets)
        states = self._layer_inputs(inputs, with_output=self.spec.has_head)
        gradients: dict[str, np.ndarray] = {}
        loss = None
        grad = grad_outputs
        if self.spec.has_head:
            out = self._run("head_train", HEAD_PREFIX, {"x": states[-1], "targets": targets})
            loss, grad = float(out["loss"]), out["grad_x"]
            gradients.update(_parameter_gradients(out, HEAD_PREFIX))
        for index in reversed(range(len(self.spec.layers))):
            prefix = layer_prefix(self.spec.layers[index])
            out = self._run("block_train", prefix, {"x": states[index], "grad_y": grad})
            grad = out["grad_x"]
            gradients.update(_parameter_gradients(out, prefix))
        if self.spec.has_embedding:
            out = self._run("embedding_train", EMBEDDING_PREFIX, {"tokens": inputs, "grad_y": grad})
            gradients.update(_parameter_gradients(out, EMBEDDING_PREFIX))
            grad = None
        self._gradients.add(gradients)
        return BackwardResult(loss=loss, grad_inputs=grad)

    # -------------------------------------------------------------- optimizer
    def gradients(self) -> dict[str, np.ndarray]:
        return self._gradients.mean()

    def apply_gradients(self, *, learning_rate: float) -> None:
        self._adamw.step(self._gradients.mean(), learning_rate=learning_rate)
        self._gradients.clear()

    def close(self) -> None:
        self._sessions.clear()


def _parameter_gradients(outputs: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """Full parameter name -> gradient, from a training graph's "grad.<local>" outputs."""
    return {
        prefix + name[len(GRADIENT_PREFIX):]: value
        for name, value in outputs.items()
        if name.startswith(GRADIENT_PREFIX)
    }
