"""Matmul C = A @ B (row-major): the classic CPU GEMM schedule, as an autotune template.

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

Knobs (the template "matmul"; its fallback is exactly the schedule above):
  tile       "BMxBN": the register tile, bn 1 to 4 vectors wide (the packed panel
             width follows) and bm rows (any: a tail is guarded); only tiles
             whose accumulators fit the target's vector registers
  row_block  register tiles per block of rows (the blocks' rows of A stay in cache)
  tile_k     [-1, bk]: the unrolled k step
  order      the order of the row-block, panel and tile-row loops
  fuse       parallelize the outermost loop alone, or fused with the next one
  unroll_k   unroll the k step or not

    s, args = matmul(1024, 1024, 1024)                   # fallback: the hand schedule
    with autotune.apply_history_best("tune.jsonl"):
        s, args = matmul(1024, 1024, 1024)               # the best tuned record
"""
from __future__ import annotations

import numpy as np

import opcomp as oc
from autotune import apply_config, get_config, template

from . import validate as v

ROW_BLOCKS = (1, 2, 4, 8, 16)
MAX_TILE_ROWS = 12


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


def register_tiles(lanes: int, registers: int) -> list:
    """Register tiles "BMxBN" whose accumulators (bm x bn/lanes vectors), one row of
    B (bn/lanes vectors) and a broadcast of A fit in `registers` vector registers:
    a tile that does not fit spills, so it is not worth measuring."""
    out = []
    for vectors in (1, 2, 3, 4):
        for bm in range(1, MAX_TILE_ROWS + 1):
            if bm * vectors + vectors + 1 <= registers:
                out.append(f"{bm}x{vectors * lanes}")
    return out


@template("matmul")
def matmul_template(M, N, K, dtype: str = "float32", lanes: int = None, registers: int = None,
                    target="llvm"):
    """The tunable GEMM (see the module docstring): returns (schedule, [A, B, C]).

    lanes, registers: the vector width and register count the tiles are sized for
    (default: the target's)."""
    cfg = get_config()
    tile = register_tile(dtype, target)
    lanes = lanes or tile["lanes"]
    regs = registers or oc.Target(target).vector_registers
    default = f"{tile['bm']}x{2 * lanes}"
    cfg.define_knob("tile", sorted(set(register_tiles(lanes, regs)) | {default},
                                   key=_tile_key), default=default)
    bm, bn = _tile_key(cfg["tile"].val)
    A, B, packed, C = matmul_compute(M, N, K, bn, dtype)
    s = oc.create_schedule(C)
    CC = s.cache_write(C, "local")
    i, j = C.op.axis
    cfg.define_knob("row_block", list(ROW_BLOCKS))
    cfg.define_split("tile_k", K, policy="power2", max_factor=16,
                     default=[-1, min(4, 1 << (K.bit_length() - 1))])
    ib, rows = s[C].split(i, factor=bm * cfg["row_block"].val)
    it, ii = s[C].split(rows, factor=bm)
    jo, ji = s[C].split(j, factor=bn)
    cfg.define_reorder("order", [ib, jo, it], default=[1, 0, 2])
    outer = cfg["order"].apply(s, C, [ib, jo, it])
    s[C].reorder(*outer, ii, ji)
    cfg.define_knob("fuse", [0, 1])
    s[C].parallel(s[C].fuse(outer[0], outer[1]) if cfg["fuse"].val else outer[0])
    _vector_tile(s[C], ii, ji, lanes)
    s[CC].compute_at(s[C], outer[2])
    _accumulate(s[CC], cfg, lanes)
    _pack(s[packed], lanes)
    return s, [A, B, C]


def _tile_key(name: str) -> tuple:
    bm, bn = name.split("x")
    return int(bm), int(bn)


def _vector_tile(stage, rows, cols, lanes: int) -> None:
    """Rows unrolled, columns split into unrolled vectors."""
    vo, vi = stage.split(cols, factor=lanes)
    stage.unroll(rows)
    stage.unroll(vo)
    stage.vectorize(vi)


def _accumulate(stage, cfg, lanes: int) -> None:
    """The register tile's k loop: k split by tile_k, the tile inside it."""
    ic, jc = stage.op.axis
    (kc,) = stage.op.reduce_axis
    ko, ki = cfg["tile_k"].apply(None, stage, kc)
    jco, jci = stage.split(jc, factor=lanes)
    stage.reorder(ko, ki, ic, jco, jci)
    cfg.define_knob("unroll_k", [1, 0])
    if cfg["unroll_k"].val:
        stage.unroll(ki)
    stage.unroll(ic)
    stage.unroll(jco)
    stage.vectorize(jci)


def _pack(stage, lanes: int) -> None:
    p, _, c = stage.op.axis
    stage.parallel(p)
    _, ci = stage.split(c, factor=lanes)
    stage.vectorize(ci)


def matmul(M, N, K, dtype: str = "float32", bm: int = None, bn: int = None, bk: int = None,
           lanes: int = None, target="llvm"):
    """The scheduled GEMM: returns (schedule, [A, B, C]).

    Without overrides this is the template under the current dispatch: the
    best record inside autotune.apply_history_best, else the fallback (the
    hand schedule for the target).  bm x bn (the register tile), bk (the
    unrolled k step) and lanes (the vector width) override it; left out, they
    come from the target's vector registers (register_tile).  M may be an
    oc.size_var: then the fallback schedule (or the given tile) is used, since
    tuning records are keyed by concrete sizes.
    """
    from .gpu import cuda_target, ops as gpu_ops
    if cuda_target(target) is not None:        # the GPU template: schedules/gpu/
        return gpu_ops.matmul(M, N, K, dtype, target, bm=bm, bn=bn, bk=bk, lanes=lanes)
    if v.is_symbolic(M):
        return _matmul_any_rows(M, N, K, dtype, bm, bn, bk, lanes, target)
    if bm is None and bn is None and bk is None:
        return matmul_template(M, N, K, dtype, lanes, target=target)
    tile = register_tile(dtype, target)
    values = {"tile": f"{bm or tile['bm']}x{bn or 2 * (lanes or tile['lanes'])}"}
    if bk is not None:
        values["tile_k"] = [-1, bk]
    # An explicit tile is measured as asked, even one that spills: no register budget.
    with apply_config(values):
        return matmul_template(M, N, K, dtype, lanes, registers=1 << 10, target=target)


def _matmul_any_rows(M, N, K, dtype, bm, bn, bk, lanes, target):
    """The GEMM for a symbolic row count M (oc.size_var): the template's schedule with
    its fallback knobs (or the given tile), run directly: tuning records are keyed by
    concrete sizes, so none applies; the row tail is guarded and partitioned off."""
    N, K = v.positive("matmul", "N", N), v.positive("matmul", "K", K)
    tile = register_tile(dtype, target)
    values = {}
    if bm is not None or bn is not None:
        values["tile"] = f"{bm or tile['bm']}x{bn or 2 * (lanes or tile['lanes'])}"
    if bk is not None:
        values["tile_k"] = [-1, bk]
    tmpl = matmul_template.template
    regs = None if bm is None and bn is None else 1 << 10
    sch, tensors, _ = tmpl.run((M, N, K, dtype, lanes, regs), (), oc.Target(target),
                               values or None, partial=True)
    return sch, tensors
