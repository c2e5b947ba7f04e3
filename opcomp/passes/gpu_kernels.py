"""Host/device split: each kernel's thread-bound loops become one launch nest.

After the common passes, a GPU function is host code (sequences, allocations of
global temporaries, serial loops) around kernels: each top-level loop bound to
a thread axis starts one.  Inside a kernel, every loop bound to the same tag is
the same hardware index, whichever stage it belongs to (the copy loops of
A.shared bound to threadIdx.x *are* C's threadIdx.x).  This pass puts each
kernel in the form the CUDA printer launches:

    thread blockIdx.y for i.outer in range(2):          thread blockIdx.y for blockIdx.y in range(2):
      thread threadIdx.x for j.inner in range(8):         thread threadIdx.x for threadIdx.x in range(8):
        C.local = alloc local ...                  ->        C.local = alloc local ...
        thread threadIdx.x for ax0.inner in range(8):        A.shared[threadIdx.x] = A[...]
          A.shared[ax0.inner] = A[...]                      ...C[... threadIdx.x ...] = C.local[...]
        ...C[... j.inner ...] = C.local[...]

The outermost loops of a kernel are its launch dimensions, one per tag it
uses, ordered blockIdx.z, y, x, threadIdx.z, y, x; their vars are the hardware
indices; no other thread loop is left inside.  A store to shared or global
memory that no loop of some launched tag encloses would run once per thread
of that tag: it is guarded to run on index 0 only.  A stage left at the
default scope inside a kernel gets the scope TVM infers (gpu_relax.py).

Checked here, as ScheduleError naming the stage and the axis (the limits come
from the Target): a stage at root with no loop bound to a thread axis; WMMA calls not made by
whole warps (gpu_wmma.py); loops
bound to one tag with different extents in one kernel; a thread extent that
is not a constant; more threads per block than the target allows; more blocks
in y or z than CUDA's 65535; a local stage whose loop rebinds a thread axis
that already encloses it.
"""
from __future__ import annotations

from dataclasses import replace

from ..ir import expr as E
from ..ir import tir as T
from ..arith.interval import const_bound
from ..arith.simplify import simplify
from ..ir.visit import Mutator, walk
from ..schedule.stage import ScheduleError
from ..target import Target
from .gpu_wmma import check_warp_uniform

LAUNCH_ORDER = ("blockIdx.z", "blockIdx.y", "blockIdx.x",
                "threadIdx.z", "threadIdx.y", "threadIdx.x")


# -- shared helpers (also used by gpu_storage and gpu_sync) -----------------------------
def is_kernel(s) -> bool:
    """A kernel in the split form: a launch loop at host level."""
    return isinstance(s, T.For) and s.kind == "thread"


def launch_nest(kernel: T.For) -> tuple:
    """(the launch loops, outermost first; the body inside them)."""
    loops, s = [], kernel
    while is_kernel(s):
        loops.append(s)
        s = s.body
    return loops, s


def rebuild_nest(loops, body) -> T.Stmt:
    for loop in reversed(loops):
        body = replace(loop, body=body)
    return body


def map_kernels(func: T.PrimFunc, fn) -> T.PrimFunc:
    """Apply fn(kernel) -> kernel to every kernel of a split function."""
    class _Each(Mutator):
        def visit_For(self, s):
            return fn(s) if is_kernel(s) else self.default(s)

        def default(self, node):
            return super().default(node) if isinstance(node, T.Stmt) else node
    return replace(func, body=_Each().visit(func.body))


def owner_of(stmt) -> T.Buffer | None:
    """The buffer a loop's stage writes: the last store in it (a consumer's store
    follows those of the producers computed inside its loops)."""
    stores = []
    walk(stmt, lambda n: stores.append(n.buffer) if isinstance(n, T.Store) else None)
    return stores[-1] if stores else None


def _stage(stmt) -> str:
    buf = owner_of(stmt)
    return buf.name if buf is not None else "?"


def _has_thread_loop(stmt) -> bool:
    found = []
    walk(stmt, lambda n: found.append(n) if isinstance(n, T.For) and n.kind == "thread" else None)
    return bool(found)


# -- the pass -----------------------------------------------------------------------------
def split_host_device(func: T.PrimFunc) -> T.PrimFunc:
    """Each kernel becomes a launch nest over the hardware indices (module docstring)."""
    target = Target(func.attr("target") or "cuda")
    return replace(func, body=_Host(target).visit(func.body))


class _Host(Mutator):
    """Host-level statements; each thread loop met here starts a kernel."""

    def __init__(self, target):
        self.target = target

    def visit_For(self, s):
        if s.kind == "thread":
            return _make_kernel(s, self.target)
        if not _has_thread_loop(s):
            _unbound(s, self.target)
        return self.default(s)

    def visit_Store(self, s):
        _unbound(s, self.target)

    def default(self, node):
        return super().default(node) if isinstance(node, T.Stmt) else node


def _unbound(s, target):
    name = _stage(s)
    axis = s.var.name if isinstance(s, T.For) else "-"
    raise ScheduleError(f"bind: stage {name}, axis {axis}: on a GPU target ({target.brief}) "
                        f"every stage computed at root must bind loops to blockIdx/threadIdx "
                        f"(s[{name}].bind(axis, oc.thread_axis(\"blockIdx.x\")) ...); "
                        "this one would run on the host")


def _make_kernel(root: T.For, target) -> T.Stmt:
    extents = _thread_extents(root, target)
    check_warp_uniform(root, extents)
    launch = {tag: E.Var(tag, "int32") for tag in extents}
    body = _Unify(launch, extents).visit(root)
    for tag in reversed([t for t in LAUNCH_ORDER if t in extents]):
        body = T.For(launch[tag], E.const(0), extents[tag][0], "thread", body, tag)
    return body


def _thread_extents(root: T.For, target) -> dict:
    """tag -> (extent, stage, axis) of the kernel's thread loops, checked."""
    seen: dict = {}

    def check(n):
        if not (isinstance(n, T.For) and n.kind == "thread"):
            return
        ext, stage = simplify(n.extent), _stage(n.body)
        if n.thread.startswith("threadIdx") and not isinstance(ext, E.Const):
            raise ScheduleError(f"bind: stage {stage}, axis {n.var.name}: {n.thread} has extent "
                                f"{ext}, not a constant; the threads of a block are fixed at "
                                "launch: split the axis by a constant factor and bind the inner part")
        if n.thread in seen and not E.same(seen[n.thread][0], ext):
            first, fstage, faxis = seen[n.thread]
            raise ScheduleError(f"bind: stage {stage}, axis {n.var.name}: {n.thread} has extent "
                                f"{ext} here but {first} at axis {faxis} of stage {fstage}; loops "
                                f"bound to {n.thread} in one kernel must have equal extents")
        seen.setdefault(n.thread, (ext, stage, n.var.name))
    walk(root, check)
    _check_threads_per_block(seen, target)
    _check_grid(seen)
    return seen


GRID_LIMITS = {"blockIdx.x": 2**31 - 1, "blockIdx.y": 65535, "blockIdx.z": 65535}


def _check_grid(seen: dict) -> None:
    """Blocks per grid dimension (CUDA's limits, the same on every architecture)."""
    for tag, limit in GRID_LIMITS.items():
        if tag not in seen:
            continue
        ext, stage, axis = seen[tag]
        lo, _ = const_bound(ext)
        if lo is not None and lo > limit:
            raise ScheduleError(f"bind: stage {stage}, axis {axis}: {tag} has {lo} blocks, over "
                                f"CUDA's limit of {limit}; bind the larger axis to blockIdx.x "
                                "or split it")


def _check_threads_per_block(seen: dict, target) -> None:
    threads, parts = 1, []
    for tag in LAUNCH_ORDER:
        if tag.startswith("threadIdx") and tag in seen:
            ext, stage, axis = seen[tag]
            threads *= ext.value
            parts.append(f"{tag}={ext.value} (stage {stage}, axis {axis})")
    if threads > target.max_threads_per_block:
        stage, axis = seen[next(t for t in reversed(LAUNCH_ORDER) if t in seen)][1:]
        raise ScheduleError(f"bind: stage {stage}, axis {axis}: {threads} threads per block "
                            f"({', '.join(parts)}) exceed the limit of "
                            f"{target.max_threads_per_block} on {target.brief}")


def _not_fragment(buf) -> None:
    """Only WMMA calls touch a fragment buffer (passes/gpu_wmma.py)."""
    if buf.scope.startswith("wmma."):
        raise ScheduleError(f"tensorize: stage {buf.name}, axis -: its buffer is in scope "
                            f"{buf.scope!r}, which only WMMA intrinsics read and write; "
                            "tensorize the stage with one (schedules.gpu.wmma), or give it "
                            "the local scope")


class _Unify(Mutator):
    """Thread loops -> their launch index; default-scope buffers get local/shared;
    redundant shared/global stores are guarded to index 0 (see the module docstring)."""

    def __init__(self, launch: dict, extents: dict):
        self.launch, self.extents = launch, extents
        self.vars: dict = {}
        self.buffers: dict = {}
        self.enclosing: list = []
        self.ranges = {v: (E.const(0), extents[t][0]) for t, v in launch.items()}

    def visit_Var(self, v):
        return self.vars.get(v, v)

    def visit_For(self, s):
        if s.kind != "thread":
            self.ranges[s.var] = (self.visit(s.min), self.visit(s.extent))
            return self.default(s)
        if s.thread in self.enclosing:
            self._check_rebind(s)
        self.vars[s.var] = self.launch[s.thread] + self.visit(s.min) \
            if not E.is_const(s.min, 0) else self.launch[s.thread]
        self.enclosing.append(s.thread)
        try:
            return self.visit(s.body)
        finally:
            self.enclosing.pop()

    def _check_rebind(self, s):
        owner = owner_of(s.body)
        if owner is not None and self.buffers.get(owner, owner).scope == "local":
            raise ScheduleError(f"bind: stage {owner.name}, axis {s.var.name}: {s.thread} is bound "
                                f"twice: this loop is inside a loop already bound to {s.thread}, "
                                f"and {owner.name} is local to one thread, so the other threads' "
                                "part would be lost; do not bind the loops of a local stage")

    def visit_Allocate(self, s):
        buf = s.buffer
        scope = buf.scope
        if scope == "global":
            scope = "local" if any(t.startswith("threadIdx") for t in self.enclosing) \
                else "shared"
        shape = tuple(self._max_extent(x) for x in buf.shape)
        if scope != buf.scope or any(a is not b for a, b in zip(shape, buf.shape)):
            buf = T.Buffer(buf.name, buf.dtype, shape, scope)
            self.buffers[s.buffer] = buf
        return T.Allocate(buf, self.visit(s.body))

    def _max_extent(self, extent):
        """A region's extent can depend on the loops around it (a clipped tail);
        the allocation, made once at the kernel's top, takes its largest value."""
        if isinstance(extent, E.Const):
            return extent
        _, hi = const_bound(self.visit(extent), self.ranges)
        return extent if hi is None else E.const(max(hi, 1), extent.dtype)

    def visit_Load(self, e):
        _not_fragment(e.buffer)
        return E.Load(self.buffers.get(e.buffer, e.buffer),
                      tuple(self.visit(i) for i in e.indices), e.dtype)

    def visit_AddressOf(self, e):
        return E.AddressOf(self.buffers.get(e.buffer, e.buffer), self.visit(e.offset))

    def visit_Store(self, s):
        _not_fragment(s.buffer)
        buf = self.buffers.get(s.buffer, s.buffer)
        store = T.Store(buf, tuple(self.visit(i) for i in s.indices), self.visit(s.value))
        missing = [t for t in self.launch if t not in self.enclosing
                   and (buf.scope == "global" or t.startswith("threadIdx"))]
        if buf.scope == "local" or not missing:
            return store
        cond = None
        for t in sorted(missing, key=LAUNCH_ORDER.index):
            c = self.launch[t] == 0
            cond = c if cond is None else E.logical_and(cond, c)
        return T.IfThenElse(cond, store)
