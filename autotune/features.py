"""Features of a lowered loop nest, for the cost model: a fixed-length float vector.

The loop nest is the schedule after bound inference (opcomp.lower's
schedule_to_stmt: the loops, their kinds and extents, every store and load),
before the optimization passes; it costs ~20 ms for a GEMM, so candidates can
be scored without being compiled.  The two hottest stores (most iterations)
each give:

- log2 of iterations, depth, vector lanes, unrolled body size, parallel
  extent and the serial iterations around the parallel loop;
- whether it is a reduction update, and its accumulator size in vector
  registers against the target's count (spill risk);
- per access (the store, then its three largest loads): the stride of the
  innermost loop and the log2 bytes it touches inside each of the innermost
  six loop levels;
- for each cache of the target (L1, L2, L3): log2 of the bytes that must come
  through it (a blocked-traffic estimate: an access's footprint at the
  outermost level whose whole footprint still fits, times the iterations
  around that level), and the arithmetic intensity against it.
"""
from __future__ import annotations

import math

import numpy as np

from opcomp.arith.interval import const_bound
from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.lower import schedule_to_stmt

LEVELS = 6
ACCESSES = 4
STORES = 2
_PER_ACCESS = 1 + LEVELS
_PER_STORE = 8 + ACCESSES * _PER_ACCESS + 6
LENGTH = 2 + STORES * _PER_STORE


def _log2(x: float) -> float:
    return math.log2(x) if x > 1 else 0.0


def _extent(e) -> int:
    hi = const_bound(e)[1]
    return max(1, hi) if hi is not None else 1


class _Store:
    """A store with the loops around it (outer to inner) and its accesses."""

    def __init__(self, store: T.Store, loops: list):
        self.loops = list(loops)
        self.write = (store.buffer, store.indices)
        reads = []
        _collect_reads(store.value, reads)
        self.reads = reads
        self.update = any(b is store.buffer for b, _ in reads)
        self._fp: dict = {}

    def fp(self, access, start: int) -> int:
        """footprint(access, loops[start:]), memoized."""
        key = (id(access[0]), id(access[1]), start)
        if key not in self._fp:
            self._fp[key] = footprint(access, self.loops[start:])
        return self._fp[key]

    @property
    def iterations(self) -> int:
        return math.prod(e for _, e, _ in self.loops)


def _collect_reads(e, out: list) -> None:
    if isinstance(e, E.Load):
        out.append((e.buffer, e.indices))
    if isinstance(e, E.Node):
        for f in E.field_names(e):
            v = getattr(e, f)
            for child in (v if isinstance(v, tuple) else (v,)):
                if isinstance(child, E.Expr):
                    _collect_reads(child, out)


def _stores(stmt, loops: list, out: list) -> None:
    if isinstance(stmt, T.For):
        loops = loops + [(stmt.var, _extent(stmt.extent), stmt.kind)]
        _stores(stmt.body, loops, out)
    elif isinstance(stmt, T.Store):
        out.append(_Store(stmt, loops))
    elif isinstance(stmt, T.Seq):
        for s in stmt.stmts:
            _stores(s, loops, out)
    elif isinstance(stmt, T.IfThenElse):
        _stores(stmt.then_case, loops, out)
        if stmt.else_case is not None:
            _stores(stmt.else_case, loops, out)
    elif hasattr(stmt, "body"):
        _stores(stmt.body, loops, out)


def _itemsize(buf) -> int:
    return np.dtype(buf.dtype.split("x")[0]).itemsize      # "float32x8": a lane's size


def footprint(access, loops: list) -> int:
    """Bytes an access touches while the given loops run (others held at 0)."""
    buf, indices = access
    inner = {v: (0, e) for v, e, _ in loops}
    elems = 1
    for idx, dim in zip(indices, buf.shape):
        lo, hi = const_bound(idx, _with_outer(idx, inner))
        span = (hi - lo + 1) if lo is not None and hi is not None else _extent(dim)
        elems *= max(1, min(span, _extent(dim)))
    return elems * _itemsize(buf)


def _with_outer(idx, inner: dict) -> dict:
    """Ranges for the vars of idx: inner loops over their extent, others fixed at 0."""
    ranges = dict(inner)
    stack = [idx]
    while stack:
        e = stack.pop()
        if isinstance(e, E.Var) and e not in ranges:
            ranges[e] = (0, 1)
        elif isinstance(e, E.Node):
            for f in E.field_names(e):
                v = getattr(e, f)
                stack.extend(c for c in (v if isinstance(v, tuple) else (v,))
                             if isinstance(c, E.Expr))
    return ranges


def _stride(access, loops: list) -> float:
    """Elements between consecutive iterations of the innermost loop (log2(1 + |stride|))."""
    if not loops:
        return 0.0
    var, ext, _ = loops[-1]
    if ext < 2:
        return 0.0
    one = footprint(access, [(var, 2, "serial")])
    return _log2(1 + (one // _itemsize(access[0]) - 1))


def _loop_features(st: _Store, target) -> list:
    kinds = [k for _, _, k in st.loops]
    lanes = math.prod(e for _, e, k in st.loops if k == "vectorized")
    unrolled = 1
    for _, e, k in reversed(st.loops):
        if k not in ("unrolled", "vectorized"):
            break
        unrolled *= e
    par = [i for i, k in enumerate(kinds) if k == "parallel"]
    par_ext = math.prod(st.loops[i][1] for i in par)
    outside = math.prod(e for _, e, _ in st.loops[:par[0]]) if par else st.iterations
    acc_regs = 0.0
    if st.update:
        body = [lp for lp in st.loops if lp[2] in ("unrolled", "vectorized")]
        lanes_reg = max(1, getattr(target, "vector_bits", 128) // 8)
        acc_regs = footprint(st.write, body) / lanes_reg
    regs = getattr(target, "vector_registers", 16)
    return [_log2(st.iterations), len(st.loops), _log2(lanes), _log2(unrolled),
            _log2(par_ext), _log2(outside), float(st.update), acc_regs / regs]


def _access_features(st: _Store) -> list:
    reads = sorted(st.reads, key=lambda a: -st.fp(a, 0))[:ACCESSES - 1]
    n, out = len(st.loops), []
    for access in [st.write] + reads:
        out.append(_stride(access, st.loops))
        out.extend(_log2(st.fp(access, max(0, n - level))) for level in range(1, LEVELS + 1))
    return out + [0.0] * (ACCESSES * _PER_ACCESS - len(out))


def _traffic(st: _Store, caches: list) -> list:
    accesses = [st.write] + st.reads
    out = []
    for size in caches:
        depth = len(st.loops)
        while depth > 0 and sum(st.fp(a, depth - 1) for a in accesses) <= size:
            depth -= 1
        around = math.prod(e for _, e, _ in st.loops[:depth])
        moved = around * sum(st.fp(a, depth) for a in accesses)
        out += [_log2(moved), _log2(st.iterations) - _log2(moved)]
    return out


def extract(sch, tensors, target) -> np.ndarray:
    """The feature vector (LENGTH floats) of a schedule's loop nest for a target."""
    body, _ = schedule_to_stmt(sch, list(tensors), target)
    stores: list = []
    _stores(body, [], stores)
    stores.sort(key=lambda s: -s.iterations)
    caches = [target.cache_bytes.get(k, 1 << (15 + 3 * i)) for i, k in
              enumerate(("l1", "l2", "l3"))] if target.kind == "llvm" else [1 << 15, 1 << 18,
                                                                               1 << 22]
    feats = [len(stores), _log2(sum(s.iterations for s in stores))]
    for st in stores[:STORES]:
        feats += _loop_features(st, target) + _access_features(st) + _traffic(st, caches)
    feats += [0.0] * (LENGTH - len(feats))
    return np.asarray(feats, dtype=np.float64)
