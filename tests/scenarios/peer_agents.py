"""Real agent processes for multi-node scenarios: `neuroshard run`, exactly as people start it.

`launcher` starts agents in tmp_path (optionally inside a network namespace),
waits for their ports.json, asks their local API, and kills every one of
them at teardown, whatever the test did. Agents run the tiny architecture on
ONNX Runtime over a small text corpus and start paused, so their networking
is tested without three trainers fighting over two cores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# Shrunk membership timings (through config, never by patching): degraded after
# 2 × 0.5 s of silence, offline after 3 s.
FAST_TIMINGS: dict[str, Any] = {
    "heartbeat_interval_s": 0.5,
    "offline_after_s": 3.0,
    "forget_after_s": 60.0,
    "exchange_interval_s": 0.5,
    "nonce_window_s": 60.0,
    "record_max_age_s": 30.0,
    "backoff_base_s": 0.2,
    "backoff_cap_s": 2.0,
    "mdns_resolve_timeout_s": 2.0,
}

_FETCH_SNIPPET = (
    "import sys, urllib.request; request = urllib.request.Request(sys.argv[1], headers={'Authorization': "
    "'Bearer ' + sys.argv[2]}); sys.stdout.write(urllib.request.urlopen(request, timeout=5).read().decode())"
)


def wait_for(probe: Callable[[], T | None], *, timeout_s: float, what: str, interval_s: float = 0.2) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


@dataclass
class AgentProcess:
    name: str
    state_dir: Path
    process: subprocess.Popen[bytes]
    netns: str | None = None
    ports: dict[str, Any] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.state_dir / "daemon.log"

    @property
    def node_id(self) -> str:
        return str(self.ports["node_id"])

    @property
    def peer_port(self) -> int:
        return int(self.ports["peer_port"])

    @property
    def token(self) -> str:
        return (self.state_dir / "api_token").read_text().strip()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        ports_path = self.state_dir / "ports.json"

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"agent {self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            return ports_path.exists()

        wait_for(ready, timeout_s=timeout_s, what=f"agent {self.name} to listen", interval_s=0.05)
        self.ports = json.loads(ports_path.read_text())

    def api_get(self, path: str) -> Any:
        url = f"{self.ports['local_api_url']}{path}"
        if self.netns is None:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        # The API is on the namespace's own loopback: ask from inside it.
        command = ["ip", "netns", "exec", self.netns, sys.executable, "-c", _FETCH_SNIPPET, url, self.token]
        return json.loads(subprocess.run(command, capture_output=True, check=True, timeout=15).stdout)

    def peers(self) -> list[dict[str, Any]]:
        return list(self.api_get("/v1/peers")["peers"])

    def peer_states(self) -> dict[str, str]:
        return {peer["node_id"]: peer["state"] for peer in self.peers()}

    def signal(self, signal_number: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal_number)

    def stop(self, timeout_s: float = 10.0) -> int:
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class AgentLauncher:
    def __init__(self, root: Path) -> None:
        self._root = root
        self.agents: list[AgentProcess] = []

    def start(
        self,
        name: str,
        *arguments: str,
        timings: dict[str, Any] | None = None,
        netns: str | None = None,
        interface: str | None = "127.0.0.1",
        identity_from: AgentProcess | None = None,
        wait: bool = True,
    ) -> AgentProcess:
        state_dir = self._root / name
        state_dir.mkdir(parents=True)
        if identity_from is not None:  # a copied state directory
            shutil.copy2(identity_from.state_dir / "identity.key", state_dir / "identity.key")
        command = [sys.executable, "-m", "agent.cli", "run", "--state-dir", str(state_dir),
                   "--arch", "tiny", "--runtime", "onnx", "--paused", "--headless", "--log-level", "INFO",
                   "--data", str(self._corpus()), "--host", "127.0.0.1", "--port", "0", "--local-api-port", "0",
                   "--config-json", json.dumps(FAST_TIMINGS | (timings or {})), *arguments]
        if interface is not None:
            command += ["--interface", interface]
        if netns is not None:
            command = ["ip", "netns", "exec", netns, *command]
        with open(state_dir / "daemon.log", "wb") as log:
            process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                       env=os.environ | {"PYTHONUNBUFFERED": "1"})
        agent = AgentProcess(name, state_dir, process, netns)
        self.agents.append(agent)
        if wait:
            agent.wait_ready()
        return agent

    def _corpus(self) -> Path:
        """A small shared text corpus: cutting the standard library per agent would cost seconds each."""
        corpus = self._root / "corpus"
        if not corpus.exists():
            corpus.mkdir()
            (corpus / "text.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 400)
        return corpus

    def close(self) -> None:
        for agent in self.agents:
            agent.signal(signal.SIGTERM)
        for agent in self.agents:
            try:
                agent.process.wait(5)
            except subprocess.TimeoutExpired:
                agent.process.kill()
                agent.process.wait()


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[AgentLauncher]:
    agents = AgentLauncher(tmp_path)
    try:
        yield agents
    finally:
        agents.close()


def sees_alive(observer: AgentProcess, others: list[AgentProcess]) -> bool:
    try:
        states = observer.peer_states()
    except (OSError, urllib.error.URLError, subprocess.SubprocessError, ValueError):
        return False
    return all(states.get(other.node_id) == "alive" for other in others)
