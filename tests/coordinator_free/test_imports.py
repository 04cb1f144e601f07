"""coordinator_free loads with numpy and the standard library alone (DESIGN.md §2).

Every module of the package is imported in a fresh interpreter, which then
reports what the imports added to sys.modules. A subprocess, because this
test session has long since imported torch and friends.
"""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("torch", "onnxruntime", "onnx", "aiohttp", "textual", "zeroconf", "agent", "tui", "exporters")

PROBE = """
import importlib, json, pkgutil, sys
before = set(sys.modules)
import coordinator_free
names = sorted(m.name for m in pkgutil.walk_packages(coordinator_free.__path__, "coordinator_free."))
for name in names:
    importlib.import_module(name)
added = sorted({m.split(".")[0] for m in set(sys.modules) - before})
print(json.dumps({"modules": names, "added": added}))
"""


def test_coordinator_free_imports_only_numpy_and_the_standard_library() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "coordinator_free.quorum_formation" in report["modules"]  # the walk found the package
    added = set(report["added"])
    assert not added & set(FORBIDDEN), f"forbidden imports: {sorted(added & set(FORBIDDEN))}"
    foreign = {
        name
        for name in added
        if name not in sys.stdlib_module_names
        # numpy itself, and the Cython runtime stubs some numpy builds register
        and name not in {"numpy", "coordinator_free", "cython_runtime"}
        and not name.startswith("_cython_")
    }
    assert not foreign, f"coordinator_free pulled in non-stdlib modules {sorted(foreign)}"
