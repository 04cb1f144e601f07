"""The ONNX backend's two forward paths: baked weights while forward-only, weights as inputs once it trains."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from runtime_cases import STAGES, backward_arguments, relative_error, stage_inputs

from agent.runtime.base import RuntimeState
from agent.runtime.graphs import shipped_graphs_dir
from agent.runtime.onnx_backend import OnnxRuntimeBackend
from exporters.manifest import Manifest

SAME_MATH_TOLERANCE = 1e-5  # relative: the inference graphs against the forward graphs (measured ~1e-7)


def _perturbed(state: RuntimeState, seed: int) -> RuntimeState:
    rng = np.random.default_rng(seed)
    return RuntimeState({n: (a + 0.05 * rng.standard_normal(a.shape)).astype(np.float32) for n, a in state.parameters.items()})


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_forward_only_stage_runs_the_inference_graphs_and_a_training_stage_the_same_math(stage: str) -> None:
    spec = STAGES[stage]
    rng = np.random.default_rng(0)
    inputs = stage_inputs(spec, rng)
    forward_only, training = OnnxRuntimeBackend(spec, threads=1), OnnxRuntimeBackend(spec, threads=1)
    weights = _perturbed(forward_only.state(), seed=1)  # not the init: zero biases would hide a dropped one
    forward_only.load(weights)
    training.load(weights)
    training.backward(inputs, **backward_arguments(spec, inputs, rng))
    assert (forward_only.forward_kind, training.forward_kind) == ("infer", "forward")
    assert relative_error(forward_only.forward(inputs), training.forward(inputs)) <= SAME_MATH_TOLERANCE


def test_load_replaces_the_baked_weights() -> None:
    spec = STAGES["middle"]
    inputs = stage_inputs(spec, np.random.default_rng(0))
    runtime = OnnxRuntimeBackend(spec, threads=1)
    before = runtime.forward(inputs)
    new_weights = _perturbed(runtime.state(), seed=2)
    runtime.load(new_weights)
    after = runtime.forward(inputs)
    fresh = OnnxRuntimeBackend(spec, threads=1)
    fresh.load(new_weights)
    assert relative_error(after, fresh.forward(inputs)) <= SAME_MATH_TOLERANCE
    assert relative_error(after, before) > 1e-2  # the new weights, not the ones baked at the first forward


def test_after_the_first_backward_forward_follows_every_optimizer_step() -> None:
    spec = STAGES["middle"]
    rng = np.random.default_rng(0)
    inputs = stage_inputs(spec, rng)
    runtime = OnnxRuntimeBackend(spec, threads=1)
    runtime.forward(inputs)  # bakes the initial weights
    runtime.backward(inputs, **backward_arguments(spec, inputs, rng))
    runtime.apply_gradients(learning_rate=1e-2)
    reference = OnnxRuntimeBackend(spec, threads=1)
    reference.load(runtime.state())
    assert relative_error(runtime.forward(inputs), reference.forward(inputs)) <= SAME_MATH_TOLERANCE


def test_graphs_exported_without_inference_graphs_still_run_forward(tmp_path: Path) -> None:
    spec = STAGES["whole"]
    directory = Path(shutil.copytree(shipped_graphs_dir(spec.arch), tmp_path / "older"))
    manifest = Manifest.read(directory)
    kept = {name: entry for name, entry in manifest.graphs.items() if not name.endswith("_infer")}
    dataclasses.replace(manifest, graphs=kept).write(directory)
    for name in manifest.graphs.keys() - kept.keys():
        (directory / f"{name}.onnx").unlink()
    inputs = stage_inputs(spec, np.random.default_rng(0))
    older = OnnxRuntimeBackend(spec, graphs_dir=directory, threads=1)
    assert older.forward_kind == "forward"
    assert relative_error(older.forward(inputs), OnnxRuntimeBackend(spec, threads=1).forward(inputs)) <= SAME_MATH_TOLERANCE
