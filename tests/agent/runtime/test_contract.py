"""Contract: OnnxRuntimeBackend and TorchBackend give the same answers (STYLE.md, Tests).

Same stage, same initial weights, same data through both; every difference is
measured as max |onnx - torch| / max |torch| per tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from runtime_cases import STAGES, backward_arguments, relative_error, stage_inputs

from agent.model.parameters import StageSpec
from agent.runtime.base import StageRuntime
from agent.runtime.onnx_backend import OnnxRuntimeBackend
from agent.runtime.torch_backend import TorchBackend

FORWARD_TOLERANCE = 1e-5  # relative, outputs of one forward (measured ~3e-7)
GRADIENT_TOLERANCE = 1e-4  # relative, input and parameter gradients (measured ~7e-7)
LOSS_TOLERANCE = 1e-4  # relative, each of 20 AdamW steps' losses
PARAMETER_TOLERANCE = 5e-3  # relative, every tensor after 20 steps (measured <= 2e-3): Adam
# divides by sqrt(v), so where a gradient is ~0 the engines' rounding differences are amplified
STEPS = 20
LEARNING_RATE = 3e-3

BACKENDS: dict[str, Callable[[StageSpec], StageRuntime]] = {
    "onnx": lambda spec: OnnxRuntimeBackend(spec, threads=1),
    "torch": lambda spec: TorchBackend(spec),
}


@pytest.fixture(params=sorted(STAGES))
def pair(request: pytest.FixtureRequest) -> tuple[StageSpec, StageRuntime, StageRuntime]:
    spec = STAGES[request.param]
    onnx, torch = BACKENDS["onnx"](spec), BACKENDS["torch"](spec)
    yield spec, onnx, torch
    onnx.close()
    torch.close()


def test_forward_outputs_agree(pair: tuple[StageSpec, StageRuntime, StageRuntime]) -> None:
    spec, onnx, torch = pair
    inputs = stage_inputs(spec, np.random.default_rng(0))
    assert relative_error(onnx.forward(inputs), torch.forward(inputs)) <= FORWARD_TOLERANCE


def test_input_and_accumulated_parameter_gradients_agree(pair: tuple[StageSpec, StageRuntime, StageRuntime]) -> None:
    spec, onnx, torch = pair
    rng = np.random.default_rng(1)
    for tokens in (17, 5):  # two micro-batches of different shapes, accumulated
        inputs = stage_inputs(spec, rng, tokens=tokens)
        arguments = backward_arguments(spec, inputs, rng)
        got, want = onnx.backward(inputs, **arguments), torch.backward(inputs, **arguments)
        if spec.has_head:
            assert got.loss == pytest.approx(want.loss, rel=GRADIENT_TOLERANCE)
        else:
            assert got.loss is None and want.loss is None
        if spec.has_embedding:
            assert got.grad_inputs is None and want.grad_inputs is None
        else:
            assert relative_error(got.grad_inputs, want.grad_inputs) <= GRADIENT_TOLERANCE
    onnx_grads, torch_grads = onnx.gradients(), torch.gradients()
    assert list(onnx_grads) == list(spec.parameter_shapes())
    worst = max(onnx_grads, key=lambda n: relative_error(onnx_grads[n], torch_grads[n]))
    assert relative_error(onnx_grads[worst], torch_grads[worst]) <= GRADIENT_TOLERANCE, worst


def _train(runtime: StageRuntime, spec: StageSpec) -> list[float]:
    """STEPS AdamW steps on fixed data; the head's loss, or a linear probe of the output."""
    rng = np.random.default_rng(2)
    inputs = stage_inputs(spec, rng)
    arguments = backward_arguments(spec, inputs, rng)
    losses = []
    for _ in range(STEPS):
        if spec.has_head:
            losses.append(runtime.backward(inputs, **arguments).loss)
        else:  # loss = sum(y * probe): its gradient is the fixed probe
            losses.append(float(np.sum(runtime.forward(inputs) * arguments["grad_outputs"])))
            runtime.backward(inputs, **arguments)
        runtime.apply_gradients(learning_rate=LEARNING_RATE)
    return losses


def test_twenty_adamw_steps_give_the_same_losses_and_weights(pair: tuple[StageSpec, StageRuntime, StageRuntime]) -> None:
    spec, onnx, torch = pair
    onnx_losses, torch_losses = _train(onnx, spec), _train(torch, spec)
    assert onnx_losses[-1] < onnx_losses[0], "training did not move the loss: the comparison would be empty"
    np.testing.assert_allclose(onnx_losses, torch_losses, rtol=LOSS_TOLERANCE, atol=LOSS_TOLERANCE)
    onnx_state, torch_state = onnx.state(), torch.state()
    assert onnx_state.optimizer_step == torch_state.optimizer_step == STEPS
    for name, value in torch_state.parameters.items():
        got, want = _comparable(name, onnx_state.parameters[name]), _comparable(name, value)
        assert relative_error(got, want) <= PARAMETER_TOLERANCE, name


def _comparable(name: str, value: np.ndarray) -> np.ndarray:
    """The tensor without the key bias: softmax ignores a shift of every key, so that bias's
    gradient is zero in exact arithmetic and Adam, normalising it, steps on rounding noise
    (measured: relative differences up to 0.6 there, 1e-5 on the query and value biases)."""
    if not name.endswith("attn.qkv.bias"):
        return value
    hidden = value.shape[0] // 3
    return np.concatenate([value[:hidden], value[2 * hidden:]])


def test_state_moves_between_backends_mid_training(pair: tuple[StageSpec, StageRuntime, StageRuntime]) -> None:
    spec, onnx, torch = pair
    _train(torch, spec)
    onnx.load(torch.state())
    rng = np.random.default_rng(4)
    inputs = stage_inputs(spec, rng)
    arguments = backward_arguments(spec, inputs, rng)
    for runtime in (onnx, torch):
        runtime.backward(inputs, **arguments)
        runtime.apply_gradients(learning_rate=LEARNING_RATE)
    assert onnx.state().optimizer_step == STEPS + 1
    assert relative_error(onnx.forward(inputs), torch.forward(inputs)) <= PARAMETER_TOLERANCE
