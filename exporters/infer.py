"""Inference graphs: forward-only graphs whose weights the session knows at creation.

A forward graph takes its weights as inputs, so onnxruntime sees them only at
run time: it transposes every weight on every call and cannot pre-pack it for
its GEMM. An inference graph holds the same weights as initializers under the
same local names, stored as external data at SUPPLIED_WEIGHTS_LOCATION, a file
that does not exist: the runtime hands the arrays over when it makes the
session (SessionOptions.add_external_initializers), so the graph file stays a
few KB and one graph still serves every layer.

embedding_infer and head_infer are their forward graphs with the weight inputs
turned into such initializers. block_infer is written here node by node
instead of traced, because the traced attention (the MATH kernel: transposes,
scaling, a materialised causal mask, softmax, two batched MatMuls) becomes
com.microsoft Attention nodes (fused QKV projection, causal via
unidirectional=1), which onnxruntime's CPU provider runs faster.

That kernel computes every query-key score and masks the future ones, half of
them. So the queries go in CAUSAL_QUERY_CHUNKS consecutive chunks, each an
Attention node that gets the previous chunks' keys and values as its `past`:
a chunk scores only the keys up to its own end, and the scores skipped are
all masked ones (a quarter of them with 4 chunks: 10/16 of the full score
matrix is computed). Measured on the genesis block (1 thread, interleaved):
one Attention node 0.950 of the traced forward graph's time, 2 chunks 0.937,
4 chunks 0.926, 8 chunks 0.940 (each chunk copies the keys and values before
it). Chunks may be empty (tokens < chunks); the kernel takes a 0-length query.

The math is the block's (torch_modules.Block) and the validator checks it
against PyTorch like every graph. Only onnxruntime runs com.microsoft ops;
that is the runtime the agent uses.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from agent.model.arch import Architecture
from agent.model.parameters import block_shapes

from .errors import ExportError
from .graphs import BATCH_AXIS_NAME, SUPPLIED_WEIGHTS_LOCATION, TOKENS_AXIS_NAME

MICROSOFT_DOMAIN = "com.microsoft"  # onnxruntime's contrib operators (Attention)
MICROSOFT_OPSET = 1
CAUSAL_QUERY_CHUNKS = 4  # query chunks of block_infer's attention (see the module docstring)


def supplied_weight(name: str, shape: tuple[int, ...]) -> TensorProto:
    """A float32 initializer whose data the session is given at creation, not read from a file."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(shape))
    tensor.data_location = TensorProto.EXTERNAL
    length = 4 * int(np.prod(shape, dtype=np.int64))
    for key, value in (("location", SUPPLIED_WEIGHTS_LOCATION), ("offset", "0"), ("length", str(length))):
        tensor.external_data.add(key=key, value=value)
    return tensor


def infer_from_forward(forward: onnx.ModelProto, parameter_names: tuple[str, ...]) -> onnx.ModelProto:
    """A copy of a forward graph whose weight inputs are supplied initializers instead."""
    model = onnx.ModelProto()
    model.CopyFrom(forward)
    graph = model.graph
    inputs = {i.name: i for i in graph.input}
    missing = [n for n in parameter_names if n not in inputs]
    if missing:
        raise ExportError(f"forward graph {graph.name!r} has no weight inputs {missing}; it has {list(inputs)}")
    weights = [supplied_weight(n, _static_shape(inputs[n])) for n in parameter_names]
    kept = [i for i in graph.input if i.name not in set(parameter_names)]
    del graph.input[:]
    graph.input.extend(kept)
    graph.initializer.extend(weights)
    return model


def _static_shape(value: onnx.ValueInfoProto) -> tuple[int, ...]:
    dims = value.type.tensor_type.shape.dim
    if not all(d.HasField("dim_value") for d in dims):
        raise ExportError(f"weight input {value.name!r} has a symbolic axis; weights must have fixed shapes")
    return tuple(d.dim_value for d in dims)


def fused_block_graph(arch: Architecture, opset: int) -> onnx.ModelProto:
    """block_infer: x + attn(ln1(x)), then + mlp(ln2(x)), with fused causal attention.

    Linear weights arrive as PyTorch stores them ([out, in]); the Transpose of
    each is folded by onnxruntime at session creation, since the weight is a
    constant there.
    """
    eps = arch.layer_norm_eps
    nodes = [
        helper.make_node("LayerNormalization", ["x", "ln1.weight", "ln1.bias"], ["ln1"], axis=-1, epsilon=eps),
        *_chunked_causal_attention(arch, "ln1", "attention"),
        *_linear("attention", "attn.proj", "projected"),
        helper.make_node("Add", ["x", "projected"], ["residual"]),
        helper.make_node("LayerNormalization", ["residual", "ln2.weight", "ln2.bias"], ["ln2"], axis=-1, epsilon=eps),
        *_linear("ln2", "mlp.fc1", "hidden"),
        helper.make_node("Gelu", ["hidden"], ["activated"]),  # exact (erf) GELU, as F.gelu's default
        *_linear("activated", "mlp.fc2", "mlp"),
        helper.make_node("Add", ["residual", "mlp"], ["y"]),
    ]
    shape = [BATCH_AXIS_NAME, TOKENS_AXIS_NAME, arch.hidden_size]
    graph = helper.make_graph(
        nodes,
        "block_infer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        initializer=[supplied_weight(name, shape) for name, shape in block_shapes(arch).items()],
    )
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid(MICROSOFT_DOMAIN, MICROSOFT_OPSET)]
    return helper.make_model(graph, opset_imports=opsets, producer_name="neuroshard exporters.infer")


def _chunked_causal_attention(arch: Architecture, source: str, output: str) -> list[onnx.NodeProto]:
    """Causal self-attention of `source` [batch, tokens, hidden], queries in CAUSAL_QUERY_CHUNKS chunks.

    Chunk i holds tokens [tokens·i/n, tokens·(i+1)/n); its Attention node gets
    `present` of chunk i-1 (the keys and values of every earlier token) as
    `past`, and with unidirectional=1 each query sees the past and the tokens
    of its own chunk up to itself: exactly the causal mask.
    """
    chunks = CAUSAL_QUERY_CHUNKS
    nodes = [*_transposed("attn.qkv.weight"), helper.make_node("Shape", ["x"], ["tokens"], start=1, end=2)]
    bounds = ["chunk.zero"]
    nodes.append(_int64_constant("chunk.zero", 0))
    nodes.append(_int64_constant("chunk.one", 1))
    nodes.append(_int64_constant("chunk.count", chunks))
    for index in range(1, chunks):
        nodes.append(_int64_constant(f"chunk.{index}", index))
        nodes.append(helper.make_node("Mul", ["tokens", f"chunk.{index}"], [f"chunk.{index}.scaled"]))
        nodes.append(helper.make_node("Div", [f"chunk.{index}.scaled", "chunk.count"], [f"chunk.{index}.start"]))
        bounds.append(f"chunk.{index}.start")
    bounds.append("tokens")
    past, outputs = "", []
    for index in range(chunks):
        queries, attended, present = f"chunk.{index}.input", f"chunk.{index}.attention", f"chunk.{index}.present"
        nodes.append(helper.make_node("Slice", [source, bounds[index], bounds[index + 1], "chunk.one"], [queries]))
        nodes.append(helper.make_node(
            "Attention", [queries, "attn.qkv.weight.T", "attn.qkv.bias", "", past], [attended, present],
            domain=MICROSOFT_DOMAIN, num_heads=arch.head_count, unidirectional=1,
        ))
        past = present
        outputs.append(attended)
    nodes.append(helper.make_node("Concat", outputs, [output], axis=1))
    return nodes


def _int64_constant(name: str, value: int) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [1], [value]))


def _transposed(weight: str) -> list[onnx.NodeProto]:
    return [helper.make_node("Transpose", [weight], [weight + ".T"], perm=[1, 0])]


def _linear(source: str, module: str, output: str) -> list[onnx.NodeProto]:
    """source @ W.T + b on [batch, tokens, in] (MatMul broadcasts over the leading axes)."""
    weight = module + ".weight"
    return [
        *_transposed(weight),
        helper.make_node("MatMul", [source, weight + ".T"], [output + ".product"]),
        helper.make_node("Add", [output + ".product", module + ".bias"], [output]),
    ]
