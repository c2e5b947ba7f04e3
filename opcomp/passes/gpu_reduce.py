"""Cross-thread reductions: a sum over per-thread partials becomes a tree.

``rfactor`` makes the partials: bound to threadIdx.x and computed at the
block's row loop, T.rf lives in shared memory, one element per thread, and the
final stage adds them up.  Lowered as is, thread 0 does that alone:

    for k.outer.v in range(32):
      if threadIdx.x == 0:
        S[blockIdx.x] = S[blockIdx.x] + S.rf[k.outer.v]

Every thread of the block takes part instead, halving the live partials at
each step (log2 steps; the barrier pass separates them), and thread 0 adds the
total in (when the partials run along threadIdx.x in whole warps, the last
five steps are warp shuffles on registers, without shared memory or barriers):

    if threadIdx.x < 16:
      S.rf[threadIdx.x] = S.rf[threadIdx.x] + S.rf[threadIdx.x + 16]
    ...
    if threadIdx.x < 1:
      S.rf[threadIdx.x] = S.rf[threadIdx.x] + S.rf[threadIdx.x + 1]
    if threadIdx.x == 0:
      S[blockIdx.x] = S[blockIdx.x] + S.rf[0]

A count that is not a power of two first folds its top part onto the bottom.
The rewrite applies to a loop over the partials whose count is the extent of
one threadIdx axis, that sits where every thread of the block runs (not under
a thread-dependent condition), whose body accumulates one shared element per
iteration into one target (add, mul, min, max), and whose partials nothing
else reads (the tree overwrites them).  The combination order changes, as
rfactor's reassociation already does: within rounding of the serial sum.
The store may also sit under an output tail (`if row < n:` around the
thread-zero test, a cross-thread reduction's odd size, schedule/cross_thread.py):
the tree then runs for every thread and only the final store keeps the tail.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..ir import expr as E
from ..ir import tir as T
from ..arith.simplify import simplify_expr
from ..ir.visit import free_vars, walk
from .gpu_kernels import launch_nest, map_kernels, rebuild_nest

COMBINERS = ("add", "mul", "min", "max")


WARP = 32


def tree_reductions(func: T.PrimFunc) -> T.PrimFunc:
    """Each serial reduction over per-thread shared partials becomes a tree (above)."""
    def rewrite(kernel):
        loops, body = launch_nest(kernel)
        threads = {lp.thread: lp for lp in loops if lp.thread.startswith("threadIdx")}
        if not threads:
            return kernel
        walker = _Uniform(threads, body)
        body = walker.stmt(body)
        for buf in walker.registers:          # the warp steps' accumulators, at the top
            body = T.Allocate(buf, body)
        return rebuild_nest(loops, body)
    return map_kernels(func, rewrite)


@dataclass
class _Match:
    target: T.Store        # the accumulating store (its value rebuilt at the end)
    guard: object          # its condition (threadIdx == 0 ...) or None
    op: str
    rf: T.Buffer
    ridx: tuple            # the partial's indices
    pos: int               # which index runs over the partials
    offset: E.Expr         # that index minus the loop var
    tvar: E.Var            # the thread index that takes one partial each


class _Uniform:
    """Walks the statements every thread of the block runs; rewrites matches there."""

    def __init__(self, threads: dict, kernel_body):
        self.threads = threads
        self.tvars = {lp.var for lp in threads.values()}
        self.registers: list = []
        self.readers = _readers(kernel_body)

    def uniform(self, *exprs) -> bool:
        bad = []
        for e in exprs:
            walk(e, lambda n: bad.append(n) if isinstance(n, E.Load) or n in self.tvars else None)
        return not bad

    def stmt(self, s):
        if isinstance(s, T.Seq):
            return T.seq(*[self.stmt(x) for x in s.stmts])
        if isinstance(s, (T.Allocate, T.Assert, T.LetStmt)) and \
                (not isinstance(s, T.LetStmt) or self.uniform(s.value)):
            return replace(s, body=self.stmt(s.body))
        if isinstance(s, T.IfThenElse) and self.uniform(s.cond):
            return replace(s, then_case=self.stmt(s.then_case),
                           else_case=None if s.else_case is None else self.stmt(s.else_case))
        if isinstance(s, T.For) and self.uniform(s.min, s.extent):
            m = self.match(s)
            return self.tree(s, m) if m is not None else replace(s, body=self.stmt(s.body))
        return s

    def tree(self, loop: T.For, m: _Match) -> T.Stmt:
        """The loop as tree steps over shared memory, the last five as warp shuffles
        when the partials run along threadIdx.x in whole warps."""
        count = loop.extent.value
        tx = self.threads.get("threadIdx.x")
        warps = tx is not None and m.tvar is tx.var and count % WARP == 0
        steps, active = _shared_steps(m, count, WARP if warps else 1)
        if warps:
            total, tail = self.warp_steps(m, active)
            if m.guard is None:
                return T.seq(*steps, *_broadcast(m, total, tail))
            return T.seq(*steps, T.IfThenElse(m.tvar < WARP, T.seq(*tail, _final(m, total))))
        return T.seq(*steps, _final(m, E.Load(m.rf, _elem(m, 0), m.rf.dtype)))

    def warp_steps(self, m: _Match, active: int) -> tuple:
        """(the warp's total, the statements): each lane loads its partial into a
        register, then five shuffles halve the live lanes (lane 0 ends with the total)."""
        acc = T.Buffer(f"{m.rf.name}.warp", m.rf.dtype, (E.const(1),), "local")
        self.registers.append(acc)
        reg = E.Load(acc, (E.const(0),), acc.dtype)
        stmts = [T.Store(acc, (E.const(0),), E.Load(m.rf, _elem(m, m.tvar), m.rf.dtype))]
        offset = active // 2
        while offset >= 1:
            moved = E.Call("shfl_down", (reg, E.const(offset), E.const(WARP)), acc.dtype)
            stmts.append(T.Store(acc, (E.const(0),), E.binary(m.op, reg, moved)))
            offset //= 2
        return reg, stmts

    def match(self, loop: T.For):
        if loop.kind != "serial" or not E.is_const(loop.min, 0) or \
                not isinstance(loop.extent, E.Const) or loop.extent.value < 2:
            return None
        guard, store = _guarded_store(loop.body, self.tvars)
        if store is None:
            return None
        v = loop.var
        val = store.value
        if not (isinstance(val, E.Binary) and val.op in COMBINERS and isinstance(val.a, E.Load)
                and val.a.buffer is store.buffer and E.same(val.a.indices, store.indices)
                and isinstance(val.b, E.Load) and val.b.buffer.scope == "shared"
                and self.readers.get(val.b.buffer) == 1):
            return None
        if any(v in free_vars(i) for i in store.indices):
            return None
        found = _partial_axis(val.b.indices, v)
        if found is None:
            return None
        pos, offset = found
        others = [i for k, i in enumerate(val.b.indices) if k != pos] + [offset] + \
            list(store.indices)
        for tag in ("threadIdx.x", "threadIdx.y", "threadIdx.z"):
            lp = self.threads.get(tag)
            if lp is not None and E.same(lp.extent, loop.extent) and \
                    not any(lp.var in free_vars(e) for e in others) and \
                    _tail_guard_ok(guard, self.tvars, lp.var, v):
                return _Match(store, guard, val.op, val.b.buffer, val.b.indices, pos, offset,
                              lp.var)
        return None


def _readers(body) -> dict:
    """Buffer -> how many loads of it feed something other than itself (a stage's
    own accumulation A[i] = A[i] + ... does not count: it produces A)."""
    out: dict = {}

    def count(expr, skip):
        walk(expr, lambda n: out.__setitem__(n.buffer, out.get(n.buffer, 0) + 1)
             if isinstance(n, E.Load) and n.buffer is not skip else None)

    def see(n):
        if isinstance(n, T.Store):
            count(n.value, n.buffer)
            for i in n.indices:
                count(i, None)
        elif isinstance(n, (T.IfThenElse, T.Assert)):
            count(n.cond, None)
        elif isinstance(n, (T.For,)):
            count(n.min, None)
            count(n.extent, None)
        elif isinstance(n, T.LetStmt):
            count(n.value, None)
    walk(body, see)
    return out


def _guarded_store(body, tvars):
    """(guard or None, store) when body is a store, possibly under `threadIdx.* == 0`."""
    if isinstance(body, T.Store):
        return None, body
    if isinstance(body, T.IfThenElse) and body.else_case is None and \
            isinstance(body.then_case, T.Store) and _is_thread_zero(body.cond, tvars):
        return body.cond, body.then_case
    return _nested_guard_store(body, tvars)


def _nested_guard_store(body, tvars):
    """(guard, store) for a store under nested ifs (no else) of which one tests
    `threadIdx.* == 0` (the others, e.g. an output tail `row < n`, are checked
    against the partials' thread in _tail_guard_ok), else (None, None)."""
    conds = []
    while isinstance(body, T.IfThenElse) and body.else_case is None:
        conds.append(body.cond)
        body = body.then_case
    if not isinstance(body, T.Store) or not any(_is_thread_zero(c, tvars) for c in conds):
        return None, None
    guard = conds[0]
    for c in conds[1:]:
        guard = E.logical_and(guard, c)
    return guard, body


def _conjuncts(cond) -> list:
    if isinstance(cond, E.Binary) and cond.op == "and":
        return _conjuncts(cond.a) + _conjuncts(cond.b)
    return [cond]


def _tail_guard_ok(guard, tvars, tvar, v) -> bool:
    """A guard of thread-zero tests only is the original form.  One mixing in other
    conditions (an output tail) keeps the single write when it tests tvar == 0 and
    the rest reads no memory, neither tvar nor the loop var: the tree then runs for
    every thread and only the final store is guarded."""
    parts = [] if guard is None else _conjuncts(guard)
    if all(_is_thread_zero(c, tvars) for c in parts):
        return True
    if not any(_is_thread_zero(c, {tvar}) for c in parts):
        return False
    others = [c for c in parts if not _is_thread_zero(c, tvars)]
    loads = []
    for c in others:
        walk(c, lambda n: loads.append(n) if isinstance(n, E.Load) else None)
    return not loads and not any({tvar, v} & set(free_vars(c)) for c in others)


def _is_thread_zero(cond, tvars) -> bool:
    if isinstance(cond, E.Binary) and cond.op == "and":
        return _is_thread_zero(cond.a, tvars) and _is_thread_zero(cond.b, tvars)
    return isinstance(cond, E.Compare) and cond.op == "eq" and cond.a in tvars and \
        E.is_const(cond.b, 0)


def _partial_axis(indices, v):
    """(position, offset) of the one index that is v + offset, offset free of v."""
    hits = [k for k, i in enumerate(indices) if v in free_vars(i)]
    if len(hits) != 1:
        return None
    offset = simplify_expr(indices[hits[0]] - v)
    return None if v in free_vars(offset) else (hits[0], offset)


def _elem(m: _Match, k) -> tuple:
    """The partial's indices with the partial axis at k."""
    idx = list(m.ridx)
    idx[m.pos] = simplify_expr(m.offset + k)
    return tuple(idx)


def _shared_steps(m: _Match, count: int, stop: int) -> tuple:
    """(tree steps in shared memory leaving at most `stop` live partials, how many
    are live): fold the part above a power of two, then halve."""
    def step(active, stride):
        mine = E.Load(m.rf, _elem(m, m.tvar), m.rf.dtype)
        other = E.Load(m.rf, _elem(m, m.tvar + stride), m.rf.dtype)
        return T.IfThenElse(m.tvar < active, T.Store(m.rf, _elem(m, m.tvar),
                                                      E.binary(m.op, mine, other)))
    steps = []
    live = 1 << (count.bit_length() - 1)
    if live < count:
        steps.append(step(count - live, live))
    while live > stop:
        live //= 2
        steps.append(step(live, live))
    return steps, live


def _broadcast(m: _Match, total, tail) -> list:
    """Every thread stores (a thread-local result: no thread-zero guard), so every
    thread needs the total, not only lane 0 of the shuffles: lane 0 puts it back in
    the first partial and all threads combine that (the barrier pass separates them).

        if threadIdx.x < 32:
          <warp steps>; if threadIdx.x == 0: S.rf[0] = S.rf.warp[0]
        S[0] = S[0] + S.rf[0]
    """
    first = _elem(m, 0)
    publish = T.IfThenElse(E.compare("eq", m.tvar, 0), T.Store(m.rf, first, total))
    return [T.IfThenElse(m.tvar < WARP, T.seq(*tail, publish)),
            _final(m, E.Load(m.rf, first, m.rf.dtype))]


def _final(m: _Match, total) -> T.Stmt:
    """The target combined with the total, under the original store's guard."""
    store = T.Store(m.target.buffer, m.target.indices, E.binary(m.op, m.target.value.a, total))
    return store if m.guard is None else T.IfThenElse(m.guard, store)
