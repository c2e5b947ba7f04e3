"""Tests of opcomp.arith (interval.py): constant and symbolic bounds, prove, linear forms.

Besides exact cases, random integer expressions check soundness: every value
seen at a random point lies within const_bound / symbolic_bound, and prove()
never claims a condition that fails at a sampled point.  The generator and
the reference evaluator here are shared with test_simplify.py.
"""
from __future__ import annotations

import random

import pytest

from opcomp.ir import expr as E
from opcomp.arith.interval import const_bound, is_affine, linear_form, prove, symbolic_bound
from opcomp.arith.simplify import simplify

# ---------------------------------------------------------------------------
# reference semantics and random expressions (shared with test_simplify.py)
# ---------------------------------------------------------------------------

_INT_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b if b else 0, "floormod": lambda a, b: a % b if b else 0,
    "min": min, "max": max,
}
_CMP = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b}


def evaluate(e, env: dict):
    """The value of an int/bool expression with vars bound by env (a list per vector)."""
    if isinstance(e, E.Ramp):
        b, st = evaluate(e.base, env), evaluate(e.stride, env)
        return [b + st * k for k in range(e.lanes)]
    if isinstance(e, E.Broadcast):
        return [evaluate(e.value, env)] * e.lanes
    if isinstance(e, E.Binary) and "x" in e.dtype:
        a, b = evaluate(e.a, env), evaluate(e.b, env)
        return [_INT_OPS[e.op](u, v) for u, v in zip(a, b)]
    if isinstance(e, E.Const):
        return e.value
    if isinstance(e, E.Var):
        return env[e]
    if isinstance(e, E.Binary):
        a, b = evaluate(e.a, env), evaluate(e.b, env)
        if e.dtype == "bool":
            return {"and": a and b, "or": a or b, "xor": a != b}[e.op]
        return _INT_OPS[e.op](a, b)
    if isinstance(e, E.Compare):
        return _CMP[e.op](evaluate(e.a, env), evaluate(e.b, env))
    if isinstance(e, E.Unary):
        a = evaluate(e.a, env)
        return -a if e.op == "neg" else (not a if e.dtype == "bool" else ~a)
    if isinstance(e, E.Select):
        return evaluate(e.a, env) if evaluate(e.cond, env) else evaluate(e.b, env)
    if isinstance(e, E.Cast):
        v = evaluate(e.value, env)
        return bool(v) if e.dtype == "bool" else int(v)
    raise TypeError(f"cannot evaluate {type(e).__name__}: {e}")


class Gen:
    """Random expressions over a few vars; some vars have ranges, some not."""

    def __init__(self, seed: int, dtype: str = "int32", symbolic: bool = False):
        self.rng = random.Random(seed)
        self.dtype = dtype
        r = self.rng
        self.vars = [E.Var(n, dtype) for n in ("a", "b", "c", "d")]
        self.ranges = {}
        for v in self.vars[:3]:
            if r.random() < 0.85:
                self.ranges[v] = (r.randint(-12, 6), r.randint(1, 14))
        if symbolic:
            self._symbolic_range()

    def _symbolic_range(self):
        """a's range depends on b (a loop inside a split) or on the size var d."""
        a, b, _, d = self.vars
        r = self.rng
        if r.random() < 0.5:
            self.ranges[b] = (r.randint(-3, 2), r.randint(1, 5))
            k = r.choice([2, 4, 8])
            self.ranges[a] = (b * k, E.const(k, self.dtype))
        else:
            self.ranges[a] = (E.const(r.randint(-2, 0), self.dtype), d + r.randint(0, 2))

    def point(self) -> dict:
        env = {}
        d = self.vars[3]
        env[d] = self.rng.randint(-40, 40)
        for v in reversed(self.vars[:3]):          # b before a: a may depend on b
            if v not in self.ranges:
                env[v] = self.rng.randint(-40, 40)
                continue
            mn, ext = self.ranges[v]
            if isinstance(ext, E.Expr) and evaluate(ext, env) < 1:
                env[d] = self.rng.randint(1, 40)   # a non-empty loop needs a positive size
            mn, ext = (evaluate(x, env) if isinstance(x, E.Expr) else x for x in (mn, ext))
            env[v] = self.rng.randint(mn, mn + ext - 1)
        return env

    def const(self, lo=-9, hi=9):
        return E.const(self.rng.randint(lo, hi), self.dtype)

    def divisor(self):
        r = self.rng.random()
        if r < 0.7:
            return self.rng.choice([1, 2, 3, 4, 8, 16, 5, 6])
        return self.rng.choice([-1, -2, -4, -3, 0])

    def int_expr(self, depth: int):
        r = self.rng
        if depth <= 0 or r.random() < 0.2:
            return r.choice(self.vars) if r.random() < 0.75 else self.const()
        k = r.random()
        sub = lambda: self.int_expr(depth - 1)  # noqa: E731
        if k < 0.22:
            return sub() + sub()
        if k < 0.34:
            return sub() - sub()
        if k < 0.46:
            return sub() * self.const(-6, 8)
        if k < 0.50:
            return sub() * r.choice(self.vars)
        if k < 0.62:
            return sub() // E.const(self.divisor(), self.dtype)
        if k < 0.74:
            return sub() % E.const(self.divisor(), self.dtype)
        if k < 0.80:
            return self.pattern(depth)
        if k < 0.86:
            return (E.minimum if r.random() < 0.5 else E.maximum)(sub(), sub())
        if k < 0.92:
            return E.select(self.cond(depth - 1), sub(), sub())
        if k < 0.95:
            return -sub()
        if k < 0.97:
            other = "int64" if self.dtype == "int32" else "int32"
            return sub().astype(other).astype(self.dtype) if r.random() < 0.5 else ~sub()
        return sub() // r.choice(self.vars)

    def pattern(self, depth: int):
        """Shapes lowering produces: split/fuse round trips, (a*c + b) // c."""
        r = self.rng
        c = r.choice([2, 4, 8, 3])
        x = self.int_expr(depth - 1)
        y = r.choice(self.vars)
        k = r.random()
        if k < 0.3:
            return (x // c) * c + x % c
        if k < 0.5:
            return (x * c + y) // c
        if k < 0.7:
            return (x * c + y) % c
        if k < 0.8:
            return ((x // c) % 3) * c + x % c + (x // (c * 3)) * (c * 3)
        if k < 0.87:
            return (x % (c * 4)) // c
        if k < 0.94:
            return (x + r.randint(-3, 5)) // c * c - x
        return E.minimum(x // c, (x + c - 1) // c) + (x + 1) // c - x // c

    def cond(self, depth: int):
        r = self.rng
        op = r.choice(["lt", "le", "gt", "ge", "eq", "ne"])
        c = E.compare(op, self.int_expr(depth), self.int_expr(depth))
        k = r.random()
        if k < 0.15 and depth > 0:
            return E.logical_and(c, self.cond(depth - 1))
        if k < 0.25 and depth > 0:
            return E.binary("or", c, self.cond(depth - 1))
        if k < 0.32:
            return ~c
        return c


# ---------------------------------------------------------------------------
# const_bound
# ---------------------------------------------------------------------------

x, y, z = E.Var("x"), E.Var("y"), E.Var("z")
i, j, n = E.Var("i"), E.Var("j"), E.Var("n")
xo, xi = E.Var("xo"), E.Var("xi")


@pytest.mark.parametrize("expr, ranges, expected", [
    (lambda: E.const(7), None, (7, 7)),
    (lambda: x, {x: (0, 8)}, (0, 7)),
    (lambda: x, None, (None, None)),
    (lambda: x * 4 + 3, {x: (0, 8)}, (3, 31)),
    (lambda: x - x, None, (0, 0)),                       # like terms cancel first
    (lambda: x * -2 + y, {x: (0, 4), y: (-1, 3)}, (-7, 1)),
    (lambda: x % 8, None, (0, 7)),
    (lambda: x % 8, {x: (10, 4)}, (2, 5)),               # within one period
    (lambda: x % 8, {x: (6, 4)}, (0, 7)),
    (lambda: x % -4, None, (-3, 0)),
    (lambda: x // 8, {x: (-9, 20)}, (-2, 1)),
    (lambda: x // -2, {x: (0, 5)}, (-2, 0)),
    (lambda: E.minimum(x, y), {x: (0, 4), y: (2, 10)}, (0, 3)),
    (lambda: E.maximum(x, 5), {x: (0, 4)}, (5, 5)),
    (lambda: E.select(x < 2, x, y * 2), {x: (0, 4), y: (5, 2)}, (0, 12)),
    (lambda: x * y, {x: (-2, 5), y: (-3, 4)}, (-6, 6)),
    (lambda: x * x, {x: (-3, 7)}, (0, 9)),
    (lambda: E.cast(x, "int64") * 2, {x: (0, 10)}, (0, 18)),
    (lambda: E.cast(x, "int8"), {x: (0, 1000)}, (-128, 127)),  # may wrap: dtype range
    (lambda: E.Ramp(x, E.const(2), 4, "int32x4"), {x: (0, 3)}, (0, 8)),
    (lambda: x // y, {x: (0, 100), y: (3, 8)}, (0, 33)),
    (lambda: x % y, {x: (0, 100), y: (3, 8)}, (0, 9)),
    (lambda: i, {i: (j, 4), j: (0, 10)}, (0, 12)),       # symbolic min, boundable
    (lambda: i, {i: (j * 4, 4), j: (0, 3)}, (0, 11)),    # min + extent - 1 together
    (lambda: x < 3, None, (0, 1)),
])
def test_const_bound(expr, ranges, expected):
    assert const_bound(expr(), ranges) == expected


def test_const_bound_accepts_expr_ranges_and_ints():
    assert const_bound(x + 1, {x: (E.const(0), E.const(4))}) == (1, 4)
    assert const_bound(5) == (5, 5)


# ---------------------------------------------------------------------------
# symbolic_bound
# ---------------------------------------------------------------------------

def _text(pair):
    return tuple(str(e) for e in pair)


def test_symbolic_bound_affine_keeps_outer_vars():
    assert _text(symbolic_bound(xo * 8 + xi, {xi: (0, 8)})) == ("xo * 8", "xo * 8 + 7")
    assert _text(symbolic_bound(i, {i: (0, n)})) == ("0", "n - 1")
    assert _text(symbolic_bound(x * -3 + y, {x: (0, 4), y: (0, 2)})) == ("-9", "1")


def test_bounds_may_exceed_the_dtype():
    # bounds are mathematical integers: wrapping 2**31 + 3 would make n + 5 look negative
    assert _text(symbolic_bound(n + 5, {n: (0, 2**31 - 1)})) == ("5", "2147483651")
    assert not prove(n + 5 < 0, {n: (0, 2**31 - 1)})
    assert const_bound(n * 4, {n: (0, 2**31)}) == (0, 4 * (2**31 - 1))


def test_symbolic_bound_keep_and_transitive_ranges():
    # i's range depends on j, which is relaxed too
    assert _text(symbolic_bound(i, {i: (j * 4, 4), j: (0, 3)})) == ("0", "11")
    # ... unless j is kept
    assert _text(symbolic_bound(i, {i: (j * 4, 4), j: (0, 3)}, keep={j})) == ("j * 4", "j * 4 + 3")


def test_symbolic_bound_divmod_minmax():
    assert _text(symbolic_bound((xo * 8 + xi) // 4, {xi: (0, 8)})) == ("xo * 2", "xo * 2 + 1")
    # exact: (xo*8 + xi) % 16 == xo % 2 * 8 + xi
    assert _text(symbolic_bound((xo * 8 + xi) % 16, {xi: (0, 8)})) == \
        ("xo % 2 * 8", "xo % 2 * 8 + 7")
    assert _text(symbolic_bound((xo + xi) % 16, {xi: (0, 8)})) == ("0", "15")
    assert _text(symbolic_bound((xo * 16 + xi) % 16, {xi: (0, 8)})) == ("0", "7")
    assert _text(symbolic_bound(E.minimum(xi + n, 10), {xi: (0, 4)})) == \
        ("min(n, 10)", "min(n + 3, 10)")


def test_symbolic_bound_products_and_fallback():
    lo, hi = symbolic_bound(i * n, {i: (0, 4)})          # sign of n unknown
    assert _text((lo, hi)) == ("min(n * 3, 0)", "max(n * 3, 0)")
    lo, hi = symbolic_bound(i * j, {i: (0, 4), j: (0, 5)})
    assert _text((lo, hi)) == ("0", "12")
    buf = _FakeBuf("A")
    load = E.Load(buf, (i,), "int32")
    lo, hi = symbolic_bound(load, {i: (0, 4)})       # no bound: the dtype's limits
    assert (lo.value, hi.value) == (-2**31, 2**31 - 1)
    with pytest.raises(TypeError):
        symbolic_bound(E.Var("f", "float32") + 1.0, {})


class _FakeBuf:
    def __init__(self, name):
        self.name = name


# ---------------------------------------------------------------------------
# prove, linear_form
# ---------------------------------------------------------------------------

def test_prove():
    assert prove(xo * 32 + xi < 100, {xo: (0, 3), xi: (0, 32)})
    assert not prove(xo * 32 + xi < 100, {xi: (0, 32)})
    assert not prove(xo * 32 + xi < 96, {xo: (0, 4), xi: (0, 32)})
    assert prove(i < n, {i: (0, n)})
    assert prove(i + 1 <= n, {i: (0, n)})
    assert not prove(i + 1 < n, {i: (0, n)})
    assert prove(E.logical_and(x >= 0, x < 8), {x: (0, 8)})
    assert prove(~(x < 0), {x: (0, 8)})
    assert prove(x * 2 != 7)                      # parity: never equal
    assert prove((x * 8 + y) // 8 == x, {y: (0, 8)})
    assert not prove(x < 3)
    assert prove(True) and not prove(False)


def test_linear_form():
    coefs, c = linear_form(x * 4 + y - x * 4 + 2)
    assert coefs == {y: 1} and c == 2
    coefs, c = linear_form((i * 8 + j) * 2 - 5)
    assert list(coefs.items()) == [(i, 16), (j, 2)] and c == -5
    assert linear_form(x * y) is None
    assert linear_form(x // 2) is None
    assert linear_form(E.Var("f", "float32")) is None
    assert linear_form(E.const(3)) == ({}, 3)
    assert is_affine(x * 2 + 1) and not is_affine(x % 3)


# ---------------------------------------------------------------------------
# randomized soundness
# ---------------------------------------------------------------------------

def _within(v, lo, hi):
    return (lo is None or lo <= v) and (hi is None or v <= hi)


def test_random_const_bound_sound():
    for seed in range(600):
        g = Gen(seed, "int32" if seed % 2 else "int64", symbolic=seed % 3 == 0)
        e = g.int_expr(4)
        lo, hi = const_bound(e, g.ranges)
        for _ in range(6):
            v = evaluate(e, g.point())
            assert _within(v, lo, hi), (seed, str(e), g.ranges, v, lo, hi)


def test_random_symbolic_bound_sound():
    for seed in range(400):
        g = Gen(1000 + seed, symbolic=seed % 3 == 0)
        e = g.int_expr(3)
        relax = {v: r for v, r in g.ranges.items() if g.rng.random() < 0.7}
        lo, hi = symbolic_bound(e, relax)
        for _ in range(6):
            env = g.point()
            v = evaluate(e, env)
            assert evaluate(lo, env) <= v <= evaluate(hi, env), \
                (seed, str(e), relax, env, v, str(lo), str(hi))


def test_random_prove_never_lies():
    proven = 0
    for seed in range(800):
        g = Gen(5000 + seed, symbolic=seed % 3 == 0)
        c = g.cond(2)
        if not prove(c, g.ranges):
            continue
        proven += 1
        for _ in range(8):
            env = g.point()
            assert evaluate(c, env), (seed, str(c), g.ranges, env)
    assert proven > 20          # the test exercises real proofs
