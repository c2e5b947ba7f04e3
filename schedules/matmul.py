"""Matmul C = A @ B (row-major), with the classic CPU GEMM schedule.

Algorithm first: B is packed into panels of `bn` columns so the inner loop
reads it contiguously; C accumulates in a bm x bn register tile.

Schedule, one primitive per line:
- the panel loop is outermost and parallel, so each core keeps one packed
  B panel (K x bn) in its L2 while it sweeps the rows of A;
- the accumulator tile is a cache_write stage computed at the tile loop, its
  rows unrolled and its columns vectorized, so LLVM keeps the whole tile in
  registers across the k loop.  The tile is sized by the target's registers:
  two vectors wide, and 8 rows with AVX-512's 32 registers (16 accumulators),
  6 rows with AVX2's 16 (12 accumulators, room left for B and the broadcast);
  a tile that does not fit spills and runs at half speed or worse;
- k is split and its inner part unrolled;
- sizes that do not divide the tile are guarded, and loop partitioning moves
  the guards out of the main body.
"""
from __future__ import annotations

import numpy as np

import opcomp as oc


def matmul_compute(M, N, K, bn: int = 32, dtype: str = "float32"):
    """A (M x K), B (K x N), the packed copy of B, and C = A @ B."""
    A = oc.placeholder((M, K), dtype, name="A")
    B = oc.placeholder((K, N), dtype, name="B")
    panels = (N + bn - 1) // bn
    # Columns past N read a clamped (valid) address and store 0: never out of bounds.
    packed = oc.compute((panels, K, bn), lambda p, k, c: oc.select(
        p * bn + c < N, B[k, oc.minimum(p * bn + c, N - 1)], oc.const(0, dtype)), name="packedB")
    k = oc.reduce_axis(K, "k")
    C = oc.compute((M, N), lambda i, j: oc.sum(A[i, k] * packed[j // bn, k, j % bn], axis=k),
                   name="C")
    return A, B, packed, C


def register_tile(dtype: str = "float32", target="llvm") -> dict:
    """The default bm, bn, lanes for the target's vector registers (see above)."""
    target = oc.Target(target)
    bits, count = target.vector_bits, target.vector_registers
    lanes = max(1, bits // (8 * np.dtype(dtype).itemsize))
    return {"bm": 8 if count >= 32 else 6, "bn": 2 * lanes, "lanes": lanes}


def matmul(M, N, K, dtype: str = "float32", bm: int = None, bn: int = None, bk: int = 4,
           lanes: int = None, target="llvm"):
    """The scheduled GEMM: returns (schedule, [A, B, C]).

    bm x bn is the register tile and lanes the vector width; left out, they come
    from the target's vector registers (register_tile)."""
    tile = register_tile(dtype, target)
    bm, bn, lanes = bm or tile["bm"], bn or tile["bn"], lanes or tile["lanes"]
    A, B, packed, C = matmul_compute(M, N, K, bn, dtype)
    s = oc.create_schedule(C)
    CC = s.cache_write(C, "local")
    i, j = C.op.axis
    io, jo, ii, ji = s[C].tile(i, j, bm, bn)
    s[C].reorder(jo, io, ii, ji)
    s[C].parallel(jo)
    jio, jii = s[C].split(ji, factor=lanes)
    s[C].unroll(ii)
    s[C].unroll(jio)
    s[C].vectorize(jii)
    s[CC].compute_at(s[C], io)
    ic, jc = s[CC].op.axis
    (kc,) = s[CC].op.reduce_axis
    ko, ki = s[CC].split(kc, factor=bk)
    jco, jci = s[CC].split(jc, factor=lanes)
    s[CC].reorder(ko, ki, ic, jco, jci)
    s[CC].unroll(ki)
    s[CC].unroll(ic)
    s[CC].unroll(jco)
    s[CC].vectorize(jci)
    p, _, c = s[packed].op.axis
    s[packed].parallel(p)
    co, ci = s[packed].split(c, factor=lanes)
    s[packed].vectorize(ci)
    return s, [A, B, C]
