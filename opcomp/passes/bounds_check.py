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
from ..ir.visit import Mutator, Visitor, map_children


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
