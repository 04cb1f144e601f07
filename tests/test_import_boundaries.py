"""The house's import rules, checked in fresh interpreters (STYLE.md, Shape of the house)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import coordinator_free

HEAVY = ("torch", "onnxruntime", "aiohttp", "textual", "zeroconf")


def loaded_after(code: str) -> set[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_coordinator_free_imports_numpy_and_stdlib_only() -> None:
    modules = [m.name for m in pkgutil.walk_packages(coordinator_free.__path__, "coordinator_free.")]
    assert modules, "no rule modules found"
    loaded = loaded_after("\n".join(f"import {name}" for name in modules))
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY + ("agent", "exporters", "tui"))


def test_edge_agent_with_onnx_runtime_never_imports_torch(tmp_path) -> None:
    code = f"""
import asyncio
from pathlib import Path
from agent.config import AgentConfig, TrainingConfig
from agent.network.config import NetworkConfig
from agent.node import Node
async def main():
    config = AgentConfig(state_dir=Path({str(tmp_path)!r}), arch_name="tiny", runtime="onnx",
                         training=TrainingConfig(max_steps=2, validate_every_steps=1000),
                         network=NetworkConfig(host="127.0.0.1", port=0, local_api_port=0, mdns_enabled=False))
    async with Node(config) as node:
        await node.run()
asyncio.run(main())
import agent.cli, agent.bench, agent.checkpoint
"""
    loaded = loaded_after(code)
    assert "onnxruntime" in loaded
    assert "torch" not in loaded


def test_torch_runtime_does_import_torch(tmp_path) -> None:
    """The check above can fail: the same probe sees torch when the torch runtime is chosen."""
    loaded = loaded_after(
        "from agent.runtime.select import create_runtime\n"
        "from agent.model.arch import TINY\nfrom agent.model.parameters import StageSpec\n"
        "create_runtime('torch', StageSpec.whole(TINY))"
    )
    assert "torch" in loaded
