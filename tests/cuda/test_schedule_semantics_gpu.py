"""Schedule semantics of tests/opcomp/test_schedule_tvm_semantics.py on the CUDA
tail, run on the CPU emulator against NumPy: a warp-scope buffer (shared memory,
one slice per warp, lanes reading each other's values) and a local stage under a thread-bound loop (one element
per thread, indexed by the thread)."""
import numpy as np

import opcomp as oc
from opcomp.ir import tir as T
from opcomp.ir.visit import walk

from tests.opcomp.test_schedule_tvm_semantics import nest_thread, warp_schedule


def allocations(func) -> dict:
    out = {}
    walk(func.body, lambda n: out.setdefault(n.buffer.name, n.buffer)
         if isinstance(n, T.Allocate) else None)
    return out


def test_warp_buffer_is_one_shared_slice_per_warp(rng):
    s, A, A1, A2 = warp_schedule(64, 5)
    func = oc.lower(s, [A, A2], target="cuda")
    buf = allocations(func)["A1"]
    assert buf.scope == "shared"
    assert [d.value for d in buf.shape] == [32]      # 2 warps (threadIdx.y) x 16 lanes x 1
    mod = oc.build(s, [A, A2], target="cuda", emulate=True)
    a = rng.uniform(-1, 1, size=(64, 5)).astype("float32")
    out = np.zeros_like(a)
    mod(a, out)
    rows = np.arange(64)
    mirrored = rows // 16 * 16 + 15 - rows % 16
    np.testing.assert_allclose(out, a.astype(np.float64) * 2 + a[mirrored] * 2.0, rtol=1e-6)


def test_local_stage_under_a_thread_bound_loop_runs_per_thread(rng):
    s, A, A1, A2, A3 = nest_thread(96)
    func = oc.lower(s, [A, A3], target="cuda")
    bufs = allocations(func)
    assert bufs["A1"].scope == "local" and bufs["A1"].shape[0].value == 1
    assert bufs["A2"].scope == "shared" and bufs["A2"].shape[0].value == 32
    mod = oc.build(s, [A, A3], target="cuda", emulate=True)
    a = rng.uniform(-1, 1, size=96).astype("float32")
    out = np.zeros_like(a)
    mod(a, out)
    np.testing.assert_allclose(out, a.astype(np.float64) * 2 + 5, rtol=1e-6)
