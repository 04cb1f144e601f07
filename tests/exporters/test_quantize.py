"""The int8 block: weights baked and quantized per channel, error small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from agent.model.arch import TINY
from exporters.quantize import (
    bake_block_weights,
    initial_block_parameters,
    measure_block_int8_error,
    quantize_block,
)


def test_baking_turns_weight_inputs_into_initializers_and_gemms_into_matmuls(shipped_tiny_dir: Path) -> None:
    parameters = initial_block_parameters(TINY)
    baked = bake_block_weights(onnx.load(str(shipped_tiny_dir / "block_forward.onnx")), parameters)
    assert [i.name for i in baked.graph.input] == ["x"]
    ops = [n.op_type for n in baked.graph.node]
    assert "Gemm" not in ops and ops.count("MatMul") >= 4
    x = np.random.default_rng(0).standard_normal((2, 9, TINY.hidden_size)).astype(np.float32)
    fp32 = ort.InferenceSession(str(shipped_tiny_dir / "block_forward.onnx"), providers=["CPUExecutionProvider"])
    rebaked = ort.InferenceSession(baked.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(rebaked.run(None, {"x": x})[0], fp32.run(None, {**parameters, "x": x})[0], rtol=1e-5, atol=1e-5)


def test_int8_graph_has_integer_matmuls_and_per_channel_scales(tmp_path: Path, shipped_tiny_dir: Path) -> None:
    out = tmp_path / "block_int8.onnx"
    count = quantize_block(shipped_tiny_dir / "block_forward.onnx", initial_block_parameters(TINY), out)
    assert count == 4
    model = onnx.load(str(out))
    scales = [i for i in model.graph.initializer if i.name.endswith("_scale") and len(i.dims) == 1]
    assert any(i.dims[0] > 1 for i in scales), "weight scales are per tensor, not per channel"


def test_error_against_fp32_is_under_one_percent_for_given_weights(shipped_tiny_dir: Path) -> None:
    rng = np.random.default_rng(3)
    parameters = {n: (a + 0.02 * rng.standard_normal(a.shape)).astype(np.float32) for n, a in initial_block_parameters(TINY).items()}
    report = measure_block_int8_error(TINY, shipped_tiny_dir / "block_forward.onnx", parameters=parameters, tokens=32)
    assert 0.0 < report.relative_rms_error < 0.01
    assert report.residual_relative_rms_error > report.relative_rms_error  # the block's own part is the hard one
