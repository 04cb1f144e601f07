"""The edge promise: with no PyTorch at all, a node trains on ONNX Runtime alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BLOCKER = '''
import sys


class BlockTorch:
    """Makes `import torch` fail as it does where PyTorch is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, BlockTorch())
'''
STEPS = 30


def test_tiny_model_trains_with_onnxruntime_when_torch_cannot_be_imported(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *filter(None, [env.get("PYTHONPATH")])])
    script = Path(__file__).with_name("onnx_only_training.py")
    completed = subprocess.run(
        [sys.executable, str(script), str(STEPS)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["torch_blocked"], "the blocker did not work: this test would prove nothing"
    assert not result["torch_in_modules"]
    assert "pip install" in result["torch_refused"]
    losses = result["losses"]
    assert len(losses) == STEPS
    assert sum(losses[-5:]) / 5 < 0.6 * losses[0], losses
