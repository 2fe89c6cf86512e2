"""The scene head's inputs and fit: which kind of scene a photo is, from the means of G's deepest encoder levels.

`pooled_levels` is what the head reads (`UNetGenerator.scene_weights` calls it); `capture_scene_features`
collects the same from a colorizer's own forward passes; `fit_ridge` and `fit_scene_head` are pure numpy.
`scripts/scene_gain.py` puts them together and writes the head into a model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

SCENE_LEVELS = 3  # the scene head reads the means of this many deepest encoder levels
RIDGE_PENALTY = 1000.0  # on standardized features (benchmarks/gain_policy.py, where it was measured)


def pooled_levels(outputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """The encoder levels' outputs, shallowest first -> (N, D): the spatial means of the deepest
    `SCENE_LEVELS`, deepest first, in fp32."""
    return torch.cat([o.float().mean(dim=(2, 3)) for o in outputs[: -SCENE_LEVELS - 1 : -1]], dim=1)


@contextmanager
def capture_scene_features(generator: nn.Module) -> Iterator[list[np.ndarray]]:
    """While inside, each forward pass of `generator` (a U-Net, e.g. `Colorizer.backend.generator`) adds its
    photos' scene features, (N, D) float64, to the list it yields."""
    found: list[np.ndarray] = []
    deepest = list(generator.downs)[-SCENE_LEVELS:]
    outputs: list[torch.Tensor] = []

    def keep(module, inputs, output):
        outputs.append(output)
        if module is deepest[-1]:
            found.append(pooled_levels(outputs).double().cpu().numpy())
            outputs.clear()

    hooks = [level.register_forward_hook(keep) for level in deepest]
    try:
        yield found
    finally:
        for hook in hooks:
            hook.remove()


def fit_ridge(
    features: np.ndarray, targets: np.ndarray, penalty: float = RIDGE_PENALTY
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression of targets (N, K) on standardized features (N, D), the intercept not shrunk, folded into
    one linear layer that reads the raw features: -> weight (K, D), bias (K,)."""
    features = np.asarray(features, dtype=np.float64)
    mean, scale = features.mean(0), features.std(0) + 1e-6
    z = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
    shrink = penalty * np.eye(z.shape[1])
    shrink[-1, -1] = 0.0
    w = np.linalg.solve(z.T @ z + shrink, z.T @ np.asarray(targets, dtype=np.float64))  # (D + 1, K)
    return (w[:-1] / scale[:, None]).T, w[-1] - (mean / scale) @ w[:-1]


def fit_scene_head(
    features: np.ndarray, labels: np.ndarray, kinds: list[str], penalty: float = RIDGE_PENALTY
) -> tuple[np.ndarray, np.ndarray]:
    """Each kind's 0/1 label regressed on the features: -> the scene head's weight (kinds, D), bias (kinds,)."""
    targets = np.stack([(np.asarray(labels) == kind).astype(float) for kind in kinds], axis=1)
    return fit_ridge(features, targets, penalty)


def scene_weights(scores: np.ndarray) -> np.ndarray:
    """The head's scores (N, kinds) -> each photo's weight per kind: clipped to [0, 1], summing to 1."""
    weights = np.clip(scores, 0.0, 1.0)
    return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-6)
