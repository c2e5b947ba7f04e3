"""Canonical sums of products for index arithmetic (int32 / int64).

A Poly is ``const + sum(coef * a1*a2*...)`` over *atoms*: any expression that
is not add/sub/mul/neg (Vars, floordiv, floormod, min, loads, casts...).
Terms are keyed by the atoms' order keys, so like terms merge, and ``build``
emits them in one deterministic order: equal polys give the same Expr.

    to_poly((x*4 + y) - x*4)           ->  {y: 1} + 0
    build(to_poly((i*8 + j)*2), ...)   ->  i*16 + j*2
    build(to_poly(x + 1 + 2), ...)     ->  x + 3
    build(to_poly(3 - x - y), ...)     ->  3 - x - y

Order keys and polys are cached on the (immutable) nodes, like the
structural hash, so re-reading a canonical expression costs a dict lookup.
"""
from __future__ import annotations

from ..ir import expr as E

INDEX_DTYPES = frozenset(("int32", "int64"))
# A product of two sums expands only up to this many partial products; a
# bigger one stays a single atom so canonicalization cannot blow up.
MAX_EXPAND = 8


# ---------------------------------------------------------------------------
# order keys: a total, structural order on expressions (also used as identity
# of atoms: two atoms with the same key are structurally equal)
# ---------------------------------------------------------------------------

def order_key(e) -> tuple:
    """A nested tuple that sorts expressions deterministically.

    order_key(x) < order_key(y) when x's name sorts first; Vars sort before
    loads, loads before floordiv/floormod, those before other operators.
    """
    k = e.__dict__.get("_ok")
    if k is None:
        fn = _KEYS.get(type(e))
        k = fn(e) if fn is not None else (99, type(e).__name__, id(e))
        object.__setattr__(e, "_ok", k)
    return k


def _const_key(e):
    v = e.value
    # repr for floats: keeps -0.0 apart from 0.0; bools and ints compare as is
    return (20, e.dtype, repr(v) if isinstance(v, float) else v)


def _keys(items) -> tuple:
    return tuple(order_key(i) for i in items)


_BIN_RANK = {"floordiv": 3, "floormod": 4}
_KEYS = {
    E.Const: _const_key,
    E.Var: lambda e: (0, e.name, id(e)),   # id only breaks ties of equal names
    E.Load: lambda e: (1, e.buffer.name, id(e.buffer), _keys(e.indices), e.dtype),
    E.TensorRead: lambda e: (2, getattr(e.tensor, "name", ""), id(e.tensor),
                             _keys(e.indices), e.dtype),
    E.Binary: lambda e: (_BIN_RANK.get(e.op, 5), e.op, order_key(e.a), order_key(e.b), e.dtype),
    E.Unary: lambda e: (6, e.op, order_key(e.a), e.dtype),
    E.Cast: lambda e: (7, e.dtype, order_key(e.value)),
    E.Select: lambda e: (8, order_key(e.cond), order_key(e.a), order_key(e.b), e.dtype),
    E.Call: lambda e: (9, e.name, _keys(e.args), e.dtype),
    E.Compare: lambda e: (10, e.op, order_key(e.a), order_key(e.b), e.dtype),
    E.Ramp: lambda e: (11, order_key(e.base), order_key(e.stride), e.lanes, e.dtype),
    E.Broadcast: lambda e: (12, order_key(e.value), e.lanes, e.dtype),
}


# ---------------------------------------------------------------------------
# Poly
# ---------------------------------------------------------------------------

class Poly:
    """const + sum of coef * monomial; terms: monomial key -> (atoms, coef).

    Never mutated after construction (polys are cached on nodes).
    """
    __slots__ = ("terms", "const")

    def __init__(self, terms: dict, const: int):
        self.terms = terms
        self.const = const

    def __repr__(self):
        parts = [f"{c}*{'*'.join(str(a) for a in atoms)}" for atoms, c in self.terms.values()]
        return " + ".join(parts + [str(self.const)])

    def is_const(self) -> bool:
        return not self.terms

    def single_atom(self):
        """The atom when self is exactly 1*atom + 0, else None."""
        if self.const or len(self.terms) != 1:
            return None
        (atoms, c), = self.terms.values()
        return atoms[0] if c == 1 and len(atoms) == 1 else None

    def plus(self, other: "Poly", sign: int = 1) -> "Poly":
        terms = dict(self.terms)
        for k, (atoms, c) in other.terms.items():
            old = terms.get(k)
            n = (old[1] if old is not None else 0) + sign * c
            if n:
                terms[k] = (atoms, n)
            elif old is not None:
                del terms[k]
        return Poly(terms, self.const + sign * other.const)

    def add_const(self, k: int) -> "Poly":
        return Poly(self.terms, self.const + k) if k else self

    def scale(self, k: int) -> "Poly":
        if k == 1:
            return self
        if k == 0:
            return Poly({}, 0)
        return Poly({m: (a, c * k) for m, (a, c) in self.terms.items()}, self.const * k)

    def exact_div(self, g: int) -> "Poly":
        """self / g where g divides every coefficient and the constant."""
        return Poly({m: (a, c // g) for m, (a, c) in self.terms.items()}, self.const // g)

    def times(self, other: "Poly"):
        """The expanded product, or None when it would exceed MAX_EXPAND terms."""
        if other.is_const():
            return self.scale(other.const)
        if self.is_const():
            return other.scale(self.const)
        mine, theirs = _with_unit(self), _with_unit(other)
        if len(mine) * len(theirs) > MAX_EXPAND:
            return None
        out = Poly({}, 0)
        for a1, c1 in mine:
            for a2, c2 in theirs:
                out = out.plus(monomial(a1 + a2, c1 * c2))
        return out


def _with_unit(p: Poly) -> list:
    items = list(p.terms.values())
    return items + [((), p.const)] if p.const else items


def monomial(atoms: tuple, coef: int) -> Poly:
    """coef * prod(atoms) as a Poly (atoms in canonical order)."""
    if not atoms or coef == 0:
        return Poly({}, coef if not atoms else 0)
    if len(atoms) > 1:
        atoms = tuple(sorted(atoms, key=order_key))
    return Poly({_keys(atoms): (atoms, coef)}, 0)


def const_poly(k: int) -> Poly:
    return Poly({}, k)


def atom_poly(e) -> Poly:
    return Poly({(order_key(e),): ((e,), 1)}, 0)


def to_poly(e) -> Poly:
    """The Poly of an int32/int64 expression (cached on the node).

    to_poly(x*2 + y - x) -> {x: 1, y: 1} + 0; a non-arithmetic node is an atom.
    """
    p = e.__dict__.get("_poly")
    if p is None:
        p = _parse(e)
        object.__setattr__(e, "_poly", p)
    return p


def _parse(e) -> Poly:
    if isinstance(e, E.Const):
        return const_poly(int(e.value))
    if isinstance(e, E.Binary) and e.dtype in INDEX_DTYPES:
        op = e.op
        if op == "add":
            return to_poly(e.a).plus(to_poly(e.b))
        if op == "sub":
            return to_poly(e.a).plus(to_poly(e.b), -1)
        if op == "mul":
            p = to_poly(e.a).times(to_poly(e.b))
            if p is not None:
                return p
    elif isinstance(e, E.Unary) and e.op == "neg" and e.dtype in INDEX_DTYPES:
        return to_poly(e.a).scale(-1)
    return atom_poly(e)


# ---------------------------------------------------------------------------
# Poly -> Expr
# ---------------------------------------------------------------------------

def build(p: Poly, dtype: str) -> E.Expr:
    """The canonical Expr of p: positive terms in key order, then negative
    ones subtracted, then the constant.

    {x: 4, y: 1} + 3 -> x*4 + y + 3;  {x: -1} + 5 -> 5 - x;  {x: -1} -> x*-1
    """
    pos, neg = [], []
    for mk in sorted(p.terms):
        atoms, c = p.terms[mk]
        (pos if c > 0 else neg).append((atoms, c))
    k = p.const
    acc = None
    for atoms, c in pos:
        t = _term(atoms, c, dtype)
        acc = t if acc is None else E.Binary("add", acc, t, dtype)
    if acc is None and neg and k > 0:
        acc, k = _const(k, dtype), 0      # 5 - x rather than x*-1 + 5
    for atoms, c in neg:
        if acc is None:
            acc = _term(atoms, c, dtype)
        else:
            acc = E.Binary("sub", acc, _term(atoms, -c, dtype), dtype)
    if acc is None:
        return _const(k, dtype)
    if k:
        acc = E.Binary("add" if k > 0 else "sub", acc, _const(abs(k), dtype), dtype)
    return acc


def _const(k: int, dtype: str) -> E.Const:
    # Not wrapped: index arithmetic does not overflow by contract, and bounds
    # (n + 5 for n < 2**31 - 1) may exceed the dtype; wrapping them would lie.
    return E.Const(k, dtype)


def _term(atoms: tuple, c: int, dtype: str) -> E.Expr:
    m = atoms[0]
    for a in atoms[1:]:
        m = E.Binary("mul", m, a, dtype)
    return m if c == 1 else E.Binary("mul", m, _const(c, dtype), dtype)
