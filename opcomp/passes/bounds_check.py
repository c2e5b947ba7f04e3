"""Bounds checking (build option bounds_check=True): every access asserts its index.

    C[i] = A[i + 1]          ->   assert 0 <= i + 1 && i + 1 < 100, "A[i + 1] ..."
                                  assert 0 <= i && i < 100, "C[i] ..."
                                  C[i] = A[i + 1]

A load under a select arm is checked only where that arm is taken, so a
guarded read such as select(i > 0, A[i - 1], 0) passes.  A failed assert
makes the kernel return a non-zero code, which the runtime raises as an error
naming the access; nothing past the failed access is touched.
"""
from __future__ import annotations

from dataclasses import replace

from ..ir import expr as E
from ..ir import tir as T
from ..ir.printer import expr_str
from ..arith.simplify import simplify_expr
from ..arith.interval import prove
from ..ir.visit import Mutator, Visitor, map_children, walk


def insert_bounds_checks(func: T.PrimFunc) -> T.PrimFunc:
    ranges = {v: (E.const(0, v.dtype), E.const(2**31 - 1, v.dtype)) for v in func.size_vars}
    return replace(func, body=BoundsChecker().visit(func.body, ranges))


class BoundsChecker(Mutator):
    """Asserts before each statement's accesses; visit(s, ranges), where ranges holds
    the enclosing loops (accesses provably safe need no assert)."""

    def visit_Store(self, s, ranges):
        checks = _load_checks(s.value, None) + [(None, s.buffer, s.indices)]
        for i in s.indices:
            checks = _load_checks(i, None) + checks
        return _wrap(checks, s, ranges)

    def visit_For(self, s, ranges):
        return replace(s, body=self.visit(s.body, {**ranges, s.var: (s.min, s.extent)}))

    def visit_IfThenElse(self, s, ranges):
        return _wrap(_load_checks(s.cond, None), self.default(s, ranges), ranges)

    def default(self, node, ranges):
        if not isinstance(node, T.Stmt):
            return node                 # expressions: their loads are checked by the statement
        return super().default(node, ranges)


def _load_checks(e, path):
    """(path condition, buffer, indices) for each load in e, in evaluation order."""
    out = []
    if isinstance(e, E.Select):
        out += _load_checks(e.cond, path)
        out += _load_checks(e.a, _and(path, e.cond))
        out += _load_checks(e.b, _and(path, E.unary("not", e.cond)))
        return out
    if isinstance(e, E.Load):
        for i in e.indices:
            out += _load_checks(i, path)
        return out + [(path, e.buffer, e.indices)]
    if isinstance(e, E.Expr):
        map_children(e, lambda c: (out.extend(_load_checks(c, path)), c)[1])
    return out


def _and(a, b):
    return b if a is None else E.binary("and", a, b)


def _in_bounds(buf, indices):
    cond = None
    for i, extent in zip(indices, buf.shape):
        ok = E.binary("and", E.compare("ge", i, E.const(0, i.dtype)),
                      E.compare("lt", i, E.cast(extent, i.dtype)))
        cond = _and(cond, ok)
    return cond


def _wrap(checks, stmt, ranges):
    for path, buf, idx in reversed(checks):
        cond = _in_bounds(buf, idx)
        if cond is None:               # a 0-d buffer: its one element is always in bounds
            continue
        if path is not None:
            cond = E.binary("or", E.unary("not", path), cond)
        cond = simplify_expr(cond, ranges)
        if E.is_const(cond, True):
            continue
        shape = ", ".join(expr_str(x) for x in buf.shape)
        msg = (f"out-of-bounds access {buf.name}[{', '.join(expr_str(i) for i in idx)}] "
               f"(shape {shape})")
        stmt = T.Assert(cond, msg, stmt)
    return stmt


class _AssertMessages(Visitor):
    def __init__(self):
        self.messages = []

    def visit_Assert(self, s):
        self.messages.append(s.message)
        self.visit(s.body)

    def default(self, node):
        if isinstance(node, T.Stmt):       # asserts are statements: skip expressions
            super().default(node)


def assert_messages(func: T.PrimFunc) -> list:
    """Messages of the Assert statements in program (pre-order) order: code k+1 is entry k."""
    collect = _AssertMessages()
    collect.visit(func.body)
    return collect.messages


# -- selects whose arms may read out of bounds ---------------------------------------
# A select arm is evaluated only where taken (see expr.Select): select(i > 0, A[i - 1], 0)
# must not read A[-1].  The backends evaluate a select lazily (a branch, or masked
# loads for vectors) unless every load in its arms is provably in bounds, where the
# cheap branchless select is kept.

def mark_lazy_selects(func: T.PrimFunc) -> T.PrimFunc:
    """Mark the selects whose arms may read out of bounds lazy, so that the backend
    evaluates only the arm taken (a branch, or masked loads in vector code).

    for i in range(100): B[i] = select(i > 0, A[i - 1], 0.0f)
      ->  for i in range(100): B[i] = if_then_else(i > 0, A[i - 1], 0.0f)
    for i in range(100): B[i] = select(i < 50, A[i], C[i])      (unchanged: both in bounds)
    """
    unsafe = _unsafe_selects(func)
    if not unsafe:
        return func

    def mark(n):
        n2 = map_children(n, mark)
        if isinstance(n, E.Select) and id(n) in unsafe:
            return replace(n2, lazy=True)
        return n2
    return replace(func, body=mark(func.body))


def _unsafe_selects(func: T.PrimFunc) -> set:
    """ids of the selects with an arm load not proven in bounds wherever the node occurs
    (a node shared by a main loop and its tail must be safe in both)."""
    finder = _UnsafeSelects()
    ranges = {v: (E.const(0, v.dtype), E.const(2**31 - 1, v.dtype)) for v in func.size_vars}
    finder.visit(func.body, ranges)
    return finder.unsafe


class _UnsafeSelects(Visitor):
    def __init__(self):
        self.unsafe = set()

    def visit_For(self, s, ranges):
        self.visit(s.min, ranges)
        self.visit(s.extent, ranges)
        self.visit(s.body, {**ranges, s.var: (s.min, s.extent)})

    def visit_Select(self, e, ranges):
        if not all(_provably_in_bounds(ld, ranges) for arm in (e.a, e.b) for ld in _loads(arm)):
            self.unsafe.add(id(e))
        self.default(e, ranges)


def _loads(e) -> list:
    out = []
    walk(e, lambda n: out.append(n) if isinstance(n, E.Load) else None)
    return out


def _provably_in_bounds(load: E.Load, ranges) -> bool:
    shape = load.buffer.shape
    if len(load.indices) == 1 and len(shape) > 1:      # flattened: one row-major index
        size = shape[0]
        for d in shape[1:]:
            size = E.binary("mul", size, d)
        shape = (size,)
    if len(load.indices) != len(shape):
        return False
    for i, extent in zip(load.indices, shape):
        for point in _index_ends(i):
            if point is None:
                return False
            lower = E.compare("ge", point, E.const(0, point.dtype))
            upper = E.compare("lt", point, E.cast(extent, point.dtype))
            if not (prove(lower, ranges) and prove(upper, ranges)):
                return False
    return True


def _index_ends(i) -> list:
    """Scalar indices whose bounds bound every lane of i (None: unknown).  Lane k of
    an affine vector index (ramps and broadcasts under + - *) is affine in k, so
    lanes 0 and lanes-1 bound it."""
    if not _is_vector(i.dtype):
        return [i]
    lanes = int(i.dtype.partition("x")[2])
    return [_lane(i, 0), _lane(i, lanes - 1)]


def _lane(e, k: int):
    if isinstance(e, E.Broadcast):
        return e.value
    if isinstance(e, E.Ramp):
        return E.binary("add", e.base, E.binary("mul", e.stride, E.const(k, e.stride.dtype)))
    if isinstance(e, E.Binary) and e.op in ("add", "sub", "mul"):
        a, b = _lane(e.a, k), _lane(e.b, k)
        if a is None or b is None or (e.op == "mul" and _is_vector(e.a.dtype)
                                      and _is_vector(e.b.dtype) and
                                      not isinstance(e.a, E.Broadcast) and
                                      not isinstance(e.b, E.Broadcast)):
            return None               # lane * lane is not affine in the lane
        return E.binary(e.op, a, b)
    if isinstance(e, E.Cast):
        inner = _lane(e.value, k)
        return None if inner is None else E.cast(inner, e.dtype.partition("x")[0])
    return None


def _is_vector(dtype: str) -> bool:
    return "x" in dtype
