"""The GPU tail of lowering, on TVM's classic GEMM schedule and smaller kernels:
shared tiles sized for the block, allocations hoisted to the kernel top, one
launch nest per kernel, barriers around cooperative copies, redundant stores
guarded, launch dimensions computed on the host."""
import opcomp as oc
from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.ir.visit import walk
from opcomp.passes.gpu_kernels import is_kernel, launch_nest

from . import kernels as K


def lowered(case, **kw):
    s, args, _ = case(**kw)
    return oc.lower(s, args, target="cuda", name=case.__name__)


def kernels_of(func):
    found = []

    def see(n):
        if is_kernel(n) and not any(n is k or _contains(k, n) for k in found):
            found.append(n)
    walk(func.body, see)
    return found


def _contains(outer, node):
    hits = []
    walk(outer, lambda n: hits.append(n) if n is node else None)
    return bool(hits)


def top_allocations(kernel):
    """The buffers allocated at the top of a kernel (inside its launch nest), in order."""
    _, body = launch_nest(kernel)
    out = []
    while isinstance(body, T.Allocate):
        out.append(body.buffer)
        body = body.body
    return out, body


def nodes(stmt, cls):
    out = []
    walk(stmt, lambda n: out.append(n) if isinstance(n, cls) else None)
    return out


def test_classic_gemm_shared_tile_spans_the_block():
    (kernel,) = kernels_of(lowered(K.classic_gemm))
    bufs, _ = top_allocations(kernel)
    sizes = {b.name: (b.scope, b.shape[0].value) for b in bufs}
    # A.shared: the block's 64 rows x the k tile of 8 (one thread alone reads 8 rows).
    assert sizes == {"A.shared": ("shared", 64 * 8), "B.shared": ("shared", 8 * 64),
                     "C.local": ("local", 8 * 8)}


def test_classic_gemm_allocations_hoisted_to_kernel_top():
    (kernel,) = kernels_of(lowered(K.classic_gemm))
    bufs, rest = top_allocations(kernel)
    assert len(bufs) == 3
    assert nodes(rest, T.Allocate) == []      # none left inside loops (or the peeled tail)


def test_classic_gemm_launch_nest():
    (kernel,) = kernels_of(lowered(K.classic_gemm, M=256, N=128))
    loops, body = launch_nest(kernel)
    assert [(lp.thread, lp.extent.value) for lp in loops] == [
        ("blockIdx.y", 4), ("blockIdx.x", 2), ("threadIdx.y", 8), ("threadIdx.x", 8)]
    assert [lp.var.name for lp in loops] == [lp.thread for lp in loops]
    assert [f for f in nodes(body, T.For) if f.kind == "thread"] == []


def test_classic_gemm_barriers_around_the_cooperative_copy():
    (kernel,) = kernels_of(lowered(K.classic_gemm))
    _, body = top_allocations(kernel)
    (ko,) = [f for f in nodes(body, T.For) if f.var.name == "k.outer"]
    kinds = [type(s).__name__ for s in ko.body.stmts]
    # The previous tile is still read by other threads: barrier; copy A, B; barrier; compute.
    assert kinds == ["Barrier", "For", "For", "Barrier", "For"]
    written = [nodes(s, T.Store)[0].buffer.name for s in ko.body.stmts[1:3]]
    assert written == ["A.shared", "B.shared"]
    assert len(nodes(kernel, T.Barrier)) == 2


def test_copy_loops_use_the_consumers_thread_indices():
    (kernel,) = kernels_of(lowered(K.classic_gemm))
    loops, _ = launch_nest(kernel)
    launch_vars = {lp.var for lp in loops}
    copy = [s for s in nodes(kernel, T.Store) if s.buffer.name == "A.shared"][0]
    used = set()
    walk(copy.indices[0], lambda n: used.add(n) if isinstance(n, E.Var) else None)
    assert {v.name for v in used & launch_vars} == {"threadIdx.x", "threadIdx.y"}


def test_store_outside_thread_loops_runs_on_thread_zero():
    (kernel,) = kernels_of(lowered(K.block_rowsum))
    guards = [s for s in nodes(kernel, T.IfThenElse)
              if nodes(s.then_case, T.Store) and nodes(s.then_case, T.Store)[0].buffer.name == "S"]
    assert guards and all(str(g.cond) == "threadIdx.x == 0" for g in guards)


def test_default_scope_stage_under_threads_is_local():
    A = oc.placeholder((64,), name="A")
    B = oc.compute((64,), lambda i: A[i] * 2.0, name="B")
    C = oc.compute((64,), lambda i: B[i] + 1.0, name="C")
    s = oc.create_schedule(C)
    bx, tx = s[C].split(C.op.axis[0], factor=16)
    s[C].bind(bx, oc.thread_axis("blockIdx.x"))
    s[C].bind(tx, oc.thread_axis("threadIdx.x"))
    s[B].compute_at(s[C], tx)
    (kernel,) = kernels_of(oc.lower(s, [A, C], target="cuda"))
    bufs, _ = top_allocations(kernel)
    assert [(b.name, b.scope, b.shape[0].value) for b in bufs] == [("B", "local", 1)]


def test_softmax_is_four_kernels_with_host_temporaries():
    func = lowered(K.row_softmax)
    assert len(kernels_of(func)) == 4
    host_allocs = []
    s = func.body
    while isinstance(s, T.Allocate):
        host_allocs.append((s.buffer.name, s.buffer.scope))
        s = s.body
    assert host_allocs == [("M", "global"), ("E", "global"), ("S", "global")]


def test_symbolic_grid_is_computed_on_the_host():
    (kernel,) = kernels_of(lowered(K.vector_add, n=None))
    loops, _ = launch_nest(kernel)
    grid = {lp.thread: lp.extent for lp in loops}
    assert str(grid["blockIdx.x"]) == "(n + 127) // 128"
    assert grid["threadIdx.x"].value == 128


def test_register_tile_loops_keep_constant_trip_counts_on_odd_shapes():
    """A clipped tail would give C.local's loops a per-thread trip count (and nvcc
    a local-memory array); they run to 8 with a guard instead."""
    (kernel,) = kernels_of(lowered(K.classic_gemm, M=100, N=77, K=37))
    local_loops = [f for f in nodes(kernel, T.For) if f.var.name in ("i.c", "j.c")]
    assert local_loops and all(isinstance(f.extent, E.Const) and f.extent.value == 8
                               for f in local_loops)


def tree_steps(kernel):
    """(active count, stride) of each shared-memory tree step, in order."""
    out = []
    for s in nodes(kernel, T.IfThenElse):
        st = s.then_case
        if isinstance(st, T.Store) and st.buffer.name == "S.rf" and \
                isinstance(s.cond, E.Compare) and s.cond.op == "lt":
            other = nodes(st.value, E.Load)[-1].indices[0]
            out.append((s.cond.b.value, int(str(other).split("+ ")[-1])))
    return out


def test_cross_thread_sum_is_a_shared_memory_tree():
    """24 partials: fold the top 8 onto the bottom, then halve to one; thread 0 adds it."""
    (kernel,) = kernels_of(lowered(K.rowsum_rfactor, threads=24))
    assert tree_steps(kernel) == [(8, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    _, body = top_allocations(kernel)
    kinds = [type(s).__name__ for s in body.stmts]
    # partials, S's init, then a barrier before each step and before the total is read
    assert kinds == ["Store", "For", "IfThenElse"] + ["Barrier", "IfThenElse"] * 6
    assert [f for f in nodes(kernel, T.For) if f.var.name.endswith(".v")] == []


def test_cross_thread_reduction_ends_in_warp_shuffles():
    """96 partials along threadIdx.x: shared steps down to one warp, then 5 shuffles."""
    (kernel,) = kernels_of(lowered(K.rowsum_rfactor, R=5, L=300, threads=96))
    assert tree_steps(kernel) == [(32, 64), (32, 32)]
    shuffles = [c for c in nodes(kernel, E.Call) if c.name == "shfl_down"]
    assert [c.args[1].value for c in shuffles] == [16, 8, 4, 2, 1]
    bufs, _ = top_allocations(kernel)
    assert ("S.rf.warp", "local") in [(b.name, b.scope) for b in bufs]


def test_reduction_partials_read_by_their_own_thread_need_no_barrier():
    """Each thread accumulates into its own partial: no barrier between init and update."""
    (kernel,) = kernels_of(lowered(K.rowsum_rfactor, threads=32))
    assert len(nodes(kernel, T.Barrier)) == 0       # 32 partials: all in one warp


def test_aligned_copies_become_vector_accesses():
    (kernel,) = kernels_of(lowered(K.classic_gemm, vector=True))
    vec = [s for s in nodes(kernel, T.Store) if isinstance(s.indices[0], E.Ramp)]
    assert [(s.buffer.name, s.value.dtype) for s in vec] == [("A.shared", "float32x4"),
                                                             ("B.shared", "float32x4")]
    assert [f for f in nodes(kernel, T.For) if f.kind == "vectorized"] == []


def test_unprovable_alignment_stays_a_loop():
    """K = 37: a row of A starts at a multiple of 37 floats, not of 4."""
    (kernel,) = kernels_of(lowered(K.classic_gemm, M=100, N=77, K=37, vector=True))
    a_copy = [s for s in nodes(kernel, T.Store) if s.buffer.name == "A.shared"]
    assert a_copy and not any(isinstance(s.indices[0], E.Ramp) for s in a_copy)
