"""The cost model: predicts how fast a configuration runs from its loop-nest features.

Kernel ridge regression with a Gaussian kernel on standardized features,
NumPy only.  It learns online: `fit` is called after every measured batch
with everything measured so far (capped at `max_samples`, keeping the best
and the most recent), which takes milliseconds at the sizes a tuning run
reaches.  The target is log(GFLOP/s); failed configurations are taught as
slower than the slowest success, so the search learns to avoid them.

Only the ranking matters to the search; `rank_quality` reports how well the
model ranked a batch before it was measured (Spearman's rho), the tuner's
evidence that the model is still improving.
"""
from __future__ import annotations

import numpy as np


class CostModel:
    """fit(X, y) then predict(X): higher y is faster."""

    def __init__(self, ridge: float = 1e-2, max_samples: int = 1024):
        self.ridge, self.max_samples = ridge, max_samples
        self.trained = False

    def fit(self, X, y) -> "CostModel":
        """Train on feature rows X and scores y (replaces the previous fit)."""
        X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
        if len(X) != len(y) or X.ndim != 2:
            raise ValueError(f"CostModel.fit: X {X.shape} and y {y.shape} do not match")
        X, y = self._subsample(X, y)
        self.mu = X.mean(axis=0)
        self.sd = X.std(axis=0)
        self.keep = self.sd > 1e-9
        Z = self._standardize(X)
        self.Z = Z
        d2 = _sq_dists(Z, Z)
        positive = d2[d2 > 0]
        self.scale = float(np.median(positive)) if positive.size else 1.0
        self.y_mean = float(y.mean())
        K = np.exp(-d2 / self.scale)
        self.alpha = np.linalg.solve(K + self.ridge * np.eye(len(y)), y - self.y_mean)
        self.trained = True
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted scores of feature rows (0 everywhere before the first fit)."""
        X = np.asarray(X, np.float64)
        if not self.trained:
            return np.zeros(len(X))
        K = np.exp(-_sq_dists(self._standardize(X), self.Z) / self.scale)
        return K @ self.alpha + self.y_mean

    def _standardize(self, X):
        return ((X - self.mu) / np.where(self.keep, self.sd, 1.0))[:, self.keep]

    def _subsample(self, X, y):
        if len(y) <= self.max_samples:
            return X, y
        best = np.argsort(-y)[: self.max_samples // 4]
        recent = np.arange(len(y))[-(self.max_samples - len(best)):]
        pick = np.unique(np.concatenate([best, recent]))
        return X[pick], y[pick]


def _sq_dists(A, B) -> np.ndarray:
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T
    return np.maximum(d, 0.0)


def rank_quality(predicted, measured) -> float:
    """Spearman's rank correlation of predictions with measurements (nan if < 3)."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    if len(p) < 3 or np.ptp(p) == 0 or np.ptp(m) == 0:
        return float("nan")
    rp, rm = np.argsort(np.argsort(p)), np.argsort(np.argsort(m))
    return float(np.corrcoef(rp, rm)[0, 1])
