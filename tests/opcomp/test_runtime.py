"""The runtime: calling built modules on NumPy arrays and tensors, sources, benchmark.

Kernels are written by hand in the loop IR (flattened, one index per access),
so these tests depend only on the backend, not on the lowering front end.
"""
from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.build import build


_ids = itertools.count()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPCOMP_CACHE_DIR", str(tmp_path / "cache"))


def elementwise(dtype="float32", op=lambda a, b: a + b, name=None):
    """C[i] = op(A[i], B[i]) for i < n."""
    n, i = E.Var("n", "int32"), E.Var("i", "int32")
    A, B, C = (T.Buffer(x, dtype, (n,)) for x in "ABC")
    store = T.Store(C, (i,), op(E.Load(A, (i,), dtype), E.Load(B, (i,), dtype)))
    body = T.For(i, E.const(0, "int32"), n, "serial", store)
    return T.PrimFunc(name or f"ew{next(_ids)}", (A, B, C), body, (n,))


def rows_plus_shifted(name=None):
    """C[i, j] = A[i, j] + B[i + 1] with A, C: (n, 4) and B: (n + 1,)."""
    n, i, j = E.Var("n", "int32"), E.Var("i", "int32"), E.Var("j", "int32")
    A, C = T.Buffer("A", "float32", (n, E.const(4))), T.Buffer("C", "float32", (n, E.const(4)))
    B = T.Buffer("B", "float32", (n + 1,))
    flat = i * 4 + j
    store = T.Store(C, (flat,), E.Load(A, (flat,), "float32") + E.Load(B, (i + 1,), "float32"))
    zero = E.const(0, "int32")
    body = T.For(i, zero, n, "serial", T.For(j, zero, E.const(4), "serial", store))
    return T.PrimFunc(name or f"rows{next(_ids)}", (A, B, C), body, (n,))


def asserting(name=None):
    """C[i] = A[i] after `assert n > 2`: a kernel whose runtime check can fail."""
    n, i = E.Var("n", "int32"), E.Var("i", "int32")
    A, C = T.Buffer("A", "float32", (n,)), T.Buffer("C", "float32", (n,))
    loop = T.For(i, E.const(0, "int32"), n, "serial", T.Store(C, (i,), E.Load(A, (i,), "float32")))
    body = T.Assert(E.compare("gt", n, E.const(2, "int32")), "n must exceed 2", loop)
    return T.PrimFunc(name or f"chk{next(_ids)}", (A, C), body, (n,))


def random(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), shape, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int64", "int16",
                                   "int8", "uint8", "bool"])
def test_numpy_outputs_written_in_place(rng, dtype):
    op = (lambda a, b: a & b) if dtype == "bool" else (lambda a, b: a + b)
    mod = build(elementwise(dtype, op), target="llvm")
    a, b = random(rng, 1003, dtype), random(rng, 1003, dtype)
    c = random(rng, 1003, dtype)
    c_id = c.ctypes.data
    assert mod(a, b, c) is None
    np.testing.assert_array_equal(c, op(a, b))
    assert c.ctypes.data == c_id


def test_symbolic_and_expression_dims(rng):
    mod = build(rows_plus_shifted(), target="llvm")
    for n in (1, 7, 64):
        a, b = random(rng, (n, 4), "float32"), random(rng, n + 1, "float32")
        c = random(rng, (n, 4), "float32")
        mod(a, b, c)
        np.testing.assert_array_equal(c, a + b[1:, None])


def test_zero_sized_arrays_are_fine():
    mod = build(elementwise(), target="llvm")
    a = np.empty(0, np.float32)
    mod(a, a.copy(), a.copy())


class Sub(np.ndarray):
    pass


def test_numpy_views_and_subclasses_share_memory(rng):
    mod = build(elementwise(), target="llvm")
    base = random(rng, (3, 100), "float32")
    a, b = base[1], random(rng, 100, "float32")      # a contiguous row view
    c = np.empty(100, np.float32).view(Sub)          # an ndarray subclass
    mod(a, b, c)
    np.testing.assert_array_equal(np.asarray(c), base[1] + b)


def test_torch_tensors_written_in_place(rng):
    torch = pytest.importorskip("torch")
    mod = build(elementwise(), target="llvm")
    a, b = torch.randn(513), torch.randn(513)
    c = torch.randn(513)
    ptr = c.data_ptr()
    mod(a, b, c)
    assert c.data_ptr() == ptr
    assert torch.equal(c, a + b)
    mod(a, b.numpy(), c)          # tensors and arrays mix
    assert torch.equal(c, a + b)


def test_dlpack_object_without_numpy_method(rng):
    class Wrapped:                 # any __dlpack__ producer, as JAX or CuPy host arrays
        def __init__(self, arr):
            self.arr = arr

        def __dlpack__(self, **kw):
            return self.arr.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self.arr.__dlpack_device__()

    mod = build(elementwise(), target="llvm")
    a, b, c = (random(rng, 64, "float32") for _ in range(3))
    mod(Wrapped(a), Wrapped(b), Wrapped(c))
    np.testing.assert_array_equal(c, a + b)


def test_failed_runtime_assert_raises_with_its_message(rng):
    mod = build(asserting(), target="llvm")
    a, c = random(rng, 8, "float32"), random(rng, 8, "float32")
    mod(a, c)
    np.testing.assert_array_equal(c, a)
    small = random(rng, 2, "float32")
    with pytest.raises(RuntimeError, match=rf"kernel {mod.name} failed: assertion 1"):
        mod(small, small.copy())


def test_module_attributes_and_sources():
    func = elementwise()
    mod = build(func, target="llvm")
    assert mod.func is func and mod.name == func.name and mod.target == oc.Target("llvm")
    assert mod.artifact is not None and mod.kernel.address
    assert "define" in mod.source("llvm") and func.name in mod.source("llvm")
    assert func.name in mod.source("asm")
    assert mod.source("tir") == str(func)
    assert func.name in repr(mod)


@pytest.mark.parametrize("fmt", ["cuda", "ptx", "c"])
def test_unavailable_source_format(fmt):
    mod = build(elementwise(), target="llvm")
    with pytest.raises(ValueError, match=rf"no '{fmt}' source.*available: llvm, asm, tir"):
        mod.source(fmt)


def test_prepare_gives_raw_kernel_arguments(rng):
    mod = build(elementwise(), target="llvm")
    a, b, c = (random(rng, 10, "float32") for _ in range(3))
    raw = mod.prepare(a, b, c)
    assert raw == (a.ctypes.data, b.ctypes.data, c.ctypes.data, 10)
    assert mod.kernel.fn(*raw) == 0
    np.testing.assert_array_equal(c, a + b)


def test_benchmark_stats(rng):
    mod = build(elementwise(), target="llvm")
    a, b, c = (random(rng, 4096, "float32") for _ in range(3))
    st = oc.benchmark(mod, a, b, c, repeat=3, min_time=0.005)
    assert st.repeat == 3 and len(st.runs) == 3
    assert 0 < st.min <= st.median <= st.max and st.stdev >= 0
    # number was grown until a calibration repeat lasted min_time (later repeats may
    # run faster, so their length is not asserted): a microsecond call needs many.
    assert st.number >= 10
    fixed = oc.benchmark(mod, a, b, c, repeat=2, number=7, warmup=0)
    assert fixed.number == 7 and fixed.repeat == 2
    np.testing.assert_array_equal(c, a + b)
    assert "per call" in str(st)


def test_benchmark_checks_arguments_first(rng):
    mod = build(elementwise(), target="llvm")
    a = random(rng, 8, "float32")
    with pytest.raises(oc.ArgumentError):
        oc.benchmark(mod, a, a)
    with pytest.raises(ValueError, match="repeat >= 1"):
        oc.benchmark(mod, a, a, a.copy(), repeat=0)


def test_per_call_overhead_is_small(rng):
    mod = build(elementwise(), target="llvm")
    a, b, c = (random(rng, 4, "float32") for _ in range(3))
    calls = 2000
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(calls):
            mod(a, b, c)
        best = min(best, (time.perf_counter() - t0) / calls)
    print(f"per-call time, 3 tiny numpy arrays: {best * 1e6:.2f} us")
    assert best < 50e-6        # ~5 us measured; generous for loaded CI machines


def test_size_var_that_no_shape_determines():
    n, m, i = E.Var("n", "int32"), E.Var("m", "int32"), E.Var("i", "int32")
    A, C = T.Buffer("A", "float32", (n * m,)), T.Buffer("C", "float32", (n,))
    body = T.For(i, E.const(0, "int32"), n, "serial", T.Store(C, (i,), E.Load(A, (i,), "float32")))
    func = T.PrimFunc(f"nm{next(_ids)}", (A, C), body, (n, m))
    with pytest.raises(ValueError, match="size variable m cannot be bound from the argument shapes"):
        build(func, target="llvm")


def test_a_temporary_too_big_to_allocate_is_a_memory_error_not_a_crash(rng):
    """B is n x n floats on the heap: 16 TiB for n = 2**21, which malloc refuses.
    The kernel returns OUT_OF_MEMORY before touching anything; small n still works."""
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n, n), lambda i, j: A[i] * A[j], name="B")
    k = oc.reduce_axis(n, "k")
    C = oc.compute((n,), lambda i: oc.sum(B[i, k], axis=k), name="C")
    mod = oc.build(oc.create_schedule(C), [A, C])
    a, c = np.ones(2 ** 21, np.float32), np.full(2 ** 21, 7, np.float32)
    with pytest.raises(MemoryError, match="out of memory allocating a temporary buffer"):
        mod(a, c)
    assert (c == 7).all()
    a = rng.standard_normal(5).astype(np.float32)
    c = np.zeros(5, np.float32)
    mod(a, c)
    np.testing.assert_allclose(c, a.astype(np.float64) * a.sum(), rtol=1e-5, atol=1e-6)


def test_dlpack_tensors_are_read_by_pointer_without_numpy(rng):
    torch = pytest.importorskip("torch")
    from opcomp.runtime.dlpack import DLView
    mod = oc.build(elementwise(), target="llvm")
    base = torch.randn(600)
    a, b, c = base[1:514], torch.randn(513), torch.zeros(513)      # a has a storage offset
    views = mod.signature.as_arrays([a, b, c])
    assert all(type(v) is DLView for v in views)
    assert views[0].ctypes.data == a.data_ptr() and views[2].ctypes.data == c.data_ptr()
    assert views[0].shape == (513,) and views[0].flags.c_contiguous
    mod(a, b, c)
    assert torch.equal(c, a + b)


def test_dlpack_view_reads_strides_and_dtype():
    torch = pytest.importorskip("torch")
    from opcomp.runtime.dlpack import DLView
    x = torch.zeros(4, 6, dtype=torch.float64)
    v = DLView.of(x.t())
    assert v.shape == (6, 4) and v.strides == (8, 48) and not v.flags.c_contiguous
    assert v.dtype == np.float64 and v.device == (1, 0) and v.nbytes == 192
    assert DLView.of(x[:, :1]).flags.c_contiguous is False
    assert DLView.of(x[:1, :]).flags.c_contiguous is True
    assert DLView.of(torch.zeros(3, dtype=torch.bool)).dtype == np.bool_
