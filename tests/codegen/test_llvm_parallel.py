"""Parallel loops: outlined bodies, captured values, temporaries and asserts in tasks."""
import ctypes

import llvmlite.binding as llvm
import numpy as np
import pytest

from codegen.llvm_emit import emit_module
from opcomp.ir import expr as E
from opcomp.ir import tir as T

from .test_llvm_basic import BACKEND, build, buf, call, func, ld, loop, ramp, rand, st

_TASK = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
def _serial_parallel_for(fn, closure, ntasks):
    task = _TASK(fn)
    for t in range(ntasks):
        task(t, closure)


@pytest.fixture(autouse=True, scope="module")
def parallel_runtime():
    """The thread pool's opcomp_parallel_for, or a serial stand-in where it is missing."""
    if not llvm.address_of_symbol("opcomp_parallel_for"):
        try:
            from codegen.threadpool import ensure_loaded
            ensure_loaded()
        except (ImportError, AttributeError):
            addr = ctypes.cast(_serial_parallel_for, ctypes.c_void_p).value
            llvm.add_symbol("opcomp_parallel_for", addr)
    assert llvm.address_of_symbol("opcomp_parallel_for")


def _rows_kernel(kind="parallel"):
    """B[i, :] = A[i, :] * 2 + i for i in [lo, n), rows of 16 (n, lo: size args)."""
    n, lo = E.Var("n"), E.Var("lo")
    A, B = buf("A", "float32", n * 16), buf("B", "float32", n * 16)
    i = E.Var("i")
    r = ramp(i * 16, 16)
    body = st(B, r, ld(A, r, 16) * 2.0 + E.cast(i, "float32"))
    return func([A, B], loop(i, n - lo, body, kind=kind, lo=lo), size_vars=[n, lo])


def test_parallel_rows_with_symbolic_range(rng):
    f = _rows_kernel()
    text = BACKEND.render(f, "llvm")
    assert "call void @opcomp_parallel_for" in text and "define internal void @kernel_par0" in text
    kernel = build(f)
    for n, lo in [(300, 0), (57, 5), (3, 3), (2, 7)]:
        a = rand(rng, n * 16, "float32")
        b = np.full(n * 16, -7.0, np.float32)
        assert call(kernel, a, b, n, lo) == 0
        expect = a.reshape(n, 16).astype(np.float64) * 2 + np.arange(n)[:, None]
        rows = np.arange(n) >= lo
        np.testing.assert_allclose(b.reshape(n, 16)[rows], expect[rows], rtol=1e-6)
        assert (b.reshape(n, 16)[~rows] == -7).all()


def test_every_task_runs_once(rng):
    A = buf("A", "int32", 1000)
    i = E.Var("i")
    kernel = build(func([A], loop(i, 1000, st(A, i, ld(A, i) + 1), kind="parallel")))
    a = rand(rng, 1000, "int32")
    expect = a + 1
    call(kernel, a)
    np.testing.assert_array_equal(a, expect)


def test_captures_let_vars_constants_and_outer_buffers(rng):
    # for k in unrolled(2): let s = k * 10 + m in parallel for i: B[k, i] = A[i] + s
    m = E.Var("m")
    A, B = buf("A", "int64", 64), buf("B", "int64", 128)
    k, i, s = E.Var("k"), E.Var("i"), E.Var("s")
    par = loop(i, 64, st(B, k * 64 + i, ld(A, i) + E.cast(s, "int64")), kind="parallel")
    body = loop(k, 2, T.LetStmt(s, k * 10 + m, par), kind="unrolled")
    kernel = build(func([A, B], body, size_vars=[m]))
    a = rand(rng, 64, "int64")
    b = np.zeros(128, np.int64)
    call(kernel, a, b, 5)
    np.testing.assert_array_equal(b, np.concatenate([a + 5, a + 15]))


@pytest.mark.parametrize("tmp_size", [16, 20000])
def test_temporaries_inside_and_outside_the_parallel_body(tmp_size, rng):
    # outer temporary (captured), and an inner one per task (stack or heap).
    A, B = buf("A", "float32", 256), buf("B", "float32", 256)
    outer = buf("outer", "float32", 256, scope="global")
    inner = buf("inner", "float32", tmp_size, scope="local")
    i, j, t = E.Var("i"), E.Var("j"), E.Var("t")
    fill = loop(t, 256, st(outer, t, ld(A, t) + 1.0))
    task = T.Allocate(inner, T.seq(
        loop(j, 16, st(inner, j, ld(outer, i * 16 + j) * 3.0)),
        loop(j, 16, st(B, i * 16 + j, ld(inner, 15 - j)))))
    body = T.Allocate(outer, T.seq(fill, loop(i, 16, task, kind="parallel")))
    f = func([A, B], body)
    ir_text = str(emit_module(f))
    par_body = ir_text.split("@\"kernel_par0_body\"")[1].split("start:")[0]
    if tmp_size == 16:
        assert "alloca [16 x float], align 64" in par_body     # the task's own stack slot
    kernel = build(f)
    a = rand(rng, 256, "float32")
    b = np.zeros(256, np.float32)
    call(kernel, a, b)
    expect = ((a.astype(np.float64) + 1) * 3).reshape(16, 16)[:, ::-1].ravel()
    np.testing.assert_allclose(b, expect, rtol=1e-6)


@pytest.mark.parametrize("tmp_size", [16, 20000])
def test_assert_in_a_task_fails_the_kernel(tmp_size, rng):
    lim = E.Var("lim")
    A = buf("A", "float32", 64)
    tmp = buf("tmp", "float32", tmp_size, scope="local")
    i = E.Var("i")
    first = T.Assert(lim >= 0, "lim >= 0", T.Nop())
    task = T.Allocate(tmp, T.Assert(i < lim, "i < lim", st(A, i, E.const(1.0, "float32"))))
    kernel = build(func([A], T.seq(first, loop(i, 64, task, kind="parallel")), size_vars=[lim]))
    a = rand(rng, 64, "float32")
    assert call(kernel, a, 64) == 0
    assert (a == 1).all()
    assert call(kernel, a, 40) == 2
    assert call(kernel, a, -1) == 1


def test_nested_parallel_runs_inner_loop_serially(rng):
    A = buf("A", "int32", 64)
    i, j = E.Var("i"), E.Var("j")
    inner = loop(j, 8, st(A, i * 8 + j, i * 100 + j), kind="parallel")
    f = func([A], loop(i, 8, inner, kind="parallel"))
    text = BACKEND.render(f, "llvm")
    assert text.count("call void @opcomp_parallel_for") == 1
    a = rand(rng, 64, "int32")
    call(build(f), a)
    np.testing.assert_array_equal(a.reshape(8, 8), np.arange(8)[:, None] * 100 + np.arange(8))


def test_parallel_matches_serial_on_many_tasks(rng):
    a = rand(rng, 4096 * 16, "float32")
    outs = []
    for kind in ("parallel", "serial"):
        b = np.zeros_like(a)
        call(build(_rows_kernel(kind)), a, b, 4096, 0)
        outs.append(b)
    np.testing.assert_array_equal(outs[0], outs[1])
