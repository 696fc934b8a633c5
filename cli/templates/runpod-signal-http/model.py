"""A ridge regression from the round's features to the forward return.

Why ridge: the features are few, noisy and correlated, the target is mostly noise; a regularised
linear model is hard to overfit, trains in milliseconds in closed form with numpy alone, and its
weights can be read. Predictions become signals: the score is the prediction squashed into [-1, 1].
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["ret_1", "ret_5", "ret_20", "volatility_20", "volume_ratio_20", "range"]
TARGET = "target_fwd_ret_5"


class Model:
    def __init__(self, weights: np.ndarray, mean: np.ndarray, scale: np.ndarray, target_scale: float) -> None:
        self.weights, self.mean, self.scale, self.target_scale = weights, mean, scale, target_scale

    @classmethod
    def fit(cls, frame: pd.DataFrame, l2: float = 1.0) -> Model:
        x = frame[FEATURES].to_numpy(float)
        y = frame[TARGET].to_numpy(float)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-12
        z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
        penalty = l2 * np.eye(z.shape[1])
        penalty[0, 0] = 0.0  # the intercept is not shrunk
        weights = np.linalg.solve(z.T @ z + penalty, z.T @ y)
        return cls(weights, mean, scale, float(np.std(y) + 1e-12))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[FEATURES].to_numpy(float)
        return np.column_stack([np.ones(len(x)), (x - self.mean) / self.scale]) @ self.weights

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Predictions as signal scores in [-1, 1]."""
        return np.tanh(self.predict(frame) / self.target_scale)

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {
                    "features": FEATURES,
                    "weights": self.weights.tolist(),
                    "mean": self.mean.tolist(),
                    "scale": self.scale.tolist(),
                    "target_scale": self.target_scale,
                }
            )
        )

    @classmethod
    def load(cls, path: Path) -> Model:
        data = json.loads(path.read_text())
        return cls(np.array(data["weights"]), np.array(data["mean"]), np.array(data["scale"]), data["target_scale"])


def evaluate(predictions: np.ndarray, realised: np.ndarray) -> dict[str, float]:
    """What matters for a signal: does it rank and point the right way?"""
    correlation = float(np.corrcoef(predictions, realised)[0, 1]) if len(realised) > 2 else 0.0
    hit_rate = float(np.mean(np.sign(predictions) == np.sign(realised))) if len(realised) else 0.0
    return {"val_corr": 0.0 if np.isnan(correlation) else correlation, "val_hit_rate": hit_rate}
