"""float16 on the CUDA path and tensor cores through tensorize (WMMA), proven on the CPU
emulator against NumPy and compiled with nvcc for sm_80 and sm_90."""
import ctypes
import shutil
from pathlib import Path

import numpy as np
import pytest

import opcomp as oc
import schedules
from autotune import Task, apply_config
from codegen.cuda import CUDABackend
from codegen.cuda_compile import compile_device, compile_ptx
from schedules.gpu.tensorcore import gpu_matmul_tensorcore

GOLDEN = Path(__file__).parent / "golden"
SM80 = "cuda -arch=sm_80"
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")


def bind(stage, axis, tag):
    stage.bind(axis, oc.thread_axis(tag))


def halves(rng, shape):
    return rng.standard_normal(shape).astype(np.float16)


# -- float16 --------------------------------------------------------------------------
def test_float16_elementwise_matches_numpy(rng):
    n = 1000
    A = oc.placeholder((n,), "float16", name="A")
    B = oc.placeholder((n,), "float16", name="B")
    C = oc.compute((n,), lambda i: oc.exp(A[i]) * B[i] + oc.const(1.5, "float16")
                   - oc.maximum(A[i], B[i]) + (A[i] // B[i]), name="C")
    s = oc.create_schedule(C)
    bo, bi = s[C].split(C.op.axis[0], factor=64)
    bind(s[C], bo, "blockIdx.x")
    bind(s[C], bi, "threadIdx.x")
    mod = oc.build(s, [A, B, C], target="cuda", emulate=True, name="h_ewise")
    assert "#define OPCOMP_HALF 1" in mod.source("cuda")
    a, b = halves(rng, n), halves(rng, n)
    c = np.full(n, np.nan, np.float16)
    mod(a, b, c)
    with np.errstate(all="ignore"):
        ref = np.exp(a) * b + np.float16(1.5) - np.maximum(a, b) + a // b
    np.testing.assert_allclose(c.astype(np.float64), ref.astype(np.float64), rtol=2e-3,
                               atol=2e-3 * float(np.abs(ref).max()))


def test_float16_matmul_accumulates_in_float32(rng):
    M, N, K = 33, 40, 50
    A = oc.placeholder((M, K), "float16", name="A")
    B = oc.placeholder((K, N), "float16", name="B")
    k = oc.reduce_axis(K, "k")
    C = oc.compute((M, N), lambda i, j: oc.sum(A[i, k].astype("float32") *
                                               B[k, j].astype("float32"), axis=k), name="C")
    s = oc.create_schedule(C)
    _, ji = s[C].split(C.op.axis[1], factor=16)
    bind(s[C], C.op.axis[0], "blockIdx.x")
    bind(s[C], ji, "threadIdx.x")
    mod = oc.build(s, [A, B, C], target="cuda", emulate=True, name="h_mm")
    a, b = halves(rng, (M, K)), halves(rng, (K, N))
    c = np.full((M, N), np.nan, np.float32)
    mod(a, b, c)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))


# -- the tensor-core template ---------------------------------------------------------
def run_tensorcore(M, N, K, rng, target=SM80):
    s, args = gpu_matmul_tensorcore(M, N, K, target=target)
    mod = oc.build(s, args, target=target, emulate=True, name="tc")
    a, b = halves(rng, (M, K)), halves(rng, (K, N))
    c = np.full((M, N), np.nan, np.float32)
    mod(a, b, c)
    return a, b, c, mod


@pytest.mark.parametrize("M, N, K", [(64, 64, 64), (130, 128, 32), (100, 70, 37), (1, 1, 1),
                                     (17, 33, 16)])
def test_tensorcore_matmul_matches_numpy(M, N, K, rng):
    a, b, c, mod = run_tensorcore(M, N, K, rng)
    assert "nvcuda::wmma::mma_sync(" in mod.source("cuda")
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(ref).max())))


def test_emulated_mma_rounds_inputs_to_half_and_accumulates_in_float32(rng):
    """Bit-exact: products of halves are exact in float32, summed k ascending."""
    a, b, c, _ = run_tensorcore(32, 32, 64, rng)
    acc = np.zeros((32, 32), np.float32)
    for k in range(64):
        acc += np.outer(a[:, k].astype(np.float32), b[k].astype(np.float32))
    np.testing.assert_array_equal(c, acc)


def test_matmul_float16_on_cuda_is_the_tensorcore_template(rng):
    s, args = schedules.get("matmul")(48, 40, 20, dtype="float16", target=SM80)
    assert [t.dtype for t in args] == ["float16", "float16", "float32"]
    text = CUDABackend().render(oc.lower(s, args, target=SM80, name="mm16"), SM80)
    assert "nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, half" in text


def test_tensorcore_knobs_reach_the_kernel(rng):
    space = Task("gpu/matmul_tensorcore", args=(64, 64, 64), target=SM80).space
    assert {"warps", "warp_tile", "chunk", "vector_copy", "shared_pad"} <= set(space.knobs)
    with apply_config({"warps": "1x2", "warp_tile": "2x1", "chunk": 1, "vector_copy": 0,
                       "shared_pad": 0}):
        a, b, c, mod = run_tensorcore(40, 50, 30, rng)
    assert "__launch_bounds__(64)" in mod.source("cuda")
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5,
                               atol=1e-4)


@needs_nvcc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_tensorcore_compiles_without_spills(arch):
    target = f"cuda -arch={arch}"
    s, args = gpu_matmul_tensorcore(256, 256, 256, target=target)
    text = CUDABackend().render(oc.lower(s, args, target=target, name="tc256"), target)
    ptx, cubin, report = compile_device(text, arch)        # NVRTC where found, else nvcc
    assert "wmma.mma.sync" in ptx and cubin
    assert "wmma.mma.sync" in compile_ptx(text, arch, "nvcc")   # nvcc finds the headers too
    r = report["tc256_kernel0"]
    assert r["spill_stores"] == r["spill_loads"] == r["stack_bytes"] == 0, r


def test_tensorcore_cuda_golden(update_golden):
    s, args = gpu_matmul_tensorcore(64, 64, 64, target=SM80)
    text = CUDABackend().render(oc.lower(s, args, target=SM80, name="tensorcore"), SM80)
    path = GOLDEN / "tensorcore_matmul.cu"
    if update_golden:
        path.write_text(text)
    assert text == path.read_text()


# -- the emulator's nvcuda::wmma ------------------------------------------------------
WMMA_KERNEL = r'''
#define OPCOMP_HALF 1
#define OPCOMP_WMMA 1
#include "opcomp_cuda.h"
using namespace nvcuda;
extern "C" __global__ void tile(const half* a, const half* b, float* c, int diverge) {
  wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  if (diverge && threadIdx.x >= 16) { __syncthreads(); return; }
  wmma::fill_fragment(acc, 1.0f);
  wmma::load_matrix_sync(fa, a, 16);
  wmma::load_matrix_sync(fb, b, 16);
  wmma::mma_sync(acc, fa, fb, acc);
  wmma::store_matrix_sync(c + threadIdx.x / 32 * 256, acc, 16, wmma::mem_col_major);
}
#ifndef __CUDA_ARCH__
extern "C" OPCOMP_EXPORT int run(half* a, half* b, float* c, int diverge) {
  return OPCOMP_LAUNCH(tile, dim3(1, 1, 1), dim3(64, 1, 1), 0, a, b, c, diverge);
}
#endif
'''


def test_emulated_wmma_tile_is_warp_collective(rng):
    from codegen.cuda import _dlopen
    from codegen.cuda_compile import compile_host
    lib = _dlopen(compile_host(WMMA_KERNEL))
    a, b = halves(rng, (16, 16)), halves(rng, (16, 16))
    c = np.full((2, 16, 16), np.nan, np.float32)
    ptr = [x.ctypes.data_as(ctypes.c_void_p) for x in (a, b, c)]
    assert lib.run(*ptr, ctypes.c_int(0)) == 0
    # b is read column-major (fb's layout); c is written column-major
    ref = (a.astype(np.float64) @ b.astype(np.float64).T + 1.0).T
    for warp in range(2):
        np.testing.assert_allclose(c[warp], ref, rtol=1e-6, atol=1e-5)
    assert lib.run(*ptr, ctypes.c_int(1)) == -2       # half a warp skipped the tile: deadlock


@needs_nvcc
def test_tuner_screens_tensorcore_candidates_without_gpu(tmp_path, monkeypatch):
    """Each candidate: nvcc's resource report within sm_80's limits, then emulated
    correctness against the untuned computation built for the CPU."""
    from autotune import gpu_screen, tune
    from autotune import records as rlog
    from autotune.records import ErrorCode
    monkeypatch.setattr(gpu_screen, "gpu_present", lambda: False)
    log = tmp_path / "tc.jsonl"
    task = Task("gpu/matmul_tensorcore", args=(40, 24, 20), target=SM80)
    with pytest.warns(gpu_screen.NoGPUWarning):
        tune(task, trials=1, tuner="random", log=str(log), validate=0, progress=False)
    (rec,) = rlog.load(str(log))
    assert rec.error == ErrorCode.OK and "timings need a GPU" in rec.message


@pytest.mark.gpu
@pytest.mark.parametrize("M, N, K", [(256, 256, 128), (100, 70, 37)])
def test_tensorcore_matmul_on_the_gpu(M, N, K, rng):
    """The real tensor cores (their accumulation order is the hardware's: fp32 tolerance
    scaled by K)."""
    from codegen.cuda_driver import DeviceBuffer
    s, args = schedules.get("matmul")(M, N, K, dtype="float16", target="cuda")
    mod = oc.build(s, args, target="cuda", name="tc_gpu")
    a, b = halves(rng, (M, K)), halves(rng, (K, N))
    dev = [DeviceBuffer.of(x) for x in (a, b, np.full((M, N), np.nan, np.float32))]
    assert mod.kernel.fn(*[d.ptr for d in dev]) == 0
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(dev[-1].numpy(), ref, rtol=1e-5,
                               atol=1e-6 * K * max(1.0, float(np.abs(ref).max())))
