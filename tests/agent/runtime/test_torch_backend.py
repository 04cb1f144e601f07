"""TorchBackend on CUDA where there is a GPU, and a clear refusal where there is none."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.errors import RuntimeUnavailableError
from agent.model.arch import TINY
from agent.model.parameters import StageSpec
from agent.runtime.torch_backend import TorchBackend

HAS_CUDA = torch.cuda.is_available()
CUDA_TOLERANCE = 1e-4  # relative, CPU against GPU float32 (TF32 stays off: torch's default for matmul)


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU visible to this PyTorch")
def test_cuda_forward_backward_and_step_match_cpu() -> None:
    spec = StageSpec.whole(TINY)
    cpu, gpu = TorchBackend(spec), TorchBackend(spec, device="cuda")
    assert gpu.device.startswith("cuda:")
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, TINY.vocab_size, (4, 33))
    inputs, targets = tokens[:, :-1].copy(), tokens[:, 1:].copy()
    want, got = cpu.forward(inputs), gpu.forward(inputs)
    assert np.abs(got - want).max() <= CUDA_TOLERANCE * np.abs(want).max()
    losses = []
    for runtime in (cpu, gpu):
        losses.append(runtime.backward(inputs, targets=targets).loss)
        runtime.apply_gradients(learning_rate=1e-3)
    assert losses[1] == pytest.approx(losses[0], rel=CUDA_TOLERANCE)
    # Outputs, not weights, after the step: the key bias's gradient is zero in exact
    # arithmetic, so Adam steps it on rounding noise, which differs between devices
    # and which attention's softmax ignores (see test_contract.py).
    want, got = cpu.forward(inputs), gpu.forward(inputs)
    assert np.abs(got - want).max() <= 10 * CUDA_TOLERANCE * np.abs(want).max()


@pytest.mark.skipif(HAS_CUDA, reason="a CUDA GPU is present, so it cannot be refused")
def test_cuda_without_a_gpu_is_refused_with_a_fix() -> None:
    with pytest.raises(RuntimeUnavailableError, match="device='cpu'"):
        TorchBackend(StageSpec.whole(TINY), device="cuda")


def test_unknown_devices_are_refused() -> None:
    with pytest.raises(RuntimeUnavailableError, match="use 'cpu' or 'cuda"):
        TorchBackend(StageSpec.whole(TINY), device="tpu")
