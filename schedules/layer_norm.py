"""Layer norm and RMS norm over the last axis of X (R, L), fused per row.

Algorithm (two passes over the row for the variance, as PyTorch: no
cancellation between E[x^2] and E[x]^2):

    mu[i]   = (sum over k of X[i, k]) / L
    var[i]  = (sum over k of (X[i, k] - mu[i])^2) / L
    rstd[i] = 1 / sqrt(var[i] + eps)
    Y[i, j] = (X[i, j] - mu[i]) * rstd[i] * gamma[j] + beta[j]       layer_norm

    rstd[i] = 1 / sqrt((sum over k of X[i, k]^2) / L + eps)
    Y[i, j] = X[i, j] * rstd[i] * gamma[j]                           rms_norm

Schedule, one primitive per line (the same plan as softmax.py):
- rows are independent: Y's row loop is parallel and every other stage is
  computed at it, so a row comes from memory once and is re-read from L1;
- each sum is factored with rfactor into lanes x accumulators partial sums
  that vector lanes compute side by side, added up at the end of the row;
- the per-row scalars (mu, rstd) are one-element stages at the row loop, so
  the division and the square root run once per row, not per element;
- Y is split by the same lanes x accumulators width and vectorized.

rfactor=False keeps the fusion with plain serial sums (the benchmark's
reference).  R and L may be oc.size_vars, as in softmax.py.
"""
from __future__ import annotations

import opcomp as oc

from autotune import template

from . import tunable
from . import validate as v
from .softmax import reduce_at_row, row_schedule, vectorize_row


def _length(L, dtype):
    """L as a divisor: a symbolic length in the data's dtype (an int32 variable would
    promote a float32 mean to float64)."""
    return L.astype(dtype) if v.is_symbolic(L) else L


def layer_norm_compute(R, L, eps=1e-5, dtype="float32"):
    """X (R, L), gamma (L,), beta (L,) and the stages of layer norm over the last axis."""
    X = oc.placeholder((R, L), dtype, name="X")
    gamma = oc.placeholder((L,), dtype, name="gamma")
    beta = oc.placeholder((L,), dtype, name="beta")
    k1 = oc.reduce_axis(L, "k1")
    S = oc.compute((R,), lambda i: oc.sum(X[i, k1], axis=k1), name="S")
    mu = oc.compute((R,), lambda i: S[i] / _length(L, dtype), name="mu")
    k2 = oc.reduce_axis(L, "k2")
    Q = oc.compute((R,), lambda i: oc.sum((X[i, k2] - mu[i]) * (X[i, k2] - mu[i]), axis=k2),
                   name="Q")
    rstd = oc.compute((R,), lambda i: oc.rsqrt(Q[i] / _length(L, dtype) + oc.const(eps, dtype)),
                      name="rstd")
    Y = oc.compute((R, L), lambda i, j: (X[i, j] - mu[i]) * rstd[i] * gamma[j] + beta[j],
                   name="Y")
    return X, gamma, beta, S, mu, Q, rstd, Y


@template("layer_norm")
def layer_norm_template(R, L, eps: float = 1e-5, dtype: str = "float32", rfactor: bool = True,
                        target="llvm"):
    """The tunable layer norm (the knobs of softmax.row_knobs)."""
    X, gamma, beta, S, mu, Q, rstd, Y = layer_norm_compute(R, L, eps, dtype)
    s = oc.create_schedule(Y)
    i, width = row_schedule(s, Y, R, L, dtype, target)
    reduce_at_row(s, S, Y, i, width, rfactor)
    s[mu].compute_at(s[Y], i)
    reduce_at_row(s, Q, Y, i, width, rfactor)
    s[rstd].compute_at(s[Y], i)
    vectorize_row(s, Y, width)
    return s, [X, gamma, beta, Y]


def layer_norm(R: int, L: int, eps: float = 1e-5, dtype: str = "float32", target="llvm",
               rfactor: bool = True):
    """Layer norm over the last axis: returns (schedule, [X (R, L), gamma (L,), beta (L,),
    Y (R, L)]).  The template "layer_norm": tuned records apply inside
    autotune.apply_history_best, else the hand schedule."""
    from .gpu import cuda_target, ops as gpu_ops
    if cuda_target(target) is not None:        # the GPU template: schedules/gpu/
        return gpu_ops.layer_norm(R, L, eps, dtype, target)
    return tunable.call(layer_norm_template, (R, L, eps, dtype), {"rfactor": rfactor}, target)


def rms_norm_compute(R, L, eps=1e-6, dtype="float32"):
    """X (R, L), gamma (L,) and the stages of RMS norm over the last axis."""
    X = oc.placeholder((R, L), dtype, name="X")
    gamma = oc.placeholder((L,), dtype, name="gamma")
    k = oc.reduce_axis(L, "k")
    Q = oc.compute((R,), lambda i: oc.sum(X[i, k] * X[i, k], axis=k), name="Q")
    rstd = oc.compute((R,), lambda i: oc.rsqrt(Q[i] / _length(L, dtype) + oc.const(eps, dtype)),
                      name="rstd")
    Y = oc.compute((R, L), lambda i, j: X[i, j] * rstd[i] * gamma[j], name="Y")
    return X, gamma, Q, rstd, Y


@template("rms_norm")
def rms_norm_template(R, L, eps: float = 1e-6, dtype: str = "float32", rfactor: bool = True,
                      target="llvm"):
    """The tunable RMS norm (the knobs of softmax.row_knobs)."""
    X, gamma, Q, rstd, Y = rms_norm_compute(R, L, eps, dtype)
    s = oc.create_schedule(Y)
    i, width = row_schedule(s, Y, R, L, dtype, target)
    reduce_at_row(s, Q, Y, i, width, rfactor)
    s[rstd].compute_at(s[Y], i)
    vectorize_row(s, Y, width)
    return s, [X, gamma, Y]


def rms_norm(R: int, L: int, eps: float = 1e-6, dtype: str = "float32", target="llvm",
             rfactor: bool = True):
    """RMS norm over the last axis: returns (schedule, [X (R, L), gamma (L,), Y (R, L)]).
    The template "rms_norm" (tuned records apply, as for layer_norm)."""
    from .gpu import cuda_target, ops as gpu_ops
    if cuda_target(target) is not None:        # the GPU template: schedules/gpu/
        return gpu_ops.rms_norm(R, L, eps, dtype, target)
    return tunable.call(rms_norm_template, (R, L, eps, dtype), {"rfactor": rfactor}, target)
