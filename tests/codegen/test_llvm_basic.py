"""LLVM backend on hand-built loop IR: loops, memory access, control flow, temporaries.

The helpers here build flattened PrimFuncs directly from the grammar (no
schedule, no lowering), JIT them and call them on NumPy arrays; the other
test_llvm_* files import them.
"""
import dataclasses
import ctypes

import llvmlite.binding as llvm
import numpy as np
import pytest

from codegen.llvm import (LLVMArtifact, LLVMBackend, LoadedKernel, cpu_and_features,
                          host_target_machine)
from opcomp import dtype as dt
from opcomp.ir import expr as E
from opcomp.ir import tir as T

BACKEND = LLVMBackend()


# -- helpers -------------------------------------------------------------------------
def buf(name, dtype, n, scope="global"):
    return T.Buffer(name, dtype, (E.const(n) if isinstance(n, int) else n,), scope)


def ld(b, index, lanes=1):
    return E.Load(b, (index,), dt.with_lanes(b.dtype, lanes))


def st(b, index, value):
    return T.Store(b, (index,), value)


def ramp(base, lanes, stride=1):
    base = E.as_expr(base)
    return E.Ramp(base, E.const(stride, base.dtype), lanes, dt.with_lanes(base.dtype, lanes))


def loop(var, extent, body, kind="serial", lo=0):
    return T.For(var, E.as_expr(lo), E.as_expr(extent), kind, body)


def func(params, body, size_vars=(), name="kernel", **attrs):
    return T.PrimFunc(name, tuple(params), body, tuple(size_vars), tuple(attrs.items()))


def build(f, target="llvm"):
    """render -> compile -> load, as opcomp.build does."""
    return BACKEND.load(BACKEND.compile(BACKEND.render(f, target), target))


def call(kernel, *args):
    """Run a kernel: arrays become data pointers, ints stay sizes; returns the status."""
    raw = [a.ctypes.data if isinstance(a, np.ndarray) else a for a in args]
    return kernel(*raw)


def rand(rng, n, dtype):
    """Fresh random values: floats in [-4, 4), ints over a small signed range."""
    if np.dtype(dtype).kind == "f":
        return (rng.random(n) * 8 - 4).astype(dtype)
    if dtype == "bool":
        return rng.random(n) < 0.5
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), n, endpoint=True).astype(dtype)


def elementwise(fn, in_dtypes, out_dtype, n, lanes=1):
    """out[i] = fn(in0[i], in1[i], ...) over n elements, `lanes` per iteration."""
    ins = [buf(f"in{k}", d, n) for k, d in enumerate(in_dtypes)]
    out = buf("out", out_dtype, n)
    i = E.Var("i")
    idx = i if lanes == 1 else ramp(i * lanes, lanes)
    value = fn(*[ld(b, idx, lanes) for b in ins])
    assert value.dtype == dt.with_lanes(out_dtype, lanes), value.dtype
    return func(ins + [out], loop(i, n // lanes, st(out, idx, value)))


def run_elementwise(fn, inputs, out_dtype, lanes=1):
    """Build and run an elementwise kernel on these input arrays; returns the output."""
    n = len(inputs[0])
    kernel = build(elementwise(fn, [str(a.dtype) for a in inputs], out_dtype, n, lanes))
    out = np.zeros(n, out_dtype)
    assert call(kernel, *inputs, out) == 0
    return out


# -- vector add, reduction, symbolic sizes -----------------------------------------------
def test_vector_add_ramp_loads(rng):
    a, b = rand(rng, 1000, "float32"), rand(rng, 1000, "float32")
    out = run_elementwise(lambda x, y: x + y, [a, b], "float32", lanes=8)
    np.testing.assert_allclose(out, (a.astype(np.float64) + b).astype(np.float32), rtol=1e-6)


def test_float32x16_loop_uses_zmm_registers_on_an_avx512_target():
    f = elementwise(lambda x, y: x * y + x, ["float32", "float32"], "float32", 1024, lanes=16)
    target = "llvm -mcpu=znver5"        # named, so the check holds on any host
    assert "zmm" in BACKEND.compile(BACKEND.render(f, target), target).asm


def test_float32x16_loop_runs_on_the_host(rng):
    f = elementwise(lambda x, y: x * y + x, ["float32", "float32"], "float32", 1024, lanes=16)
    artifact = BACKEND.compile(BACKEND.render(f, "llvm"), "llvm")
    assert "<16 x float>" in artifact.ir
    a, b = rand(rng, 1024, "float32"), rand(rng, 1024, "float32")
    out = np.zeros(1024, np.float32)
    call(BACKEND.load(artifact), a, b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) * b + a, rtol=1e-6, atol=1e-6)


def test_reduction_sum_of_rows(rng):
    n, m = 37, 53
    A, out = buf("A", "float32", n * m), buf("out", "float32", n)
    i, k = E.Var("i"), E.Var("k")
    body = loop(i, n, T.seq(st(out, i, E.const(0.0, "float32")),
                            loop(k, m, st(out, i, ld(out, i) + ld(A, i * m + k)))))
    kernel = build(func([A, out], body))
    a = rand(rng, n * m, "float32")
    o = np.full(n, np.nan, np.float32)
    assert call(kernel, a, o) == 0
    np.testing.assert_allclose(o, a.reshape(n, m).astype(np.float64).sum(1), rtol=1e-5, atol=1e-4)


def test_symbolic_size_loop_with_int64_size_argument(rng):
    n = E.Var("n")
    A, B = buf("A", "float64", n), buf("B", "float64", n)
    i = E.Var("i")
    kernel = build(func([A, B], loop(i, n, st(B, i, ld(A, i) * 3.0 - 1.0)), size_vars=[n]))
    for size in (0, 1, 77):
        a = rand(rng, size, "float64")
        b = np.full(size, 5.0)
        assert call(kernel, a, b, size) == 0
        np.testing.assert_allclose(b, a * 3 - 1, rtol=1e-12)


def test_loop_with_symbolic_min_and_int64_index(rng):
    n, lo = E.Var("n", "int64"), E.Var("lo")
    A, B = buf("A", "int64", n), buf("B", "int64", n)
    i = E.Var("i", "int64")
    body = loop(i, n - E.cast(lo, "int64"), st(B, i, ld(A, i) * 2), lo=E.cast(lo, "int64"))
    kernel = build(func([A, B], body, size_vars=[n, lo]))
    a = rand(rng, 50, "int64")
    b = np.zeros(50, np.int64)
    call(kernel, a, b, 50, 20)
    np.testing.assert_array_equal(b, np.where(np.arange(50) >= 20, a * 2, 0))


# -- memory access patterns --------------------------------------------------------------
def test_strided_gather_and_scatter(rng):
    A, B = buf("A", "float32", 256), buf("B", "float32", 256)
    i = E.Var("i")
    src = ramp(i, 16, stride=16)          # column i of a 16x16 matrix
    dst = ramp(i * 16, 16)                # row i
    kernel = build(func([A, B], loop(i, 16, st(B, dst, ld(A, src, 16)))))
    a = rand(rng, 256, "float32")
    b = np.zeros(256, np.float32)
    call(kernel, a, b)
    np.testing.assert_array_equal(b.reshape(16, 16), a.reshape(16, 16).T)
    kernel = build(func([A, B], loop(i, 16, st(B, src, ld(A, dst, 16)))))     # scatter
    b[:] = 0
    call(kernel, a, b)
    np.testing.assert_array_equal(b.reshape(16, 16), a.reshape(16, 16).T)


def test_general_vector_index_gather(rng):
    # The vectorizer leaves index vectors like (ramp // 37) * 37 + ramp % 37.
    A, B = buf("A", "float32", 380), buf("B", "float32", 368)
    i = E.Var("i")
    r = ramp(i * 16, 16)
    idx = E.cast(r // 37, "int64x16") * E.const(38, "int64") + E.cast(r % 37, "int64x16")
    kernel = build(func([A, B], loop(i, 23, st(B, r, ld(A, idx, 16)))))
    a = rand(rng, 380, "float32")
    b = np.zeros(368, np.float32)
    call(kernel, a, b)
    k = np.arange(368)
    np.testing.assert_array_equal(b, a[(k // 37) * 38 + k % 37])


def test_bool_buffers_are_bytes(rng):
    x, y = rand(rng, 64, "bool"), rand(rng, 64, "bool")
    for lanes in (1, 16):
        out = run_elementwise(lambda a, b: a ^ b, [x, y], "bool", lanes)
        np.testing.assert_array_equal(out, x ^ y)
        assert set(out.view(np.uint8)) <= {0, 1}


def test_scalar_broadcast_into_vector_store(rng):
    A = buf("A", "int16", 64)
    i = E.Var("i")
    kernel = build(func([A], loop(i, 4, st(A, ramp(i * 16, 16), E.cast(i, "int16") - 3))))
    a = rand(rng, 64, "int16")
    call(kernel, a)
    np.testing.assert_array_equal(a, np.repeat(np.arange(4) - 3, 16))


# -- control flow ------------------------------------------------------------------------
def test_select_if_then_else_and_let(rng):
    A, B = buf("A", "float32", 100), buf("B", "float32", 100)
    i, t = E.Var("i"), E.Var("t", "float32")
    x = ld(A, i)
    body = T.LetStmt(t, x * x, T.IfThenElse(
        i < 50, st(B, i, E.select(x > 0.0, t, -t)), st(B, i, t + 1.0)))
    kernel = build(func([A, B], loop(i, 100, body)))
    a = rand(rng, 100, "float32")
    b = np.zeros(100, np.float32)
    call(kernel, a, b)
    sq = a.astype(np.float64) ** 2
    expect = np.where(np.arange(100) < 50, np.where(a > 0, sq, -sq), sq + 1)
    np.testing.assert_allclose(b, expect.astype(np.float32), rtol=1e-6)


def test_unrolled_loop_constant_and_symbolic_extent(rng):
    n = E.Var("n")
    A = buf("A", "int32", 200)
    i, j = E.Var("i"), E.Var("j")
    body = T.seq(loop(i, 8, st(A, i, i * i), kind="unrolled"),
                 loop(j, n, st(A, j + 8, j + 1000), kind="unrolled", lo=0))
    f = func([A], body, size_vars=[n])
    ir_text = BACKEND.render(f, "llvm")
    assert "store i32 49" in ir_text or "49" in ir_text     # constants folded after unrolling
    a = rand(rng, 200, "int32")
    keep = a.copy()
    call(build(f), a, 100)
    np.testing.assert_array_equal(a[:8], np.arange(8) ** 2)
    np.testing.assert_array_equal(a[8:108], np.arange(100) + 1000)
    np.testing.assert_array_equal(a[108:], keep[108:])


def test_vectorized_loop_left_over_runs_serially(rng):
    A = buf("A", "float32", 10)
    i = E.Var("i")
    a = rand(rng, 10, "float32")
    expect = a + np.float32(1)
    call(build(func([A], loop(i, 10, st(A, i, ld(A, i) + 1.0), kind="vectorized"))), a)
    np.testing.assert_array_equal(a, expect)


def test_assert_returns_its_code_in_program_order(rng):
    n = E.Var("n")
    A = buf("A", "float32", 16)
    i = E.Var("i")
    inner = T.Assert(i < 10, "i < 10", st(A, i, E.const(1.0, "float32")))
    body = T.Assert(n >= 0, "n >= 0", T.Assert(n <= 16, "n <= 16", loop(i, n, inner)))
    kernel = build(func([A], body, size_vars=[n]))
    a = rand(rng, 16, "float32")
    assert call(kernel, a, 5) == 0
    assert (a[:5] == 1).all()
    assert call(kernel, a, -1) == 1
    assert call(kernel, a, 17) == 2
    assert call(kernel, a, 12) == 3
    assert (a[:10] == 1).all()           # stores before the failing iteration happened


# -- temporaries -------------------------------------------------------------------------
def _scratch_kernel(n, size_expr, size_vars=()):
    """out[i] = 2 * in[i] + 1, staged through a temporary."""
    A, B = buf("A", "float32", n), buf("B", "float32", n)
    tmp = buf("tmp", "float32", size_expr, scope="local")
    i, j = E.Var("i"), E.Var("j")
    body = T.Allocate(tmp, T.seq(loop(i, n, st(tmp, i, ld(A, i) * 2.0)),
                                 loop(j, n, st(B, j, ld(tmp, j) + 1.0))))
    return func([A, B], body, size_vars)


@pytest.mark.parametrize("n", [64, 20000])
def test_allocate_stack_and_heap(n, rng):
    f = _scratch_kernel(n, n)
    text = BACKEND.render(f, "llvm")
    assert ("aligned_alloc" in text) == (n * 4 > 64 * 1024)
    a = rand(rng, n, "float32")
    b = np.zeros(n, np.float32)
    call(build(f), a, b)
    np.testing.assert_allclose(b, a.astype(np.float64) * 2 + 1, rtol=1e-6)


def test_allocate_symbolic_size_uses_heap(rng):
    m = E.Var("m")
    f = _scratch_kernel(100, m, size_vars=[m])
    assert "aligned_alloc" in BACKEND.render(f, "llvm")
    a = rand(rng, 100, "float32")
    b = np.zeros(100, np.float32)
    call(build(f), a, b, 100)
    np.testing.assert_allclose(b, a.astype(np.float64) * 2 + 1, rtol=1e-6)


def test_stack_allocation_inside_loop_is_hoisted_to_entry():
    A = buf("A", "float32", 64)
    tmp = buf("tmp", "float32", 16, scope="local")
    i, j = E.Var("i"), E.Var("j")
    inner = T.Allocate(tmp, T.seq(loop(j, 16, st(tmp, j, ld(A, i * 16 + j))),
                                  loop(j, 16, st(A, i * 16 + j, ld(tmp, 15 - j)))))
    f = func([A], loop(i, 4, inner))
    from codegen.llvm_emit import emit_module
    text = str(emit_module(f))
    entry = text.split("start:")[0]
    assert "alloca [16 x float], align 64" in entry
    a = np.arange(64, dtype=np.float32)
    call(build(f), a)
    expect = np.arange(64, dtype=np.float32).reshape(4, 16)[:, ::-1].ravel()
    np.testing.assert_array_equal(a, expect)


# -- interface ------------------------------------------------------------------------------
def test_artifact_abi_and_loaded_kernel():
    n = E.Var("n")
    A, B = buf("A", "float32", n), buf("B", "int8", n)
    i = E.Var("i")
    f = func([A, B], loop(i, n, st(B, i, E.cast(ld(A, i), "int8"))), size_vars=[n], name="conv")
    text = BACKEND.render(f, "llvm")
    assert "define" in text and "@conv(ptr noalias" in text and "i64 %n" in text
    art = BACKEND.compile(text, "llvm")
    assert isinstance(art, LLVMArtifact) and art.name == "conv"
    assert (art.n_buffers, art.n_sizes) == (2, 1)
    assert art.object[:4] == b"\x7fELF" and "conv:" in art.asm
    fields = {f.name: getattr(art, f.name) for f in dataclasses.fields(art)}
    assert BACKEND.artifact_from_fields(**fields) == art
    k = BACKEND.load(art)
    assert isinstance(k, LoadedKernel) and k.address
    assert k.fn.restype is ctypes.c_int32
    assert list(k.fn.argtypes) == [ctypes.c_void_p] * 2 + [ctypes.c_int64]


def test_target_machine_and_options():
    cpu, features = cpu_and_features("llvm")
    assert cpu == llvm.get_host_cpu_name()
    assert features == llvm.get_host_cpu_features().flatten()
    assert cpu_and_features("llvm -mcpu=skylake") == ("skylake", "")
    assert cpu_and_features("llvm -mcpu=skylake -mattr=+avx2") == ("skylake", "+avx2")
    tm = host_target_machine("llvm")
    assert tm.triple
    f = elementwise(lambda x: x + 1.0, ["float32"], "float32", 64, lanes=16)
    assert '"target-cpu"="skylake"' in BACKEND.render(f, "llvm -mcpu=skylake")


def test_backend_is_registered_with_build():
    import codegen  # noqa: F401
    from opcomp.build import get_backend
    assert isinstance(get_backend("llvm"), LLVMBackend)


def test_gpu_only_constructs_are_refused():
    A = buf("A", "float32", 64)
    i = E.Var("i")
    thread_loop = T.For(i, E.const(0), E.const(64), "thread", st(A, i, E.const(0.0, "float32")),
                        "threadIdx.x")
    with pytest.raises(NotImplementedError, match="GPU"):
        BACKEND.render(func([A], thread_loop), "llvm")
    with pytest.raises(NotImplementedError, match="GPU"):
        BACKEND.render(func([A], T.Barrier()), "llvm")
    with pytest.raises(ValueError, match="cuda"):
        BACKEND.render(func([A], T.Nop()), "cuda")


def test_builds_in_several_threads_at_once(rng):
    from concurrent.futures import ThreadPoolExecutor

    def one(k):
        a = rand(np.random.default_rng(k), 256, "float32")
        out = run_elementwise(lambda x: x * float(k) + 1.0, [a], "float32", lanes=16)
        return np.allclose(out, a.astype(np.float64) * k + 1, rtol=1e-6)
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(one, range(12)))


def test_mixed_scalar_vector_operands_are_splatted(rng):
    A, B = buf("A", "float32", 64), buf("B", "float32", 64)
    i = E.Var("i")
    r = ramp(i * 16, 16)
    x = ld(A, r, 16)
    # Hand-built: a scalar operand next to a vector one, a vector condition with scalars.
    value = E.Binary("add", x, E.const(1.0, "float32"), "float32x16")
    value = E.Select(E.Compare("gt", x, E.const(0.0, "float32"), "boolx16"), value,
                     E.const(-1.0, "float32"), "float32x16")
    kernel = build(func([A, B], loop(i, 4, st(B, r, value))))
    a = rand(rng, 64, "float32")
    b = np.zeros(64, np.float32)
    call(kernel, a, b)
    np.testing.assert_array_equal(b, np.where(a > 0, a + np.float32(1), np.float32(-1)))


# -- teardown ---------------------------------------------------------------------------
ENGINE_IN_A_DEAD_CYCLE = """
import gc
import opcomp as oc
from codegen.llvm import LLVMBackend
A = oc.placeholder((8,), name="A")
C = oc.compute((8,), lambda i: A[i] + 1.0, name="C")
backend = LLVMBackend()
artifact = backend.compile(backend.render(oc.lower(oc.create_schedule(C), [A, C])), "llvm")
for _ in range(50):
    cycle = [backend.load(artifact)]
    cycle.append(cycle)
    del cycle
    gc.collect()
print("survived")
"""


def test_collecting_a_kernel_in_a_dead_cycle_does_not_crash():
    """The collector finalizes a dead cycle's objects in any order; disposing the
    LLVM context before the engine whose module lives in it was a segfault."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", ENGINE_IN_A_DEAD_CYCLE],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "survived" in done.stdout, done.stderr[-2000:]
