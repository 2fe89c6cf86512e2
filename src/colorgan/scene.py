"""The scene head's fit: which kind of scene a photo is, from the means of G's deepest encoder levels.

A pure function of features and labels; `scripts/scene_gain.py` gathers them from a run's training photos and
writes the head into a model (`UNetGenerator.scene`), which mixes a gain per kind with these weights.
"""

from __future__ import annotations

import numpy as np

RIDGE_PENALTY = 1000.0  # on standardized features (benchmarks/gain_policy.py, where it was measured)


def fit_scene_head(
    features: np.ndarray, labels: np.ndarray, kinds: list[str], penalty: float = RIDGE_PENALTY
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression of each kind's 0/1 label on standardized features, folded into one linear layer
    that reads the raw features: -> weight (kinds, D), bias (kinds,)."""
    features = np.asarray(features, dtype=np.float64)
    mean, scale = features.mean(0), features.std(0) + 1e-6
    z = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
    shrink = penalty * np.eye(z.shape[1])
    shrink[-1, -1] = 0.0  # the intercept is not shrunk
    targets = np.stack([(np.asarray(labels) == kind).astype(float) for kind in kinds], axis=1)
    w = np.linalg.solve(z.T @ z + shrink, z.T @ targets)  # (D + 1, kinds)
    weight = (w[:-1] / scale[:, None]).T
    bias = w[-1] - (mean / scale) @ w[:-1]
    return weight, bias
