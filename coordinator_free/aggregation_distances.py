"""Aggregation rules that need only pairwise distances, run on the n × n Gram matrix.

G_ij = ⟨x_i, x_j⟩ holds everything norm clipping, nearest-neighbour mixing,
Krum and the geometric median need, so none of them touches the long vectors:
each returns coefficients (or scales) that one blocked pass later applies.
Rows and columns are in canonical (node id) order and every tie goes to the
lower index, so every holder makes the same choices.
"""

from __future__ import annotations

import math

import numpy as np


def squared_distances(gram: np.ndarray) -> np.ndarray:
    """‖x_i − x_j‖² from the Gram matrix."""
    diagonal = np.diag(gram)
    distances = diagonal[:, None] + diagonal[None, :] - 2.0 * gram
    np.fill_diagonal(distances, 0.0)
    # Rounding can leave near-equal vectors slightly negative.
    return np.maximum(distances, 0.0)


def clip_scales(gram: np.ndarray, median_norm_factor: float) -> np.ndarray:
    """Per vector, the factor that brings it down to `median_norm_factor` × the
    median norm (1.0 for vectors already within it)."""
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    limit = median_norm_factor * float(np.median(norms))
    with np.errstate(divide="ignore"):
        return np.where(norms > limit, limit / np.where(norms > 0, norms, 1.0), 1.0)


def nearest(distances: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` nearest per row, itself included; ties to the lower index."""
    return np.argsort(distances, axis=1, kind="stable")[:, :count]


def mixing_matrix(gram: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """NNM: row i averages, with their weights, the nearest strict majority of i."""
    count = gram.shape[0]
    neighbours = nearest(squared_distances(gram), count // 2 + 1)
    mixing = np.zeros((count, count), dtype=np.float64)
    for row, chosen in enumerate(neighbours):
        mixing[row, chosen] = weights[chosen] / math.fsum(weights[chosen])
    return mixing


def krum_selection(
    gram: np.ndarray, byzantine_fraction: float, *, multi: bool
) -> np.ndarray:
    """Which vectors Krum (one) or Multi-Krum (n − f) keeps, f = ⌊fraction · n⌋.

    Score = sum of squared distances to the n − f − 2 nearest others (at least
    one); the lowest scores win. Fewer than 3 vectors: every score is equal
    and the canonical order decides.
    """
    count = gram.shape[0]
    byzantine = math.floor(byzantine_fraction * count)
    selected = np.zeros(count, dtype=bool)
    if count == 1:
        selected[0] = True
        return selected
    neighbour_count = min(max(1, count - byzantine - 2), count - 1)
    others = np.where(np.eye(count, dtype=bool), np.inf, squared_distances(gram))
    scores = np.sort(others, axis=1)[:, :neighbour_count].sum(axis=1)
    keep = max(1, count - byzantine) if multi else 1
    selected[np.argsort(scores, kind="stable")[:keep]] = True
    return selected


def weiszfeld_coefficients(
    gram: np.ndarray,
    weights: np.ndarray,
    *,
    max_iterations: int,
    relative_tolerance: float,
) -> np.ndarray:
    """Weighted geometric median as coefficients α (z = Σ α_i x_i), smoothed Weiszfeld.

    Every iterate is a convex combination of the inputs, so
    ‖x_i − z‖² = G_ii − 2 (Gα)_i + αᵀGα needs only the Gram matrix. Distances
    below `relative_tolerance` × the RMS pairwise distance count as that much
    (smoothing, so an iterate landing on an input does not divide by zero);
    iteration stops once a step moves less than that.
    """
    alpha = weights.copy()
    spread = math.sqrt(float(np.mean(squared_distances(gram))))
    if spread == 0.0:
        return alpha
    smoothing = relative_tolerance * spread
    for _ in range(max_iterations):
        squared = np.diag(gram) - 2.0 * (gram @ alpha) + float(alpha @ gram @ alpha)
        beta = weights / np.maximum(np.sqrt(np.maximum(squared, 0.0)), smoothing)
        updated = beta / beta.sum()
        step = updated - alpha
        alpha = updated
        if math.sqrt(max(float(step @ gram @ step), 0.0)) <= smoothing:
            break
    return alpha
