"""The validator: a wrong graph fails with one ExportError naming the worst tensor."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.model.arch import GENESIS, TINY, Architecture
from agent.runtime.graphs import shipped_graphs_dir
from exporters.errors import ExportError
from exporters.export import GraphExporter
from exporters.graphs import graph_names
from exporters.validate import validate_graphs


class ExporterWithoutNllDecomposition(GraphExporter):
    """The silent trap: without decomposing nll_loss, the loss gradient is batch·tokens too large."""

    def decompositions(self) -> dict[Any, Any]:
        return {}


def test_wrong_cross_entropy_gradient_is_caught_and_named(tmp_path: Path) -> None:
    _, path = ExporterWithoutNllDecomposition(TINY).export_graph("head", "train", tmp_path)
    with pytest.raises(ExportError) as caught:
        validate_graphs(TINY, {"head_train": path})
    first_line = str(caught.value).splitlines()[0]
    assert "worst: head_train/grad" in first_line
    assert "[values]" in first_line
    assert "head_train/loss" not in str(caught.value)  # the loss itself is right: that is the trap


@pytest.mark.parametrize("arch", [TINY, GENESIS], ids=lambda a: a.name)
def test_shipped_graphs_still_match_the_model_code(arch: Architecture) -> None:
    directory = shipped_graphs_dir(arch)
    report = validate_graphs(arch, {name: directory / f"{name}.onnx" for name in graph_names()})
    assert len({c.graph for c in report.checks}) == len(graph_names()) == 9


class ExporterWithNonCausalAttention(GraphExporter):
    """A fused block whose attention sees future tokens: every shape check passes, values must not."""

    def inference_graph(self, part: str, layout: Any, directory: Path) -> Any:
        model = super().inference_graph(part, layout, directory)
        for node in model.graph.node:
            for attribute in node.attribute:
                if node.op_type == "Attention" and attribute.name == "unidirectional":
                    attribute.i = 0
        return model


def test_an_inference_block_that_looks_ahead_is_caught(tmp_path: Path, shipped_tiny_dir: Path) -> None:
    shutil.copy(shipped_tiny_dir / "block_forward.onnx", tmp_path / "block_forward.onnx")
    _, path = ExporterWithNonCausalAttention(TINY).export_graph("block", "infer", tmp_path)
    with pytest.raises(ExportError) as caught:
        validate_graphs(TINY, {"block_infer": path})
    assert "worst: block_infer/y [values]" in str(caught.value).splitlines()[0]


def test_an_inference_graph_whose_weights_are_inputs_fails_on_names(tmp_path: Path, shipped_tiny_dir: Path) -> None:
    impostor = tmp_path / "block_infer.onnx"
    shutil.copy(shipped_tiny_dir / "block_forward.onnx", impostor)
    with pytest.raises(ExportError, match=r"block_infer/inputs \[names\]"):
        validate_graphs(TINY, {"block_infer": impostor})


def test_a_graph_with_other_inputs_fails_on_names_before_values(tmp_path: Path, shipped_tiny_dir: Path) -> None:
    impostor = tmp_path / "head_forward.onnx"
    shutil.copy(shipped_tiny_dir / "block_forward.onnx", impostor)
    with pytest.raises(ExportError) as caught:
        validate_graphs(TINY, {"head_forward": impostor, "block_forward": shipped_tiny_dir / "block_forward.onnx"})
    message = str(caught.value)
    assert "head_forward/inputs [names]" in message
    assert "block_forward" not in message  # the good graph passed; only failures are listed
