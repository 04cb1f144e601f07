"""Driving install.sh as a user would: `sh install.sh ...` with a temporary HOME.

The environment is built from scratch (no XDG_*, no NEUROSHARD_* from the
caller) so a developer's own settings never leak into an install under test;
only how the machine reaches package registries (PIP_*, UV_*, proxies, CA
bundles) passes through. Package caches stay shared with the real user's,
which only saves downloads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SH = REPO_ROOT / "install.sh"
# A new account's PATH, not the caller's: this repository's venv, a pyenv shim (broken
# under another HOME) or a rustup proxy (pip runs `rustc --version` for its user agent,
# and rustup then writes ~/.rustup into the test HOME) would change what the
# installer does or leaves behind.
FRESH_USER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NETWORK_PREFIXES = ("PIP_", "UV_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
                    "SSL_CERT_", "REQUESTS_CA_BUNDLE")
INSTALL_TIMEOUT_S = 600  # a cold pip cache on a slow link; normally ~20 s


def base_python() -> str:
    """The interpreter under this test's venv: it works with any HOME (a pyenv shim does not)."""
    return getattr(sys, "_base_executable", sys.executable)


def installer_env(home: Path, scratch: Path, **extra: str) -> dict[str, str]:
    real_home = Path.home()
    env = {
        "HOME": str(home),
        "PATH": FRESH_USER_PATH,
        "LANG": "C.UTF-8",
        "TMPDIR": str(scratch / "tmp"),
        # Caches outside HOME: the test then sees exactly what the installer leaves in HOME.
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(real_home / ".cache" / "pip")),
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(real_home / ".cache" / "uv")),
    }
    # How this machine reaches package registries (proxy, CA bundle, mirrors) still applies.
    env.update({name: value for name, value in os.environ.items()
                if name.startswith(NETWORK_PREFIXES) and name not in env})
    (scratch / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(extra)
    return env


def run_installer(
    args: Sequence[str],
    *,
    home: Path,
    scratch: Path,
    shell: Sequence[str] = ("sh",),
    timeout_s: float = INSTALL_TIMEOUT_S,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """Run the installer; a new session means no /dev/tty, as under CI or `curl | sh` without a terminal."""
    return subprocess.run(
        [*shell, str(INSTALL_SH), *args],
        env=installer_env(home, scratch, **extra_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        start_new_session=True,
        check=False,
    )


def files_under(root: Path) -> set[str]:
    """Every file and link under `root`, as paths relative to it."""
    if not root.exists():
        return set()
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file() or path.is_symlink()}
