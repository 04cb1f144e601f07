"""Loss arithmetic in numpy (validation runs on any runtime's logits)."""

from __future__ import annotations

import numpy as np


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy in nats of logits [B, T, V] against targets [B, T], computed in float64."""
    flat = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    flat -= flat.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(flat).sum(axis=1))
    picked = flat[np.arange(flat.shape[0]), targets.reshape(-1)]
    return float(np.mean(log_norm - picked))
