"""Integer intervals and proofs over index expressions.

    Ranges = dict[Var, (min, extent)]      var in [min, min + extent)

``const_bound`` gives constant bounds (interval arithmetic over the canonical
sum-of-products form, so x - x is exactly 0); ``symbolic_bound`` relaxes the
vars of ``ranges`` and keeps every other var symbolic; ``prove`` decides a
condition from those bounds.  Index arithmetic is assumed not to overflow
(int32/int64); smaller integer dtypes are bounded by their own range.
"""
from __future__ import annotations

import math

from .. import dtype as dt
from ..ir import expr as E
from .fold import int_range
from .poly import INDEX_DTYPES, Poly, to_poly

INF = math.inf
Ranges = dict


# ---------------------------------------------------------------------------
# ranges
# ---------------------------------------------------------------------------

def norm_ranges(ranges) -> dict:
    """Ranges with IterVar keys replaced by their vars and int ends made Consts."""
    if not ranges:
        return {}
    out = {}
    for v, (mn, ext) in ranges.items():
        v = v.var if isinstance(v, E.IterVar) else v
        out[v] = (_as_index(mn, v.dtype), _as_index(ext, v.dtype))
    return out


def _as_index(x, dtype):
    if isinstance(x, E.Expr):
        return x
    # E.Const, not E.const: an extent may exceed the dtype (2**31 values of an int32)
    return E.Const(int(x), dtype if dt.is_int(dtype) else "int64")


def dtype_bound(dtype: str) -> tuple:
    """What a value of dtype can be when nothing else is known.

    int32/int64 are unbounded (index arithmetic does not overflow by contract);
    bool, int8, int16 and the unsigned types are bounded by their dtype; floats unbounded.
    """
    e = dt.element(dtype)
    if e in INDEX_DTYPES or dt.is_float(e):
        return -INF, INF
    return int_range(e)


# ---------------------------------------------------------------------------
# constant bounds
# ---------------------------------------------------------------------------

def _mulx(x, y):
    # 0 * inf is 0 here: an interval end at 0 times an unbounded one.
    return 0 if x == 0 or y == 0 else x * y


def imul(a: tuple, b: tuple) -> tuple:
    """Product of two intervals (ends may be +-inf)."""
    c = (_mulx(a[0], b[0]), _mulx(a[0], b[1]), _mulx(a[1], b[0]), _mulx(a[1], b[1]))
    return min(c), max(c)


def _isquare(a: tuple) -> tuple:
    lo, hi = a
    if lo >= 0:
        return _mulx(lo, lo), _mulx(hi, hi)
    if hi <= 0:
        return _mulx(hi, hi), _mulx(lo, lo)
    return 0, max(_mulx(lo, lo), _mulx(hi, hi))


def _fdiv_end(x, c: int):
    if x in (INF, -INF):
        return x if c > 0 else -x
    return x // c


def ifloordiv(a: tuple, b: tuple) -> tuple:
    """Interval of floor(a / b) (NumPy: x // 0 == 0)."""
    (al, ah), (bl, bh) = a, b
    if bl == bh:
        c = bl
        if c == 0:
            return 0, 0
        ends = (_fdiv_end(al, c), _fdiv_end(ah, c))
        return min(ends), max(ends)
    if (bl > 0 or bh < 0) and INF not in (ah, bh, -al, -bl):
        # floor(a/b) is monotone in a and in b when b keeps one sign: corners
        c = [x // y for x in (al, ah) for y in (bl, bh)]
        return min(c), max(c)
    return -INF, INF


def ifloormod(a: tuple, b: tuple) -> tuple:
    """Interval of a % b with floor semantics (result has b's sign; x % 0 == 0)."""
    (al, ah), (bl, bh) = a, b
    finite = INF not in (ah, -al)
    if bl == bh and finite and bl != 0 and al // bl == ah // bl:
        return al % bl, ah % bl           # within one period: x % c is x - const
    if bl > 0:
        return 0, (min(ah, bh - 1) if al >= 0 else bh - 1)
    if bh < 0:
        return (max(al, bl + 1) if ah <= 0 else bl + 1), 0
    return min(0, bl + 1), max(0, bh - 1)


class Bounder:
    """Constant bounds of expressions under one set of ranges (memoized).

    Bounder({x: (0, 8)}).of(x*4 + 3) -> (3, 31)
    """

    def __init__(self, ranges: dict):
        self.ranges = ranges
        self.memo: dict = {}
        self.active: set = set()

    def of(self, e) -> tuple:
        hit = self.memo.get(id(e))
        if hit is not None:
            return hit[1]
        r = self._compute(e)
        lo, hi = dtype_bound(e.dtype)
        if r[0] < lo or r[1] > hi:      # may wrap: only the dtype's range is sure
            r = (lo, hi)
        self.memo[id(e)] = (e, r)
        return r

    def poly(self, p: Poly) -> tuple:
        """Bounds of a Poly: sum of coef * bounds(monomial)."""
        lo = hi = p.const
        used = ()
        if len(p.terms) >= 2:
            used = set()
            for keys, glo, ghi in _div_groups(p.terms):
                lo, hi = lo + glo, hi + ghi
                used.update(keys)
        for mk, (atoms, c) in p.terms.items():
            if mk in used:
                continue
            ml, mh = self.monomial(atoms)
            if c > 0:
                lo, hi = lo + _mulx(c, ml), hi + _mulx(c, mh)
            else:
                lo, hi = lo + _mulx(c, mh), hi + _mulx(c, ml)
        return lo, hi

    def monomial(self, atoms: tuple) -> tuple:
        r = self.of(atoms[0])
        i = 1
        while i < len(atoms):
            if atoms[i] is atoms[i - 1]:           # x*x >= 0
                r = _isquare(self.of(atoms[i])) if i == 1 else imul(r, self.of(atoms[i]))
            else:
                r = imul(r, self.of(atoms[i]))
            i += 1
        return r

    def _compute(self, e) -> tuple:
        fn = _BOUND_RULES.get(type(e))
        return fn(self, e) if fn is not None else dtype_bound(e.dtype)

    def _const(self, e):
        v = e.value
        return (int(v), int(v)) if not isinstance(v, float) else (-INF, INF)

    def _var(self, v):
        r = self.ranges.get(v)
        if r is None or v in self.active:     # active: a cyclic range definition
            return dtype_bound(v.dtype)
        self.active.add(v)
        try:
            mn, ext = r
            lo = self.of(mn)[0]
            if mn.dtype in INDEX_DTYPES and ext.dtype in INDEX_DTYPES:
                hi = self.poly(to_poly(mn).plus(to_poly(ext)).add_const(-1))[1]
            else:
                hi = self.of(mn)[1] + self.of(ext)[1] - 1
            return lo, hi
        finally:
            self.active.discard(v)

    def _binary(self, e):
        if dt.is_float(e.dtype):
            return -INF, INF
        op = e.op
        if e.dtype in INDEX_DTYPES and op in ("add", "sub", "mul"):
            p = to_poly(e)
            if p.single_atom() is not e:       # else: an unexpanded product
                return self.poly(p)
        a, b = self.of(e.a), self.of(e.b)
        fn = _BIN_IV.get(op)
        return fn(a, b) if fn is not None else dtype_bound(e.dtype)

    def _unary(self, e):
        lo, hi = self.of(e.a)
        if e.op == "neg":
            return -hi, -lo
        if dt.is_bool(e.dtype):
            return (1 - hi, 1 - lo)
        return -hi - 1, -lo - 1           # ~x == -x - 1

    def _select(self, e):
        c = self.of(e.cond)
        if c == (1, 1):
            return self.of(e.a)
        if c == (0, 0):
            return self.of(e.b)
        (al, ah), (bl, bh) = self.of(e.a), self.of(e.b)
        return min(al, bl), max(ah, bh)

    def _cast(self, e):
        if dt.is_float(e.value.dtype):
            return dtype_bound(e.dtype)
        if dt.is_bool(e.dtype):
            lo, hi = self.of(e.value)
            return (0, 0) if lo == hi == 0 else ((1, 1) if lo > 0 or hi < 0 else (0, 1))
        return self.of(e.value)           # of() clips to the target dtype

    def _call(self, e):
        if e.name != "abs" or not dt.is_int(e.dtype):
            return dtype_bound(e.dtype)
        lo, hi = self.of(e.args[0])
        if lo <= dtype_bound(e.dtype)[0]:
            return dtype_bound(e.dtype)     # abs(INT_MIN) wraps to INT_MIN (NumPy)
        if lo >= 0:
            return lo, hi
        if hi <= 0:
            return -hi, -lo
        return 0, max(-lo, hi)

    def _ramp(self, e):
        (bl, bh), (sl, sh) = self.of(e.base), self.of(e.stride)
        n = e.lanes - 1
        return bl + min(0, _mulx(sl, n)), bh + max(0, _mulx(sh, n))

    def _compare(self, e):
        return 0, 1


def _div_groups(terms: dict) -> list:
    """Terms whose sum is bounded though each is not: (keys, lo, hi) per group.

    m*(X//c) - m*(Y//c) with X - Y == k:  (Y + k)//c - Y//c is in
    [k//c, ceil(k/c)], so n//4 - (n + 3)//4 is in [-1, 0].
    t*c*(X//c) - t*(X - X.const):  c*(X//c) - X == -(X % c), in [1 - c, 0].
    """
    groups: dict = {}
    for mk, (atoms, m) in terms.items():
        a = atoms[0]
        if len(atoms) == 1 and type(a) is E.Binary and a.op == "floordiv" \
                and type(a.b) is E.Const and a.b.value > 0 and a.dtype in INDEX_DTYPES:
            x = to_poly(a.a)
            shape = (a.b.value, tuple(sorted((k, v[1]) for k, v in x.terms.items())))
            groups.setdefault(shape, []).append((mk, m, x))
    out, used = [], set()
    for (c, _), items in groups.items():
        if len(items) == 2 and items[0][1] == -items[1][1]:
            (k1, m, x1), (k2, _, x2) = items
            k = x1.const - x2.const
            out.append(((k1, k2),) + _scaled(m, k // c, -(-k // c)))
            used.update((k1, k2))
    for (c, _), items in groups.items():
        for mk, m, x in items:
            keys = _absorbs(terms, mk, m, x, c, used)
            if keys is not None:     # t*(c*(X//c) - X + X.const) == t*(X.const - X % c)
                out.append((keys,) + _scaled(m // c, x.const - c + 1, x.const))
                used.update(keys)
    return out


def _scaled(m: int, lo: int, hi: int) -> tuple:
    return (m * lo, m * hi) if m > 0 else (m * hi, m * lo)


def _absorbs(terms, mk, m, x, c, used):
    """The keys of t*c*(X//c) and -t*X's terms when all are present, else None."""
    if m % c or mk in used or not x.terms:
        return None
    t = m // c
    for k, (_, coef) in x.terms.items():
        other = terms.get(k)
        if k in used or other is None or other[1] != -t * coef:
            return None
    return (mk,) + tuple(x.terms)


_BIN_IV = {
    "add": lambda a, b: (a[0] + b[0], a[1] + b[1]),
    "sub": lambda a, b: (a[0] - b[1], a[1] - b[0]),
    "mul": imul,
    "floordiv": ifloordiv,
    "floormod": ifloormod,
    "min": lambda a, b: (min(a[0], b[0]), min(a[1], b[1])),
    "max": lambda a, b: (max(a[0], b[0]), max(a[1], b[1])),
}

_BOUND_RULES = {
    E.Const: Bounder._const, E.Var: Bounder._var, E.Binary: Bounder._binary,
    E.Unary: Bounder._unary, E.Select: Bounder._select, E.Cast: Bounder._cast,
    E.Call: Bounder._call, E.Ramp: Bounder._ramp, E.Compare: Bounder._compare,
    E.Broadcast: lambda self, e: self.of(e.value),
}


def _none(x):
    return None if x in (INF, -INF) else int(x)


def const_bound(e, ranges: Ranges | None = None) -> tuple:
    """Inclusive constant bounds (lo, hi) of an integer expression; None = unbounded.

    const_bound(x*4 + 3, {x: (0, 8)})  -> (3, 31)
    const_bound(x % 8)                 -> (0, 7)
    const_bound(n + 1)                 -> (None, None)
    """
    e = E.as_expr(e)
    lo, hi = Bounder(norm_ranges(ranges)).of(e)
    return _none(lo), _none(hi)


# ---------------------------------------------------------------------------
# symbolic bounds, proofs, linear forms
# ---------------------------------------------------------------------------

def symbolic_bound(e, ranges: Ranges, keep=frozenset()) -> tuple:
    """Inclusive bounds (lo, hi) as simplified expressions.

    Vars of ranges (except those in keep) are relaxed over their ranges; all
    other vars stay symbolic:

        symbolic_bound(xo*8 + xi, {xi: (0, 8)})   -> (xo*8, xo*8 + 7)
        symbolic_bound(i, {i: (0, n)})            -> (0, n - 1)

    Exact for affine expressions.  Where no bound can be written (a load at a
    relaxed index, a cast from float) the answer is conservative: constant
    bounds if those are finite, else the dtype's own limits.  A float
    expression raises TypeError.
    """
    from .symbolic import Relaxer
    e = E.as_expr(e)
    if not dt.is_int(e.dtype) and not dt.is_bool(e.dtype):
        raise TypeError(f"symbolic_bound needs an integer expression, got {e.dtype}: {e}")
    return Relaxer(norm_ranges(ranges), keep).bound(e)


def prove(cond, ranges: Ranges | None = None) -> bool:
    """True only if cond holds for every value of the vars in ranges.

    prove(xo*32 + xi < 100, {xo: (0, 3), xi: (0, 32)})  -> True
    prove(xo*32 + xi < 100, {xi: (0, 32)})              -> False (xo unbounded)
    prove(i < n, {i: (0, n)})                            -> True
    False means "not proven", not "false".
    """
    from .symbolic import prove_simplified
    from .simplify import Simplifier
    rng = norm_ranges(ranges)
    c = Simplifier(rng).expr(E.as_expr(cond))
    return prove_simplified(c, rng)


def linear_form(e) -> tuple | None:
    """({var: coef}, const) of an affine integer expression, else None.

    linear_form(x*4 + y - x*4 + 2) -> ({y: 1}, 2);  linear_form(x*y) -> None
    """
    e = E.as_expr(e)
    if e.dtype not in INDEX_DTYPES:
        return None
    p = to_poly(e)
    coefs = {}
    for mk in sorted(p.terms):
        atoms, c = p.terms[mk]
        if len(atoms) != 1 or not isinstance(atoms[0], E.Var):
            return None
        coefs[atoms[0]] = c
    return coefs, p.const


def is_affine(e) -> bool:
    """Whether e is a sum of integer-coefficient vars plus a constant: is_affine(x*2 + 1) -> True."""
    return linear_form(e) is not None
