"""GEMV: y = A @ x, or y = A.T @ x with transpose_a.

Algorithm first.  A GEMV reads each element of A once, so it runs at the
speed A streams from memory; the arithmetic only has to keep up.

- y = A @ x (A row-major (M, N)): each row is a dot product along A's
  contiguous axis.  A block of bm rows keeps bm x unroll vector partial sums
  (lane-wise, so no reduction across lanes in the loop; one load of x serves
  the bm rows); after the last whole block of columns the lanes are summed
  pairwise (a tree, not a chain of dependent adds), and the columns that do
  not fill a block are added separately.  The order of the sum differs from
  BLAS's, within float rounding.
- y = A.T @ x (A (N, M)): y is the kept, contiguous axis: a block of y
  (`unroll` vectors) accumulates in registers over the rows of A, each row
  scaled by a broadcast x[i].

Schedule: the row blocks (or y blocks) are the parallel loop; the partial
sums are a stage computed at the block loop, unrolled and vectorized, the
column loop unrolled by KUNROLL (fewer loop instructions per load: 0.83x
to 0.93x OpenBLAS on an L3-resident 1024 x 1024, one Zen 3 thread).
"""
from __future__ import annotations

import opcomp as oc

from . import validate as v

UNROLL = 2      # vectors of partial sums per row
KUNROLL = 2     # column blocks per iteration of the A @ x loop


def matvec_compute(M, N, transpose_a, bm_lanes, dtype, unroll=UNROLL):
    """A, x, the partial stages (name -> tensor) and y."""
    A = oc.placeholder((N, M) if transpose_a else (M, N), dtype, name="A")
    x = oc.placeholder((N,), dtype, name="x")
    if transpose_a:
        i = oc.reduce_axis(N, "i")
        y = oc.compute((M,), lambda j: oc.sum(A[i, j] * x[i], axis=i), name="y")
        return A, x, {}, y
    block = bm_lanes * unroll
    whole, rest = N // block, N % block
    stages = {}
    if whole:
        ko = oc.reduce_axis(whole, "ko")
        stages["partial"] = oc.compute((M, block), lambda r, l: oc.sum(
            A[r, ko * block + l] * x[ko * block + l], axis=ko), name="partial")
    if rest:
        t = oc.reduce_axis(rest, "t")
        stages["tail"] = oc.compute((M,), lambda r: oc.sum(
            A[r, whole * block + t] * x[whole * block + t], axis=t), name="tail")
    partial, tail = stages.get("partial"), stages.get("tail")
    if partial is None:
        return A, x, stages, tail

    def finish(r):
        value = tree_sum([partial[r, l] for l in range(block)])
        return value + tail[r] if tail is not None else value
    return A, x, stages, oc.compute((M,), finish, name="y")


def tree_sum(values):
    """Pairwise sum (a + b) + (c + d) ...: log2(n) dependent adds instead of n."""
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def matvec(M, N, dtype="float32", transpose_a=False, bm=4, unroll=UNROLL, target="llvm"):
    """y = A @ x (A (M, N)), or A.T @ x with transpose_a (A (N, M)): returns
    (schedule, [A, x, y]); x (N,), y (M,).  dtype: float32, float64, int32.
    bm: rows per block (A @ x); unroll: vectors of partial sums per row (or
    of y per block); bm x unroll accumulators must fit the registers."""
    op = "matvec"
    M, N = v.positive(op, "M", M), v.positive(op, "N", N)
    dtype = v.dtype(op, dtype)
    v.flag(op, "transpose_a", transpose_a)
    bm = v.positive(op, "bm", bm)
    unroll = v.positive(op, "unroll", unroll)
    tgt = v.target(op, target)
    lanes = v.lanes(dtype, tgt)
    A, x, stages, y = matvec_compute(M, N, transpose_a, lanes, dtype, unroll)
    s = oc.create_schedule(y)
    if transpose_a:
        schedule_columns(s, y, lanes, unroll)
    else:
        schedule_rows(s, stages, y, bm, lanes)
    return s, [A, x, y]


def schedule_rows(s, stages, y, bm, lanes):
    """A @ x: blocks of bm rows in parallel, the partial sums of a block together."""
    (r,) = s[y].op.axis
    ro, ri = s[y].split(r, factor=bm)
    s[y].parallel(ro)
    for name in ("partial", "tail"):
        st = stages.get(name)
        if st is not None and st is not y:
            s[st].compute_at(s[y], ro)
    partial = stages.get("partial")
    if partial is not None:
        rp, lp = s[partial].op.axis
        (ko,) = s[partial].op.reduce_axis
        lo, li = s[partial].split(lp, factor=lanes)
        koo, koi = s[partial].split(ko, factor=KUNROLL)
        s[partial].reorder(koo, koi, rp, lo, li)
        s[partial].unroll(koi)
        s[partial].unroll(rp)
        s[partial].unroll(lo)
        s[partial].vectorize(li)


def schedule_columns(s, y, lanes, unroll):
    """A.T @ x: blocks of `unroll` vectors of y in parallel, accumulated in registers."""
    local = s.cache_write(y, "local")
    (j,) = s[y].op.axis
    jo, ji = s[y].split(j, factor=lanes * unroll)
    s[y].parallel(jo)
    jio, jii = s[y].split(ji, factor=lanes)
    s[y].unroll(jio)
    s[y].vectorize(jii)
    s[local].compute_at(s[y], jo)
    (jc,) = s[local].op.axis
    (i,) = s[local].op.reduce_axis
    jco, jci = s[local].split(jc, factor=lanes)
    s[local].reorder(i, jco, jci)
    s[local].unroll(jco)
    s[local].vectorize(jci)
