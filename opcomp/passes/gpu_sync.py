"""Barriers: __syncthreads() wherever threads hand shared memory to each other.

In a kernel, a thread may read a shared element another thread wrote, or
overwrite one another thread has yet to read.  The pass walks each kernel in
program order keeping the shared buffers written and read since the last
barrier, and puts a Barrier before a statement that

- reads a buffer written since the last barrier (read after write), or
- writes a buffer read since the last barrier (write after read: the next
  tile must not land before every thread is done with this one).

A loop's body is walked as if entered from both the code before it and the end
of its own previous iteration, so the classic GEMM's k.outer loop gets

    for k.outer in range(8):
      barrier                 (the previous tile is still being read)
      A.shared[...] = ...     (cooperative load)
      B.shared[...] = ...
      barrier                 (the tile is complete)
      ... A.shared ... B.shared ...

A barrier must be reached by every thread of the block, so it is only placed
where control flow is uniform: never inside a condition, loop bound or let
value that depends on threadIdx (or on memory), where the whole statement is
treated as one access and the barrier goes before it.  Accesses are compared
by buffer, not by element, with one exception: an index made only of launch
indices and sizes, with each threadIdx alone in some dimension (S.rf[threadIdx.x],
a per-thread partial), names an element only its thread touches, so the same
index read after written needs no barrier.  Otherwise a barrier may be placed
where the threads touch disjoint elements, which costs time but is never wrong.
Barriers already in the kernel (a cross-thread reduction's) count as such.
A WMMA call (gpu_wmma.py) reads or writes its memory operand's whole tile.

A double-buffered tile (schedule/storage.py) is one buffer of two copies,
indexed ``rest + (p % 2) * size`` with rest provably in [0, size): accesses
whose parities p differ by an odd constant touch different copies and need no
barrier between them.  Accesses carried round a loop's back edge have their
parity shifted (k -> k - 1), so the prefetch of the next tile into copy
(k + 1) % 2 needs no barrier after this iteration's reads of copy k % 2:

    for k.outer in range(n - 1):
      barrier                      (the tile prefetched last iteration is complete)
      ... A.shared[... + k.outer % 2 * 544] ...
      A.shared[... + (k.outer + 1) % 2 * 544] = ...     (no barrier before it)
"""
from __future__ import annotations

from dataclasses import replace

from ..ir import expr as E
from ..ir import tir as T
from ..arith.interval import prove
from ..arith.simplify import simplify_expr
from ..ir.visit import field_names, free_vars, substitute, walk
from .gpu_kernels import launch_nest, map_kernels, rebuild_nest
from .gpu_wmma import is_wmma_call, memory_operands


def insert_barriers(func: T.PrimFunc) -> T.PrimFunc:
    """A Barrier before each shared-memory hand-over in every kernel (see above)."""
    def sync(kernel):
        loops, body = launch_nest(kernel)
        threads = {lp.var for lp in loops if lp.thread.startswith("threadIdx")}
        uniform = {lp.var for lp in loops} | set(func.size_vars)
        ranges = {lp.var: (lp.min, lp.extent) for lp in loops}
        body, _ = _Sync(threads, uniform, ranges).stmt(body, _State())
        return rebuild_nest(loops, body)
    return map_kernels(func, sync)


class _State:
    """Shared accesses since the last barrier: (buffer, key) pairs written and read.

    key is the index when the access is private to its thread (see _private_key),
    else None.
    """

    def __init__(self, writes=frozenset(), reads=frozenset()):
        self.writes, self.reads = frozenset(writes), frozenset(reads)

    def __or__(self, other):
        return _State(self.writes | other.writes, self.reads | other.reads)

    def __eq__(self, other):
        return self.writes == other.writes and self.reads == other.reads

    def after(self, reads, writes):
        return _State(self.writes | writes, self.reads | reads)

    def conflicts(self, reads, writes) -> bool:
        """Read after write or write after read of a shared element another thread
        may touch."""
        return _overlap(reads, self.writes) or _overlap(writes, self.reads)


def _overlap(new, pending) -> bool:
    for buf, key in new:
        for buf2, key2 in pending:
            if buf is buf2 and not _disjoint(key, key2):
                return True
    return False


def _disjoint(key, key2) -> bool:
    """Whether two accesses of one buffer provably touch different elements, or the
    same element of one thread (private keys)."""
    if isinstance(key, _Copy) and isinstance(key2, _Copy):
        return key.odd != key2.odd and E.same(key.base, key2.base)
    if key is None or key2 is None or isinstance(key, _Copy) or isinstance(key2, _Copy):
        return False
    return E.same(key, key2)


class _Copy:
    """The key of an access to one copy of a double-buffered tile, copy (base + odd) % 2:
    only the parity of the constant part matters, so shifting round a loop twice
    gives the same key back (and the fixpoint of _Sync.loop ends)."""

    def __init__(self, parity):
        parity = simplify_expr(parity)
        self.base, self.odd = parity, 0
        if isinstance(parity, E.Binary) and parity.op in ("add", "sub") and \
                isinstance(parity.b, E.Const):
            self.base, self.odd = parity.a, parity.b.value % 2
        elif isinstance(parity, E.Const):
            self.base, self.odd = E.const(0, parity.dtype), parity.value % 2
        self._id = (str(self.base), self.odd)

    def __eq__(self, other):
        return isinstance(other, _Copy) and self._id == other._id

    def __hash__(self):
        return hash(self._id)

    def shifted(self, var):
        """The same access seen from the next iteration of var's loop."""
        return _Copy(substitute(E.binary("add", self.base, E.const(self.odd, self.base.dtype)),
                                {var: var - 1}))


def _shift_state(state, var):
    def shift(pairs):
        return frozenset((b, k.shifted(var) if isinstance(k, _Copy) else k) for b, k in pairs)
    return _State(shift(state.writes), shift(state.reads))


def copy_key(buf, indices, ranges):
    """_Copy(p) when indices are ``rest + (p % 2) * size`` into a buffer of 2 * size
    elements with rest provably in [0, size) (see the module docstring), else None."""
    if len(indices) != 1 or len(buf.shape) != 1 or not isinstance(buf.shape[0], E.Const):
        return None
    size = buf.shape[0].value // 2
    terms = _terms(indices[0])
    for k, t in enumerate(terms):
        parity = _parity_of(t, size)
        if parity is None or buf.shape[0].value != 2 * size:
            continue
        rest = terms[:k] + terms[k + 1:]
        rest = rest[0] if len(rest) == 1 else (sum(rest[1:], rest[0]) if rest else E.const(0))
        if prove(rest >= 0, ranges) and prove(rest < size, ranges):
            return _Copy(parity)
    return None


def _terms(e) -> list:
    if isinstance(e, E.Binary) and e.op == "add":
        return _terms(e.a) + _terms(e.b)
    return [e]


def _parity_of(t, size):
    """p for a term (p % 2) * size."""
    if not (isinstance(t, E.Binary) and t.op == "mul"):
        return None
    for mod, c in ((t.a, t.b), (t.b, t.a)):
        if E.is_const(c, size) and isinstance(mod, E.Binary) and mod.op == "floormod" \
                and E.is_const(mod.b, 2):
            return mod.a
    return None


class _Accesses:
    """(reads, writes) of shared buffers in a statement, as (buffer, key) pairs."""

    def __init__(self, threads: set, uniform: set, ranges: dict):
        self.threads, self.uniform = threads, uniform
        self.ranges = ranges          # loop var -> (min, extent) of the loops around

    def __call__(self, s) -> tuple:
        reads, writes = set(), set()

        def see(n, ranges):
            if isinstance(n, T.For):
                ranges = {**ranges, n.var: (n.min, n.extent)}
            if isinstance(n, E.Load) and n.buffer.scope == "shared":
                reads.add((n.buffer, self.key(n.buffer, n.indices, ranges)))
            elif isinstance(n, T.Store) and n.buffer.scope == "shared":
                writes.add((n.buffer, self.key(n.buffer, n.indices, ranges)))
            elif is_wmma_call(n):      # a warp's tile: never private to one thread
                tile_reads, tile_writes = memory_operands(n)
                reads.update((b, None) for b, _ in tile_reads if b.scope == "shared")
                writes.update((b, None) for b, _ in tile_writes if b.scope == "shared")
            for name in field_names(n):
                value = getattr(n, name)
                for child in (value if isinstance(value, tuple) else (value,)):
                    if isinstance(child, E.Node) and not isinstance(child, (T.Buffer, E.IterVar)):
                        see(child, ranges)
        see(s, self.ranges)
        return frozenset(reads), frozenset(writes)

    def key(self, buf, indices, ranges):
        """private_key, else copy_key (with the ranges of the loops around the access)."""
        private = self.private_key(indices)
        return private if private is not None else copy_key(buf, indices, ranges)

    def private_key(self, indices):
        """The indices when they name one element per thread, the same all through
        the kernel (only launch indices and sizes in them, each threadIdx alone in
        some index plus a uniform offset): then only this thread touches it."""
        used = set()
        for i in indices:
            used |= free_vars(i)
        if not used <= self.uniform:
            return None
        for t in self.threads:
            if not any(t in free_vars(i) and not (free_vars(simplify_expr(i - t)) & self.threads)
                       for i in indices):
                return None
        return tuple(indices)


class _Sync:
    """stmt(s, state) -> (s with barriers, state after s)."""

    def __init__(self, threads: set, uniform: set, ranges: dict):
        self.varying = set(threads)       # vars whose value differs between threads
        self.ranges = dict(ranges)        # grows and shrinks as loops are entered
        self.accesses = _Accesses(threads, uniform, self.ranges)

    def uniform(self, *exprs) -> bool:
        bad = []

        def see(n):
            if isinstance(n, E.Load) or (isinstance(n, E.Var) and n in self.varying):
                bad.append(n)
        for e in exprs:
            walk(e, see)
        return not bad

    def stmt(self, s, state):
        """A statement that conflicts with the pending accesses gets its barrier
        before it, as far out as possible (before a whole loop rather than inside
        it), and its inside is then walked from a clean state."""
        if isinstance(s, T.Barrier):
            return s, _State()
        reads, writes = self.accesses(s)
        if state.conflicts(reads, writes):
            inner, after = self.inside(s, _State())
            return T.seq(T.Barrier(), inner), after
        return self.inside(s, state)

    def inside(self, s, state):
        if isinstance(s, T.Seq):
            return self.seq(s, state)
        if isinstance(s, T.For) and self.uniform(s.min, s.extent):
            return self.loop(s, state)
        if isinstance(s, T.IfThenElse) and self.uniform(s.cond):
            then, st1 = self.stmt(s.then_case, state)
            if s.else_case is None:
                return replace(s, then_case=then), st1 | state
            other, st2 = self.stmt(s.else_case, state)
            return replace(s, then_case=then, else_case=other), st1 | st2
        if isinstance(s, (T.Allocate, T.Assert)):
            body, after = self.stmt(s.body, state)
            return replace(s, body=body), after
        if isinstance(s, T.LetStmt):
            if not self.uniform(s.value):
                self.varying.add(s.var)
            body, after = self.stmt(s.body, state)
            return replace(s, body=body), after
        # A leaf, or control flow that differs between threads: one access.
        reads, writes = self.accesses(s)
        return s, state.after(reads, writes)

    def seq(self, s, state):
        out = []
        for child in s.stmts:
            child, state = self.stmt(child, state)
            out.append(child)
        return T.seq(*out), state

    def loop(self, s, state):
        """The body entered from before the loop and from its own end, to a fixpoint.

        The entry state only grows (more pending accesses can only add barriers),
        so the rounds stop after at most one per shared buffer access kind."""
        entry = state
        self.ranges[s.var] = (s.min, s.extent)
        while True:
            body, end = self.stmt(s.body, entry)
            again = entry | _shift_state(end, s.var)
            if again == entry:
                break
            entry = again
        del self.ranges[s.var]
        # Zero iterations leave the state before the loop; one or more, its end.
        return replace(s, body=body), state | end
