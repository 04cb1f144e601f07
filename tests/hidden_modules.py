"""Start a child Python as on a machine without some package: its import fails there.

A `sitecustomize.py` on the child's PYTHONPATH puts an import hook in front
of every other, so `import torch` (or textual...) raises ModuleNotFoundError
exactly as it does where the package is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path

_SITECUSTOMIZE = '''
import sys


class HidePackage:
    """Makes `import {package}` fail as it does where it is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "{package}" or name.startswith("{package}."):
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, HidePackage())
'''


def environment_without(package: str, directory: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) for a child that cannot import `package`; writes into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(package=package))
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(directory), *filter(None, [env.get("PYTHONPATH")])])
    return env
