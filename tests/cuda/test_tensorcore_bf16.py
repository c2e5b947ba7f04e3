"""bfloat16 on the CUDA path (CUDA's __nv_bfloat16; the emulator's struct) and on the
tensor cores (sm_80 on), proven on the CPU emulator against ml_dtypes / NumPy and
compiled with nvcc for sm_80 and sm_90."""
import shutil

import numpy as np
import pytest

import opcomp as oc
import schedules
from codegen.cuda import CUDABackend
from codegen.cuda_compile import compile_device
from schedules.gpu.tensorcore import gpu_matmul_tensorcore

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = ml_dtypes.bfloat16
SM80 = "cuda -arch=sm_80"
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")


def bind_1d(s, t, threads=64):
    bo, bi = s[t].split(t.op.axis[0], factor=threads)
    s[t].bind(bo, oc.thread_axis("blockIdx.x"))
    s[t].bind(bi, oc.thread_axis("threadIdx.x"))


def brains(rng, shape):
    """Random bfloat16 values (rounded from float32 normals), none zero."""
    x = rng.standard_normal(shape).astype(np.float32)
    x[x == 0] = 0.5
    return x.astype(BF16)


def assert_same_bits(got, want):
    """Equal bit patterns, except that any NaN matches any NaN at the same place."""
    g, w = got.view(np.uint16), want.view(np.uint16)
    g_nan, w_nan = np.isnan(got.astype(np.float32)), np.isnan(want.astype(np.float32))
    np.testing.assert_array_equal(g_nan, w_nan)
    np.testing.assert_array_equal(g[~g_nan], w[~w_nan])


# -- elementwise bfloat16 ---------------------------------------------------------------
SPECIAL = np.array([0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, -np.nan,
                    1.0 + 2.0**-8,                   # a tie: rounds to even (1.0)
                    1.0 + 3 * 2.0**-8,               # a tie: rounds to even (up)
                    1.0 + 2.0**-8 + 2.0**-20,        # just above a tie: up
                    np.finfo(np.float32).max,        # rounds past bfloat16's max: inf
                    3.3895314e38,                    # bfloat16's max, about
                    1e-40, -1e-41, 2.0**-133,        # float32 subnormals
                    np.finfo(np.float32).tiny, 65504.0, 3.14159265], np.float32)


def cast_module(n):
    X = oc.placeholder((n,), "float32", name="X")
    Y = oc.compute((n,), lambda i: X[i].astype("bfloat16"), name="Y")
    Z = oc.compute((n,), lambda i: Y[i].astype("float32"), name="Z")
    s = oc.create_schedule([Y, Z])
    for t in (Y, Z):
        bind_1d(s, t)
    return oc.build(s, [X, Y, Z], target="cuda", emulate=True, name="bf_cast")


def test_bfloat16_casts_match_ml_dtypes_bit_for_bit(rng):
    x = np.concatenate([SPECIAL, -SPECIAL, rng.standard_normal(200).astype(np.float32) *
                        np.float32(10.0) ** rng.integers(-30, 30, 200).astype(np.float32)])
    n = x.size
    mod = cast_module(n)
    assert "#define OPCOMP_BF16 1" in mod.source("cuda")
    assert "#define OPCOMP_HALF" not in mod.source("cuda")
    y = np.full(n, 7.0, BF16)
    z = np.full(n, 7.0, np.float32)
    mod(x, y, z)
    want = x.astype(BF16)
    assert_same_bits(y, want)
    np.testing.assert_array_equal(z, want.astype(np.float32))        # exact, NaN included
    bits = y.view(np.uint16)
    assert (bits[8], bits[9], bits[10], bits[11]) == (0x3F80, 0x3F82, 0x3F81, 0x7F80)


def test_bfloat16_arithmetic_rounds_each_operation_as_ml_dtypes(rng):
    n = 512
    A = oc.placeholder((n,), "bfloat16", name="A")
    B = oc.placeholder((n,), "bfloat16", name="B")
    C = oc.compute((n,), lambda i: oc.maximum(A[i] * B[i] + A[i], -B[i]) / B[i]
                   - oc.minimum(A[i], B[i]) + oc.const(0.1, "bfloat16"), name="C")
    s = oc.create_schedule(C)
    bind_1d(s, C)
    mod = oc.build(s, [A, B, C], target="cuda", emulate=True, name="bf_arith")
    a, b = brains(rng, n), brains(rng, n)
    a[:4] = np.array([np.nan, np.inf, -np.inf, 3e38], np.float32).astype(BF16)
    c = np.full(n, 7.0, BF16)
    mod(a, b, c)
    with np.errstate(all="ignore"):
        want = np.maximum(a * b + a, -b) / b - np.minimum(a, b) + BF16(0.1)
    assert want.dtype == BF16
    assert_same_bits(c, want)


def test_bfloat16_math_goes_through_float(rng):
    """Math and floor division in float32, rounded once to bfloat16 (ml_dtypes' way)."""
    n = 300
    A = oc.placeholder((n,), "bfloat16", name="A")
    E = oc.compute((n,), lambda i: oc.exp(A[i]), name="E")
    Q = oc.compute((n,), lambda i: oc.sqrt(oc.abs(A[i])), name="Q")
    F = oc.compute((n,), lambda i: A[i] // 0.75, name="F")
    assert E.dtype == Q.dtype == F.dtype == "bfloat16"
    s = oc.create_schedule([E, Q, F])
    for t in (E, Q, F):
        bind_1d(s, t)
    mod = oc.build(s, [A, E, Q, F], target="cuda", emulate=True, name="bf_math")
    a = brains(rng, n)
    e, q, f = (np.full(n, np.nan, BF16) for _ in range(3))
    mod(a, e, q, f)
    a32 = a.astype(np.float32)
    assert_same_bits(q, np.sqrt(np.abs(a32)).astype(BF16))           # correctly rounded
    assert_same_bits(f, np.floor_divide(a32, np.float32(0.75)).astype(BF16))
    # exp: the C library's and NumPy's float32 exp may differ in the last float bit
    np.testing.assert_allclose(e.astype(np.float64), np.exp(a32).astype(BF16).astype(np.float64),
                               rtol=2.0**-7, atol=0)


# -- the tensor-core template -----------------------------------------------------------
def run_tensorcore_bf16(M, N, K, rng):
    s, args = gpu_matmul_tensorcore(M, N, K, dtype="bfloat16", target=SM80)
    mod = oc.build(s, args, target=SM80, emulate=True, name="tc_bf16")
    a, b = brains(rng, (M, K)), brains(rng, (K, N))
    c = np.full((M, N), np.nan, np.float32)
    mod(a, b, c)
    return a, b, c, mod


@pytest.mark.parametrize("M, N, K", [(64, 64, 64), (100, 70, 37), (17, 33, 16), (1, 1, 1)])
def test_bfloat16_tensorcore_matmul_matches_numpy(M, N, K, rng):
    a, b, c, mod = run_tensorcore_bf16(M, N, K, rng)
    text = mod.source("cuda")
    assert "nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16" in text
    assert "#define OPCOMP_HALF" not in text
    ref = a.astype(np.float64) @ b.astype(np.float64)      # of the bfloat16 inputs
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(ref).max())))


def test_emulated_bfloat16_mma_is_exact_products_summed_in_float32(rng):
    a, b, c, _ = run_tensorcore_bf16(32, 32, 48, rng)
    acc = np.zeros((32, 32), np.float32)
    for k in range(48):
        acc += np.outer(a[:, k].astype(np.float32), b[k].astype(np.float32))
    np.testing.assert_array_equal(c, acc)


def test_matmul_bfloat16_on_cuda_is_the_tensorcore_template():
    s, args = schedules.get("matmul")(48, 40, 20, dtype="bfloat16", target=SM80)
    assert [t.dtype for t in args] == ["bfloat16", "bfloat16", "float32"]
    text = CUDABackend().render(oc.lower(s, args, target=SM80, name="mmbf"), SM80)
    assert "nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16" in text
    assert "nvcuda::wmma::mma_sync(" in text


@needs_nvcc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_bfloat16_tensorcore_compiles_without_spills(arch):
    target = f"cuda -arch={arch}"
    s, args = gpu_matmul_tensorcore(256, 256, 256, dtype="bfloat16", target=target)
    text = CUDABackend().render(oc.lower(s, args, target=target, name="tcbf"), target)
    ptx, cubin, report = compile_device(text, arch)
    assert "wmma.mma.sync" in ptx and ".bf16" in ptx and cubin
    r = report["tcbf_kernel0"]
    assert r["spill_stores"] == r["spill_loads"] == r["stack_bytes"] == 0, r


@needs_nvcc
def test_bfloat16_elementwise_compiles_for_the_device():
    n = 256
    A = oc.placeholder((n,), "bfloat16", name="A")
    C = oc.compute((n,), lambda i: oc.maximum(A[i] * A[i], -A[i]).astype("float32"), name="C")
    s = oc.create_schedule(C)
    bind_1d(s, C)
    text = CUDABackend().render(oc.lower(s, [A, C], target=SM80, name="bfew"), SM80)
    _, cubin, _ = compile_device(text, "sm_80")
    assert cubin


@pytest.mark.gpu
def test_bfloat16_tensorcore_matmul_on_the_gpu(rng):
    from codegen.cuda_driver import DeviceBuffer
    M, N, K = 100, 70, 37
    s, args = schedules.get("matmul")(M, N, K, dtype="bfloat16", target="cuda")
    mod = oc.build(s, args, target="cuda", name="tcbf_gpu")
    a, b = brains(rng, (M, K)), brains(rng, (K, N))
    dev = [DeviceBuffer.of(x) for x in (a, b, np.full((M, N), np.nan, np.float32))]
    assert mod.kernel.fn(*[d.ptr for d in dev]) == 0
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(dev[-1].numpy(), ref, rtol=1e-5,
                               atol=1e-6 * K * max(1.0, float(np.abs(ref).max())))
