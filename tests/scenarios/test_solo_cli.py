"""`neuroshard run` as a person runs it: real processes, real signals, real files."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

NEUROSHARD = [sys.executable, "-m", "agent.cli"]
# Alone and out of everyone's way: any free ports, no mDNS, a network name of its own.
ISOLATED = ["--host", "127.0.0.1", "--port", "0", "--local-api-port", "0", "--no-mdns", "--network", "solo-test"]
VALIDATION = re.compile(r"step (\d+): validation loss ([0-9.]+)")


def run_cli(args: list[str], env: dict[str, str], timeout_s: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(NEUROSHARD + args + ISOLATED, env=env, capture_output=True, text=True, timeout=timeout_s)


def validation_losses(output: str) -> dict[int, float]:
    return {int(step): float(loss) for step, loss in VALIDATION.findall(output)}


def checkpoints(state: Path) -> list[Path]:
    return sorted((state / "checkpoints").rglob("step-*.safetensors"))


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_tiny_validation_loss_falls_below_3_in_300_steps(runtime: str, cli_env: dict[str, str]) -> None:
    result = run_cli(
        ["run", "--arch", "tiny", "--runtime", runtime, "--max-steps", "300",
         "--validate-every", "300", "--checkpoint-every", "1000", "--headless"],
        cli_env,
    )
    assert result.returncode == 0, result.stderr
    losses = validation_losses(result.stdout)
    assert abs(losses[0] - 5.58) < 0.3, result.stdout
    assert losses[300] < 3.0, result.stdout
    assert f"runtime {runtime}" in result.stdout


def start_run(env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        NEUROSHARD + ["run", "--arch", "tiny", "--runtime", "torch", "--headless", *extra, *ISOLATED],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_partial_checkpoint(state: Path, process: subprocess.Popen, timeout_s: float) -> bool:
    """Poll until a checkpoint write is in progress (its temp file exists) after a complete one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if checkpoints(state) and any((state / "checkpoints").rglob("*.partial")):
            return True
    return False


def test_sigkill_during_checkpoint_write_resumes_from_last_complete(cli_env: dict[str, str]) -> None:
    state = Path(cli_env["NEUROSHARD_STATE_DIR"])
    caught = False
    for _ in range(10):  # each try kills during a write with high probability
        process = start_run(cli_env, "--checkpoint-every", "1", "--validate-every", "100000")
        try:
            caught = wait_for_partial_checkpoint(state, process, timeout_s=120)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
            process.stdout.close()
            process.stderr.close()
        if caught and any((state / "checkpoints").rglob("*.partial")):
            break
    assert caught, "never caught a checkpoint write in progress"
    complete = checkpoints(state)
    assert complete, "no complete checkpoint before the kill"
    last_step = int(complete[-1].stem.split("-")[1])
    result = run_cli(["run", "--arch", "tiny", "--runtime", "torch", "--max-steps", str(last_step + 2),
                      "--headless", "--validate-every", "100000"], cli_env)
    assert result.returncode == 0, result.stderr
    assert f"resuming at step {last_step}" in result.stdout
    assert not any((state / "checkpoints").rglob("*.partial"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_saves_exits_zero_and_next_start_resumes(signum: int, cli_env: dict[str, str]) -> None:
    state = Path(cli_env["NEUROSHARD_STATE_DIR"])
    process = start_run(cli_env, "--checkpoint-every", "100000", "--validate-every", "100000")
    try:
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline and not line.startswith("step 10"):
            line = process.stdout.readline()
            assert line or process.poll() is None, process.stderr.read()
        process.send_signal(signum)
        output, errors = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, errors
    saved = checkpoints(state)
    assert len(saved) == 1
    step = int(saved[0].stem.split("-")[1])
    assert step >= 10 and f"stopped at step {step}" in output
    resumed = run_cli(["run", "--arch", "tiny", "--runtime", "torch", "--max-steps", str(step + 1), "--headless"], cli_env)
    assert resumed.returncode == 0 and f"resuming at step {step}" in resumed.stdout


def test_damaged_checkpoint_is_a_clear_error_naming_the_file(cli_env: dict[str, str]) -> None:
    state = Path(cli_env["NEUROSHARD_STATE_DIR"])
    first = run_cli(["run", "--arch", "tiny", "--runtime", "torch", "--max-steps", "3", "--headless"], cli_env)
    assert first.returncode == 0, first.stderr
    (path,) = checkpoints(state)
    path.write_bytes(path.read_bytes()[:-100])
    result = run_cli(["run", "--arch", "tiny", "--runtime", "torch", "--max-steps", "5", "--headless"], cli_env)
    assert result.returncode == 1
    assert str(path) in result.stderr and "error:" in result.stderr
    assert "Traceback" not in result.stderr
