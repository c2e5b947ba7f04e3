"""Batched matmul: C[b] = A[b] @ B[b] for each of `batch` independent products.

Algorithm first: as in dense, each B[b] is packed into panels of bn columns
(packedB[b, p, k, c] = B[b, k, p*bn + c], or B[b, p*bn + c, k] when stored
transposed) and C[b] accumulates in a bm x bn register tile.

Schedule: the GEMM schedule of dense.py with the batch loop fused into the
parallel panel loop, so small products (12 x 128 x 64 x 128) still give every
core many tasks, and each task packs its own panel (K x bn) in its cache.
"""
from __future__ import annotations

import opcomp as oc
from autotune import get_config, template

from . import tunable
from . import validate as v
from .dense import define_gemm_knobs, schedule_gemm


def batch_matmul_compute(batch, M, N, K, transpose_a=False, transpose_b=False, bn=16,
                         dtype="float32", bm=0):
    """A, B, packedB and C."""
    A = oc.placeholder((batch, K, M) if transpose_a else (batch, M, K), dtype, name="A")
    B = oc.placeholder((batch, N, K) if transpose_b else (batch, K, N), dtype, name="B")
    panels = (N + bn - 1) // bn

    def pack(b, p, k, c):
        col = oc.minimum(p * bn + c, N - 1)
        value = B[b, col, k] if transpose_b else B[b, k, col]
        return oc.select(p * bn + c < N, value, v.zero(dtype))
    packed = oc.compute((batch, panels, K, bn), pack, name="packedB")
    k = oc.reduce_axis(K, "k")

    def read_a(b, i, kk):
        return A[b, kk, i] if transpose_a else A[b, i, kk]
    if bm:
        # A in micro-panels of bm rows, k-major: a tile's broadcasts are one stream
        packed_a = oc.compute((batch, (M + bm - 1) // bm, K, bm), lambda b, p, kk, r: read_a(
            b, oc.minimum(p * bm + r, M - 1), kk), name="packedA")
        read_a = lambda b, i, kk: packed_a[b, i // bm, kk, i % bm]      # noqa: E731

    def product(b, i, j):
        return oc.sum(read_a(b, i, k) * packed[b, j // bn, k, j % bn], axis=k)
    C = oc.compute((batch, M, N), product, name="C")
    return A, B, packed, C


def batch_matmul(batch, M, N, K, dtype="float32", transpose_a=False, transpose_b=False,
                 bm=None, bn=None, bk=None, pack_a=False, target="llvm"):
    """C[b] = A[b] @ B[b]: returns (schedule, [A, B, C]).

    args: A (batch, M, K), or (batch, K, M) with transpose_a; B (batch, K, N),
    or (batch, N, K) with transpose_b; C (batch, M, N).  dtype: float32,
    float64.  bm x bn is the register tile (default from the target), bk the
    k unroll (default 4); pack_a copies A into micro-panels first (off: measured
    slower on W3, where each A[b] is already small and cache-resident).  The
    template "batch_matmul" (the knobs of dense.define_gemm_knobs): inside
    autotune.apply_history_best a tuned record applies to the choices left out."""
    from .gpu import cuda_target, ops as gpu_ops
    if cuda_target(target) is not None:        # the GPU template: schedules/gpu/
        return gpu_ops.batch_matmul(batch, M, N, K, dtype, transpose_a, transpose_b, target,
                                    bm=bm, bn=bn, pack_a=pack_a or None)
    return tunable.call(batch_matmul_template, (batch, M, N, K, dtype, transpose_a,
                                                transpose_b, bm, bn, bk, pack_a), {}, target)


@template("batch_matmul")
def batch_matmul_template(batch, M, N, K, dtype="float32", transpose_a=False,
                          transpose_b=False, bm=None, bn=None, bk=None, pack_a=False,
                          target="llvm"):
    """The tunable batched matmul (arguments as batch_matmul's)."""
    op = "batch_matmul"
    batch, M, N, K = (v.positive(op, name, val) for name, val in
                      (("batch", batch), ("M", M), ("N", N), ("K", K)))
    dtype = v.dtype(op, dtype, v.FLOATS)
    v.flag(op, "transpose_a", transpose_a)
    v.flag(op, "transpose_b", transpose_b)
    tgt = v.target(op, target)
    bm, bn, bk, lanes = define_gemm_knobs(get_config(), op, dtype, tgt, M, N, (bm, bn, bk))
    A, B, packed, C = batch_matmul_compute(batch, M, N, K, transpose_a, transpose_b, bn, dtype,
                                           bm if pack_a else 0)
    s = oc.create_schedule(C)
    schedule_gemm(s, packed, C, C, bm, bn, bk, lanes, tgt.cores)
    return s, [A, B, C]
