"""Softmax and log-softmax over the last axis of X (R, L), fused per row.

Algorithm (exp never sees a positive argument, so nothing overflows):

    M[i]    = max over k of X[i, k]
    E[i, j] = exp(X[i, j] - M[i])
    S[i]    = sum over k of E[i, k]
    Y[i, j] = E[i, j] * (1 / S[i])                 softmax (one division per row)
    Y[i, j] = X[i, j] - (M[i] + log(S[i]))         log_softmax (E inlined into S)

Schedule, one primitive per line:
- rows are independent: Y's row loop is parallel, and every other stage is
  computed at it, so a row comes from memory once and its temporaries (one
  row of E, a few vectors of partial results) stay in L1 while it is reused;
- each reduction is factored with rfactor (factored_row_reduction): the row
  is split by W = lanes x accumulators, T.rf[i, w] keeps W partial results
  that vector lanes compute side by side (several vectors, so consecutive
  adds do not wait on each other), and T adds the W up at the end;
- the per-row scalars (1 / S, M + log S) are one-element stages at the row
  loop: a division per row, a multiply per element;
- the elementwise stages are split by the same W and vectorized: W/lanes
  vectors per iteration, so the long dependency chains of exp interleave
  (20% faster than one vector on a Zen 3); a tail that W does not divide is
  partitioned off the main body.

The vector width comes from the target (oc.Target(target).vector_bits): 8
float32 lanes on AVX2, 16 on AVX-512.  rfactor=False keeps the same fusion
with plain (serial) reductions: the reference the benchmark compares with.

Tuning: softmax and log_softmax are the autotune templates of their names
(layer_norm.py's ops too), their knobs the choices above (row_knobs: the width
W and rows per parallel task), the defaults exactly this hand schedule.

Sizes: R and L may be oc.size_vars (one build serves every size): the row
loop stays parallel and the row is split by the full W, so a row shorter
than W is all tail (guarded, then partitioned off the main body).
"""
from __future__ import annotations

import numpy as np

import opcomp as oc

from autotune import get_config, template

from . import tunable
from . import validate as v

ACCUMULATORS = 4     # vectors per iteration: hides the latency of adds and exp
WIDTH_VECTORS = (1, 2, 4, 8)     # the width knob's vectors per iteration (registers: 16+)
ROW_BLOCKS = (1, 2, 4, 8, 16)    # the row_block knob: rows per parallel task


def row_widths(L: int, dtype: str, target) -> tuple:
    """(lanes, W, parallel): the vector width, the rfactor and elementwise width
    (lanes x accumulators, at most L and 64 lanes) and whether rows run on the
    thread pool (several cores)."""
    t = oc.Target(target)
    lanes = max(1, t.vector_bits // (8 * np.dtype(dtype).itemsize))
    if v.is_symbolic(L):
        # any row length: the full width, a short row is all tail (guarded, partitioned)
        return lanes, lanes * max(1, min(ACCUMULATORS, 64 // lanes)), t.cores > 1
    if L < lanes:
        return L, L, t.cores > 1
    acc = max(1, min(ACCUMULATORS, L // lanes, 64 // lanes))
    return lanes, lanes * acc, t.cores > 1


def several_rows(R) -> bool:
    """More than one row, or a symbolic count (then the row loop is parallel)."""
    return v.is_symbolic(R) or R > 1


def factored_row_reduction(s, T, at_stage, at_loop, width: int):
    """rfactor T's reduction over the row by `width` (T.rf[i, w] vectorized over w)
    and compute both parts at loop at_loop of at_stage; returns T.rf."""
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=width)
    TF = s.rfactor(T, ki, factor_axis=1)
    i, w = s[TF].op.axis
    (kr,) = s[TF].op.reduce_axis
    s[TF].reorder(i, kr, w)
    s[TF].vectorize(w)
    s[TF].compute_at(s[at_stage], at_loop)
    s[T].compute_at(s[at_stage], at_loop)
    return TF


def vectorize_row(s, T, width: int):
    """Split T's last axis by width (a multiple of the vector width) and vectorize
    the inner part."""
    jo, ji = s[T].split(s[T].op.axis[-1], factor=width)
    s[T].vectorize(ji)


def reduce_at_row(s, T, at_stage, at_loop, width: int, rfactor: bool):
    """A row reduction computed at the row loop: factored and vectorized, or plain."""
    if rfactor and width > 1:
        factored_row_reduction(s, T, at_stage, at_loop, width)
    else:
        s[T].compute_at(s[at_stage], at_loop)


def row_knobs(cfg, R, L, dtype: str, target) -> tuple:
    """Define the row ops' knobs; returns (width, rows per parallel task).

    width      the rfactor and elementwise width: lanes x 1, 2, 4 or 8 vectors
               (at most L and 64 lanes; default lanes x ACCUMULATORS, row_widths)
    row_block  rows per parallel task (1, 2, 4, ... 16, at most R / 2; default 1):
               the row loop is split and its outer part is the parallel one; 0
               runs the rows serially (the only choice with one core or one row)"""
    lanes, width, parallel = row_widths(L, dtype, target)
    widths = {width}
    if not v.is_symbolic(L) and L >= lanes:
        widths |= {lanes * a for a in WIDTH_VECTORS if lanes * a <= min(L, 64)}
    cfg.define_knob("width", sorted(widths), default=width)
    blocks = [b for b in ROW_BLOCKS if v.is_symbolic(R) or b == 1 or 2 * b <= R]
    cfg.define_knob("row_block", blocks + [0] if parallel and several_rows(R) else [0])
    return cfg["width"].val, cfg["row_block"].val


def row_schedule(s, Y, R, L, dtype: str, target) -> tuple:
    """Y's row loop, parallel (in blocks of rows) as the knobs say: (row loop, width)."""
    width, block = row_knobs(get_config(), R, L, dtype, target)
    i = Y.op.axis[0]
    if block > 1:
        outer, i = s[Y].split(i, factor=block)
        s[Y].parallel(outer)
    elif block == 1:
        s[Y].parallel(i)
    return i, width


def softmax_compute(R, L, dtype="float32"):
    """X (R, L) and the stages of softmax over its last axis."""
    X = oc.placeholder((R, L), dtype, name="X")
    k1 = oc.reduce_axis(L, "k1")
    M = oc.compute((R,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E = oc.compute((R, L), lambda i, j: oc.exp(X[i, j] - M[i]), name="E")
    k2 = oc.reduce_axis(L, "k2")
    S = oc.compute((R,), lambda i: oc.sum(E[i, k2], axis=k2), name="S")
    inv = oc.compute((R,), lambda i: oc.const(1, dtype) / S[i], name="inv")
    Y = oc.compute((R, L), lambda i, j: E[i, j] * inv[i], name="Y")
    return X, M, E, S, inv, Y


@template("softmax")
def softmax_template(R, L, dtype: str = "float32", rfactor: bool = True, target="llvm"):
    """The tunable softmax (see the module docstring and row_schedule's knobs)."""
    X, M, E, S, inv, Y = softmax_compute(R, L, dtype)
    s = oc.create_schedule(Y)
    i, width = row_schedule(s, Y, R, L, dtype, target)
    reduce_at_row(s, M, Y, i, width, rfactor)
    s[E].compute_at(s[Y], i)
    reduce_at_row(s, S, Y, i, width, rfactor)
    s[inv].compute_at(s[Y], i)
    vectorize_row(s, E, width)
    vectorize_row(s, Y, width)
    return s, [X, Y]


def softmax(R: int, L: int, dtype: str = "float32", target="llvm", rfactor: bool = True):
    """Softmax over the last axis: returns (schedule, [X (R, L), Y (R, L)]).

    The template "softmax": tuned inside autotune.apply_history_best, else
    the hand schedule above (also for symbolic sizes)."""
    from .gpu import cuda_target, ops as gpu_ops
    if cuda_target(target) is not None:        # the GPU template: schedules/gpu/
        return gpu_ops.softmax(R, L, dtype, target)
    return tunable.call(softmax_template, (R, L, dtype), {"rfactor": rfactor}, target)


def log_softmax_compute(R, L, dtype="float32"):
    """X (R, L) and the stages of log_softmax over its last axis."""
    X = oc.placeholder((R, L), dtype, name="X")
    k1 = oc.reduce_axis(L, "k1")
    M = oc.compute((R,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E = oc.compute((R, L), lambda i, j: oc.exp(X[i, j] - M[i]), name="E")
    k2 = oc.reduce_axis(L, "k2")
    S = oc.compute((R,), lambda i: oc.sum(E[i, k2], axis=k2), name="S")
    LSE = oc.compute((R,), lambda i: M[i] + oc.log(S[i]), name="LSE")
    Y = oc.compute((R, L), lambda i, j: X[i, j] - LSE[i], name="Y")
    return X, M, E, S, LSE, Y


@template("log_softmax")
def log_softmax_template(R, L, dtype: str = "float32", rfactor: bool = True, target="llvm"):
    """The tunable log-softmax (see the module docstring and row_schedule's knobs)."""
    X, M, E, S, LSE, Y = log_softmax_compute(R, L, dtype)
    s = oc.create_schedule(Y)
    i, width = row_schedule(s, Y, R, L, dtype, target)
    s[E].compute_inline()
    reduce_at_row(s, M, Y, i, width, rfactor)
    reduce_at_row(s, S, Y, i, width, rfactor)
    s[LSE].compute_at(s[Y], i)
    vectorize_row(s, Y, width)
    return s, [X, Y]


def log_softmax(R: int, L: int, dtype: str = "float32", target="llvm", rfactor: bool = True):
    """Log-softmax over the last axis: returns (schedule, [X (R, L), Y (R, L)]).

    The template "log_softmax" (tuned records apply, as for softmax)."""
    from .gpu import cuda_target, ops as gpu_ops
    if cuda_target(target) is not None:        # the GPU template: schedules/gpu/
        return gpu_ops.log_softmax(R, L, dtype, target)
    return tunable.call(log_softmax_template, (R, L, dtype), {"rfactor": rfactor}, target)
