"""install.sh as a file: shellcheck-clean, inert when half-downloaded, and its systemd units valid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from installer_harness import (
    INSTALL_SH,
    base_python,
    files_under,
    installer_env,
    run_installer,
)

BANNER = "NeuroShard agent installer"


def test_shellcheck_is_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    result = subprocess.run(["shellcheck", str(INSTALL_SH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def cut_points(script: bytes) -> list[int]:
    """Every 1/40th of the file, plus inside the last line where a cut would matter most."""
    last_line = script.rstrip(b"\n").rsplit(b"\n", 1)[1]
    assert last_line == b'main "$@"', "the script must end by calling main"
    end = len(script.rstrip(b"\n"))
    return sorted({*range(0, end, max(1, end // 40)), end - 1, end - 3, end - len(last_line), end - len(last_line) - 1})


def test_a_half_downloaded_script_does_nothing(tmp_path, home, scratch):
    script = INSTALL_SH.read_bytes()
    env = installer_env(home, scratch, NEUROSHARD_PYTHON=base_python(), NEUROSHARD_INSTALLER="pip")
    whole = subprocess.run(["sh", "-s", "--", "--dry-run", "-y"], input=script, env=env, capture_output=True,
                           check=False, start_new_session=True)
    assert BANNER.encode() in whole.stdout  # the same arguments do act when the download is whole
    for cut in cut_points(script):
        # `curl | sh` feeds the script on stdin, so a cut download is a cut stdin.
        part = subprocess.run(["sh", "-s", "--", "--dry-run", "-y"], input=script[:cut], env=env,
                              capture_output=True, check=False, start_new_session=True)
        assert BANNER.encode() not in part.stdout, f"cut at byte {cut} of {len(script)} ran the installer"
        assert b"\n+ " not in b"\n" + part.stdout, f"cut at byte {cut} ran a step"
    assert files_under(home) == set()
    assert list((scratch / "tmp").iterdir()) == []


def placeholder_executable(path: Path) -> None:
    """systemd-analyze checks that ExecStart is executable; this file only has to exist."""
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


def verify_unit(unit_text: str, directory: Path, *, user: bool, env: dict[str, str]) -> str:
    unit = directory / "neuroshard.service"
    unit.write_text(unit_text)
    command = ["systemd-analyze", *(["--user"] if user else []), "verify", str(unit)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # verify exits 0 even for lines it ignores; those name the unit in their message.
    return "\n".join(line for line in (result.stdout + result.stderr).splitlines() if "neuroshard" in line)


@pytest.fixture
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not available on this machine")
    return path


def test_user_unit_passes_systemd_analyze_verify(systemd_analyze, home, scratch):
    data_home = scratch / "data 100%"  # a space and a systemd specifier sign, to check the quoting
    placeholder_executable(data_home / "neuroshard-agent" / "venv" / "bin" / "neuroshard")
    printed = run_installer(["--print-unit", "user"], home=home, scratch=scratch, XDG_DATA_HOME=str(data_home))
    assert printed.returncode == 0, printed.stderr
    quoted_home = str(data_home).replace("%", "%%")
    assert (f'ExecStart="{quoted_home}/neuroshard-agent/venv/bin/neuroshard" run --headless '
            f'--state-dir "{quoted_home}/neuroshard"') in printed.stdout
    assert "Restart=always" in printed.stdout and "KillSignal=SIGTERM" in printed.stdout
    assert "StandardOutput=journal" in printed.stdout and "WantedBy=default.target" in printed.stdout
    runtime_dir = scratch / "runtime"
    runtime_dir.mkdir(mode=0o700)
    env = installer_env(home, scratch, XDG_RUNTIME_DIR=str(runtime_dir))
    assert verify_unit(printed.stdout, scratch, user=True, env=env) == ""


def test_a_path_systemd_cannot_quote_is_refused(home, scratch):
    printed = run_installer(["--print-unit", "user"], home=home, scratch=scratch, NEUROSHARD_STATE_DIR="/srv/$state")
    assert printed.returncode == 1 and "cannot write a systemd unit" in printed.stderr
    assert printed.stdout == ""


def test_system_unit_passes_systemd_analyze_verify(systemd_analyze, home, scratch):
    prefix = scratch / "opt neuroshard"  # a space, to check the quoting
    placeholder_executable(prefix / "venv" / "bin" / "neuroshard")
    printed = run_installer(["--print-unit", "system"], home=home, scratch=scratch,
                            NEUROSHARD_SYSTEM_PREFIX=str(prefix))
    assert printed.returncode == 0, printed.stderr
    for line in ("User=neuroshard", "StateDirectory=neuroshard", "Restart=always", "KillSignal=SIGTERM",
                 "--state-dir /var/lib/neuroshard", "WantedBy=multi-user.target"):
        assert line in printed.stdout
    assert verify_unit(printed.stdout, scratch, user=False, env=installer_env(home, scratch)) == ""
