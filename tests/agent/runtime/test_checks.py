"""Both backends refuse wrong inputs with a ShapeError before their engine sees them."""

from __future__ import annotations

import numpy as np
import pytest

from agent.errors import AgentError, ShapeError
from agent.model.arch import TINY
from agent.model.parameters import StageSpec
from agent.runtime.base import RuntimeState
from agent.runtime.onnx_backend import OnnxRuntimeBackend
from agent.runtime.torch_backend import TorchBackend

H = TINY.hidden_size
BACKENDS = {"onnx": OnnxRuntimeBackend, "torch": TorchBackend}


@pytest.fixture(params=sorted(BACKENDS))
def backend_class(request: pytest.FixtureRequest) -> type:
    return BACKENDS[request.param]


@pytest.mark.parametrize(
    ("spec", "inputs", "message"),
    [
        (StageSpec(TINY, 0, 1), np.zeros((2, 5), np.int32), "int64"),
        (StageSpec(TINY, 0, 1), np.full((2, 5), TINY.vocab_size, np.int64), "token ids must lie in"),
        (StageSpec(TINY, 0, 1), np.zeros((2, TINY.context_tokens + 1), np.int64), "tokens <= 128"),
        (StageSpec(TINY, 1, 2), np.zeros((2, 5, H), np.float64), "float32"),
        (StageSpec(TINY, 1, 2), np.zeros((2, 5, H + 1), np.float32), "hidden_size 64"),
        (StageSpec(TINY, 1, 2), [[0.0]], "numpy array"),
    ],
)
def test_forward_refuses_wrong_inputs(backend_class: type, spec: StageSpec, inputs: object, message: str) -> None:
    runtime = backend_class(spec)
    with pytest.raises(ShapeError, match=message):
        runtime.forward(inputs)


def test_backward_takes_targets_on_the_head_and_gradients_elsewhere(backend_class: type) -> None:
    head, first = backend_class(StageSpec(TINY, TINY.layer_count - 1, TINY.layer_count)), backend_class(StageSpec(TINY, 0, 1))
    hidden, tokens = np.zeros((2, 5, H), np.float32), np.zeros((2, 5), np.int64)
    with pytest.raises(ShapeError, match="targets"):
        head.backward(hidden, grad_outputs=hidden)
    with pytest.raises(ShapeError, match="targets have shape"):
        head.backward(hidden, targets=np.zeros((2, 4), np.int64))
    with pytest.raises(ShapeError, match="grad_outputs"):
        first.backward(tokens, targets=tokens)
    with pytest.raises(ShapeError, match="grad_outputs have shape"):
        first.backward(tokens, grad_outputs=np.zeros((2, 6, H), np.float32))


def test_stepping_without_gradients_is_an_error(backend_class: type) -> None:
    runtime = backend_class(StageSpec(TINY, 1, 2))
    with pytest.raises(AgentError, match="call backward"):
        runtime.apply_gradients(learning_rate=1e-3)


def test_load_refuses_wrong_parameters_and_half_an_optimizer_state(backend_class: type) -> None:
    runtime = backend_class(StageSpec(TINY, TINY.layer_count - 1, TINY.layer_count))
    state = runtime.state()
    wrong = dict(state.parameters)
    wrong["head.lm_head.weight"] = wrong["head.lm_head.weight"][:-1]
    with pytest.raises(AgentError, match="head.lm_head.weight"):
        runtime.load(RuntimeState(wrong))
    with pytest.raises(AgentError, match="only one of the two AdamW moment sets"):
        runtime.load(RuntimeState(state.parameters, first_moments=state.first_moments))
    runtime.load(RuntimeState(state.parameters))  # parameters alone keep the optimizer as it is
