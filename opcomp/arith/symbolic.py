"""Symbolic bounds: relax some vars over their ranges, keep the others.

    Relaxer({xi: (0, 8)}).bound(xo*8 + xi)   -> (xo*8, xo*8 + 7)
    Relaxer({i: (0, n)}).bound(i - n)        -> (0 - n, -1)

Affine sums are bounded term by term (exact); floordiv by a constant (or by
an expression of kept vars whose range is positive) is monotone; floormod is exact when the relaxed range provably stays in one
period, else [0, c - 1]; min/max/select combine their operands' bounds.
Anything else that mentions a relaxed var gets its constant bounds.  Inside,
an unbounded side is None (it absorbs sums and products); the public answer
writes it as the dtype's limit (a conservative, always-true answer).
"""
from __future__ import annotations

from .. import dtype as dt
from ..ir import expr as E
from .interval import INF, Bounder
from .fold import int_range
from .poly import INDEX_DTYPES, build, to_poly
from ..ir.expr import field_names

_NEGATE = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt", "eq": "ne", "ne": "eq"}


def vars_of(e) -> frozenset:
    """The Vars an expression mentions (cached on the node)."""
    fv = e.__dict__.get("_fv")
    if fv is None:
        if isinstance(e, E.Var):
            fv = frozenset((e,))
        else:
            fv = frozenset()
            for name in field_names(e):
                fv = fv | _vars_in(getattr(e, name))
        object.__setattr__(e, "_fv", fv)
    return fv


def _vars_in(v) -> frozenset:
    if isinstance(v, E.Expr):
        return vars_of(v)
    if isinstance(v, tuple):
        out = frozenset()
        for x in v:
            out = out | _vars_in(x)
        return out
    return frozenset()


class Relaxer:
    """Bounds with the vars of ranges (less keep) relaxed; memoized.

    With canonical=True the input is taken as already simplified (used from
    inside the simplifier, which must not recurse into itself).
    """

    def __init__(self, ranges: dict, keep=frozenset(), canonical: bool = False):
        from .simplify import Simplifier
        self.ranges = ranges
        self.relax = frozenset(v for v in ranges if v not in keep)
        kept = {v: r for v, r in ranges.items() if v not in self.relax}
        self.simp = Simplifier(kept, exact=True)    # canonical bounds over the kept vars
        self.full = None if canonical else Simplifier(ranges)
        self.bounds = Bounder(ranges)
        self.memo: dict = {}
        self.cur = self.relax     # the vars relaxed in the current pass

    def bound(self, e) -> tuple:
        """(lo, hi) expressions; an unbounded side is the dtype's limit."""
        lo, hi = self.raw(e)
        dlo, dhi = _limits(e.dtype)
        return (E.Const(dlo, e.dtype) if lo is None else lo,
                E.Const(dhi, e.dtype) if hi is None else hi)

    def raw(self, e) -> tuple:
        """(lo, hi) simplified expressions, None for an unbounded side.

        A var is relaxed one level at a time (a in [b*4, b*4 + 4) gives b*4 and
        b*4 + 3), the result simplified, then relaxed again: so a - b*4 keeps
        its correlation and bounds to [0, 3] before b is relaxed.
        """
        for lo, hi in self._stages(e):
            pass
        # still open only for cyclic range definitions: use constants there
        return (self._fallback(lo)[0] if self._open(lo) else lo,
                self._fallback(hi)[1] if self._open(hi) else hi)

    def _stages(self, e):
        """(lo, hi) after each relaxation pass, starting with (e, e)."""
        if self.full is not None:
            e = self.full.expr(e)
        lo = hi = e
        yield lo, hi
        for _ in range(len(self.relax) + 1):
            lo_open, hi_open = self._open(lo), self._open(hi)
            if not (lo_open or hi_open):
                return
            lo = self._s(self._pass(lo)[0]) if lo_open else lo
            hi = self._s(self._pass(hi)[1]) if hi_open else hi
            yield lo, hi

    def _open(self, e) -> bool:
        return e is not None and bool(vars_of(e) & self.relax)

    def _pass(self, e) -> tuple:
        """One relaxation step over the vars of e that no other var of e depends on."""
        present = vars_of(e) & self.relax
        deps = set()
        for v in present:
            mn, ext = self.ranges[v]
            deps |= vars_of(mn) | vars_of(ext)
        self.cur = (present - deps) or present
        self.memo = {}
        return self._sb(e)

    def const_range(self, e) -> tuple:
        """Constant (lo, hi) of e: the tightest constant bounds of any stage.

        A middle stage can bound better than the end: relaxing i in [n//4, ...)
        gives n - n//4*4, whose constant bounds see the n terms cancel.
        """
        best_lo, best_hi = -INF, INF
        for lo, hi in self._stages(e):
            if lo is not None:
                best_lo = max(best_lo, self.bounds.of(lo)[0])
            if hi is not None:
                best_hi = min(best_hi, self.bounds.of(hi)[1])
        return best_lo, best_hi

    # -- dispatch ---------------------------------------------------------------
    def _sb(self, e) -> tuple:
        if not (vars_of(e) & self.cur):
            return e, e
        hit = self.memo.get(id(e))
        if hit is not None:
            return hit[1]
        r = self._compute(e)
        self.memo[id(e)] = (e, r)
        return r

    def _compute(self, e) -> tuple:
        if isinstance(e, E.Var):
            return self._var(e)
        index = e.dtype in INDEX_DTYPES
        if index and isinstance(e, (E.Binary, E.Unary)) and e.op in ("add", "sub", "mul", "neg"):
            p = to_poly(e)
            if p.single_atom() is not e:
                return self._poly(p, e.dtype)
        if isinstance(e, E.Binary) and index:
            fn = _BINARY.get(e.op)
            r = fn(self, e) if fn is not None else None
            if r is not None:
                return r
        if isinstance(e, E.Select):
            return self._select(e)
        if isinstance(e, E.Cast) and _widening(e.value.dtype, e.dtype):
            lo, hi = self._sb(e.value)
            return (None if lo is None else self._s(E.Cast(lo, e.dtype)),
                    None if hi is None else self._s(E.Cast(hi, e.dtype)))
        return self._fallback(e)

    def _s(self, e):
        """The simplified e; None (unbounded) when any part is unbounded."""
        return None if e is None else self.simp.expr(e)

    def _fallback(self, e) -> tuple:
        lo, hi = self.bounds.of(e)
        return (None if lo == -INF else E.Const(int(lo), e.dtype),
                None if hi == INF else E.Const(int(hi), e.dtype))

    # -- rules ------------------------------------------------------------------
    def _var(self, v) -> tuple:
        """[min, min + extent - 1], not relaxed further here (raw() iterates)."""
        mn, ext = self.ranges[v]
        if mn.dtype in INDEX_DTYPES and ext.dtype in INDEX_DTYPES:
            last = build(to_poly(mn).plus(to_poly(ext)).add_const(-1), v.dtype)
        else:
            last = E.Binary("sub", E.Binary("add", mn, ext, v.dtype), E.Const(1, v.dtype), v.dtype)
        return mn, last

    def _poly(self, p, d) -> tuple:
        los, his = [E.Const(p.const, d)], [E.Const(p.const, d)]
        for atoms, c in p.terms.values():
            lo, hi = self._monomial(atoms, d)
            if c < 0:
                lo, hi = hi, lo
            los.append(_mul(lo, E.Const(c, d), d))
            his.append(_mul(hi, E.Const(c, d), d))
        return self._s(_fold("add", los, d)), self._s(_fold("add", his, d))

    def _monomial(self, atoms, d) -> tuple:
        lo, hi = self._sb(atoms[0])
        for a in atoms[1:]:
            j = self._sb(a)
            if lo is None or hi is None or j[0] is None or j[1] is None:
                # an unbounded factor: constant bounds only
                return self._fallback(_product(atoms, d))
            lo, hi = self._imul((lo, hi), j, d)
        return lo, hi

    def _imul(self, i, j, d) -> tuple:
        """Bounds of a product of two bounded factors (corners, signs if known)."""
        if E.same(i[0], i[1]):
            return self._scale(i[0], j, d)
        if E.same(j[0], j[1]):
            return self._scale(j[0], i, d)
        if self.bounds.of(i[0])[0] >= 0 and self.bounds.of(j[0])[0] >= 0:
            return self._s(_mul(i[0], j[0], d)), self._s(_mul(i[1], j[1], d))
        corners = [_mul(x, y, d) for x in i for y in j]
        return self._s(_fold("min", corners, d)), self._s(_fold("max", corners, d))

    def _scale(self, s, j, d) -> tuple:
        lo, hi = self.bounds.of(s)
        a, b = _mul(s, j[0], d), _mul(s, j[1], d)
        if lo >= 0:
            return self._s(a), self._s(b)
        if hi <= 0:
            return self._s(b), self._s(a)
        return self._s(E.Binary("min", a, b, d)), self._s(E.Binary("max", a, b, d))

    def _floordiv(self, e):
        c = _pos_const(e.b)
        if c is None and not self._positive_kept(e.b):
            return None
        lo, hi = self._sb(e.a)
        return self._s(_bin("floordiv", lo, e.b, e.dtype)), \
            self._s(_bin("floordiv", hi, e.b, e.dtype))

    def _positive_kept(self, b) -> bool:
        """A divisor that relaxes nothing and is provably >= 1 (a kept var with a
        positive range: a size var): floordiv by it is monotone too."""
        return not (vars_of(b) & self.relax) and self.bounds.of(b)[0] >= 1

    def _floormod(self, e):
        c = _pos_const(e.b)
        if c is None and self._positive_kept(e.b):     # x % l with l >= 1: [0, l - 1]
            return E.Const(0, e.dtype), self._s(_bin("sub", e.b, E.Const(1, e.dtype), e.dtype))
        if c is None:
            return None
        lo, hi = self._sb(e.a)
        d = e.dtype
        q = self._s(_bin("sub", _bin("floordiv", hi, e.b, d), _bin("floordiv", lo, e.b, d), d))
        if isinstance(q, E.Const) and q.value == 0:     # one period: x % c is x - k*c
            return self._s(_bin("floormod", lo, e.b, d)), self._s(_bin("floormod", hi, e.b, d))
        return E.Const(0, d), E.Const(c - 1, d)

    def _minmax(self, e):
        (al, ah), (bl, bh) = self._sb(e.a), self._sb(e.b)
        d = e.dtype
        if e.op == "min":       # min(a, b) >= min(lo_a, lo_b); <= either hi
            return self._s(_bin("min", al, bl, d)), self._s(_either("min", ah, bh, d))
        return self._s(_either("max", al, bl, d)), self._s(_bin("max", ah, bh, d))

    def _select(self, e):
        if dt.is_float(e.dtype) or dt.lanes(e.dtype) > 1:
            return self._fallback(e)
        (al, ah), (bl, bh) = self._sb(e.a), self._sb(e.b)
        return self._s(_bin("min", al, bl, e.dtype)), self._s(_bin("max", ah, bh, e.dtype))


_BINARY = {"floordiv": Relaxer._floordiv, "floormod": Relaxer._floormod,
           "min": Relaxer._minmax, "max": Relaxer._minmax}


def _pos_const(e):
    return e.value if isinstance(e, E.Const) and e.value > 0 else None


def _widening(src: str, dst: str) -> bool:
    if not (dt.is_int(src) and dt.is_int(dst)) or dt.lanes(src) > 1:
        return False
    same_sign = dt.is_signed(src) == dt.is_signed(dst)
    return dt.bits(dst) > dt.bits(src) and (same_sign or dt.is_signed(dst))


def _limits(dtype: str) -> tuple:
    if dt.is_float(dtype):
        raise TypeError(f"symbolic_bound needs an integer expression, got {dtype}")
    return int_range(dtype)


def _bin(op, a, b, d):
    """Binary(op, a, b); None (unbounded) if either side is."""
    return None if a is None or b is None else E.Binary(op, a, b, d)


def _either(op, a, b, d):
    """min/max where an unbounded (None) side drops out: the other side bounds it."""
    if a is None or b is None:
        return b if a is None else a
    return E.Binary(op, a, b, d)


def _mul(a, b, d):
    return _bin("mul", a, b, d)


def _fold(op, items, d):
    acc = items[0]
    for x in items[1:]:
        acc = _bin(op, acc, x, d)
    return acc


def _product(atoms, d):
    return _fold("mul", list(atoms), d)


# ---------------------------------------------------------------------------
# proofs
# ---------------------------------------------------------------------------

def prove_simplified(c, ranges: dict) -> bool:
    """prove() for a condition already simplified under ranges."""
    if isinstance(c, E.Const):
        return bool(c.value)
    if isinstance(c, E.Binary) and dt.is_bool(c.dtype) and c.op in ("and", "or"):
        parts = (prove_simplified(c.a, ranges), prove_simplified(c.b, ranges))
        return all(parts) if c.op == "and" else any(parts)
    if isinstance(c, E.Unary) and c.op == "not" and isinstance(c.a, E.Compare):
        return prove_simplified(E.Compare(_NEGATE[c.a.op], c.a.a, c.a.b, c.a.dtype), ranges)
    if isinstance(c, E.Compare) and c.a.dtype in INDEX_DTYPES:
        return _prove_compare(c, ranges)
    return False


def _prove_compare(c, ranges) -> bool:
    d = c.a.dtype
    diff = build(to_poly(c.a).plus(to_poly(c.b), -1), d)
    lo, hi = Relaxer(ranges, canonical=True).const_range(diff)
    return {"lt": hi < 0, "le": hi <= 0, "gt": lo > 0, "ge": lo >= 0,
            "eq": lo == hi == 0, "ne": hi < 0 or lo > 0}[c.op]
