"""Shared test hygiene: no leaked child processes or threads (STYLE.md, Tests)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import psutil
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@pytest.fixture(autouse=True)
def no_leaked_children():
    """Every child process a test starts must be gone when it ends."""
    me = psutil.Process(os.getpid())
    before = {p.pid for p in me.children(recursive=True)}
    yield
    leaked = [p for p in me.children(recursive=True) if p.pid not in before]
    gone, alive = psutil.wait_procs(leaked, timeout=5)
    for process in alive:
        process.kill()
    assert not alive, f"test leaked child processes: {[p.pid for p in alive]}"


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Threads a test starts must end with it (worker pools of engines excepted by name)."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.daemon
        and not t.name.startswith(("asyncio_", "ThreadPoolExecutor"))
    ]
    for thread in leaked:
        thread.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test leaked threads: {still}"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for `neuroshard` subprocesses: isolated state dir, unbuffered output."""
    env = dict(os.environ)
    env["NEUROSHARD_STATE_DIR"] = str(tmp_path / "state")
    env["PYTHONUNBUFFERED"] = "1"
    return env
