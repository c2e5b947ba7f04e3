"""GPU row operations over the last axis: softmax, log_softmax, layer_norm, rms_norm,
and reductions (sum, mean, max, min, prod) of the last axis.

Algorithm first (softmax; the others follow the same plan):

    M[i]    = max over k of X[i, k]
    S[i]    = sum over k of exp(X[i, k] - M[i])     (exp inlined: never stored)
    Y[i, j] = exp(X[i, j] - M[i]) / S[i]

Schedule, one primitive per line: one block per row (blockIdx.x over the rows
of Y); each reduction is split by the block's thread count and rfactored, so
thread t reduces the elements t, t + threads, ... (neighbouring threads read
neighbouring addresses) into a partial in shared memory; the GPU tail turns
the sum of the partials into a tree with warp shuffles (opcomp/passes/gpu_reduce.py);
the elementwise output is split by the same count, threadIdx.x inside.

Knob (templates "gpu/softmax", "gpu/log_softmax", "gpu/layer_norm",
"gpu/rms_norm", "gpu/reduce"):
  threads   threads per block, whole warps, powers of two up to the target's
            limit; default the power of two covering L, at least a warp and at
            most 256 (a warp for a short row, 8 for a long one).
"""
from __future__ import annotations

import opcomp as oc
from autotune import get_config, template

from .common import bind, row_threads, thread_counts


def threads_knob(cfg, target, L: int) -> int:
    """The threads knob of the module docstring."""
    cfg.define_knob("threads", thread_counts(target), default=row_threads(target, L))
    return cfg["threads"].val


def block_reduce(s, T, threads: int) -> None:
    """One block per element of T; its reduction rfactored over `threads` partials."""
    _, ki = s[T].split(T.op.reduce_axis[0], factor=threads)
    TF = s.rfactor(T, ki)
    row = s[T].fuse(*T.op.axis) if len(T.op.axis) > 1 else T.op.axis[0]
    bind(s[T], row, "blockIdx.x")
    s[TF].compute_at(s[T], row)
    bind(s[TF], s[TF].op.axis[0], "threadIdx.x")


def rows_of(s, T, row_stages, threads: int) -> None:
    """T (rows, L) one block per row; row_stages reduced across the block at its row."""
    i, j = T.op.axis
    _, ji = s[T].split(j, factor=threads)
    bind(s[T], i, "blockIdx.x")
    bind(s[T], ji, "threadIdx.x")
    for R in row_stages:
        _, ki = s[R].split(R.op.reduce_axis[0], factor=threads)
        RF = s.rfactor(R, ki)
        s[R].compute_at(s[T], i)
        s[RF].compute_at(s[R], R.op.axis[0])
        bind(s[RF], s[RF].op.axis[0], "threadIdx.x")


def _row_max_sum(X, R, L):
    k1 = oc.reduce_axis(L, "k1")
    M = oc.compute((R,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E = oc.compute((R, L), lambda i, j: oc.exp(X[i, j] - M[i]), name="E")
    k2 = oc.reduce_axis(L, "k2")
    S = oc.compute((R,), lambda i: oc.sum(E[i, k2], axis=k2), name="S")
    return M, E, S


@template("gpu/softmax")
def gpu_softmax(R, L, dtype: str = "float32", target="cuda"):
    """Softmax over the last axis: returns (schedule, [X (R, L), Y (R, L)])."""
    threads = threads_knob(get_config(), target, L)
    X = oc.placeholder((R, L), dtype, name="X")
    M, E, S = _row_max_sum(X, R, L)
    Y = oc.compute((R, L), lambda i, j: E[i, j] / S[i], name="Y")
    s = oc.create_schedule(Y)
    s[E].compute_inline()
    rows_of(s, Y, (M, S), threads)
    return s, [X, Y]


@template("gpu/log_softmax")
def gpu_log_softmax(R, L, dtype: str = "float32", target="cuda"):
    """Log-softmax over the last axis: returns (schedule, [X (R, L), Y (R, L)])."""
    threads = threads_knob(get_config(), target, L)
    X = oc.placeholder((R, L), dtype, name="X")
    M, E, S = _row_max_sum(X, R, L)
    Y = oc.compute((R, L), lambda i, j: X[i, j] - (M[i] + oc.log(S[i])), name="Y")
    s = oc.create_schedule(Y)
    s[E].compute_inline()
    rows_of(s, Y, (M, S), threads)
    return s, [X, Y]


@template("gpu/layer_norm")
def gpu_layer_norm(R, L, eps: float = 1e-5, dtype: str = "float32", target="cuda"):
    """Layer norm over the last axis (two passes, as schedules.layer_norm): returns
    (schedule, [X (R, L), gamma (L,), beta (L,), Y (R, L)])."""
    threads = threads_knob(get_config(), target, L)
    X = oc.placeholder((R, L), dtype, name="X")
    gamma = oc.placeholder((L,), dtype, name="gamma")
    beta = oc.placeholder((L,), dtype, name="beta")
    k1 = oc.reduce_axis(L, "k1")
    S = oc.compute((R,), lambda i: oc.sum(X[i, k1], axis=k1), name="S")
    k2 = oc.reduce_axis(L, "k2")
    Q = oc.compute((R,), lambda i: oc.sum((X[i, k2] - S[i] / L) * (X[i, k2] - S[i] / L),
                                          axis=k2), name="Q")
    Y = oc.compute((R, L), lambda i, j: (X[i, j] - S[i] / L) * oc.rsqrt(
        Q[i] / L + oc.const(eps, dtype)) * gamma[j] + beta[j], name="Y")
    s = oc.create_schedule(Y)
    rows_of(s, Y, (S, Q), threads)
    return s, [X, gamma, beta, Y]


@template("gpu/rms_norm")
def gpu_rms_norm(R, L, eps: float = 1e-6, dtype: str = "float32", target="cuda"):
    """RMS norm over the last axis: returns (schedule, [X (R, L), gamma (L,), Y (R, L)])."""
    threads = threads_knob(get_config(), target, L)
    X = oc.placeholder((R, L), dtype, name="X")
    gamma = oc.placeholder((L,), dtype, name="gamma")
    k = oc.reduce_axis(L, "k")
    Q = oc.compute((R,), lambda i: oc.sum(X[i, k] * X[i, k], axis=k), name="Q")
    Y = oc.compute((R, L), lambda i, j: X[i, j] * oc.rsqrt(
        Q[i] / L + oc.const(eps, dtype)) * gamma[j], name="Y")
    s = oc.create_schedule(Y)
    rows_of(s, Y, (Q,), threads)
    return s, [X, gamma, Y]


REDUCERS = {"sum": oc.sum, "mean": oc.sum, "max": oc.max, "min": oc.min, "prod": oc.prod}


@template("gpu/reduce")
def gpu_reduce(shape, kind: str = "sum", keepdims: bool = False, dtype: str = "float32",
               target="cuda"):
    """kind over the last axis of X (shape): returns (schedule, [X, out]); one block per
    output element, rfactor across its threads.  A mean or keepdims add a
    one-thread-per-element copy; a 1-D X needs keepdims (out (1,)): the block loop
    needs an axis."""
    *kept, L = shape
    threads = threads_knob(get_config(), target, L)
    X = oc.placeholder(tuple(shape), dtype, name="X")
    r = oc.reduce_axis(L, "r")
    rows = tuple(kept) or (1,)
    acc = oc.compute(rows, lambda *i: REDUCERS[kind](X[(*i[:len(kept)], r)], axis=r),
                     name="acc")
    if kind != "mean" and not keepdims:
        s = oc.create_schedule(acc)
        block_reduce(s, acc, threads)
        return s, [X, acc]
    scale = oc.const(L, dtype)
    out_shape = tuple(kept) + ((1,) if keepdims else ())

    def finish(*i):
        value = acc[i[:len(kept)] if kept else (0,)]
        return value / scale if kind == "mean" else value
    out = oc.compute(out_shape, finish, name="out")
    s = oc.create_schedule(out)
    block_reduce(s, acc, threads)
    from .elementwise import schedule_elementwise
    schedule_elementwise(s, out, threads)
    return s, [X, out]
