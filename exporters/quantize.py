"""An int8 forward graph of one block for inference, and its error.

onnxruntime's quantize_dynamic only quantizes MatMul nodes whose weight is an
initializer, so the fp32 block graph (weights as inputs, Gemm on a transposed
weight) is first specialised to given weights: every weight input becomes an
initializer, and each Gemm(x, Transpose(W), b) becomes MatMul(x, Wᵀ) + b with
Wᵀ stored transposed. Weights are then quantized per output channel (int8),
activations dynamically per call. The result is specific to those weights:
a holder makes it from its own layer after a sync, it is never shipped.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from agent.model.arch import Architecture
from agent.model.parameters import block_shapes, init_tensor, layer_prefix

from .errors import ExportError

INT8_ERROR_GOAL = 0.01  # relative RMS error of the block's output the int8 graph should stay under


@dataclass(frozen=True)
class Int8Report:
    """How far the int8 block is from the fp32 one on the same input."""

    relative_rms_error: float  # rms(int8 - fp32) / rms(fp32), block output y
    residual_relative_rms_error: float  # the same on y - x, the part the block adds
    quantized_matmuls: int  # MatMuls turned into integer ones
    batch: int  # sequences in the measurement
    tokens: int  # tokens per sequence


def bake_block_weights(model: onnx.ModelProto, parameters: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A copy of `model` with `parameters` (local names) as initializers and Gemms as MatMul + Add."""
    baked = onnx.ModelProto()
    baked.CopyFrom(model)
    graph = baked.graph
    if not set(parameters) <= {i.name for i in graph.input}:
        raise ExportError(
            f"the block graph's weight inputs {[i.name for i in graph.input][:len(parameters)]} do not "
            f"match the parameters given {list(parameters)}"
        )
    kept_inputs = [i for i in graph.input if i.name not in parameters]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    graph.initializer.extend(numpy_helper.from_array(np.ascontiguousarray(v, np.float32), n) for n, v in parameters.items())
    _gemms_to_matmuls(graph, parameters)
    onnx.checker.check_model(baked)
    return baked


def _gemms_to_matmuls(graph: onnx.GraphProto, parameters: dict[str, np.ndarray]) -> None:
    transposed = {  # output of Transpose(weight) -> weight name
        n.output[0]: n.input[0] for n in graph.node if n.op_type == "Transpose" and n.input[0] in parameters
    }
    nodes = []
    for node in graph.node:
        if node.op_type == "Transpose" and node.output[0] in transposed:
            weight = transposed[node.output[0]]
            graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(parameters[weight].T), node.output[0]))
            continue
        if node.op_type == "Gemm" and node.input[1] in transposed and _is_plain_gemm(node):
            product = node.output[0] + "_matmul"
            nodes.append(helper.make_node("MatMul", [node.input[0], node.input[1]], [product], name=node.name + "_matmul"))
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=node.name + "_bias"))
            continue
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)


def _is_plain_gemm(node: onnx.NodeProto) -> bool:
    """Gemm with alpha = beta = 1, no transposes and a bias: exactly MatMul + Add."""
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return (
        len(node.input) == 3
        and attributes.get("alpha", 1.0) == 1.0
        and attributes.get("beta", 1.0) == 1.0
        and not attributes.get("transA", 0)
        and not attributes.get("transB", 0)
    )


def quantize_block(block_forward_path: Path, parameters: dict[str, np.ndarray], out_path: Path) -> int:
    """Write the int8 forward graph of a block with `parameters`; return how many MatMuls it quantized."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    baked = bake_block_weights(onnx.load(str(block_forward_path)), parameters)
    with tempfile.TemporaryDirectory() as scratch:
        baked_path = Path(scratch) / "block_forward_fp32_baked.onnx"
        onnx.save(baked, str(baked_path))
        with _without_preprocessing_advice():
            quantize_dynamic(
                str(baked_path),
                str(out_path),
                per_channel=True,  # one scale per output feature: the 1 % error goal needs it
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                extra_options={"MatMulConstBOnly": True},  # attention's activation MatMuls stay fp32
            )
    quantized = onnx.load(str(out_path))
    return sum(1 for n in quantized.graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul"))


class _PreprocessingAdviceFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _without_preprocessing_advice() -> Iterator[None]:
    """quantize_dynamic logs advice to the root logger on every call; the graph here needs none
    (shapes are static apart from batch and tokens, and ORT optimises at session creation)."""
    advice_filter = _PreprocessingAdviceFilter()
    root = logging.getLogger()
    root.addFilter(advice_filter)
    try:
        yield
    finally:
        root.removeFilter(advice_filter)


def initial_block_parameters(arch: Architecture, layer: int = 0, seed: int = 0) -> dict[str, np.ndarray]:
    """The initial weights of one layer under local names (as the block graph's inputs)."""
    prefix = layer_prefix(layer)
    return {name: init_tensor(arch, prefix + name, shape, seed) for name, shape in block_shapes(arch).items()}


def measure_block_int8_error(
    arch: Architecture,
    block_forward_path: Path,
    *,
    parameters: dict[str, np.ndarray] | None = None,
    batch: int = 2,
    tokens: int | None = None,
    seed: int = 0,
) -> Int8Report:
    """Quantize a block (initial weights unless given) and compare it with fp32 on random input."""
    import onnxruntime as ort

    parameters = parameters or initial_block_parameters(arch)
    tokens = tokens or arch.context_tokens
    x = np.random.default_rng(seed).standard_normal((batch, tokens, arch.hidden_size)).astype(np.float32)
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with tempfile.TemporaryDirectory() as scratch:
        int8_path = Path(scratch) / "block_forward_int8.onnx"
        count = quantize_block(block_forward_path, parameters, int8_path)
        fp32 = ort.InferenceSession(str(block_forward_path), options, providers=["CPUExecutionProvider"])
        int8 = ort.InferenceSession(str(int8_path), options, providers=["CPUExecutionProvider"])
        want = fp32.run(["y"], {**parameters, "x": x})[0]
        got = int8.run(["y"], {"x": x})[0]
    return Int8Report(
        relative_rms_error=_relative_rms(got, want),
        residual_relative_rms_error=_relative_rms(got - x, want - x),
        quantized_matmuls=count,
        batch=batch,
        tokens=tokens,
    )


def _relative_rms(got: np.ndarray, want: np.ndarray) -> float:
    difference = (got.astype(np.float64) - want).ravel()
    return float(np.sqrt(np.mean(difference**2)) / max(np.sqrt(np.mean(want.astype(np.float64) ** 2)), 1e-30))
