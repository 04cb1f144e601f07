"""The graph manifest round-trips and refuses what it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporters.errors import ExportError
from exporters.manifest import GraphEntry, Manifest


def _manifest() -> Manifest:
    entry = GraphEntry("block_forward.onnx", "ab" * 32, ("ln1.weight",), ("x",), ("y",))
    return Manifest({"name": "tiny", "hidden_size": 64}, {"block_forward": entry}, 20, {"torch": "2.13"}, {"block_forward": 1e-7})


def test_round_trips_through_a_directory(tmp_path: Path) -> None:
    _manifest().write(tmp_path)
    assert Manifest.read(tmp_path) == _manifest()
    assert not list(tmp_path.glob("*.tmp"))


def test_other_format_versions_are_refused_with_a_fix() -> None:
    text = _manifest().to_json().replace('"format_version": 1', '"format_version": 99')
    with pytest.raises(ExportError, match="re-export"):
        Manifest.from_json(text)


def test_garbage_is_an_export_error_not_a_key_error() -> None:
    with pytest.raises(ExportError, match="not a valid graph manifest"):
        Manifest.from_json('{"format_version": 1, "graphs": {}}')
