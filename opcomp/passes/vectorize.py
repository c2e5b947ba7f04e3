"""Vectorization: a vectorized loop becomes one statement on vector values.

    vectorized for j in range(16):          C[ramp(i * 16, 1, 16)] =
      C[i * 16 + j] = A[i * 16 + j] + 1.0f     A[ramp(i * 16, 1, 16)] + x16(1.0f)

The loop var becomes ramp(min, 1, lanes); values that do not depend on it stay
scalar and are broadcast where they meet a vector.  Affine indices stay
ramps, so the backend emits contiguous vector loads and stores; other indices
become gathers and scatters.  A body that cannot be vectorized (a guard that
depends on the loop var, a store to a lane-independent address, an
allocation) leaves the loop a serial loop: slower, never wrong.

A loop of more than MAX_LANES lanes, or of a symbolic extent, is legalized
first: full vectors of the target's width (vector_bits of the function's target
over the widest element the body touches), then a tail.  Up to MAX_LANES, one
vector operation is emitted and LLVM splits it into registers itself.

    vectorized for j in range(100):        for j.v in range(12):          (AVX2, float32)
      B[j] = A[j] * 2.0f             ->       B[ramp(j.v*8, 1, 8)] = A[ramp(j.v*8, 1, 8)] * x8(2.0f)
                                            B[ramp(96, 1, 4)] = A[ramp(96, 1, 4)] * x4(2.0f)
With a symbolic extent n the tail is a serial loop over the last n % 8.
"""
from __future__ import annotations

from dataclasses import replace

from .. import dtype as dt
from ..ir import expr as E
from ..ir import tir as T
from ..arith.simplify import simplify_expr
from ..ir.visit import Functor, Mutator, map_children, substitute, walk


class _Scalarize(Exception):
    """The body cannot be vectorized; emit the loop serially."""


MAX_LANES = 64         # a vector op of up to this many lanes is left to LLVM to split


def vectorize_loops(func: T.PrimFunc) -> T.PrimFunc:
    """Each vectorized loop becomes vector statements (see above), innermost first."""
    from ..target import Target
    bits = Target(func.attr("target") or "llvm").vector_bits
    return replace(func, body=_VectorizedLoops(bits).visit(func.body))


class _VectorizedLoops(Mutator):
    def __init__(self, vector_bits: int):
        super().__init__()
        self.vector_bits = vector_bits

    def visit_For(self, s):
        body = self.visit(s.body)
        if s.kind != "vectorized":
            return s if body is s.body else replace(s, body=body)
        if not isinstance(s.extent, E.Const) or s.extent.value > MAX_LANES:
            return self._legalized(s, body, self._width(body))
        if isinstance(s.extent, E.Const) and s.extent.value > 1:
            try:
                return _Vectorizer(s.var, s.min, s.extent.value).stmt(body)
            except _Scalarize:
                pass
        return replace(s, kind="serial", body=body, thread=None)

    def default(self, node):
        return super().default(node) if isinstance(node, T.Stmt) else node

    def _width(self, body) -> int:
        """Lanes of one target vector of the widest element body loads or stores."""
        widest = [8]
        walk(body, lambda n: widest.append(dt.bits(n.dtype if isinstance(n, E.Load)
                                                   else n.buffer.dtype))
             if isinstance(n, (E.Load, T.Store)) else None)
        return max(1, self.vector_bits // max(widest))

    def _legalized(self, s, body, width: int) -> T.Stmt:
        """Full vectors of `width` lanes in a loop, then the rest (see above)."""
        v = s.var
        outer = E.Var(v.name + ".v", v.dtype)
        w = E.const(width, v.dtype)
        full = simplify_expr(s.extent // w)
        lane = E.Var(v.name + ".l", v.dtype)
        main_body = substitute(body, {v: s.min + outer * w + lane})
        vec = self.visit_For(T.For(lane, E.const(0, v.dtype), w, "vectorized", main_body, None))
        main = T.For(outer, E.const(0, v.dtype), full, "serial", vec, None)
        start = simplify_expr(s.min + full * w)
        rest = simplify_expr(s.extent - full * w)
        if E.is_const(rest, 0):
            return main
        kind = "vectorized" if isinstance(rest, E.Const) else "serial"
        tail = T.For(v, start, rest, kind, body, None)
        return T.seq(main, self.visit_For(tail) if kind == "vectorized" else tail)


def _is_vec(e) -> bool:
    return dt.lanes(e.dtype) > 1


class _Vectorizer(Functor):
    """Statements of a vectorized loop's body -> vector statements (visit); expressions
    through expr().  Raises _Scalarize on what cannot be vectorized."""

    def __init__(self, var: E.Var, start: E.Expr, lanes: int):
        self.var, self.lanes = var, lanes
        self.ramp = E.Ramp(start, E.const(1, var.dtype), lanes, dt.with_lanes(var.dtype, lanes))

    def bcast(self, e):
        return e if _is_vec(e) else E.Broadcast(e, self.lanes, dt.with_lanes(e.dtype, self.lanes))

    # -- statements --------------------------------------------------------------
    def stmt(self, s):
        return self.visit(s)

    def visit_Store(self, s):
        idx, value = self.expr(s.indices[0]), self.expr(s.value)
        if not _is_vec(idx):
            raise _Scalarize()     # every lane would write one address
        return T.Store(s.buffer, (idx,), self.bcast(value))

    def visit_Seq(self, s):
        return T.Seq(tuple(self.visit(x) for x in s.stmts))

    def visit_For(self, s):
        if _is_vec(self.expr(s.min)) or _is_vec(self.expr(s.extent)):
            raise _Scalarize()
        return T.For(s.var, s.min, s.extent, "serial" if s.kind == "vectorized" else s.kind,
                     self.visit(s.body), s.thread)

    def visit_IfThenElse(self, s):
        if _is_vec(self.expr(s.cond)):
            raise _Scalarize()     # a guard that differs between lanes
        other = self.visit(s.else_case) if s.else_case is not None else None
        return T.IfThenElse(s.cond, self.visit(s.then_case), other)

    def visit_Nop(self, s):
        return s

    def default(self, s):
        raise _Scalarize()         # allocations, lets, asserts: keep the loop serial

    # -- expressions -------------------------------------------------------------
    def expr(self, e):
        if e is self.var:
            return self.ramp
        if isinstance(e, (E.Const, E.Var)):
            return e
        if isinstance(e, E.Binary):
            return self.binary(e.op, self.expr(e.a), self.expr(e.b), e)
        if isinstance(e, E.Cast) and dt.is_int(e.dtype):
            v = self.expr(e.value)
            if isinstance(v, E.Ramp):      # int64(ramp(b, s)) = ramp(int64(b), int64(s))
                el = dt.element(e.dtype)
                return E.Ramp(simplify_expr(E.cast(v.base, el)), simplify_expr(E.cast(v.stride, el)),
                              v.lanes, dt.with_lanes(el, v.lanes))
        if isinstance(e, E.Load):
            idx = self.expr(e.indices[0])
            if not _is_vec(idx):
                return e if idx is e.indices[0] else E.Load(e.buffer, (idx,), e.dtype)
            return E.Load(e.buffer, (idx,), dt.with_lanes(e.dtype, self.lanes))
        return self.lanewise(e)

    def binary(self, op, a, b, orig):
        if not _is_vec(a) and not _is_vec(b):
            return orig if (a is orig.a and b is orig.b) else E.Binary(op, a, b, orig.dtype)
        ramp = self._ramp_arith(op, a, b)
        if ramp is not None:
            return ramp
        vt = dt.with_lanes(orig.dtype, self.lanes)
        return E.Binary(op, self.bcast(a), self.bcast(b), vt)

    def _ramp_arith(self, op, a, b):
        """Keep affine index arithmetic as a ramp so loads stay contiguous."""
        r = self._ramp_parts(op, a, b)
        if r is None:
            return None
        return E.Ramp(simplify_expr(r.base), simplify_expr(r.stride), r.lanes, r.dtype)

    def _ramp_parts(self, op, a, b):
        ra, rb = isinstance(a, E.Ramp), isinstance(b, E.Ramp)
        if op in ("add", "sub") and ra and not _is_vec(b):
            return E.Ramp(E.binary(op, a.base, b), a.stride, a.lanes, a.dtype)
        if op == "add" and rb and not _is_vec(a):
            return E.Ramp(E.binary(op, a, b.base), b.stride, b.lanes, b.dtype)
        if op == "mul" and ra and isinstance(b, E.Const):
            return E.Ramp(a.base * b, a.stride * b, a.lanes, a.dtype)
        if op == "mul" and rb and isinstance(a, E.Const):
            return E.Ramp(b.base * a, b.stride * a, b.lanes, b.dtype)
        if op in ("add", "sub") and ra and rb:
            return E.Ramp(E.binary(op, a.base, b.base), E.binary(op, a.stride, b.stride),
                          a.lanes, a.dtype)
        return None

    def lanewise(self, e):
        """Unary, Compare, Select, Cast, Call: vector if any operand is."""
        parts = {}
        new = map_children(e, lambda c: parts.setdefault(id(c), self.expr(c)))
        if not any(_is_vec(v) for v in parts.values()):
            return new
        new = map_children(e, lambda c: self.bcast(parts[id(c)]))
        return replace(new, dtype=dt.with_lanes(e.dtype, self.lanes))
