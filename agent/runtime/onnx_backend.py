"""The ONNX Runtime backend: forward and training with no PyTorch (DESIGN.md §4).

A stage runs the architecture's graphs, whose weights are inputs: the
embedding graph when it holds layer 0, the one block graph once per layer it
holds, the head graph when it holds the last layer. Training runs the
training-step graphs backwards through the stage (each recomputes its own
forward from its input) and steps a numpy AdamW. onnxruntime is imported when
a backend is made; torch is never imported.

Forward runs one of two ways. A stage that has never run backward is a
forward-only stage (inference, verification, the tier benchmark): it runs the
inference graphs ("<part>_infer", exporters/infer.py), one session per held
part and layer, made with that layer's weights as constants, so onnxruntime
folds and pre-packs them and runs fused causal attention (a genesis block's
forward ~10 % faster, docs/PERFORMANCE.md). load() drops those sessions and
the next forward remakes them (~20 ms per genesis layer). Once the stage runs
backward its weights change every step, so from then on forward feeds them as
inputs to the forward graphs, and the baked sessions are dropped for good.
"""

from __future__ import annotations

import logging
import os
import threading
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
# onnxruntime fuses block_infer's bias Add + Gelu into com.microsoft BiasGelu,
# whose kernel is slower on the [tokens, 2048] MLP activation than the two ops
# it replaces (genesis block, 1 thread, interleaved: 0.983 of the time without it).
INFERENCE_DISABLED_OPTIMIZERS = ["BiasGeluFusion"]


_shared_arena_lock = threading.Lock()
_shared_arena_registered = False


def use_shared_cpu_arena(ort: Any, options: Any) -> None:
    """Make a session allocate from one CPU arena per process instead of an arena of its own.

    A stage keeps one inference session per layer; each with its own arena
    would hold its own activation buffers (a genesis stage of 11 layers measured
    +873 MiB against +321 MiB with one shared arena, +130 MiB for the single
    weights-as-inputs session). Sessions run one after another, so one arena the
    size of one layer's activations serves them all.
    """
    global _shared_arena_registered
    with _shared_arena_lock:
        if not _shared_arena_registered:
            memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(memory, None)  # None: default arena settings
            _shared_arena_registered = True
    options.add_session_config_entry("session.use_env_allocators", "1")


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
        self._sessions: dict[str, Any] = {}  # graph name -> session (weights as inputs)
        self._baked: dict[tuple[str, str], tuple[Any, list[Any]]] = {}  # (graph, prefix) -> session, its weights
        self._trains = False  # set by the first backward: forward then feeds the weights as inputs
        self._parameters = init_parameters(spec, seed)
        self._adamw = NumpyAdamW(self._parameters, self.optimizer)
        self._gradients = GradientAccumulator(spec.parameter_shapes())

    def _graph_names(self) -> list[str]:
        parts = (["embedding"] if self.spec.has_embedding else []) + ["block"] + (["head"] if self.spec.has_head else [])
        names = [f"{part}_{kind}" for part in parts for kind in ("forward", "train", "infer")]
        return [name for name in names if not name.endswith("_infer") or self._graphs.has(name)]

    @property
    def forward_kind(self) -> str:
        """Which graphs forward() runs now: "infer" (weights baked in) or "forward" (weights as inputs)."""
        return "forward" if self._trains or not self._graphs.has("block_infer") else "infer"

    def _options(self) -> Any:
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle workers busy-spin by default and steal the CPU the numpy optimizer
        # and the network code need on small devices.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options

    def _session(self, name: str) -> Any:
        """The session of graph `name`, made on first use (a forward-only node never builds train graphs)."""
        if name not in self._sessions:
            data = self._graphs.read_verified(name)
            self._sessions[name] = self._ort.InferenceSession(data, self._options(), providers=["CPUExecutionProvider"])
        return self._sessions[name]

    def _baked_session(self, graph: str, prefix: str) -> Any:
        """The session of inference graph `graph` with the weights under `prefix` as its constants."""
        if (graph, prefix) not in self._baked:
            names = list(self._graphs.entry(graph).parameters)
            # No copy: onnxruntime may read these arrays in place, so load() and
            # backward() drop this session before anything writes to them.
            values = [self._ort.OrtValue.ortvalue_from_numpy(self._parameters[prefix + n]) for n in names]
            options = self._options()
            options.add_external_initializers(names, values)
            use_shared_cpu_arena(self._ort, options)
            data = self._graphs.read_verified(graph)
            session = self._ort.InferenceSession(
                data, options, providers=["CPUExecutionProvider"], disabled_optimizers=INFERENCE_DISABLED_OPTIMIZERS
            )
            self._baked[(graph, prefix)] = (session, values)  # the values live as long as the session
        return self._baked[(graph, prefix)][0]

    def _run(self, graph: str, prefix: str, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run `graph` with the stage's parameters under `prefix`; outputs by name."""
        entry = self._graphs.entry(graph)
        feeds = {local: self._parameters[prefix + local] for local in entry.parameters}
        feeds.update(data)
        outputs = self._session(graph).run(list(entry.outputs), feeds)
        return dict(zip(entry.outputs, outputs))

    def _run_forward(self, part: str, prefix: str, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Forward of one part: the inference graph with baked weights unless the stage trains."""
        if self.forward_kind == "forward":
            return self._run(f"{part}_forward", prefix, data)
        graph = f"{part}_infer"
        outputs = list(self._graphs.entry(graph).outputs)
        return dict(zip(outputs, self._baked_session(graph, prefix).run(outputs, data)))

    # ------------------------------------------------------------------ state
    def load(self, state: RuntimeState) -> None:
        check_parameters(self.spec, state.parameters)
        with_moments = has_optimizer_state(state)
        if with_moments:
            check_moments(state.parameters, state.first_moments, "first")
            check_moments(state.parameters, state.second_moments, "second")
        self._baked.clear()  # they may read the arrays written next, and were made for the old values
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
            return self._run_forward("head", HEAD_PREFIX, {"x": hidden})["logits"]
        return hidden

    def _layer_inputs(self, inputs: np.ndarray, *, with_output: bool = True) -> list[np.ndarray]:
        """The hidden state entering each held layer, then (with_output) the one leaving the last.

        backward of a stage without the head skips the last one: block_train recomputes it.
        """
        hidden = inputs
        if self.spec.has_embedding:
            hidden = self._run_forward("embedding", EMBEDDING_PREFIX, {"tokens": inputs})["y"]
        states = [hidden]
        layers = self.spec.layers if with_output else self.spec.layers[:-1]
        for layer in layers:
            states.append(self._run_forward("block", layer_prefix(layer), {"x": states[-1]})["y"])
        return states

    def backward(
        self,
        inputs: np.ndarray,
        *,
        grad_outputs: np.ndarray | None = None,
        targets: np.ndarray | None = None,
    ) -> BackwardResult:
        check_backward_arguments(self.spec, inputs, grad_outputs, targets)
        if not self._trains:  # from now on the weights change every step (see the module docstring)
            self._trains = True
            self._baked.clear()
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
        self._baked.clear()


def _parameter_gradients(outputs: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """Full parameter name -> gradient, from a training graph's "grad.<local>" outputs."""
    return {
        prefix + name[len(GRADIENT_PREFIX):]: value
        for name, value in outputs.items()
        if name.startswith(GRADIENT_PREFIX)
    }
