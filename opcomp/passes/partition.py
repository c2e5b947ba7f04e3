"""Loop partitioning: take tail guards out of the main body of a loop.

    for xo in range(13):                     for xo in range(12):
      for xi in range(8):                      for xi in range(8):
        if xo * 8 + xi < 100:          ->        C[xo * 8 + xi] = ...
          C[xo * 8 + xi] = ...               for xi in range(4):
                                               C[96 + xi] = ...

At each loop, a guard `d < 0` with d affine in the loop var v (after relaxing
the loops between v and the guard to their worst case) holds on a prefix of
v's range (coefficient > 0) or a suffix (< 0).  The loop splits there: the
part where the guard provably holds drops it; the rest keeps it, and when the
guard depends on nothing inside v, that rest is known false and vanishes.

Each loop is partitioned knowing the ranges of the loops around it, so a
guard that holds on all of the loop (the main part of an outer split, where
every inner tail guard holds) is dropped without a split, and one that holds
nowhere is left to the inner loops.  A part of one iteration becomes its body
with v := start (as simplify would make it), so the guards of a tail have
constant split points instead of symbolic ones.  Without this, a three-level
tiling split every inner loop of every tail on symbolic points that proved
empty only later: thousands of copies and symbolic proofs (issue 11, item 5).

Safety net: a loop splits at most MAX_SPLITS_PER_LOOP times, and a function
at most MAX_SPLITS_PER_FUNC times; past either, the remaining guards stay
(correct, only slower), main parts first, so the IR grows at most linearly.
"""
from __future__ import annotations

from dataclasses import replace

from .. import dtype as dt
from ..ir import expr as E
from ..ir import tir as T
from ..arith.fold import int_range
from ..arith.interval import linear_form, symbolic_bound
from ..arith.symbolic import vars_of
from ..arith.simplify import Simplifier, bind_loop_var, simplify
from ..ir.visit import map_children

MAX_SPLITS_PER_LOOP = 4
MAX_SPLITS_PER_FUNC = 64


class _Pass:
    """State of one run: splits left for the whole function, and the split
    points found so far (a loop looks at the same guards again after each one
    it drops, and its parts look at them once more)."""

    def __init__(self, splits: int):
        self.left = splits
        self.points: dict = {}

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def split_point(self, cond, v, inner: dict):
        # keyed by identity: IR nodes are immutable, and the value keeps them alive
        key = (id(cond), id(v)) + tuple((id(x), id(r[0]), id(r[1])) for x, r in inner.items())
        hit = self.points.get(key)
        if hit is None:
            hit = self.points[key] = (_split_point(cond, v, inner), cond, v, inner)
        return hit[0]


def partition_loops(func: T.PrimFunc) -> T.PrimFunc:
    """Split loops at their tail guards (see the module docstring)."""
    ranges = {v: (E.const(0, v.dtype), E.const(int_range(v.dtype)[1], v.dtype))
              for v in func.size_vars if dt.is_int(v.dtype)}      # sizes are >= 0
    return replace(func, body=_stmt(func.body, ranges, _Pass(MAX_SPLITS_PER_FUNC)))


def _stmt(s: T.Stmt, ranges: dict, ps: _Pass) -> T.Stmt:
    if isinstance(s, T.For):
        return _partition_for(s, MAX_SPLITS_PER_LOOP, ranges, ps)
    if isinstance(s, (T.Seq, T.IfThenElse, T.Allocate, T.LetStmt, T.Assert)):
        return map_children(s, lambda c: _stmt(c, ranges, ps) if isinstance(c, T.Stmt) else c)
    return s


def _partition_for(loop: T.For, depth: int, ranges: dict, ps: _Pass,
                   fresh: bool = True) -> T.Stmt:
    """loop with its guards resolved or split off; ranges: the loops around it.

    fresh: the loops inside are not partitioned yet.  Once they are, a guard
    may have become decided here (an inner loop of one iteration was replaced
    by its value), so this loop gets a second look, without descending again.
    """
    if loop.kind == "thread":
        return _descend(loop, ranges, ps) if fresh else loop
    loop, split = _resolve(loop, depth, ranges, ps)
    if split is not None:
        return _split_loop(loop, *split, depth, ranges, ps, fresh)
    if not fresh:
        return loop
    done = _descend(loop, ranges, ps)
    if done.body is loop.body:
        return done
    return _partition_for(done, depth, ranges, ps, fresh=False)


def _resolve(loop: T.For, depth: int, ranges: dict, ps: _Pass) -> tuple:
    """(loop without the guards that hold on all of it or on none, a split or None).

    A split is (cond, point, prefix_holds), point simplified under ranges.
    """
    simp = Simplifier(ranges)
    lo, hi = simp.expr(loop.min), simp.expr(_op("add", loop.min, loop.extent))
    resolved = True
    while resolved:          # each round drops one guard, or finds a split
        resolved = False
        for cond, point, prefix_holds in _split_points(loop, ps):
            p = simp.expr(_op("max", lo, _op("min", hi, E.cast(point, lo.dtype))))
            holds_all = E.same(p, hi if prefix_holds else lo)
            holds_none = E.same(p, lo if prefix_holds else hi)
            if holds_all or (holds_none and _decided_outside(loop, cond)):
                loop = replace(loop, body=_drop_guard(loop.body, cond, holds_all))
                resolved = True
                break
            if not holds_none and depth > 0 and ps.take():
                return loop, (cond, p, prefix_holds)
    return loop, None


def _descend(loop: T.For, ranges: dict, ps: _Pass) -> T.For:
    inner = {**ranges, loop.var: (loop.min, loop.extent)}
    body = _stmt(loop.body, inner, ps)
    return loop if body is loop.body else replace(loop, body=body)


def _split_points(loop: T.For, ps: _Pass):
    """(cond, point, prefix_holds) for each guard of loop.body that splits loop.var.

    A condition found in several places counts only when every place gives the
    same point: dropping it drops it everywhere (_drop_guard).
    """
    found = []                      # [cond, split or None]
    for cond, inner in _guards(loop.body, {}):
        split = ps.split_point(cond, loop.var, inner)
        entry = next((x for x in found if E.same(x[0], cond)), None)
        if entry is None:
            found.append([cond, split])
        elif entry[1] is not None and not E.same(entry[1], split):
            entry[1] = None
    return [(c, sp[0], sp[1]) for c, sp in found if sp is not None]


def _guards(s, ranges):
    """(condition, ranges of loops between here and it) for each IfThenElse inside."""
    if isinstance(s, T.IfThenElse):
        yield s.cond, ranges
        yield from _guards(s.then_case, ranges)
    elif isinstance(s, T.For):
        yield from _guards(s.body, {**ranges, s.var: (s.min, s.extent)})
    elif isinstance(s, T.Seq):
        for x in s.stmts:
            yield from _guards(x, ranges)
    elif isinstance(s, (T.Allocate, T.LetStmt, T.Assert)):
        yield from _guards(s.body, ranges)


def _as_negative(cond):
    """d with cond <=> d < 0, for integer comparisons; None otherwise."""
    if not isinstance(cond, E.Compare) or not cond.a.dtype.startswith("int"):
        return None
    a, b = cond.a, cond.b
    one = E.const(1, a.dtype)
    return {"lt": lambda: a - b, "le": lambda: a - b - one,
            "gt": lambda: b - a, "ge": lambda: b - a - one}.get(cond.op, lambda: None)()


def _split_point(cond, v, inner_ranges):
    """(point, prefix_holds) where cond holds for all inner values, or None."""
    d = _as_negative(cond)
    if d is None or v not in vars_of(d):
        return None
    d = simplify(d)
    form = linear_form(d)
    if form is None or form[0].get(v, 0) == 0:
        return None
    coef = form[0][v]
    rest = simplify(_op("sub", d, _op("mul", v, E.const(coef, d.dtype))))   # d at v = 0
    _, worst = symbolic_bound(rest, inner_ranges)
    if v in vars_of(worst):      # an inner loop's range depends on v: not affine in v
        return None
    k = E.const(abs(coef), worst.dtype)
    if coef > 0:    # coef*v + worst < 0  <=>  v < floor((-worst - 1) / coef) + 1
        minus_one = E.const(-1, worst.dtype)
        return simplify(_op("floordiv", _op("sub", minus_one, worst), k) + 1), True
    # -|coef|*v + worst < 0  <=>  v > worst / |coef|  <=>  v >= floor(worst / |coef|) + 1
    return simplify(_op("floordiv", worst, k) + 1), False


def _split_loop(loop: T.For, cond, p, prefix_holds, depth, ranges, ps, fresh) -> T.Stmt:
    """[min, p) and [p, end): the part where cond holds drops it, and is
    partitioned first (it is the main body, which must not lose the budget)."""
    lo, hi = loop.min, _op("add", loop.min, loop.extent)
    holds = _drop_guard(loop.body, cond, True)
    rest = _drop_guard(loop.body, cond, False) if _decided_outside(loop, cond) else loop.body
    span_holds, span_rest = ((lo, p), (p, hi)) if prefix_holds else ((p, hi), (lo, p))
    main = _sub_loop(loop, span_holds, holds, depth - 1, ranges, ps, fresh)
    # the rest keeps cond (if it depends on inner loops): splitting it again on
    # another guard would copy a tail for little gain, so it only resolves guards
    tail = _sub_loop(loop, span_rest, rest, 0, ranges, ps, fresh)
    return T.seq(main, tail) if prefix_holds else T.seq(tail, main)


def _sub_loop(loop: T.For, span, body, depth, ranges, ps, fresh) -> T.Stmt:
    simp = Simplifier(ranges)
    start, ext = simp.expr(span[0]), simp.expr(_op("sub", span[1], span[0]))
    if isinstance(body, T.Nop) or isinstance(ext, E.Const) and ext.value <= 0:
        return T.Nop()
    if E.is_const(ext, 1):          # one iteration: its body, as simplify would make it
        body = bind_loop_var(body, loop.var, start)
        return _stmt(body, ranges, ps) if fresh else body
    sub = replace(loop, min=start, extent=ext, body=body)     # kind, thread, annotations
    return _partition_for(sub, depth, ranges, ps, fresh)


def _decided_outside(loop: T.For, cond) -> bool:
    """Whether cond mentions no var bound inside loop: then it is fixed for each
    value of loop.var, and false wherever it does not provably hold."""
    return not (vars_of(cond) & _bound_vars(loop.body))


def _bound_vars(s) -> set:
    out = set()

    def go(n):
        if isinstance(n, (T.For, T.LetStmt)):
            out.add(n.var)
        if isinstance(n, T.Stmt):
            map_children(n, lambda c: (go(c), c)[1])
    go(s)
    return out


def _op(op: str, a, b):
    """Binary(op, a, b) of two index expressions; built directly when their dtypes
    agree (the operators' NumPy promotion was a sixth of this pass's time)."""
    return E.Binary(op, a, b, a.dtype) if a.dtype == b.dtype else E.binary(op, a, b)


def _drop_guard(s, cond, value: bool):
    """s with every IfThenElse on cond replaced by its branch for cond == value;
    what becomes empty (a loop or allocation around nothing) goes too."""
    def go(n):
        if isinstance(n, T.IfThenElse) and E.same(n.cond, cond):
            branch = n.then_case if value else n.else_case
            return go(branch) if branch is not None else T.Nop()
        if isinstance(n, T.Seq):
            return T.seq(*(go(c) for c in n.stmts))
        if isinstance(n, T.Stmt):
            n = map_children(n, lambda c: go(c) if isinstance(c, T.Stmt) else c)
            if isinstance(n, (T.For, T.Allocate)) and isinstance(n.body, T.Nop):
                return n.body
        return n
    return go(s)
