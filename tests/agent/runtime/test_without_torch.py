"""The edge promise: with no PyTorch at all, a node trains on ONNX Runtime alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hidden_modules import environment_without

STEPS = 30


def test_tiny_model_trains_with_onnxruntime_when_torch_cannot_be_imported(tmp_path: Path) -> None:
    env = environment_without("torch", tmp_path)
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
