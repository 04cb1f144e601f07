"""create_runtime: by name, engine imported only when chosen, clear errors otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.errors import RuntimeUnavailableError
from agent.model.arch import TINY
from agent.model.parameters import StageSpec
from agent.runtime.select import create_runtime, is_runtime_available


@pytest.mark.parametrize("name", ["onnx", "torch"])
def test_creates_each_backend_by_name(name: str) -> None:
    runtime = create_runtime(name, StageSpec(TINY, 1, 2), seed=3)
    assert runtime.name == name and runtime.device == "cpu"
    assert is_runtime_available(name)
    runtime.close()


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(RuntimeUnavailableError, match=r"\['onnx', 'torch'\]"):
        create_runtime("tensorflow", StageSpec.whole(TINY))


def test_choosing_onnx_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from agent.model.arch import TINY\n"
        "from agent.model.parameters import StageSpec\n"
        "from agent.runtime.select import create_runtime\n"
        "import numpy as np\n"
        "runtime = create_runtime('onnx', StageSpec.whole(TINY), threads=1)\n"
        "runtime.forward(np.zeros((1, 4), np.int64))\n"
        "print('torch' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "False"
