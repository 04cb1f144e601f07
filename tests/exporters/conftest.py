"""One real export of the tiny architecture, shared by the exporter tests (about 20 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.model.arch import TINY
from exporters.export import ExportReport, export_architecture


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> ExportReport:
    messages: list[str] = []
    report = export_architecture(TINY, tmp_path_factory.mktemp("tiny-graphs"), progress=messages.append)
    assert messages, "export_architecture reported no progress"
    return report


@pytest.fixture(scope="session")
def shipped_tiny_dir() -> Path:
    from agent.runtime.graphs import shipped_graphs_dir

    return shipped_graphs_dir(TINY)
