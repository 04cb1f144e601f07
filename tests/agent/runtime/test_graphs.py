"""Shipped graphs are found, verified by SHA-256, and refused when changed."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from agent.model.arch import ARCHITECTURES, GENESIS, TINY
from agent.model.parameters import StageSpec
from agent.runtime.graphs import GraphError, GraphSet, shipped_graphs_dir
from agent.runtime.onnx_backend import OnnxRuntimeBackend
from exporters.graphs import graph_names


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_built_in_architecture_ships_nine_graphs_matching_their_hashes(name: str) -> None:
    arch = ARCHITECTURES[name]
    graphs = GraphSet(arch)
    assert graphs.directory == shipped_graphs_dir(arch)
    assert graphs.directory.name == f"{arch.name}-v{arch.arch_version}"
    assert sorted(graphs.manifest.graphs) == sorted(graph_names())
    graphs.verify_all()
    assert max(graphs.manifest.validation.values()) <= 1e-4


def _copy_tiny(tmp_path: Path) -> Path:
    return Path(shutil.copytree(shipped_graphs_dir(TINY), tmp_path / "tiny-v1"))


def test_a_tampered_graph_is_refused_before_it_runs(tmp_path: Path) -> None:
    directory = _copy_tiny(tmp_path)
    damaged = bytearray((directory / "block_train.onnx").read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    (directory / "block_train.onnx").write_bytes(bytes(damaged))
    with pytest.raises(GraphError, match="block_train.onnx has SHA-256"):
        GraphSet(TINY, directory).read_verified("block_train")
    with pytest.raises(GraphError, match="refusing to run it"):
        OnnxRuntimeBackend(StageSpec.whole(TINY), graphs_dir=directory)


def test_a_stage_that_needs_no_damaged_graph_still_starts(tmp_path: Path) -> None:
    directory = _copy_tiny(tmp_path)
    (directory / "embedding_train.onnx").write_bytes(b"not a graph")
    runtime = OnnxRuntimeBackend(StageSpec(TINY, 1, 2), graphs_dir=directory)  # head stage: no embedding
    runtime.close()


def test_missing_graphs_say_how_to_export_them(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="neuroshard export --arch"):
        GraphSet(TINY, tmp_path / "nothing-here")
    directory = _copy_tiny(tmp_path)
    (directory / "head_forward.onnx").unlink()
    with pytest.raises(GraphError, match="cannot read graph"):
        GraphSet(TINY, directory).read_verified("head_forward")


def test_graphs_of_another_shape_are_refused_naming_the_field(tmp_path: Path) -> None:
    wider = dataclasses.replace(TINY, hidden_size=128)
    with pytest.raises(GraphError, match="hidden_size: graphs 64, wanted 128"):
        GraphSet(wider, shipped_graphs_dir(TINY))


def test_a_grown_architecture_runs_on_the_graphs_of_its_predecessor() -> None:
    grown = dataclasses.replace(GENESIS, arch_version=GENESIS.arch_version + 1, layer_count=GENESIS.layer_count + 3)
    assert shipped_graphs_dir(grown) == shipped_graphs_dir(GENESIS)
