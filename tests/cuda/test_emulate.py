"""Generated CUDA C run on the CPU emulator (emulate=True) against NumPy, and the
emulator itself: a missing barrier must give a wrong answer, a divergent barrier
a deadlock, warp shuffles the lanes' values."""
import ctypes
import dataclasses

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import tir as T
from opcomp.ir.visit import Mutator

from . import kernels as K

CASES = [(name, kw) for name, cases in K.CORRECTNESS.items() for kw in cases]


@pytest.mark.parametrize("name, kw", CASES, ids=[f"{n}-{'x'.join(map(str, kw.values()))}"
                                                 for n, kw in CASES])
def test_emulated_kernel_matches_numpy(name, kw, rng):
    s, args, reference = getattr(K, name)(**kw)
    mod = oc.build(s, args, target="cuda", name=name, emulate=True)
    K.check_against_numpy(mod, args, reference, rng)


def test_symbolic_size_one_build_serves_every_size(rng):
    s, args, reference = K.vector_add(n=None)
    mod = oc.build(s, args, target="cuda", name="vadd_n", emulate=True)
    for n in (1, 127, 128, 1000):
        K.check_against_numpy(mod, args, reference, rng, sizes={"n": n})


class DropBarriers(Mutator):
    """Remove the barriers whose (0-based, program order) positions are listed."""

    def __init__(self, which):
        self.which, self.seen = set(which), 0

    def visit_Barrier(self, s):
        k, self.seen = self.seen, self.seen + 1
        return T.Nop() if k in self.which else s

    def default(self, node):
        return super().default(node) if isinstance(node, T.Stmt) else node


def gemm_without(which):
    s, args, reference = K.classic_gemm(M=128, N=128, K=64)
    func = oc.lower(s, args, target="cuda", name="mm_planted")
    body = DropBarriers(which).visit(func.body)
    return dataclasses.replace(func, body=body), args, reference


def wrong_answer(func, args, reference, rng) -> bool:
    mod = oc.build(func, target="cuda", emulate=True)
    try:
        K.check_against_numpy(mod, args, reference, rng)
    except AssertionError:
        return True
    return False


def test_planted_missing_barrier_after_the_copy_fails(rng):
    """Without the barrier between the cooperative copy and the compute, thread 0
    reads rows of the tile other threads have not loaded yet."""
    func, args, reference = gemm_without({1})
    assert wrong_answer(func, args, reference, rng)


def test_planted_missing_barrier_before_the_next_tile_fails(rng):
    """Without the barrier at the top of k.outer, a thread loads the next tile over
    one the other threads are still reading."""
    func, args, reference = gemm_without({0})
    assert wrong_answer(func, args, reference, rng)


def test_barriers_kept_pass(rng):
    func, args, reference = gemm_without(set())
    assert not wrong_answer(func, args, reference, rng)


class BarrierUnderThreadCondition(Mutator):
    """Put the first barrier under `if threadIdx.x < 4` (the other threads skip it)."""

    def __init__(self):
        self.done = False

    def visit_Barrier(self, s):
        if self.done:
            return s
        self.done = True
        return T.IfThenElse(self.tx < 4, s)

    def visit_For(self, s):
        if s.thread == "threadIdx.x":
            self.tx = s.var
        return self.default(s)

    def default(self, node):
        return super().default(node) if isinstance(node, T.Stmt) else node


def test_divergent_barrier_is_reported_as_a_deadlock(rng):
    s, args, _ = K.classic_gemm(M=64, N=64, K=16)
    func = oc.lower(s, args, target="cuda", name="mm_divergent")
    func = dataclasses.replace(func, body=BarrierUnderThreadCondition().visit(func.body))
    mod = oc.build(func, target="cuda", emulate=True)
    a, b = K.random_inputs(args[:2], rng)
    with pytest.raises(RuntimeError, match="deadlocked in the emulator"):
        mod(a, b, np.zeros((64, 64), np.float32))


def test_failed_assertion_in_a_kernel_stops_the_launch():
    A = oc.placeholder((10,), name="A")
    idx = oc.placeholder((4,), dtype="int32", name="idx")
    C = oc.compute((4,), lambda i: A[idx[i]], name="C")
    s = oc.create_schedule(C)
    s[C].bind(C.op.axis[0], oc.thread_axis("threadIdx.x"))
    mod = oc.build(s, [A, idx, C], target="cuda", emulate=True, bounds_check=True)
    a = np.arange(10, dtype=np.float32)
    c = np.zeros(4, np.float32)
    mod(a, np.array([0, 9, 3, 1], np.int32), c)
    np.testing.assert_array_equal(c, [0, 9, 3, 1])
    with pytest.raises(RuntimeError, match="out-of-bounds access A"):
        mod(a, np.array([0, 10, 3, 1], np.int32), c)


WARP_KERNEL = r'''
#include "opcomp_cuda.h"
extern "C" __global__ void warp_ops(const float* in, float* sum, float* xor_sum, float* bcast,
                                    float* up) {
  int t = threadIdx.x;
  float v = in[t];
  float s = v;
  for (int d = 16; d > 0; d /= 2) s += __shfl_down_sync(0xffffffffu, s, d);
  float x = v;
  for (int m = 1; m < 32; m *= 2) x += __shfl_xor_sync(0xffffffffu, x, m);
  if (t % 32 == 0) sum[t / 32] = s;
  xor_sum[t] = x;
  bcast[t] = __shfl_sync(0xffffffffu, v, 3);
  up[t] = __shfl_up_sync(0xffffffffu, v, 1);
}
#ifndef __CUDA_ARCH__
extern "C" OPCOMP_EXPORT int run(float* in, float* sum, float* xs, float* bc, float* up) {
  return OPCOMP_LAUNCH(warp_ops, dim3(1, 1, 1), dim3(64, 1, 1), 0, in, sum, xs, bc, up);
}
#endif
'''


def test_emulated_warp_shuffles(tmp_path):
    from codegen.cuda import _dlopen
    from codegen.cuda_compile import compile_host
    lib = _dlopen(compile_host(WARP_KERNEL))
    x = np.arange(64, dtype=np.float32) + 1
    outs = [np.zeros(2, np.float32)] + [np.zeros(64, np.float32) for _ in range(3)]
    ptr = [a.ctypes.data_as(ctypes.c_void_p) for a in [x] + outs]
    assert lib.run(*ptr) == 0
    warps = x.reshape(2, 32)
    np.testing.assert_array_equal(outs[0], warps.sum(axis=1))
    np.testing.assert_array_equal(outs[1], np.repeat(warps.sum(axis=1), 32))
    np.testing.assert_array_equal(outs[2], np.repeat(warps[:, 3], 32))
    up = np.concatenate([np.r_[w[0], w[:-1]] for w in warps])     # lane 0 keeps its own
    np.testing.assert_array_equal(outs[3], up)


def test_emulated_module_shows_its_cuda_source():
    s, args, _ = K.vector_add(n=64, threads=32)
    mod = oc.build(s, args, target="cuda", name="vadd", emulate=True)
    assert "__global__ void __launch_bounds__(32) vadd_kernel0(" in mod.source("cuda")
    with pytest.raises(ValueError, match="no 'ptx' source"):
        mod.source("ptx")


def test_float4_copies_refuse_a_misaligned_array(rng):
    s, args, reference = K.classic_gemm(M=128, N=64, K=32, vector=True)
    mod = oc.build(s, args, target="cuda", name="mm_float4", emulate=True)
    assert "*(const float4*)(A + " in mod.source("cuda")
    K.check_against_numpy(mod, args, reference, rng)
    a, b = K.random_inputs(args[:2], rng)
    shifted = np.empty(a.size + 1, np.float32)[1:].reshape(a.shape)   # 4 bytes off
    shifted[...] = a
    c = np.zeros((128, 64), np.float32)
    with pytest.raises(ValueError, match="argument A is not aligned for the kernel's vector"):
        mod(shifted, b, c)
    assert not c.any()


def _doubling(n, target="cuda"):
    import opcomp as oc
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n,), lambda i: A[i] * 2.0, name="B")
    s = oc.create_schedule(B)
    bx, tx = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(bx, oc.thread_axis("blockIdx.x"))
    s[B].bind(tx, oc.thread_axis("threadIdx.x"))
    return s, [A, B]


def test_an_emulated_artifact_pickles_and_loads_on_the_emulator():
    import pickle
    import numpy as np
    import opcomp as oc
    s, args = _doubling(100)
    art = oc.compile(oc.lower(s, args, target="cuda", emulate=True), "cuda")
    mod = pickle.loads(pickle.dumps(art)).load()
    a = np.random.default_rng(3).random(100).astype(np.float32) + 0.5
    b = np.empty_like(a)
    mod(a, b)
    np.testing.assert_array_equal(b, 2 * a)

