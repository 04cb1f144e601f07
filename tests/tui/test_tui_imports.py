"""tui/ imports only agent.api.schema from the agent; the agent loads Textual only for the dashboard."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import tui

ALLOWED_AGENT_MODULES = {"agent", "agent.api", "agent.api.schema"}


def loaded_after(code: str) -> set[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_every_tui_module_reaches_the_agent_only_through_its_schema():
    modules = [m.name for m in pkgutil.walk_packages(tui.__path__, "tui.")]
    assert "tui.app" in modules
    loaded = loaded_after("\n".join(f"import {name}" for name in modules))
    agent_modules = {name for name in loaded if name == "agent" or name.startswith("agent.")}
    assert agent_modules == ALLOWED_AGENT_MODULES
    assert not {"torch", "onnxruntime", "coordinator_free", "exporters"} & {m.split(".")[0] for m in loaded}


def test_the_agent_cli_does_not_load_textual_until_the_dashboard_runs():
    loaded = loaded_after("import agent.cli, agent.dashboard")
    assert "textual" not in loaded and "tui" not in loaded
