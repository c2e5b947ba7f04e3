"""The te primitives of tests/opcomp/test_schedule_primitives.py on the CUDA tail:
set_scope, storage_align and double_buffer of shared tiles, vthread, run on the
CPU emulator (barriers included) against NumPy."""
import numpy as np

import opcomp as oc
from opcomp.ir import tir as T
from opcomp.ir.visit import walk

from . import kernels as K


def allocations(func) -> dict:
    out = {}
    walk(func.body, lambda n: out.setdefault(n.buffer.name, n.buffer)
         if isinstance(n, T.Allocate) else None)
    return out


def nodes(stmt, kind) -> list:
    out = []
    walk(stmt, lambda n: out.append(n) if isinstance(n, kind) else None)
    return out


def shared_caches(s):
    return [st for st in s.stages if st.name.endswith(".shared")]


def test_double_buffered_aligned_shared_tiles_in_the_classic_gemm(rng):
    s, args, reference = K.classic_gemm(M=64, N=64, K=32, block=32, threads=4, k_tile=8)
    for st in shared_caches(s):
        st.storage_align(st.op.axis[0], 16, 1)
        st.double_buffer()
    func = oc.lower(s, args, target="cuda")
    bufs = allocations(func)
    # A.shared: 32 rows x 8, row stride 8 -> 17; two copies.  B.shared: 8 rows x 32 -> 33.
    assert bufs["A.shared"].shape[0].value == 2 * 32 * 17
    assert bufs["B.shared"].shape[0].value == 2 * 8 * 33
    assert "k.outer % 2 * 544]" in str(func) and "(k.outer + 1) % 2 * 544]" in str(func)
    # the prefetch writes the other copy: one barrier per k.outer iteration, not two
    k_loop = next(f for f in nodes(func, T.For) if f.var.name == "k.outer")
    assert len(nodes(k_loop, T.Barrier)) == 1
    mod = oc.build(s, args, target="cuda", emulate=True)
    K.check_against_numpy(mod, args, reference, rng)
    s2 = oc.create_schedule(args[-1])
    oc.Trace.from_json(s.trace.to_json()).apply(s2)
    assert str(oc.lower(s2, args, target="cuda")) == str(func)


def test_set_scope_shared_of_a_stage_computed_in_a_block(rng):
    n = 64
    A = oc.placeholder((n, n), name="A")
    B = oc.compute((n, n), lambda i, j: A[i, j] * 2.0, name="B")
    C = oc.compute((n, n), lambda i, j: B[i, j] + B[j % 8 + i // 8 * 8, j], name="C")
    s = oc.create_schedule(C)
    by, yi = s[C].split(C.op.axis[0], factor=8)
    tx, xi = s[C].split(C.op.axis[1], nparts=16)
    s[C].reorder(by, tx, yi, xi)
    s[C].bind(by, oc.thread_axis("blockIdx.x"))
    s[C].bind(tx, oc.thread_axis("threadIdx.x"))
    s[B].compute_at(s[C], by)
    s[B].set_scope("shared")
    bo, bi = s[B].split(s[B].op.axis[1], nparts=16)
    s[B].bind(bo, oc.thread_axis("threadIdx.x"))
    func = oc.lower(s, [A, C], target="cuda")
    assert allocations(func)["B"].scope == "shared"
    mod = oc.build(s, [A, C], target="cuda", emulate=True)

    def reference(a):
        b = a.astype(np.float64) * 2
        i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        return b + b[j % 8 + i // 8 * 8, j]
    K.check_against_numpy(mod, [A, C], reference, rng)


def test_vthread_gemm(rng):
    M = N = 64
    A = oc.placeholder((M, 16), name="A")
    B = oc.placeholder((16, N), name="B")
    k = oc.reduce_axis(16, "k")
    C = oc.compute((M, N), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = oc.create_schedule(C)
    CL = s.cache_write(C, "local")
    by, yi = s[C].split(C.op.axis[0], factor=32)
    bx, xi = s[C].split(C.op.axis[1], factor=32)
    vy, yi = s[C].split(yi, nparts=2)
    vx, xi = s[C].split(xi, nparts=2)
    ty, yi = s[C].split(yi, nparts=4)
    tx, xi = s[C].split(xi, nparts=4)
    s[C].reorder(by, bx, vy, vx, ty, tx, yi, xi)
    for axis, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"),
                      (tx, "threadIdx.x")):
        s[C].bind(axis, oc.thread_axis(tag))
    s[C].bind(vy, oc.thread_axis("vthread", name="vy"))
    s[C].bind(vx, oc.thread_axis("vthread", name="vx"))
    s[CL].compute_at(s[C], tx)
    func = oc.lower(s, [A, B, C], target="cuda")
    # each thread's 4x4 register tile, once per virtual thread
    assert allocations(func)["C.local"].shape[0].value == 16
    mod = oc.build(s, [A, B, C], target="cuda", emulate=True)
    K.check_against_numpy(mod, [A, B, C], lambda a, b: a.astype(np.float64) @ b, rng)
