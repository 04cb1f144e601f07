"""Run by test_without_torch.py in a subprocess where `import torch` fails.

Trains the whole tiny model with OnnxRuntimeBackend on a learnable sequence
(next token = (7 * token + 3) mod vocab) and prints one JSON line of results.
Not a test module: pytest does not collect it.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main(steps: int) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        torch_blocked = True
    else:
        torch_blocked = False

    from agent.errors import RuntimeUnavailableError
    from agent.model.arch import TINY
    from agent.model.parameters import StageSpec
    from agent.runtime.select import create_runtime

    try:
        create_runtime("torch", StageSpec.whole(TINY))
        torch_refused = ""
    except RuntimeUnavailableError as error:
        torch_refused = str(error)

    runtime = create_runtime("onnx", StageSpec.whole(TINY), threads=1)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        sequence = np.empty((8, 33), np.int64)
        sequence[:, 0] = rng.integers(0, TINY.vocab_size, 8)
        for i in range(1, sequence.shape[1]):
            sequence[:, i] = (7 * sequence[:, i - 1] + 3) % TINY.vocab_size
        result = runtime.backward(sequence[:, :-1].copy(), targets=sequence[:, 1:].copy())
        runtime.apply_gradients(learning_rate=1e-2)
        losses.append(result.loss)
    print(json.dumps({
        "torch_blocked": torch_blocked,
        "torch_refused": torch_refused,
        "torch_in_modules": "torch" in sys.modules,
        "losses": losses,
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]))
