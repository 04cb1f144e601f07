"""A real edge install from this checkout into a temporary HOME, used, upgraded, removed.

This is the slow one (~30 s with a warm pip cache): it builds the package,
creates a venv and installs onnxruntime, numpy and friends from PyPI, then
runs the installed `neuroshard` as a user would.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from installer_harness import (
    REPO_ROOT,
    base_python,
    files_under,
    installer_env,
    run_installer,
)

CLI_TIMEOUT_S = 300  # a 20-step tiny run and a benchmark on a busy 2-core machine


class Installed:
    """Where a user install lands under `home` (the same layout platformdirs gives the agent)."""

    def __init__(self, home: Path) -> None:
        data_home = home / ".local" / "share"
        self.venv = data_home / "neuroshard-agent" / "venv"
        self.receipt = data_home / "neuroshard-agent" / "receipt.txt"
        self.link = home / ".local" / "bin" / "neuroshard"
        self.state = data_home / "neuroshard"

    def read_receipt(self) -> dict[str, str]:
        lines = self.receipt.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def install(home: Path, scratch: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_installer(["--from", str(REPO_ROOT), "--unattended", *args], home=home, scratch=scratch,
                           NEUROSHARD_PYTHON=base_python())
    assert result.returncode == 0, f"install.sh {args} failed:\n{result.stderr[-3000:]}\nstdout ends:\n{result.stdout[-1500:]}"
    return result


def neuroshard(home: Path, scratch: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, through the link the installer made, as the user would type it."""
    return subprocess.run([str(Installed(home).link), *args], env=installer_env(home, scratch), capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S, check=False, start_new_session=True)


def state_fingerprint(state: Path) -> dict[str, str]:
    return {name: hashlib.sha256((state / name).read_bytes()).hexdigest() for name in files_under(state)}


def node_id(home: Path, scratch: Path) -> str:
    """`neuroshard id` once the CLI has it; until then the identity module of the installed package."""
    help_text = neuroshard(home, scratch, "--help").stdout
    if re.search(r"^\s+id\s", help_text, re.MULTILINE):
        result = neuroshard(home, scratch, "id")
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()
    script = ("import sys; from pathlib import Path; from agent.identity import load_or_create_identity; "
              "print(load_or_create_identity(Path(sys.argv[1])).node_id)")
    installed = Installed(home)
    result = subprocess.run([str(installed.venv / "bin" / "python"), "-c", script, str(installed.state / "identity")],
                            env=installer_env(home, scratch), capture_output=True, text=True, check=True)
    return result.stdout.strip()


def assert_first_install(home: Path, scratch: Path, result: subprocess.CompletedProcess[str]) -> None:
    installed = Installed(home)
    assert "edge: ONNX Runtime only, no PyTorch" in result.stdout
    assert re.search(r"^tier T[1-5]\b", result.stdout, re.MULTILINE), "the installer did not print the tier"
    assert "is not on your PATH" in result.stdout and "Next: " in result.stdout
    assert installed.link.is_symlink() and installed.link.resolve() == (installed.venv / "bin" / "neuroshard").resolve()
    receipt = installed.read_receipt()
    assert receipt["torch"] == "none" and receipt["extras"] == "dashboard" and receipt["source"] == str(REPO_ROOT)
    no_torch = subprocess.run([str(installed.venv / "bin" / "python"), "-c",
                               "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"],
                              check=False)
    assert no_torch.returncode == 0, "the edge install pulled in torch"


def use_the_installed_agent(home: Path, scratch: Path, version: str) -> None:
    shown = neuroshard(home, scratch, "--version")
    assert shown.returncode == 0 and version in shown.stdout, shown.stdout + shown.stderr
    bench = neuroshard(home, scratch, "bench")
    assert bench.returncode == 0, bench.stderr
    assert re.search(r"^tier T[1-5]\b", bench.stdout, re.MULTILINE), bench.stdout
    run = neuroshard(home, scratch, "run", "--arch", "tiny", "--max-steps", "20")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


def test_install_use_upgrade_uninstall_purge(home, scratch):
    installed = Installed(home)
    assert_first_install(home, scratch, install(home, scratch))
    use_the_installed_agent(home, scratch, installed.read_receipt()["version"])

    identity = node_id(home, scratch)
    state_before = state_fingerprint(installed.state)
    venv_made_ns = (installed.venv / "pyvenv.cfg").stat().st_mtime_ns
    second = install(home, scratch)
    assert "upgrade in place" in second.stdout
    assert (installed.venv / "pyvenv.cfg").stat().st_mtime_ns == venv_made_ns, "the upgrade rebuilt the venv"
    state_after = state_fingerprint(installed.state)
    assert {name: state_after.get(name) for name in state_before} == state_before, "the upgrade changed the state dir"
    assert node_id(home, scratch) == identity

    removed = run_installer(["--uninstall"], home=home, scratch=scratch)
    assert removed.returncode == 0, removed.stderr
    outside_state = {name for name in files_under(home) if not (home / name).is_relative_to(installed.state)}
    assert outside_state == set(), f"--uninstall left these behind: {sorted(outside_state)}"
    assert not installed.venv.exists() and not installed.link.is_symlink()
    assert state_fingerprint(installed.state) == state_after, "--uninstall touched the state dir"

    install(home, scratch)  # a reinstall picks the kept state up again
    assert node_id(home, scratch) == identity
    purged = run_installer(["--uninstall", "--purge", "--unattended"], home=home, scratch=scratch)
    assert purged.returncode == 0, purged.stderr
    assert "identity key" in purged.stdout  # it said what would be lost
    assert files_under(home) == set(), f"--purge left these behind: {sorted(files_under(home))}"
    assert not installed.state.exists()
