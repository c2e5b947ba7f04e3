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
"""
from __future__ import annotations

from ..ir import expr as E
from ..ir import tir as T
from ..arith.interval import linear_form, symbolic_bound
from ..arith.simplify import simplify
from ..ir.visit import free_vars, map_children, substitute

MAX_SPLITS_PER_LOOP = 4


def partition_loops(func: T.PrimFunc) -> T.PrimFunc:
    from dataclasses import replace
    return replace(func, body=_stmt(func.body))


def _stmt(s: T.Stmt) -> T.Stmt:
    if isinstance(s, T.For):
        return _partition_for(s, MAX_SPLITS_PER_LOOP)
    if isinstance(s, (T.Seq, T.IfThenElse, T.Allocate, T.LetStmt, T.Assert)):
        return map_children(s, lambda c: _stmt(c) if isinstance(c, T.Stmt) else c)
    return s


def _partition_for(loop: T.For, budget: int) -> T.Stmt:
    if budget > 0 and loop.kind != "thread":
        for cond, inner_ranges in _guards(loop.body, {}):
            split = _split_point(cond, loop.var, inner_ranges)
            if split is not None:
                return _split_loop(loop, cond, split, budget)
    return T.For(loop.var, loop.min, loop.extent, loop.kind, _stmt(loop.body), loop.thread)


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
    return {"lt": lambda: a - b, "le": lambda: a - b - 1,
            "gt": lambda: b - a, "ge": lambda: b - a - 1}.get(cond.op, lambda: None)()


def _split_point(cond, v, inner_ranges):
    """(point, prefix_holds) where cond holds for all inner values, or None."""
    d = _as_negative(cond)
    if d is None or v not in free_vars(d):
        return None
    form = linear_form(simplify(d))
    if form is None or form[0].get(v, 0) == 0:
        return None
    coef = form[0][v]
    rest = simplify(substitute(d, {v: E.const(0, v.dtype)}))
    _, worst = symbolic_bound(rest, inner_ranges)
    if v in free_vars(worst):      # an inner loop's range depends on v: not affine in v
        return None
    if coef > 0:    # coef*v + worst < 0  <=>  v < floor((-worst - 1) / coef) + 1
        return simplify((E.const(-1, worst.dtype) - worst) // coef + 1), True
    # -|coef|*v + worst < 0  <=>  v > worst / |coef|  <=>  v >= floor(worst / |coef|) + 1
    return simplify(worst // (-coef) + 1), False


def _split_loop(loop: T.For, cond, split, budget) -> T.Stmt:
    point, prefix_holds = split
    lo, hi = loop.min, simplify(loop.min + loop.extent)
    p = simplify(E.maximum(lo, E.minimum(hi, E.cast(point, lo.dtype))))
    holds_body = _drop_guard(loop.body, cond, True)
    rest_body = loop.body
    if not (free_vars(cond) - {loop.var} - _outer_safe(loop, cond)):
        rest_body = _drop_guard(loop.body, cond, False)
    first, second = (holds_body, rest_body) if prefix_holds else (rest_body, holds_body)
    a = _sub_loop(loop, lo, p, first, budget - 1, retry=prefix_holds)
    b = _sub_loop(loop, p, hi, second, budget - 1, retry=not prefix_holds)
    return simplify(T.seq(a, b))


def _outer_safe(loop, cond) -> set:
    """Vars of cond that are defined outside loop (fixed while it runs)."""
    inside = set()
    _collect_loop_vars(loop.body, inside)
    return free_vars(cond) - inside - {loop.var}


def _collect_loop_vars(s, out: set) -> None:
    if isinstance(s, T.For):
        out.add(s.var)
    if isinstance(s, T.Stmt):
        map_children(s, lambda c: (_collect_loop_vars(c, out), c)[1])


def _sub_loop(loop, start, end, body, budget, retry) -> T.Stmt:
    ext = simplify(end - start)
    sub = T.For(loop.var, start, ext, loop.kind, body, loop.thread)
    if retry:
        return _partition_for(sub, budget)
    return T.For(loop.var, start, ext, loop.kind, _stmt(body), loop.thread)


def _drop_guard(s, cond, value: bool):
    """s with every IfThenElse on cond replaced by its branch for cond == value."""
    def go(n):
        if isinstance(n, T.IfThenElse) and E.same(n.cond, cond):
            branch = n.then_case if value else n.else_case
            return go(branch) if branch is not None else T.Nop()
        if isinstance(n, T.Stmt):
            return map_children(n, lambda c: go(c) if isinstance(c, T.Stmt) else c)
        return n
    return go(s)
