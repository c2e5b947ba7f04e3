"""Shared and local buffers are declared once, at the top of their kernel.

Lowering allocates a stage's buffer where the stage is computed: A.shared
inside the reduction's outer loop (and again in a peeled last iteration),
C.local inside the thread loops.  A CUDA kernel declares shared memory once
per block and registers once per thread, so every such allocation moves to the
top of its kernel, inside the launch nest (one declaration per buffer, however
many places allocated it):

    thread blockIdx.x for blockIdx.x in range(2):     thread blockIdx.x for blockIdx.x in range(2):
      thread threadIdx.x for threadIdx.x in range(8):   thread threadIdx.x for threadIdx.x in range(8):
        for k.outer in range(8):                 ->      A.shared = alloc shared float32[64, 8]
          A.shared = alloc shared float32[64, 8]          for k.outer in range(8):
          ...                                               ...

Reusing one buffer across the iterations of the loop that allocated it is
safe: each iteration writes the region before reading it (the barrier pass
keeps other threads from overwriting it early).

Checked here, as ScheduleError naming the stage: a shared or local buffer
whose size is not a constant, and shared memory per block beyond the
target's opt-in limit (beyond the default 48 KiB the CUDA backend asks the
driver for the larger carve-out at load time).
"""
from __future__ import annotations

from ..ir import expr as E
from ..ir import tir as T
from ..arith.interval import const_bound
from ..ir.visit import Mutator
from ..schedule.stage import ScheduleError
from ..target import Target
from .gpu_kernels import launch_nest, map_kernels, rebuild_nest

SHARED_ALIGN = 16          # bytes: every shared buffer starts on a float4 boundary


def hoist_allocations(func: T.PrimFunc) -> T.PrimFunc:
    """Every shared/local allocation of a kernel moves to the kernel's top (see above)."""
    target = Target(func.attr("target") or "cuda")

    def hoist(kernel):
        loops, body = launch_nest(kernel)
        remover = _RemoveAllocs()
        body = remover.visit(body)
        _check_sizes(remover.found, target)
        for buf in reversed(remover.found):
            body = T.Allocate(buf, body)
        return rebuild_nest(loops, body)
    return map_kernels(func, hoist)


class _RemoveAllocs(Mutator):
    """Drops each Allocate, keeping its buffer (first occurrence order, deduplicated)."""

    def __init__(self):
        self.found: list = []

    def visit_Allocate(self, s):
        if s.buffer not in self.found:
            self.found.append(s.buffer)
        return self.visit(s.body)

    def default(self, node):
        return super().default(node) if isinstance(node, T.Stmt) else node


def buffer_bytes(buf: T.Buffer) -> int | None:
    """The buffer's size in bytes when it is a constant, else None."""
    n = 1
    for s in buf.shape:
        _, hi = const_bound(s)
        if not isinstance(s, E.Const) and hi is None:
            return None
        n *= s.value if isinstance(s, E.Const) else hi
    from .. import dtype as dt
    return n * dt.itemsize(buf.dtype)


def shared_layout(buffers) -> tuple:
    """({buffer: byte offset}, total bytes) of the shared buffers in one arena."""
    offsets, total = {}, 0
    for buf in buffers:
        if buf.scope != "shared":
            continue
        total = -(-total // SHARED_ALIGN) * SHARED_ALIGN
        offsets[buf] = total
        total += buffer_bytes(buf)
    return offsets, total


def _check_sizes(buffers, target) -> None:
    for buf in buffers:
        if buffer_bytes(buf) is None:
            raise ScheduleError(f"compute_at: stage {buf.name}, axis -: its {buf.scope} buffer has "
                                f"shape {list(buf.shape)}, not a constant size; a GPU kernel sizes "
                                f"{buf.scope} memory at compile time: compute it at a loop whose "
                                "region is a constant (split by a constant factor)")
    _, total = shared_layout(buffers)
    limit = target.max_shared_memory_per_block_optin
    if total > limit:
        names = ", ".join(f"{b.name} ({buffer_bytes(b)} bytes)" for b in buffers
                          if b.scope == "shared")
        raise ScheduleError(f"cache_read: stage {_largest_shared(buffers)}, axis -: shared memory "
                            f"per block is {total} bytes ({names}), over the limit of {limit} "
                            f"bytes on {target.brief}; use smaller tiles")


def _largest_shared(buffers) -> str:
    shared = [b for b in buffers if b.scope == "shared"]
    return max(shared, key=buffer_bytes).name


# -- register tiles -------------------------------------------------------------------
MAX_PADDED_TRIP = 64       # loops up to this many iterations are padded (nvcc unrolls them)


def pad_register_loops(func: T.PrimFunc) -> T.PrimFunc:
    """Loops over a local buffer get a constant trip count, with a guard inside.

    A tail clipped to the domain gives loops like ``for i.c in range(max(min(100 -
    threadIdx.y * 8, 8), 0))``; with a trip count that differs between threads
    nvcc cannot unroll the loop, so C.local[i.c * 8 + j.c] needs a run-time
    index and the register tile becomes an array in local memory (stack).
    Iterating to the constant bound and guarding the body keeps every index a
    constant after unrolling (the guard becomes a predicate):

        for i.c in range(max(min(e, 8), 0)):   ->   for i.c in range(8):
          C.local[i.c] = ...                          if i.c < max(min(e, 8), 0):
                                                        C.local[i.c] = ...
    """
    return map_kernels(func, lambda k: _PadLoops().visit(k))


class _PadLoops(Mutator):
    def visit_For(self, s):
        body = self.visit(s.body)
        if s.kind in ("serial", "unrolled") and not isinstance(s.extent, E.Const) \
                and _indexes_local(body, s.var):
            _, hi = const_bound(s.extent)
            if hi is not None and 0 < hi <= MAX_PADDED_TRIP:
                guard = T.IfThenElse(s.var < s.min + s.extent, body) if not \
                    E.is_const(s.min, 0) else T.IfThenElse(s.var < s.extent, body)
                return T.For(s.var, s.min, E.const(hi, s.extent.dtype), s.kind, guard, s.thread)
        return s if body is s.body else T.For(s.var, s.min, s.extent, s.kind, body, s.thread)

    def default(self, node):
        return super().default(node) if isinstance(node, T.Stmt) else node


def _indexes_local(stmt, var) -> bool:
    """Whether var appears in an index of a local buffer inside stmt."""
    from ..ir.visit import free_vars, walk
    hits = []

    def see(n):
        if isinstance(n, (E.Load, T.Store)) and n.buffer.scope == "local" and \
                any(var in free_vars(i) for i in n.indices):
            hits.append(n)
    walk(stmt, see)
    return bool(hits)
