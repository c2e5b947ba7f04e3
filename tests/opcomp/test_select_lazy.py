"""select / if_then_else evaluate an arm that may read out of bounds only where it
is taken: A lies between two inaccessible pages, so reading A[-1] or A[n] faults.
Arms proven in bounds keep the branchless select; vector loops use masked loads."""
import ctypes
import mmap

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.ir.visit import walk

PAGE = mmap.PAGESIZE
N = PAGE // 4                    # float32 elements filling one page exactly
PROT_NONE = 0


@pytest.fixture(scope="module")
def guarded():
    """A float32 array of N elements whose neighbouring pages are PROT_NONE."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    base = libc.mmap(None, 3 * PAGE, mmap.PROT_READ | mmap.PROT_WRITE,
                     mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    assert base not in (None, ctypes.c_void_p(-1).value)
    assert libc.mprotect(base, PAGE, PROT_NONE) == 0
    assert libc.mprotect(base + 2 * PAGE, PAGE, PROT_NONE) == 0
    arr = np.ctypeslib.as_array((ctypes.c_float * N).from_address(base + PAGE))
    yield arr
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.munmap(base, 3 * PAGE)


def shifted(select_fn):
    """C[i] = A[i-1] where i > 0, A[i+1] * 2 where i < N-1 (else A[i]): both edges."""
    A = oc.placeholder((N,), name="A")
    C = oc.compute((N,), lambda i: select_fn(
        i > 0, A[i - 1] + select_fn(i < N - 1, A[i + 1] * 2.0, A[i]), A[i] * 3.0), name="C")
    return A, C


def reference(a):
    a = a.astype(np.float64)
    right = np.where(np.arange(N) < N - 1, np.roll(a, -1) * 2.0, a)
    return np.where(np.arange(N) > 0, np.roll(a, 1) + right, a * 3.0)


@pytest.mark.parametrize("select_fn", [oc.select, oc.if_then_else], ids=["select", "if_then_else"])
@pytest.mark.parametrize("vector", [False, True], ids=["scalar", "vector"])
def test_out_of_range_arm_is_never_read(guarded, select_fn, vector, rng):
    A, C = shifted(select_fn)
    s = oc.create_schedule(C)
    if vector:
        _, xi = s[C].split(C.op.axis[0], factor=8)
        s[C].vectorize(xi)
    mod = oc.build(s, [A, C])
    guarded[:] = rng.standard_normal(N).astype(np.float32)
    c = np.zeros(N, np.float32)
    mod(guarded, c)                   # reading A[-1] or A[N] would fault here
    np.testing.assert_allclose(c, reference(guarded), rtol=1e-6, atol=1e-6)
    src = mod.source("llvm")
    if vector:
        assert "<8 x float>" in src and "llvm.masked.load" in src


def test_vector_arm_masks_gathers_too(guarded, rng):
    """A strided (gather) read in an arm becomes a masked gather."""
    A = oc.placeholder((N,), name="A")
    C = oc.compute((N // 2,), lambda i: oc.select(i > 0, A[2 * i - 1], 1.0), name="C")
    s = oc.create_schedule(C)
    _, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].vectorize(xi)
    mod = oc.build(s, [A, C])
    guarded[:] = rng.standard_normal(N).astype(np.float32)
    c = np.zeros(N // 2, np.float32)
    mod(guarded, c)
    want = np.where(np.arange(N // 2) > 0, guarded[np.maximum(2 * np.arange(N // 2) - 1, 0)], 1.0)
    np.testing.assert_array_equal(c, want)
    assert "llvm.masked.gather" in mod.source("llvm")


def _selects(func):
    out = []
    walk(func.body, lambda n: out.append(n) if isinstance(n, E.Select) else None)
    return out


def test_safe_arms_keep_the_branchless_select(rng):
    n = 64
    A = oc.placeholder((n,), name="A")
    B = oc.placeholder((n,), name="B")
    C = oc.compute((n,), lambda i: oc.select(A[i] > 0, A[i], B[n - 1 - i]), name="C")
    s = oc.create_schedule(C)
    _, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].vectorize(xi)
    fn = oc.lower(s, [A, B, C])
    sel = _selects(fn)
    assert sel and not any(x.lazy for x in sel)
    mod = oc.build(s, [A, B, C])
    assert "masked.load" not in mod.source("llvm")
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    c = np.zeros(n, np.float32)
    mod(a, b, c)
    np.testing.assert_array_equal(c, np.where(a > 0, a, b[::-1]))


def test_unsafe_arm_is_found():
    A, C = shifted(oc.select)
    fn = oc.lower(oc.create_schedule(C), [A, C])
    assert any(x.lazy for x in _selects(fn))
    assert "if_then_else(" in str(fn)


def test_select_with_padding_on_the_cuda_emulator(rng):
    """The CUDA C ternary is lazy too: the padded read of A[-1] is never made."""
    n = 64
    A = oc.placeholder((n,), name="A")
    C = oc.compute((n,), lambda i: oc.if_then_else(i > 0, A[i - 1], -1.0), name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=32)
    s[C].bind(xo, oc.thread_axis("blockIdx.x"))
    s[C].bind(xi, oc.thread_axis("threadIdx.x"))
    mod = oc.build(s, [A, C], target="cuda", emulate=True)
    a = rng.standard_normal(n).astype(np.float32)
    c = np.zeros(n, np.float32)
    mod(a, c)
    np.testing.assert_array_equal(c, np.concatenate([[-1.0], a[:-1]]).astype(np.float32))


def test_clamped_reads_of_a_flattened_buffer_are_proven_safe(rng):
    """After flattening, a 2-D buffer is one row-major index: a clamped row read
    (as padding code writes it) is in bounds, so the select stays branchless."""
    A = oc.placeholder((8, 16), name="A")
    C = oc.compute((10, 16), lambda i, j: oc.select(
        (i >= 1) & (i < 9), A[oc.minimum(oc.maximum(i - 1, 0), 7), j], 0.0), name="C")
    s = oc.create_schedule(C)
    _, ji = s[C].split(C.op.axis[1], factor=8)
    s[C].vectorize(ji)
    fn = oc.lower(s, [A, C])
    sel = _selects(fn)
    assert sel and not any(x.lazy for x in sel)
    mod = oc.build(s, [A, C])
    a = rng.standard_normal((8, 16)).astype(np.float32)
    c = np.zeros((10, 16), np.float32)
    mod(a, c)
    np.testing.assert_array_equal(c, np.pad(a, ((1, 1), (0, 0))))
