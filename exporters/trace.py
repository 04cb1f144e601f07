"""Step functions over NeuroLLM's parts, traced to aten graphs with make_fx.

A training step is an ordinary function that calls torch.autograd.grad on
torch.func.functional_call, so the weights are plain arguments. make_fx with
symbolic shapes records its forward and backward aten ops with batch and
tokens as symbols; exporters/export.py then turns that graph into ONNX.

Two traps, both silent:
- SDPA's default CPU kernel has a fused flash-attention backward with no ONNX
  translation, so attention is traced under the MATH kernel.
- onnxscript's translation of aten.nll_loss_forward fakes its `total_weight`
  output as 1, so the mean cross-entropy's gradient would come out batch·tokens
  times too large while the loss value looks right. nll_loss is decomposed
  during tracing (see `decomposition_table`); the validator catches the
  difference if anyone drops it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch._decomp import get_decompositions
from torch.func import functional_call
from torch.fx.experimental.proxy_tensor import make_fx
from torch.nn.attention import SDPBackend, sdpa_kernel

from agent.model.arch import Architecture
from agent.model.torch_modules import Block, Embedding, Head, HeadLoss

from .graphs import GraphLayout, graph_layout

StepFunction = Callable[..., tuple[torch.Tensor, ...]]


def build_module(arch: Architecture, part: str, kind: str) -> nn.Module:
    """The torch module a graph is traced from (the head's training graph includes the loss)."""
    if part == "embedding":
        return Embedding(arch)
    if part == "block":
        return Block(arch)
    if part == "head":
        return HeadLoss(arch) if kind == "train" else Head(arch)
    raise ValueError(f"unknown part {part!r}")


def layout_of(module: nn.Module, part: str, kind: str) -> GraphLayout:
    return graph_layout(part, kind, tuple(name for name, _ in module.named_parameters()))


def make_step_function(module: nn.Module, layout: GraphLayout) -> StepFunction:
    """f(*parameters, *data_inputs) -> the graph's outputs, in layout order."""
    names = layout.parameter_names
    count = len(names)

    def run(parameters: list[torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
        return functional_call(module, dict(zip(names, parameters)), inputs)

    if layout.kind == "forward":

        def forward_step(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
            with torch.no_grad():
                return (run(list(args[:count]), *args[count:]),)

        return forward_step

    def train_step(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        parameters = [t.detach().requires_grad_(True) for t in args[:count]]
        data = args[count]
        differentiable_input = data.dtype.is_floating_point  # tokens have no gradient
        if differentiable_input:
            data = data.detach().requires_grad_(True)
        wrt = ([data] if differentiable_input else []) + parameters
        with torch.enable_grad():
            if layout.part == "head":  # (x, targets) -> scalar loss
                output = run(parameters, data, args[count + 1])
                grads = torch.autograd.grad(output, wrt)
            else:  # (input, grad_y) -> y
                output = run(parameters, data)
                grads = torch.autograd.grad(output, wrt, args[count + 1])
        return (output.detach(), *grads)

    return train_step


def plain_softmax(x: torch.Tensor, dim: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """aten._safe_softmax without its fully-masked-row guard.

    SDPA's math kernel zeroes rows whose every score is -inf, which costs five
    extra ONNX ops over the whole [B, heads, T, T] score tensor (~9 % of a
    genesis block's forward). Causal attention always keeps the diagonal, so
    no row is ever fully masked and plain softmax is exactly equal here.
    """
    return torch.ops.aten._softmax(x if dtype is None else x.to(dtype), dim, False)


def default_decompositions() -> dict[Any, Callable[..., Any]]:
    """The aten decompositions applied while tracing (see the module docstring)."""
    table = get_decompositions([torch.ops.aten.nll_loss_forward, torch.ops.aten.nll_loss_backward])
    table[torch.ops.aten._safe_softmax.default] = plain_softmax
    return table


def trace_step(
    step: StepFunction,
    example_args: tuple[torch.Tensor, ...],
    decompositions: dict[Any, Callable[..., Any]],
) -> torch.fx.GraphModule:
    """make_fx with symbolic shapes, attention on the MATH kernel."""
    with sdpa_kernel(SDPBackend.MATH):
        return make_fx(step, tracing_mode="symbolic", decomposition_table=decompositions)(*example_args)


def example_data(
    arch: Architecture, layout: GraphLayout, *, batch: int, tokens: int, generator: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """Random data inputs of the layout at [batch, tokens]."""
    made = []
    for name in layout.data_inputs:
        if name in ("tokens", "targets"):
            made.append(torch.randint(0, arch.vocab_size, (batch, tokens), generator=generator))
        else:  # x, grad_y: hidden-sized floats
            made.append(torch.randn(batch, tokens, arch.hidden_size, generator=generator))
    return tuple(made)


def example_parameters(module: nn.Module, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Distinct random weights, never the module's init.

    Initial values (LayerNorm gains of 1, zero biases) would hide a swapped or
    dropped input, and equal example tensors could be merged by the exporter.
    """
    made = []
    for name, param in module.named_parameters():
        noise = torch.randn(param.shape, generator=generator)
        if param.ndim >= 2:  # a Linear's default scale keeps activations O(1)
            made.append(noise / param.shape[-1] ** 0.5)
        elif name.startswith("ln") and name.endswith("weight"):
            made.append(1.0 + 0.1 * noise)
        else:
            made.append(0.1 * noise)
    return tuple(made)
