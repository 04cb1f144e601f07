"""A real training agent for the dashboard's tests: `neuroshard run` on 127.0.0.1, the tiny model alone.

Same pattern as tests/scenarios/peer_agents.py (a real process, ports read
back from <state>/ports.json, killed at teardown whatever the test did), but
this agent trains: one compute thread (the other core is the dashboard's),
a small text corpus, validation every 10 steps so the chart gets both lines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0  # generous: two cores shared with other test processes


class LiveAgent:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.network = f"tui-test-{uuid.uuid4().hex[:8]}"  # its own network name: no stray peers
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.root / f"agent-{self.starts}.log"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "agent.cli", "run", "--state-dir", str(self.state_dir), "--arch", "tiny",
                "--runtime", "onnx", "--threads", "1", "--data", str(self._corpus()), "--validate-every", "10",
                "--checkpoint-every", "100000", "--headless", "--log-level", "INFO", "--host", "127.0.0.1",
                "--port", "0", "--local-api-port", "0", "--no-mdns", "--network", self.network]

    def start(self) -> None:
        """Start the process; the dashboard finds it through the state directory once it listens."""
        self.starts += 1
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command(), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            env=os.environ | {"PYTHONUNBUFFERED": "1"})

    def wait_listening(self) -> dict[str, Any]:
        ports = self.state_dir / "ports.json"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ports.exists():
            if self.process is None or self.process.poll() is not None:
                pytest.fail(f"the agent exited early:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the agent did not listen within {START_TIMEOUT_S} s:\n{self.log_tail()}")
            time.sleep(0.05)
        return json.loads(ports.read_text())

    def status(self) -> dict[str, Any]:
        """/v1/status straight from the agent: what the dashboard should be showing."""
        url = json.loads((self.state_dir / "local_api.json").read_text())["url"]
        token = (self.state_dir / "api_token").read_text().strip()
        request = urllib.request.Request(f"{url}/v1/status", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _corpus(self) -> Path:
        corpus = self.root / "corpus"
        if not corpus.exists():
            corpus.mkdir(parents=True)
            (corpus / "text.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 400)
        return corpus


@pytest.fixture
def live_agent(tmp_path: Path) -> Iterator[LiveAgent]:
    agent = LiveAgent(tmp_path)
    agent.start()
    agent.wait_listening()
    try:
        yield agent
    finally:
        agent.stop()
