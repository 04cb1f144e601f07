"""Checkpoints: round trip, pruning, and clear errors for every kind of damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.checkpoint import CheckpointStore
from agent.errors import CheckpointError
from agent.model.arch import TINY, Architecture
from agent.model.parameters import StageSpec, init_parameters
from agent.runtime.base import RuntimeState
from agent.storage import write_atomic

SPEC = StageSpec.whole(TINY)


def make_state(seed: int = 0) -> RuntimeState:
    parameters = init_parameters(SPEC, seed)
    return RuntimeState(
        parameters=parameters,
        first_moments={k: np.full_like(v, 0.5) for k, v in parameters.items()},
        second_moments={k: np.full_like(v, 0.25) for k, v in parameters.items()},
        optimizer_step=7,
    )


def test_round_trip_keeps_parameters_moments_and_position(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, SPEC)
    state = make_state()
    store.save(state, step=42, extra={"seed": 3})
    loaded = store.latest()
    assert loaded is not None and loaded.step == 42 and loaded.extra == {"seed": 3}
    assert loaded.state.optimizer_step == 7
    for name, value in state.parameters.items():
        np.testing.assert_array_equal(loaded.state.parameters[name], value)
        np.testing.assert_array_equal(loaded.state.first_moments[name], state.first_moments[name])
        np.testing.assert_array_equal(loaded.state.second_moments[name], state.second_moments[name])


def test_keeps_only_the_newest(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, SPEC, keep=2)
    for step in (1, 2, 3):
        store.save(make_state(), step=step)
    assert [p.name for p in store.paths()] == ["step-000000002.safetensors", "step-000000003.safetensors"]
    assert store.latest().step == 3


def test_interrupted_write_leaves_previous_checkpoint_loadable(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, SPEC)
    store.save(make_state(), step=5)
    # What a SIGKILL mid-write leaves: a temp file beside the complete one.
    partial = store.directory / "step-000000006.safetensors.abc.partial"
    partial.write_bytes(b"\x00" * 100)
    assert store.latest().step == 5
    assert not partial.exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: data[:4], "truncated"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "content hash"),
        (lambda data: data.replace(b'"step":"9"', b'"step":"8"'), "content hash"),
        (lambda data: b"\xff" * 8 + data[8:], "truncated"),
        (lambda data: data[:8] + b"[" + data[9:], "corrupt header"),
    ],
    ids=["half", "tiny", "flipped-bit", "edited-metadata", "huge-header", "broken-json"],
)
def test_damaged_checkpoint_is_refused_naming_the_file(tmp_path: Path, damage, message: str) -> None:
    store = CheckpointStore(tmp_path, SPEC)
    path = store.save(make_state(), step=9)
    damaged = damage(path.read_bytes())
    assert damaged != path.read_bytes()
    path.write_bytes(damaged)
    with pytest.raises(CheckpointError, match=message) as error:
        store.latest()
    assert str(path) in str(error.value)


def test_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    other = Architecture("tiny", 2, 2, 64, 4, 256, 128)
    path = CheckpointStore(tmp_path, StageSpec.whole(other)).save(
        RuntimeState(init_parameters(StageSpec.whole(other))), step=1
    )
    target = CheckpointStore(tmp_path, SPEC)
    write_atomic(target.directory / path.name, path.read_bytes())
    with pytest.raises(CheckpointError, match="arch_version is '2', expected '1'"):
        target.latest()


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save

    store = CheckpointStore(tmp_path, SPEC)
    write_atomic(store.directory / "step-000000001.safetensors", save({"x": np.zeros(3, np.float32)}))
    with pytest.raises(CheckpointError, match="no NeuroShard metadata"):
        store.latest()
