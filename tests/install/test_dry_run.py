"""install.sh --dry-run on every platform it claims, and every refusal it promises.

Architecture, GPU presence and free disk are injected through the variables
the script documents (NEUROSHARD_TEST_ARCH, NEUROSHARD_TEST_GPU,
NEUROSHARD_TEST_FREE_MB); nothing is installed, so these run in a second.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from installer_harness import (
    FRESH_USER_PATH,
    base_python,
    files_under,
    installer_env,
    run_installer,
)

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def dry_run(home: Path, scratch: Path, *args: str, shell: tuple[str, ...] = ("sh",),
            **env: str) -> subprocess.CompletedProcess[str]:
    env.setdefault("NEUROSHARD_PYTHON", base_python())
    env.setdefault("NEUROSHARD_INSTALLER", "pip")  # uv on the test machine would change the commands
    return run_installer(["--dry-run", "--unattended", *args], home=home, scratch=scratch, shell=shell, **env)


def installs_torch(step: str) -> bool:
    return "torch" in step.split() or re.search(r"\[.*(gpu|train).*\]$", step) is not None


def steps(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]


def agent_install_step(result: subprocess.CompletedProcess[str]) -> str:
    found = [step for step in steps(result) if re.search(r" neuroshard-agent(\[[a-z,]+\])?$", step)]
    assert len(found) == 1, result.stdout
    return found[0]


def assert_nothing_changed(result: subprocess.CompletedProcess[str], home: Path, scratch: Path) -> None:
    assert files_under(home) == set(), "a dry run wrote into HOME"
    assert list((scratch / "tmp").iterdir()) == [], "the temp dir outlived the script"
    if result.returncode == 0:
        assert "Dry run: nothing was changed." in result.stdout


@pytest.mark.parametrize(("raw_arch", "arch"), [("x86_64", "x86_64"), ("amd64", "x86_64"),
                                                ("aarch64", "aarch64"), ("arm64", "aarch64")])
def test_edge_install_has_onnxruntime_and_no_torch(home, scratch, raw_arch, arch):
    result = dry_run(home, scratch, NEUROSHARD_TEST_ARCH=raw_arch, NEUROSHARD_TEST_GPU="0")
    assert result.returncode == 0, result.stderr
    assert f", {arch}\n" in result.stdout
    assert "NVIDIA GPU  none" in result.stdout
    assert "edge: ONNX Runtime only, no PyTorch" in result.stdout
    assert agent_install_step(result).endswith("neuroshard-agent[dashboard]")
    assert not any(installs_torch(step) for step in steps(result)), steps(result)
    assert "torch=none" in result.stdout  # the receipt it would write
    assert_nothing_changed(result, home, scratch)


@pytest.mark.parametrize("raw_arch", ["x86_64", "aarch64"])
def test_nvidia_gpu_gets_the_cuda_extra(home, scratch, raw_arch):
    result = dry_run(home, scratch, NEUROSHARD_TEST_ARCH=raw_arch, NEUROSHARD_TEST_GPU="1")
    assert result.returncode == 0, result.stderr
    assert "PyTorch with CUDA" in result.stdout
    assert agent_install_step(result).endswith("neuroshard-agent[gpu,dashboard]")
    # PyPI's torch is the CUDA build: no CPU index may be involved.
    assert CPU_INDEX not in result.stdout
    assert "torch=cuda" in result.stdout
    assert_nothing_changed(result, home, scratch)


def fake_nvidia_smi(scratch: Path, listing: str) -> str:
    """A PATH holding an `nvidia-smi` that prints `listing`, as the real one does for --query-gpu=name."""
    bin_dir = scratch / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\nprintf '{listing}'\n")
    tool.chmod(0o755)
    return f"{bin_dir}:{FRESH_USER_PATH}"


def test_gpu_found_by_nvidia_smi(home, scratch):
    path = fake_nvidia_smi(scratch, "NVIDIA GeForce RTX 4090\\nNVIDIA GeForce RTX 4090\\n")
    result = dry_run(home, scratch, PATH=path)
    assert result.returncode == 0, result.stderr
    assert "NVIDIA GPU  NVIDIA GeForce RTX 4090\n" in result.stdout
    assert agent_install_step(result).endswith("[gpu,dashboard]")


def test_nvidia_smi_without_a_gpu_means_edge(home, scratch):
    result = dry_run(home, scratch, PATH=fake_nvidia_smi(scratch, ""))
    assert result.returncode == 0, result.stderr
    assert "lists no GPU" in result.stderr
    assert agent_install_step(result).endswith("neuroshard-agent[dashboard]")


@pytest.mark.parametrize("gpu", ["0", "1"])
def test_with_torch_cpu_installs_torch_from_the_cpu_index_first(home, scratch, gpu):
    result = dry_run(home, scratch, "--with-torch-cpu", NEUROSHARD_TEST_ARCH="aarch64", NEUROSHARD_TEST_GPU=gpu)
    assert result.returncode == 0, result.stderr
    torch_steps = [i for i, step in enumerate(steps(result)) if step.endswith(f"--index-url {CPU_INDEX} torch")]
    agent_step = steps(result).index(agent_install_step(result))
    assert len(torch_steps) == 1 and torch_steps[0] < agent_step, steps(result)
    assert agent_install_step(result).endswith("[train,dashboard]")
    assert "torch=cpu" in result.stdout


def test_edge_flag_wins_over_a_gpu(home, scratch):
    result = dry_run(home, scratch, "--edge", "--no-dashboard", NEUROSHARD_TEST_GPU="1")
    assert result.returncode == 0, result.stderr
    assert agent_install_step(result).endswith(" neuroshard-agent")
    assert not any(installs_torch(step) for step in steps(result))


@pytest.mark.parametrize("raw_arch", ["armv7l", "armv6l", "armhf"])
def test_32_bit_arm_is_refused_naming_the_64_bit_os(home, scratch, raw_arch):
    result = dry_run(home, scratch, NEUROSHARD_TEST_ARCH=raw_arch)
    assert result.returncode == 1
    assert "32-bit ARM" in result.stderr and raw_arch in result.stderr
    assert "Raspberry Pi OS (64-bit)" in result.stderr
    assert "onnx runtime" in result.stderr.lower()
    assert steps(result) == []
    assert_nothing_changed(result, home, scratch)


def test_other_architectures_are_refused(home, scratch):
    result = dry_run(home, scratch, NEUROSHARD_TEST_ARCH="riscv64")
    assert result.returncode == 1
    assert "riscv64 is not supported" in result.stderr and "aarch64" in result.stderr


def fake_python(scratch: Path, probe_line: str) -> str:
    """An interpreter that answers the installer's probe as an old or 32-bit Python would."""
    path = scratch / "fake-python"
    path.write_text(f"#!/bin/sh\necho '{probe_line}'\n")
    path.chmod(0o755)
    return str(path)


def test_old_python_is_refused_with_the_package_to_install(home, scratch):
    result = dry_run(home, scratch, NEUROSHARD_PYTHON=fake_python(scratch, "3 9 1 /usr/bin/python3.9"))
    assert result.returncode == 1
    assert "needs Python 3.11 or newer" in result.stderr and "=3.9" in result.stderr
    assert "install" in result.stderr.split("Install one:", 1)[1]  # the command for this OS
    assert steps(result) == []


def test_32_bit_python_on_a_64_bit_kernel_is_refused(home, scratch):
    result = dry_run(home, scratch, NEUROSHARD_TEST_ARCH="aarch64",
                     NEUROSHARD_PYTHON=fake_python(scratch, "3 11 0 /usr/bin/python3"))
    assert result.returncode == 1
    assert "32-bit Python" in result.stderr and "Raspberry Pi OS (64-bit)" in result.stderr


def test_low_disk_is_refused_before_anything_happens(home, scratch):
    result = dry_run(home, scratch, NEUROSHARD_TEST_GPU="1", NEUROSHARD_TEST_FREE_MB="3000")
    assert result.returncode == 1
    assert "not enough disk" in result.stderr and "3000 MB are free" in result.stderr
    assert steps(result) == []
    assert_nothing_changed(result, home, scratch)
    edge = dry_run(home, scratch, NEUROSHARD_TEST_GPU="0", NEUROSHARD_TEST_FREE_MB="3000")
    assert edge.returncode == 0, edge.stderr


def test_paths_follow_platformdirs_and_xdg_data_home(home, scratch):
    data_home = scratch / "data"
    result = dry_run(home, scratch, XDG_DATA_HOME=str(data_home))
    assert result.returncode == 0, result.stderr
    expected_state = subprocess.run(
        [sys.executable, "-c", "import platformdirs; print(platformdirs.user_data_dir('neuroshard', appauthor=False))"],
        env=installer_env(home, scratch, XDG_DATA_HOME=str(data_home)), capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert f"state       {expected_state} " in result.stdout
    assert f"{base_python()} -m venv {data_home}/neuroshard-agent/venv" in steps(result)
    assert f"ln -sf {data_home}/neuroshard-agent/venv/bin/neuroshard {home}/.local/bin/neuroshard" in steps(result)


def test_macos_paths_and_no_service(home, scratch):
    result = dry_run(home, scratch, NEUROSHARD_TEST_OS="Darwin", NEUROSHARD_TEST_ARCH="arm64")
    assert result.returncode == 0, result.stderr
    assert f"{home}/Library/Application Support/neuroshard-agent/venv" in result.stdout
    refused = dry_run(home, scratch, "--service", NEUROSHARD_TEST_OS="Darwin", NEUROSHARD_TEST_ARCH="arm64")
    assert refused.returncode == 1 and "--service needs systemd" in refused.stderr


def test_service_dry_run_shows_the_unit_and_enables_it(home, scratch):
    result = dry_run(home, scratch, "--service")
    assert result.returncode == 0, result.stderr
    unit = f"{home}/.config/systemd/user/neuroshard.service"
    assert f"(would write {unit}:)" in result.stdout
    assert "  | Restart=always" in result.stdout
    assert "systemctl --user enable neuroshard.service" in steps(result)
    assert "systemctl --user restart neuroshard.service" in steps(result)
    assert "service=user" in result.stdout
    assert_nothing_changed(result, home, scratch)


def test_service_without_a_user_manager_stops_before_installing(home, scratch):
    # The harness passes no XDG_RUNTIME_DIR or session bus, so no user manager is reachable.
    result = run_installer(["--service", "--unattended"], home=home, scratch=scratch,
                           NEUROSHARD_PYTHON=base_python(), NEUROSHARD_INSTALLER="pip")
    assert result.returncode == 1
    assert "needs a systemd user manager" in result.stderr and "--system" in result.stderr
    assert steps(result) == []
    assert files_under(home) == set()


def test_system_dry_run_uses_a_dedicated_user_and_sudo_only_when_not_root(home, scratch):
    system_python = fake_python(scratch, "3 11 1 /usr/bin/python3.11")  # it only answers the probe
    result = dry_run(home, scratch, "--system", NEUROSHARD_PYTHON=system_python)
    assert result.returncode == 0, result.stderr
    assert "(would write /etc/systemd/system/neuroshard.service:)" in result.stdout
    assert "  | User=neuroshard" in result.stdout and "  | StateDirectory=neuroshard" in result.stdout
    assert "/opt/neuroshard/venv" in result.stdout
    uses_sudo = any(line.startswith("+ sudo ") for line in result.stdout.splitlines())
    assert uses_sudo == (os.geteuid() != 0)
    assert not any(line.startswith("+ sudo ") and "bench" in line for line in result.stdout.splitlines())


def test_system_refuses_a_python_the_service_user_cannot_reach(home, scratch):
    result = dry_run(home, scratch, "--system", NEUROSHARD_PYTHON=fake_python(scratch, "3 12 1 /home/me/py/bin/python3"))
    assert result.returncode == 1
    assert "outside /root and /home" in result.stderr and "/home/me/py/bin/python3" in result.stderr


def test_uninstall_dry_run_of_nothing_changes_nothing(home, scratch):
    result = dry_run(home, scratch, "--uninstall", "--purge")
    assert result.returncode == 0, result.stderr
    assert_nothing_changed(result, home, scratch)


def test_purge_without_a_terminal_needs_unattended(home, scratch):
    state = home / ".local" / "share" / "neuroshard"
    (state / "identity").mkdir(parents=True)
    (state / "identity" / "identity.key").write_text("key")
    refused = run_installer(["--purge"], home=home, scratch=scratch)
    assert refused.returncode == 1 and "--unattended" in refused.stderr
    assert "identity key" in refused.stdout  # it said what would be lost
    assert (state / "identity" / "identity.key").exists()
    purged = run_installer(["--purge", "--unattended"], home=home, scratch=scratch)
    assert purged.returncode == 0, purged.stderr
    assert not state.exists()


@pytest.mark.parametrize("args", [["--bogus"], ["--from", "/nonexistent/checkout"], ["--print-unit", "both"],
                                  ["--system", "--no-service"]])
def test_bad_arguments_say_what_was_wrong(home, scratch, args):
    result = dry_run(home, scratch, *args)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_errors_after_the_temp_dir_exists_still_remove_it(home, scratch):
    result = dry_run(home, scratch, NEUROSHARD_TEST_GPU="maybe")
    assert result.returncode == 1 and "NEUROSHARD_TEST_GPU must be 0 or 1" in result.stderr
    assert list((scratch / "tmp").iterdir()) == []


@pytest.mark.parametrize("shell", [("dash",), ("bash", "--posix"), ("busybox", "sh")], ids=lambda s: s[0])
def test_runs_under_each_posix_shell(home, scratch, shell):
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} is not installed here")
    result = dry_run(home, scratch, shell=shell)
    assert result.returncode == 0, result.stderr
    assert "Dry run: nothing was changed." in result.stdout
