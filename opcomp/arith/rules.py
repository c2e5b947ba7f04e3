"""Rewrite rules for int32/int64 index arithmetic, on canonical Polys.

Mixed into the Simplifier (which supplies ``bounds``, ``ranges``,
``symbolic`` and ``range_of``).  Floor division and modulo by a positive
constant c; all rules hold for every integer numerator unless a bound is
checked:

    (x*8 + y) // 8        ->  x + y // 8            (always)
                          ->  x                     (0 <= y < 8 proven)
    (x*4 + y) // 8        ->  x // 2                (0 <= y < 4 proven)
    (x // 4) // 8         ->  x // 32
    (x % 32) % 8          ->  x % 8
    (x % 32) // 8         ->  x // 8 % 4
    f // 64 * 64 + f % 64 ->  f                     (fuse/split round trip)

Comparisons become ``P < Q`` (ints) or ``P == Q`` with positive-coefficient
sides, so equal conditions print and compare equal.
"""
from __future__ import annotations

import math

from ..ir import expr as E
from .interval import INF
from .poly import Poly, build, const_poly, order_key, to_poly

_TRUE = E.Const(True, "bool")
_FALSE = E.Const(False, "bool")


def _bool(v: bool) -> E.Const:
    return _TRUE if v else _FALSE


def _finite(lo, hi) -> bool:
    return lo != -INF and hi != INF


def split_divisible(p: Poly, c: int) -> tuple:
    """(q, r) with p == c*q + r: q holds the terms whose coefficient c divides."""
    qt, rt = {}, {}
    for k, (atoms, coef) in p.terms.items():
        if coef % c == 0:
            qt[k] = (atoms, coef // c)
        else:
            rt[k] = (atoms, coef)
    return Poly(qt, 0), Poly(rt, p.const)


def _pos_const(e):
    """c when e is an integer Const c > 0, else None."""
    return e.value if isinstance(e, E.Const) and e.value > 0 else None


def _floormod_atoms(p: Poly) -> list:
    out = []
    for mk in sorted(p.terms):
        atoms, k = p.terms[mk]
        if len(atoms) == 1 and isinstance(atoms[0], E.Binary) and atoms[0].op == "floormod":
            out.append((atoms[0], k))
    return out


def _term_coef(p: Poly, atom) -> int:
    t = p.terms.get((order_key(atom),))
    return t[1] if t is not None else 0


def _contains(p: Poly, part: Poly, scale: int) -> bool:
    """Whether p holds every term of scale*part with exactly that coefficient."""
    for k, (_, c) in part.terms.items():
        t = p.terms.get(k)
        if t is None or t[1] != c * scale:
            return False
    return True


class IndexRules:
    """Index-arithmetic rules; self is a Simplifier."""

    # -- sums ---------------------------------------------------------------
    def finish_sum(self, p: Poly, dtype: str) -> E.Expr:
        """The canonical Expr of p after merging div/mod pairs."""
        if _floormod_atoms(p):
            p = self.merge_divmod(p, dtype)
        return build(p, dtype)

    def merge_divmod(self, p: Poly, dtype: str) -> Poly:
        """k*c*(X//c) + k*(X%c) -> k*X, and k*(X%c1) + k*c1*((X//c1)%c2) -> k*(X%(c1*c2))."""
        changed = True
        while changed:
            changed = False
            for atom, k in _floormod_atoms(p):
                q = self._merge_one(p, atom, k, dtype)
                if q is not None:
                    p, changed = q, True
                    break
        return p

    def _merge_one(self, p: Poly, atom, k: int, dtype: str):
        x, c = atom.a, _pos_const(atom.b)
        if c is None:
            return self._merge_symbolic(p, atom, k)
        quot = self.floordiv_poly(to_poly(x), c, dtype)
        qp = to_poly(quot)
        base = p.plus(to_poly(atom).scale(k), -1)
        if qp.terms and _contains(p, qp, k * c):
            return base.plus(qp.scale(k * c), -1).plus(to_poly(x).scale(k))
        for other, k2 in _floormod_atoms(p):
            if other is atom:               # x % 1 would "merge" with itself forever
                continue
            c2 = _pos_const(other.b)
            if k2 == k * c and c2 is not None and E.same(other.a, quot):
                merged = self.floormod_poly(to_poly(x), c * c2, dtype)
                return base.plus(to_poly(other).scale(k2), -1).plus(to_poly(merged).scale(k))
        return None

    def _merge_symbolic(self, p: Poly, atom, k: int):
        """k*n*(X//n) + k*(X%n) -> k*X for a symbolic divisor n (an atom)."""
        x, n = atom.a, atom.b
        if to_poly(n).single_atom() is not n:
            return None
        quot = E.Binary("floordiv", x, n, atom.dtype)
        mono = tuple(sorted((order_key(n), order_key(quot))))
        t = p.terms.get(mono)
        if t is None or t[1] != k:
            return None
        rest = p.plus(to_poly(atom).scale(k), -1)
        rest = Poly({m: v for m, v in rest.terms.items() if m != mono}, rest.const)
        return rest.plus(to_poly(x).scale(k))

    # -- floordiv / floormod by a constant ------------------------------------
    def floordiv_poly(self, p: Poly, c: int, dtype: str) -> E.Expr:
        """Canonical p // c for a constant c > 0."""
        if c == 1:
            return build(p, dtype)
        q, r = split_divisible(p, c)
        # the constant too: (x + 9)//8 -> (x + 1)//8 + 1, matching (x + 9)%8 -> (x + 1)%8
        q, r = q.add_const(r.const // c), Poly(r.terms, r.const % c)
        lo, hi = self.range_of(r, dtype)
        if _finite(lo, hi) and lo // c == hi // c:
            return self.finish_sum(q.add_const(lo // c), dtype)
        rest = self._floordiv_rest(r, c, dtype)
        if q.is_const() and not q.const:
            return rest
        return self.finish_sum(q.plus(to_poly(rest)), dtype)

    def _floordiv_rest(self, r: Poly, c: int, dtype: str) -> E.Expr:
        gs = self.gsplit(r, c)
        if gs is not None:           # r = g*r1 + r2, 0 <= r2 < g, g | c
            return self.floordiv_poly(gs[1], c // gs[0], dtype)
        nested = self._nested_div(r, c, dtype)
        if nested is not None:
            return nested
        return self._pinned(E.Binary("floordiv", build(r, dtype), E.Const(c, dtype), dtype), r)

    def _nested_div(self, r: Poly, c: int, dtype: str):
        if len(r.terms) != 1:
            return None
        (atoms, k), = r.terms.values()
        a = atoms[0]
        if k != 1 or len(atoms) != 1 or not isinstance(a, E.Binary):
            return None
        c1 = _pos_const(a.b)
        if c1 is None:
            return None
        if a.op == "floordiv":      # (X//c1 + k)//c == (X + k*c1)//(c1*c)
            return self.floordiv_poly(to_poly(a.a).add_const(r.const * c1), c1 * c, dtype)
        if a.op == "floormod" and r.const == 0 and c1 % c == 0:
            # (X % c1) // c == (X // c) % (c1 / c)
            return self.floormod_poly(to_poly(self.floordiv_poly(to_poly(a.a), c, dtype)),
                                      c1 // c, dtype)
        return None

    def floormod_poly(self, p: Poly, c: int, dtype: str) -> E.Expr:
        """Canonical p % c for a constant c > 0."""
        if c == 1:
            return E.Const(0, dtype)
        _, r = split_divisible(p, c)
        r = Poly(r.terms, r.const % c)
        lo, hi = self.range_of(r, dtype)
        if _finite(lo, hi) and lo // c == hi // c:
            return self.finish_sum(r.add_const(-(lo // c) * c), dtype)
        gs = self.gsplit(r, c)
        if gs is not None:           # r % c == g*(r1 % (c/g)) + r2
            g, r1, r2 = gs
            inner = self.floormod_poly(r1, c // g, dtype)
            return self.finish_sum(to_poly(inner).scale(g).plus(r2), dtype)
        a = r.single_atom()
        if isinstance(a, E.Binary) and a.op == "floormod":
            c1 = _pos_const(a.b)
            if c1 is not None and c1 % c == 0:          # (X % c1) % c == X % c
                return self.floormod_poly(to_poly(a.a), c, dtype)
        if self.symbolic:       # r // c fixed by the loop ranges: r % c == r - c*(r // c)
            quot = E.Binary("floordiv", build(r, dtype), E.Const(c, dtype), dtype)
            q = self._pinned(quot, r)
            if q is not quot:
                return self.finish_sum(r.plus(to_poly(q).scale(-c)), dtype)
        return E.Binary("floormod", build(r, dtype), E.Const(c, dtype), dtype)

    def _pinned(self, atom, r: Poly):
        """The value atom is fixed to by symbolic loop ranges, else atom.

        a // 4 -> b for a in [b*4, b*4 + 4): relaxing a (only the vars with
        symbolic ranges) gives equal lower and upper bounds.
        """
        if not self.symbolic or not self._mentions_symbolic(r):
            return atom
        from .symbolic import Relaxer
        if self._pin_relaxer is None:
            keep = frozenset(self.ranges) - self.symbolic_vars
            self._pin_relaxer = Relaxer(self.ranges, keep, canonical=True)
        lo, hi = self._pin_relaxer.raw(atom)
        return lo if lo is not None and hi is not None and E.same(lo, hi) else atom

    def gsplit(self, r: Poly, c: int):
        """(g, r1, r2) with r == g*r1 + r2, g | c, g > 1, 0 <= r2 < g proven; or None.

        Then r // c == r1 // (c/g) and r % c == g*(r1 % (c/g)) + r2.
        (x*4 + y + 5 with 0 <= y < 3, c = 8) -> (4, x + 1, y + 1)
        """
        cands = sorted({math.gcd(k, c) for _, k in r.terms.values()}, reverse=True)
        for g in cands:
            if g == 1:
                break
            t1 = {m: (a, k // g) for m, (a, k) in r.terms.items() if k % g == 0}
            t2 = {m: v for m, v in r.terms.items() if v[1] % g}
            lo, hi = self.range_of(Poly(t2, 0), None) if t2 else (0, 0)
            if not _finite(lo, hi):
                continue
            b = (r.const + lo) % g - lo        # b = const (mod g), lo + b in [0, g)
            if b + hi < g:
                return g, Poly(t1, (r.const - b) // g), Poly(t2, b)
        return None

    def divmod_index(self, op: str, a: E.Expr, b: E.Expr, dtype: str):
        """floordiv/floormod of two canonical index exprs, or None to rebuild."""
        if isinstance(b, E.Const):
            c = b.value
            if c == 0:
                return E.Const(0, dtype)    # NumPy: x // 0 == x % 0 == 0
            if c == 1:                      # exact even for wrapping data
                return a if op == "floordiv" else E.Const(0, dtype)
            p = to_poly(a)
            if self._data_may_wrap(dtype, p, *(() if c > 0 else (p.scale(-1),))):
                return None                 # data wraps: exact-integer identities fail
            if op == "floordiv":            # a // -c == (-a) // c
                return self.floordiv_poly(p if c > 0 else p.scale(-1), abs(c), dtype)
            if c > 0:
                return self.floormod_poly(p, c, dtype)
            m = self.floormod_poly(p.scale(-1), -c, dtype)  # a % -c == -((-a) % c)
            return self.finish_sum(to_poly(m).scale(-1), dtype)
        if isinstance(a, E.Const) and a.value == 0:
            return a
        return self._divmod_small(op, a, b, dtype)

    def _divmod_small(self, op, a, b, dtype):
        """a // n -> 0 and a % n -> a when 0 <= a < n is proven (then n > 0 too)."""
        pa, pb = to_poly(a), to_poly(b)
        if self.range_of(pa, dtype)[0] < 0:
            return None
        if self.range_of(pa.plus(pb, -1), dtype)[1] >= 0:
            return None
        return E.Const(0, dtype) if op == "floordiv" else a

    # -- comparisons ----------------------------------------------------------
    def compare_index(self, op: str, a: E.Expr, b: E.Expr) -> E.Expr:
        """Decide or canonicalize an int comparison: x + 1 < x + 3 -> True."""
        pa, pb = to_poly(a), to_poly(b)
        d = a.dtype
        if self._data_may_wrap(d, pa, pb):
            # Index arithmetic (loop and size vars) is assumed not to overflow, as
            # in TVM and Halide; arithmetic on loaded data wraps like NumPy's, so
            # moving terms across or deciding by exact ranges could be wrong.
            return E.Compare(op, a, b, "bool")
        if op in ("eq", "ne"):
            return self._equality(op, pa.plus(pb, -1), d)
        e = {"lt": lambda: pa.plus(pb, -1).add_const(1), "le": lambda: pa.plus(pb, -1),
             "gt": lambda: pb.plus(pa, -1).add_const(1), "ge": lambda: pb.plus(pa, -1)}[op]()
        lo, hi = self.range_of(e, d)        # the condition is e <= 0
        if hi <= 0 or lo > 0:
            return _bool(hi <= 0)
        g = _coef_gcd(e)
        if g > 1:     # g*e' + k <= 0  <=>  e' + ceil(k/g) <= 0
            e = Poly({m: (at, k // g) for m, (at, k) in e.terms.items()}, -((-e.const) // g))
        return self._emit_compare("lt", e.add_const(-1), d)

    def _data_may_wrap(self, d: str, *polys) -> bool:
        """Whether the polys read memory and one of them may leave dtype d: then
        the value computed (wrapping, like NumPy) is not the exact polynomial."""
        return _reads_data(*polys) and not all(self._fits(p, d) for p in polys)

    def _fits(self, p, d: str) -> bool:
        """Whether p's exact value range lies inside dtype d (so no wraparound)."""
        import numpy as np
        info = np.iinfo(d.partition("x")[0])
        lo, hi = self.range_of(p, d)
        return info.min <= lo and hi <= info.max

    def _equality(self, op: str, e: Poly, d: str) -> E.Expr:
        lo, hi = self.range_of(e, d)
        g = _coef_gcd(e)
        if lo > 0 or hi < 0 or (g and e.const % g):
            return _bool(op == "ne")
        if lo == hi == 0:
            return _bool(op == "eq")
        e = e.exact_div(g)
        if e.terms[min(e.terms)][1] < 0:      # one sign for x == y and y == x
            e = e.scale(-1)
        return self._emit_compare(op, e, d)

    def _emit_compare(self, op: str, e: Poly, d: str) -> E.Expr:
        """`e op 0` as P op N - k, with P, N the positive and negated negative terms."""
        pos = {m: t for m, t in e.terms.items() if t[1] > 0}
        neg = {m: (a, -k) for m, (a, k) in e.terms.items() if k < 0}
        k = e.const
        if not pos:
            lhs, rhs = E.Const(k, d), build(Poly(neg, 0), d)
        else:
            lhs, rhs = build(Poly(pos, 0), d), build(Poly(neg, -k), d)
        return E.Compare(op, lhs, rhs, "bool")

    # -- min / max --------------------------------------------------------------
    def minmax_index(self, op: str, a: E.Expr, b: E.Expr, dtype: str) -> E.Expr:
        """min(x, x + 3) -> x; min(x, 100) -> x when x < 100 is proven."""
        if E.same(a, b):
            return a
        pa, pb = to_poly(a), to_poly(b)
        if not self._data_may_wrap(dtype, pa, pb):     # else ranges prove nothing
            lo, hi = self.range_of(pa.plus(pb, -1), dtype)
            if hi <= 0:
                return a if op == "min" else b
            if lo >= 0:
                return b if op == "min" else a
        if order_key(a) > order_key(b):       # commutative: one order
            a, b = b, a
        return E.Binary(op, a, b, dtype)

    # -- bounds -----------------------------------------------------------------
    def range_of(self, p: Poly, dtype) -> tuple:
        """Constant bounds of p; with symbolic loop ranges, also tries relaxing them."""
        lo, hi = self.bounds.poly(p)
        if self.symbolic and p.terms and (lo == -INF or hi == INF or self._mentions_symbolic(p)):
            slo, shi = self.symbolic_range(p, dtype or _dtype_of(p))
            lo, hi = max(lo, slo), min(hi, shi)
        return lo, hi

    def _mentions_symbolic(self, p: Poly) -> bool:
        from .symbolic import vars_of
        return any(vars_of(a) & self.symbolic_vars for atoms, _ in p.terms.values() for a in atoms)

    def symbolic_range(self, p: Poly, dtype: str) -> tuple:
        from .symbolic import Relaxer
        if self._relaxer is None:
            self._relaxer = Relaxer(self.ranges, canonical=True)
        return self._relaxer.const_range(build(p, dtype))


def _coef_gcd(p: Poly) -> int:
    g = 0
    for _, k in p.terms.values():
        g = math.gcd(g, k)
    return g


def _dtype_of(p: Poly) -> str:
    for atoms, _ in p.terms.values():
        return atoms[0].dtype
    return "int64"


__all__ = ["IndexRules", "split_divisible", "const_poly"]


def _reads_data(*polys) -> bool:
    """Whether any atom of the polys reads memory (data, not index arithmetic)."""
    from ..ir.visit import walk
    found = []

    def visit(n):
        if isinstance(n, (E.Load, E.TensorRead)):
            found.append(n)
    for p in polys:
        for atoms, _ in p.terms.values():
            for atom in atoms:
                walk(atom, visit)
    return bool(found)
