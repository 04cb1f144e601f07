"""`neuroshard dashboard` / `run --dashboard` without Textual: a clear error naming the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hidden_modules import environment_without


@pytest.mark.parametrize("command", [
    ["dashboard"],
    ["run", "--dashboard", "--arch", "tiny", "--runtime", "onnx", "--no-mdns", "--port", "0", "--local-api-port", "0"],
])
def test_missing_textual_names_the_dashboard_extra(tmp_path, command):
    # As on a machine without the dashboard extra.
    env = environment_without("textual", tmp_path / "hide-textual")
    result = subprocess.run([sys.executable, "-m", "agent.cli", *command, "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, check=False, env=env)
    assert result.returncode == 1, result.stderr
    assert "pip install 'neuroshard-agent[dashboard]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "identity.key").exists()  # refused before the node started


def test_agent_url_without_a_token_is_refused_with_the_fix(tmp_path):
    result = subprocess.run([sys.executable, "-m", "agent.cli", "dashboard", "--agent", "http://127.0.0.1:9",
                             "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "--agent http://127.0.0.1:9 needs --token" in result.stderr
