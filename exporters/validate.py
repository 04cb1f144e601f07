"""Check exported graphs against PyTorch autograd before anyone trusts them.

Order: names, then dynamic axes, then shapes, then values (optimum-onnx's
`_run_validation`). Every failure of every graph is collected first; then one
ExportError names the worst, so a broken export shows all that is wrong at once.

The reference is the ordinary nn.Module forward and .backward() in float64,
which shares nothing with the traced step function: a graph that traced a
wrong gradient (the nll_loss trap in exporters/trace.py) cannot agree with it.
Values are checked at shapes other than the trace shape, so a shape baked in
during tracing shows up as a failure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from agent.model.arch import Architecture

from .errors import ExportError
from .graphs import SUPPLIED_WEIGHTS_LOCATION, GraphLayout
from .trace import build_module, example_data, example_parameters, layout_of

RELATIVE_TOLERANCE = 1e-4  # fp32 graph against float64 autograd: max |diff| / max |reference|
REFERENCE_FLOOR = 1e-6  # a reference this small counts as this size (no division by ~0)


@dataclass(frozen=True)
class Mismatch:
    graph: str  # "block_train"
    tensor: str  # input or output name
    check: str  # "names", "dynamic axes", "shapes" or "values"
    detail: str  # what differed, with the values
    relative_error: float  # inf for anything but a value difference

    def describe(self) -> str:
        return f"{self.graph}/{self.tensor} [{self.check}]: {self.detail}"


@dataclass(frozen=True)
class TensorCheck:
    graph: str  # "block_train"
    tensor: str  # output name
    batch: int  # sequences in the check
    tokens: int  # tokens per sequence
    relative_error: float  # max |onnx - reference| / max |reference|


@dataclass(frozen=True)
class ValidationReport:
    checks: tuple[TensorCheck, ...]  # every output at every checked shape
    tolerance: float  # the relative error allowed

    def worst_by_graph(self) -> dict[str, float]:
        worst: dict[str, float] = {}
        for check in self.checks:
            worst[check.graph] = max(worst.get(check.graph, 0.0), check.relative_error)
        return worst


def validation_shapes(arch: Architecture) -> tuple[tuple[int, int], ...]:
    """(batch, tokens) pairs, none equal to the trace shape: odd, single-token, full context."""
    return ((2, 5), (1, 1), (2, arch.context_tokens))


def validate_graphs(
    arch: Architecture,
    paths: dict[str, Path],
    *,
    tolerance: float = RELATIVE_TOLERANCE,
    seed: int = 1,
) -> ValidationReport:
    """Check each graph file (graph name -> path); raise one ExportError naming the worst failure."""
    mismatches: list[Mismatch] = []
    checks: list[TensorCheck] = []
    for name, path in paths.items():
        part, kind = name.split("_", 1)
        module = build_module(arch, part, kind).double()
        layout = layout_of(module, part, kind)
        model = onnx.load(str(path), load_external_data=False)  # infer graphs' weights are in no file
        structural = check_names(layout, model) or check_supplied_weights(layout, model) or check_dynamic_axes(layout, model)
        if structural:
            mismatches.extend(structural)
            continue  # the graph cannot be fed as the layout says; values would be noise
        generator = torch.Generator().manual_seed(seed)
        for batch, tokens in validation_shapes(arch):
            found, measured = _compare_values(arch, module, layout, path, batch=batch, tokens=tokens, generator=generator)
            mismatches.extend(found)
            checks.extend(measured)
    for check in checks:
        if not check.relative_error <= tolerance:
            mismatches.append(_value_mismatch(check, tolerance))
    if mismatches:
        raise ExportError(describe_failures(mismatches))
    return ValidationReport(tuple(checks), tolerance)


def describe_failures(mismatches: Sequence[Mismatch]) -> str:
    ordered = sorted(mismatches, key=lambda m: -m.relative_error)
    worst = ordered[0]
    lines = [f"{len(ordered)} graph check(s) failed; worst: {worst.describe()}"]
    lines += [f"  also: {m.describe()}" for m in ordered[1:10]]
    if len(ordered) > 10:
        lines.append(f"  ... and {len(ordered) - 10} more")
    lines.append("fix the exporter (exporters/trace.py) and export again; do not ship these graphs")
    return "\n".join(lines)


def check_names(layout: GraphLayout, model: onnx.ModelProto) -> list[Mismatch]:
    found = []
    for what, expected, actual in (
        ("inputs", layout.input_names, tuple(i.name for i in model.graph.input)),
        ("outputs", layout.output_names, tuple(o.name for o in model.graph.output)),
    ):
        if expected != actual:
            differing = next((i for i, (e, a) in enumerate(zip(expected, actual)) if e != a), min(len(expected), len(actual)))
            found.append(Mismatch(
                layout.name, what, "names",
                f"expected {len(expected)} {what} {list(expected[differing:differing + 3])}... at position "
                f"{differing}, graph has {len(actual)}: {list(actual[differing:differing + 3])}...",
                math.inf,
            ))
    return found


def check_supplied_weights(layout: GraphLayout, model: onnx.ModelProto) -> list[Mismatch]:
    """An inference graph's weights are initializers whose data the session is given (exporters/infer.py)."""
    if layout.takes_weights_as_inputs:
        return []
    supplied = {
        t.name for t in model.graph.initializer
        if t.data_location == onnx.TensorProto.EXTERNAL
        and any(e.key == "location" and e.value == SUPPLIED_WEIGHTS_LOCATION for e in t.external_data)
    }
    missing = [n for n in layout.parameter_names if n not in supplied]
    if not missing:
        return []
    detail = f"weights {missing} are not initializers with external location {SUPPLIED_WEIGHTS_LOCATION!r}"
    return [Mismatch(layout.name, "weights", "names", detail, math.inf)]


def check_dynamic_axes(layout: GraphLayout, model: onnx.ModelProto) -> list[Mismatch]:
    """Every data tensor's first two axes must be symbolic (batch, tokens), not fixed numbers."""
    values = {v.name: v for v in list(model.graph.input) + list(model.graph.output)}
    found = []
    for name in layout.dynamic_names:
        dims = values[name].type.tensor_type.shape.dim
        leading = [d.dim_param or str(d.dim_value) for d in list(dims)[:2]]
        if len(dims) < 2 or not all(d.dim_param for d in list(dims)[:2]):
            found.append(Mismatch(layout.name, name, "dynamic axes", f"leading axes are {leading}, expected symbolic [batch, tokens]", math.inf))
    return found


def _compare_values(
    arch: Architecture,
    module: nn.Module,
    layout: GraphLayout,
    path: Path,
    *,
    batch: int,
    tokens: int,
    generator: torch.Generator,
) -> tuple[list[Mismatch], list[TensorCheck]]:
    parameters = example_parameters(module, generator)
    data = example_data(arch, layout, batch=batch, tokens=tokens, generator=generator)
    expected = reference_outputs(module, layout, parameters, data)
    weights = {name: _as_float32(t) for name, t in zip(layout.parameter_names, parameters)}
    feeds = {name: _as_float32(t) for name, t in zip(layout.data_inputs, data)}
    if layout.takes_weights_as_inputs:
        actual = _session(path).run(list(layout.output_names), {**weights, **feeds})
    else:
        actual = _session(path, supplied=weights).run(list(layout.output_names), feeds)
    mismatches, checks = [], []
    for name, want, got in zip(layout.output_names, expected, actual):
        want = want.detach().numpy()
        if want.shape != got.shape:
            detail = f"shape {list(got.shape)}, PyTorch gives {list(want.shape)} at batch {batch}, tokens {tokens}"
            mismatches.append(Mismatch(layout.name, name, "shapes", detail, math.inf))
            continue
        scale = max(float(np.abs(want).max(initial=0.0)), REFERENCE_FLOOR)
        error = float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale
        checks.append(TensorCheck(layout.name, name, batch, tokens, error if math.isfinite(error) else math.inf))
    return mismatches, checks


def reference_outputs(
    module: nn.Module,
    layout: GraphLayout,
    parameters: tuple[torch.Tensor, ...],
    data: tuple[torch.Tensor, ...],
) -> list[torch.Tensor]:
    """Plain forward and .backward() of `module` in float64, outputs in layout order."""
    with torch.no_grad():
        for param, value in zip(module.parameters(), parameters):
            param.copy_(value)
    module.zero_grad(set_to_none=True)
    data = tuple(t.double() if t.is_floating_point() else t for t in data)
    if layout.kind != "train":
        with torch.no_grad():
            return [module(*data)]
    grads_of = [p for p in module.parameters()]
    if layout.part == "embedding":
        output = module(data[0])
        output.backward(data[1])
        return [output] + [p.grad for p in grads_of]
    x = data[0].clone().requires_grad_(True)
    if layout.part == "head":
        output = module(x, data[1])
        output.backward()
    else:
        output = module(x)
        output.backward(data[1])
    return [output, x.grad] + [p.grad for p in grads_of]


def _value_mismatch(check: TensorCheck, tolerance: float) -> Mismatch:
    detail = (
        f"relative error {check.relative_error:.3g} > {tolerance:.0e} at batch {check.batch}, "
        f"tokens {check.tokens}"
    )
    return Mismatch(check.graph, check.tensor, "values", detail, check.relative_error)


def _as_float32(tensor: torch.Tensor) -> np.ndarray:
    array = tensor.detach().numpy()
    return array.astype(np.float32) if array.dtype.kind == "f" else array


def _session(path: Path, *, supplied: dict[str, np.ndarray] | None = None) -> object:
    """A session of the graph at `path`; `supplied` are an inference graph's weights."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # Busy-spinning worker threads would starve torch's reference run on small machines.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if supplied:
        values = [ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(a)) for a in supplied.values()]
        options.add_external_initializers(list(supplied), values)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
