"""export_architecture: nine validated graphs, their manifest, the int8 report."""

from __future__ import annotations

import onnx

from agent.model.arch import TINY
from agent.model.parameters import block_shapes, embedding_shapes, head_shapes
from exporters.export import ExportReport
from exporters.graphs import SUPPLIED_WEIGHTS_LOCATION, graph_names
from exporters.infer import CAUSAL_QUERY_CHUNKS
from exporters.manifest import Manifest, sha256_file
from exporters.validate import RELATIVE_TOLERANCE


def test_writes_nine_graphs_and_a_manifest_with_their_hashes(tiny_export: ExportReport) -> None:
    manifest = Manifest.read(tiny_export.directory)
    assert manifest == tiny_export.manifest
    assert sorted(manifest.graphs) == sorted(graph_names())
    for name, entry in manifest.graphs.items():
        assert entry.file == f"{name}.onnx"
        assert sha256_file(tiny_export.directory / entry.file) == entry.sha256
    assert manifest.architecture["hidden_size"] == TINY.hidden_size
    assert set(manifest.exporter_versions) == {"torch", "onnx", "onnxscript", "onnxruntime"}
    assert manifest.opset >= 17  # LayerNormalization


def test_parameters_are_graph_inputs_under_local_names_in_layout_order(tiny_export: ExportReport) -> None:
    expected = {
        "embedding": list(embedding_shapes(TINY)),
        "block": list(block_shapes(TINY)),
        "head": list(head_shapes(TINY)),
    }
    for name, entry in tiny_export.manifest.graphs.items():
        if name.endswith("_infer"):
            continue  # below
        assert list(entry.parameters) == expected[name.split("_")[0]]
        model = onnx.load(str(tiny_export.directory / entry.file))
        assert [i.name for i in model.graph.input] == list(entry.parameters + entry.inputs)
        assert [o.name for o in model.graph.output] == list(entry.outputs)
        assert not {i.name for i in model.graph.initializer} & set(entry.parameters), "a weight was baked in"


def test_inference_graphs_take_their_weights_at_session_creation_not_from_a_file(tiny_export: ExportReport) -> None:
    for part, shapes in (("embedding", embedding_shapes(TINY)), ("block", block_shapes(TINY)), ("head", head_shapes(TINY))):
        entry = tiny_export.manifest.graphs[f"{part}_infer"]
        assert list(entry.parameters) == list(shapes)
        model = onnx.load(str(tiny_export.directory / entry.file), load_external_data=False)
        assert [i.name for i in model.graph.input] == list(entry.inputs)
        weights = {t.name: t for t in model.graph.initializer if t.name in shapes}
        assert {n: tuple(t.dims) for n, t in weights.items()} == shapes
        for tensor in weights.values():
            assert tensor.data_location == onnx.TensorProto.EXTERNAL and not tensor.raw_data
            assert {e.key: e.value for e in tensor.external_data}["location"] == SUPPLIED_WEIGHTS_LOCATION
        assert not list(tiny_export.directory.glob(SUPPLIED_WEIGHTS_LOCATION + "*"))


def test_the_inference_block_runs_fused_causal_attention(tiny_export: ExportReport) -> None:
    model = onnx.load(str(tiny_export.directory / "block_infer.onnx"), load_external_data=False)
    attention = [n for n in model.graph.node if n.op_type == "Attention"]
    assert len(attention) == CAUSAL_QUERY_CHUNKS
    for node in attention:
        assert node.domain == "com.microsoft"
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes == {"num_heads": TINY.head_count, "unidirectional": 1}
    assert [n.input[4] for n in attention] == ["", *(n.output[1] for n in attention[:-1])]  # each chunk sees the past
    assert not {"Softmax", "Trilu", "Where"} & {n.op_type for n in model.graph.node}


def test_data_inputs_have_symbolic_batch_and_token_axes(tiny_export: ExportReport) -> None:
    model = onnx.load(str(tiny_export.directory / "block_train.onnx"))
    shapes = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert shapes["x"] == ["batch", "tokens", TINY.hidden_size]
    assert shapes["grad_y"] == ["batch", "tokens", TINY.hidden_size]


def test_every_graph_passed_validation_within_tolerance(tiny_export: ExportReport) -> None:
    worst = tiny_export.validation.worst_by_graph()
    assert sorted(worst) == sorted(graph_names())
    assert max(worst.values()) <= RELATIVE_TOLERANCE
    checked = {(c.graph, c.tensor) for c in tiny_export.validation.checks}
    assert ("head_train", "grad.lm_head.weight") in checked
    assert ("block_train", "grad_x") in checked


def test_reports_the_int8_block_error(tiny_export: ExportReport) -> None:
    int8 = tiny_export.int8
    assert int8 is not None
    assert int8.quantized_matmuls == 4  # qkv, proj, fc1, fc2
    assert 0.0 < int8.relative_rms_error < 0.01
