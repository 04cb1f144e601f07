"""Real `neuroshard run` agents in PIPELINE mode with fixed layers, for the pipeline and recovery scenarios.

Like peer_agents' launcher (whose AgentProcess this reuses), but each agent
gets its runtime and layer range, trains (not paused), finds the others by
`--peer` bootstrap (no mDNS: less CPU on a two-core box), and may run in a
process where `import torch` fails (tests/hidden_modules.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hidden_modules import environment_without
from peer_agents import FAST_TIMINGS, REPO_ROOT, AgentProcess

CORPUS_TEXT = "the quick brown fox jumps over the lazy dog\n" * 400
# Pipeline waits shrunk through config: a dead stage is noticed within a second or two.
FAST_PIPELINE: dict[str, Any] = {"stage_timeout_s": 10.0, "apply_timeout_s": 10.0, "formation_interval_s": 0.5,
                                 "proposal_timeout_s": 5.0, "tick_interval_s": 0.25, "failure_pause_s": 0.25}
STEP_LINE = re.compile(r"pipeline step=(\d+) loss=([-+0-9.eEinfa]+) batch=(\w+) quorum=(\w+)")


class PipelineLauncher:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.agents: list[AgentProcess] = []

    @property
    def corpus(self) -> Path:
        corpus = self.root / "corpus"
        if not corpus.exists():
            corpus.mkdir()
            (corpus / "text.txt").write_text(CORPUS_TEXT)
        return corpus

    def start(self, name: str, *arguments: str, layers: str, runtime: str = "torch", block_torch: bool = False,
              bootstrap: AgentProcess | None = None, pipeline: dict[str, Any] | None = None) -> AgentProcess:
        state_dir = self.root / name
        state_dir.mkdir(parents=True)
        command = [sys.executable, "-m", "agent.cli", "run", "--state-dir", str(state_dir), "--arch", "tiny",
                   "--runtime", runtime, "--headless", "--log-level", "INFO", "--data", str(self.corpus),
                   "--host", "127.0.0.1", "--port", "0", "--local-api-port", "0", "--no-mdns",
                   "--config-json", json.dumps(FAST_TIMINGS), "--mode", "pipeline", "--layers", layers,
                   "--threads", "1", "--pipeline-config-json", json.dumps(FAST_PIPELINE | (pipeline or {})),
                   *arguments]
        if bootstrap is not None:
            command += ["--peer", f"127.0.0.1:{bootstrap.peer_port}"]
        env = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        if block_torch:
            env = environment_without("torch", state_dir / "blocker", env)
        with open(state_dir / "daemon.log", "wb") as log:
            process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        agent = AgentProcess(name, state_dir, process)
        self.agents.append(agent)
        agent.wait_ready(timeout_s=60.0)
        return agent

    def close(self) -> None:
        for agent in self.agents:
            agent.signal(signal.SIGTERM)
        for agent in self.agents:
            try:
                agent.process.wait(10)
            except subprocess.TimeoutExpired:
                agent.process.kill()
                agent.process.wait()


def step_losses(agent: AgentProcess) -> dict[int, float]:
    """Step number (after the step) → loss, from the initiator's `pipeline step=` log lines."""
    text = agent.log_path.read_text(errors="replace") if agent.log_path.exists() else ""
    return {int(match[1]): float(match[2]) for match in STEP_LINE.finditer(text)}


@pytest.fixture
def pipeline_launcher(tmp_path: Path) -> Iterator[PipelineLauncher]:
    launcher = PipelineLauncher(tmp_path)
    try:
        yield launcher
    finally:
        launcher.close()
