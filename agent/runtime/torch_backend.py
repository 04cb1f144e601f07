"""The PyTorch backend: a stage on CPU or CUDA (DESIGN.md §4).

torch is imported when a TorchBackend is made, never when this module is
imported, so choosing ONNX Runtime costs nothing of torch. The optimizer is
torch.optim.AdamW with two parameter groups (decay on tensors with ndim >= 2
only), which is the arithmetic agent/runtime/adamw.py reproduces in numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AgentError, RuntimeUnavailableError
from ..model.parameters import StageSpec, check_parameters, init_parameters
from .adamw import check_moments
from .base import BackwardResult, OptimizerConfig, RuntimeState, StageRuntime
from .checks import check_backward_arguments, check_stage_inputs, has_optimizer_state

if TYPE_CHECKING:
    import torch

TORCH_INSTALL_HINT = "install PyTorch (pip install 'neuroshard-agent[train]') or use the 'onnx' runtime"


def import_torch() -> Any:
    """torch, or RuntimeUnavailableError saying how to get it."""
    try:
        import torch
    except ImportError as error:
        raise RuntimeUnavailableError(f"the torch runtime needs PyTorch, which failed to import ({error}); {TORCH_INSTALL_HINT}") from None
    return torch


def resolve_device(torch: Any, device: str) -> str:
    """A normalised device string ("cpu", "cuda:0"), or a clear error when it is absent."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise RuntimeUnavailableError(f"unknown device {device!r} ({error}); use 'cpu' or 'cuda[:N]'") from None
    if parsed.type == "cpu":
        return "cpu"
    if parsed.type != "cuda":
        raise RuntimeUnavailableError(f"device {device!r} is not supported; use 'cpu' or 'cuda[:N]'")
    if not torch.cuda.is_available():
        raise RuntimeUnavailableError(
            f"device {device!r} asked for, but this PyTorch ({torch.__version__}) sees no CUDA GPU; "
            "install a CUDA build of PyTorch and a working driver, or use device='cpu'"
        )
    index = parsed.index if parsed.index is not None else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise RuntimeUnavailableError(
            f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) are visible"
        )
    return f"cuda:{index}"


class TorchBackend(StageRuntime):
    """One stage as agent.model.torch_modules.Stage, trained with torch.optim.AdamW."""

    name = "torch"

    def __init__(
        self,
        spec: StageSpec,
        optimizer: OptimizerConfig | None = None,
        *,
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__(spec, optimizer)
        torch = import_torch()
        from ..model.torch_modules import Stage

        self._torch = torch
        self.device = resolve_device(torch, device)
        self.module = Stage(spec).to(self.device)
        self.module.load_numpy(init_parameters(spec, seed))
        self._names = [name for name, _ in self.module.named_parameters()]
        self._optimizer = self._make_optimizer()
        self._backward_calls = 0

    def _make_optimizer(self) -> torch.optim.AdamW:
        c = self.optimizer
        params = list(self.module.parameters())
        groups = [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": c.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]
        # lr is set on every apply_gradients call; this value is never used.
        return self._torch.optim.AdamW(groups, lr=0.0, betas=(c.beta1, c.beta2), eps=c.epsilon)

    # ------------------------------------------------------------------ state
    def load(self, state: RuntimeState) -> None:
        check_parameters(self.spec, state.parameters)
        with_moments = has_optimizer_state(state)
        if with_moments:
            check_moments(state.parameters, state.first_moments, "first")
            check_moments(state.parameters, state.second_moments, "second")
        self.module.load_numpy(state.parameters)
        if with_moments:
            self._load_moments(state)
        self._clear_gradients()

    def _load_moments(self, state: RuntimeState) -> None:
        torch = self._torch
        for name, param in self.module.named_parameters():
            self._optimizer.state[param] = {
                # torch keeps a non-capturable step count as a float32 CPU tensor.
                "step": torch.tensor(float(state.optimizer_step), dtype=torch.float32),
                "exp_avg": torch.from_numpy(state.first_moments[name].copy()).to(self.device),
                "exp_avg_sq": torch.from_numpy(state.second_moments[name].copy()).to(self.device),
            }

    def state(self) -> RuntimeState:
        first, second, step = {}, {}, 0
        for name, param in self.module.named_parameters():
            slot = self._optimizer.state.get(param)
            if slot:
                first[name] = slot["exp_avg"].detach().cpu().numpy().copy()
                second[name] = slot["exp_avg_sq"].detach().cpu().numpy().copy()
                step = int(slot["step"])
            else:
                first[name] = np.zeros(tuple(param.shape), dtype=np.float32)
                second[name] = np.zeros(tuple(param.shape), dtype=np.float32)
        return RuntimeState(self.module.to_numpy(), first, second, step)

    # ---------------------------------------------------------------- compute
    def forward(self, inputs: np.ndarray) -> np.ndarray:
        check_stage_inputs(self.spec, inputs)
        with self._torch.inference_mode():
            outputs = self.module(self._tensor(inputs))
        return outputs.float().cpu().numpy()

    def backward(
        self,
        inputs: np.ndarray,
        *,
        grad_outputs: np.ndarray | None = None,
        targets: np.ndarray | None = None,
    ) -> BackwardResult:
        check_backward_arguments(self.spec, inputs, grad_outputs, targets)
        torch = self._torch
        x = self._tensor(inputs)
        if not self.spec.has_embedding:
            x.requires_grad_(True)
        loss = None
        with torch.enable_grad():
            outputs = self.module(x)
            if self.spec.has_head:
                logits = outputs.reshape(-1, outputs.shape[-1])
                loss_tensor = torch.nn.functional.cross_entropy(logits, self._tensor(targets).reshape(-1))
                loss_tensor.backward()
                loss = float(loss_tensor.detach())
            else:
                outputs.backward(self._tensor(grad_outputs))
        self._backward_calls += 1
        grad_inputs = None if self.spec.has_embedding else x.grad.detach().cpu().numpy()
        return BackwardResult(loss=loss, grad_inputs=grad_inputs)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return self._torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    # -------------------------------------------------------------- optimizer
    def _mean_scale(self) -> float:
        if self._backward_calls == 0:
            raise AgentError("no gradients accumulated: call backward() before using or applying them")
        return 1.0 / self._backward_calls

    def gradients(self) -> dict[str, np.ndarray]:
        scale = self._mean_scale()
        grads = {}
        for name, param in self.module.named_parameters():
            if param.grad is None:  # a parameter no path reached has a zero gradient
                grads[name] = np.zeros(tuple(param.shape), np.float32)
            else:
                grads[name] = (param.grad.detach() * scale).cpu().numpy()
        return grads

    def apply_gradients(self, *, learning_rate: float) -> None:
        scale = self._mean_scale()
        for param in self.module.parameters():
            if param.grad is not None and scale != 1.0:
                param.grad.mul_(scale)
        for group in self._optimizer.param_groups:
            group["lr"] = learning_rate
        self._optimizer.step()
        self._clear_gradients()

    def _clear_gradients(self) -> None:
        self._optimizer.zero_grad(set_to_none=True)
        self._backward_calls = 0
