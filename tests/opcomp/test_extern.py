"""Extern stages: a C function from a shared library (compiled here with gcc)
computes a stage, inside a pipeline of normal computes, against NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc

from .c_kernels import EXTERN_FUNCS, compile_library


@pytest.fixture(scope="module")
def extern_lib(tmp_path_factory):
    return compile_library(tmp_path_factory.mktemp("extern"), "oc_extern_test", EXTERN_FUNCS)


def scale_stage(src, n, factor, name="B"):
    """B = src * factor by ex_scale(src, B, n, factor)."""
    return oc.extern(src.shape, [src], lambda ins, outs: oc.call_extern(
        "int32", "ex_scale", ins[0].data, outs[0].data, n, oc.const(factor, "float32")),
        name=name)


def test_c_function_inside_a_pipeline(extern_lib, rng):
    n = 37
    A = oc.placeholder((n,), name="A")
    A2 = oc.compute((n,), lambda i: A[i] + 1.0, name="A2")
    B = scale_stage(A2, n, 3.0)
    C = oc.compute((n,), lambda i: B[i] * B[i], name="C")
    mod = oc.build(oc.create_schedule(C), [A, C])
    a = rng.standard_normal(n).astype("float32")
    c = np.full(n, np.nan, "float32")
    mod(a, c)
    ref = ((a.astype("float64") + 1.0) * 3.0) ** 2
    np.testing.assert_allclose(c, ref, rtol=2e-6, atol=1e-6)


def test_extern_feeds_a_scheduled_compute(extern_lib, rng):
    m, n = 13, 29
    A = oc.placeholder((m, n), name="A")
    V = oc.placeholder((n,), name="V")
    S = oc.extern((m, n), [A, V], lambda ins, outs: oc.call_extern(
        "int32", "ex_add_row", ins[0].data, ins[1].data, outs[0].data, m, n,
        outs[0].strides[0]), name="S")
    Y = oc.compute((m, n), lambda i, j: oc.exp(S[i, j]) * 0.5, name="Y")
    s = oc.create_schedule(Y)
    jo, ji = s[Y].split(Y.op.axis[1], factor=8)
    s[Y].vectorize(ji)
    s[Y].parallel(Y.op.axis[0])
    mod = oc.build(s, [A, V, Y])
    a = rng.standard_normal((m, n)).astype("float32")
    v = rng.standard_normal(n).astype("float32")
    y = np.full((m, n), np.nan, "float32")
    mod(a, v, y)
    np.testing.assert_allclose(y, np.exp(a.astype("float64") + v) * 0.5, rtol=2e-6)


def test_extern_output_with_symbolic_size_and_two_calls(extern_lib, rng):
    """The stage is the output; the size comes from the array; two calls run in order."""
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    B = oc.extern((n,), [A], lambda ins, outs: [
        oc.call_extern("int32", "ex_scale", ins[0].data, outs[0].data, ins[0].shape[0],
                       oc.const(4.0, "float32")),
        oc.call_extern("int32", "ex_sqrt_inplace", outs[0].access_ptr("rw"),
                       outs[0].shape[0].astype("int64"))], name="B")
    mod = oc.build(oc.create_schedule(B), [A, B])
    for size in (5, 70):
        a = rng.uniform(0.5, 2.0, size).astype("float32")
        b = np.full(size, np.nan, "float32")
        mod(a, b)
        np.testing.assert_allclose(b, np.sqrt(a.astype("float64") * 4.0), rtol=2e-6)


def test_lowered_text_shows_the_call_with_bound_pointers(extern_lib):
    A = oc.placeholder((16,), name="A")
    B = scale_stage(A, 16, 2.0)
    C = oc.compute((16,), lambda i: B[i] + 1.0, name="C")
    text = str(oc.lower(oc.create_schedule(C), [A, C]))
    assert "call_extern ex_scale(&A[" in text and "&B[" in text
    assert text.index("call_extern") < text.index("C[")


def test_export_links_the_library(extern_lib, rng, tmp_path):
    n = 21
    A = oc.placeholder((n,), name="A")
    B = scale_stage(A, n, -2.0)
    C = oc.compute((n,), lambda i: B[i] + A[i], name="C")
    mod = oc.build(oc.create_schedule(C), [A, C], name="ext_export")
    path = mod.export_library(tmp_path / "libext_export.so")
    loaded = oc.load_module(path)
    a = rng.standard_normal(n).astype("float32")
    c = np.full(n, np.nan, "float32")
    loaded(a, c)
    np.testing.assert_allclose(c, -a.astype("float64"), rtol=2e-6, atol=1e-7)


def test_workload_key_sees_the_called_function(extern_lib):
    A = oc.placeholder((8,), name="A")
    one = scale_stage(A, 8, 2.0)
    two = scale_stage(A, 8, 2.0)
    other = scale_stage(A, 8, 3.0)
    assert oc.workload_key(one) == oc.workload_key(two) != oc.workload_key(other)


def test_decl_buffer_fields():
    n = oc.var("n")
    b = oc.decl_buffer((n, 4), "float32", "b", strides=[oc.var("s"), 1], offset_factor=1)
    assert b.ndim == 2 and b.dtype == "float32" and isinstance(b.elem_offset, oc.Var)
    assert b.strides[1].value == 1
    compact = oc.decl_buffer((3, 5), "int32", "c")
    assert [s.value for s in compact.strides] == [5, 1] and compact.elem_offset.value == 0


def test_strided_output_buffer_binds_the_aligned_row_stride(extern_lib, rng):
    """storage_align pads S's rows to 8 floats; the declared stride var takes 8."""
    m, n = 5, 6
    A = oc.placeholder((m, n), name="A")
    V = oc.placeholder((n,), name="V")
    out = oc.decl_buffer((m, n), "float32", "s", strides=[oc.var("ldc"), 1])
    S = oc.extern((m, n), [A, V], lambda ins, outs: oc.call_extern(
        "int32", "ex_add_row", ins[0].data, ins[1].data, outs[0].data, m, n,
        outs[0].strides[0]), name="S", out_buffers=[out])
    Y = oc.compute((m, n), lambda i, j: S[i, j] * 3.0, name="Y")
    s = oc.create_schedule(Y)
    s[S].storage_align(S.op.axis[0], 8, 0)
    assert ", 5, 6, 8)" in str(oc.lower(s, [A, V, Y]))
    mod = oc.build(s, [A, V, Y])
    a = rng.standard_normal((m, n)).astype("float32")
    v = rng.standard_normal(n).astype("float32")
    y = np.full((m, n), np.nan, "float32")
    mod(a, v, y)
    np.testing.assert_allclose(y, (a.astype("float64") + v) * 3.0, rtol=2e-6)


@oc.register_func("oc_test_scaled_copy")
def _scaled_copy(src, dst, factor):
    dst[...] = src * factor


def test_call_packed_runs_a_registered_python_function(rng):
    """TVM's register_func + call_packed: the buffers arrive as NumPy views."""
    n = oc.var("n")
    A = oc.placeholder((n, 3), name="A")
    A2 = oc.compute((n, 3), lambda i, j: A[i, j] + 1.0, name="A2")
    C = oc.extern(A.shape, [A2], lambda ins, outs: oc.call_packed(
        "oc_test_scaled_copy", ins[0], outs[0], 2.0), name="C")
    D = oc.compute((n, 3), lambda i, j: C[i, j] * 3.0, name="D")
    mod = oc.build(oc.create_schedule(D), [A, D])
    for rows in (1, 6):
        a = rng.standard_normal((rows, 3)).astype("float32")
        d = np.full((rows, 3), np.nan, "float32")
        mod(a, d)
        np.testing.assert_allclose(d, (a.astype("float64") + 1.0) * 6.0, rtol=2e-6)


def test_builtin_matmul_extern_feeds_a_bias_add(rng):
    """TVM's cblas pattern: an extern GEMM through the opcomp.builtin.matmul builtin
    (NumPy's BLAS), then a normal compute adds a bias."""
    M, N, K = 7, 12, 9
    A = oc.placeholder((M, K), name="A")
    B = oc.placeholder((N, K), name="B")
    bias = oc.placeholder((N,), name="bias")
    C = oc.extern((M, N), [A, B], lambda ins, outs: oc.call_packed(
        "opcomp.builtin.matmul", ins[0], ins[1], outs[0], 0, 1), name="C")
    D = oc.compute((M, N), lambda i, j: C[i, j] + bias[j], name="D")
    mod = oc.build(oc.create_schedule(D), [A, B, bias, D])
    a = rng.standard_normal((M, K)).astype("float32")
    b = rng.standard_normal((N, K)).astype("float32")
    v = rng.standard_normal(N).astype("float32")
    d = np.full((M, N), np.nan, "float32")
    mod(a, b, v, d)
    np.testing.assert_allclose(d, a.astype("float64") @ b.T + v, rtol=1e-5, atol=1e-5)
