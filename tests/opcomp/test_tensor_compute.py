"""Tensor compute ops (TVM's TensorComputeOp): oc.compute whose fcompute calls a
tensor intrinsic on tensor slices; the intrinsic implemented by a C function
(gcc) or by an ir_builder body; built on the CPU and checked against NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc

from .c_kernels import GEMM_8X8, compile_library

RNG = np.random.default_rng(7)


@pytest.fixture(scope="module")
def vadd_lib(tmp_path_factory):
    return compile_library(tmp_path_factory.mktemp("tensor_compute"), "oc_tc_test", GEMM_8X8)


def vadd8(name="tc_vadd8"):
    """z[0:8] = x + y through the C function tz_vadd8(z, x, y)."""
    x = oc.placeholder((8,), name="x")
    y = oc.placeholder((8,), name="y")
    z = oc.compute((8,), lambda i: x[i] + y[i], name="z")
    return oc.decl_tensor_intrin(z.op, lambda ins, outs: oc.call_extern(
        "int32", "tz_vadd8", outs[0].access_ptr("w"), ins[0].access_ptr("r"),
        ins[1].access_ptr("r")), name=name)


def build_run(s, args, *arrays):
    oc.build(s, args)(*arrays)


def test_vadd_c_function(vadd_lib):
    vadd = vadd8()
    A = oc.placeholder((12, 8), name="A")
    B = oc.placeholder((12, 8), name="B")
    C = oc.compute((12, 8), lambda i: vadd(A[i, 0:8], B[i, 0:8]), name="C")
    assert isinstance(C.op, oc.TensorComputeOp) and len(C.op.axis) == 2
    s = oc.create_schedule(C)
    assert [iv.name for iv in s[C].leaf_iter_vars] == ["i"]
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    s[C].reorder(xi, xo)
    a, b = RNG.standard_normal((2, 12, 8)).astype("float32")
    c = np.zeros((12, 8), "float32")
    build_run(s, [A, B, C], a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) + b, rtol=1e-6)


def test_producer_computed_at_the_op(vadd_lib):
    """A producer computed at the op's row loop: one row of it per call (bounds
    from the regions the call reads)."""
    vadd = vadd8("tc_vadd8_at")
    A = oc.placeholder((10, 8), name="A")
    B = oc.placeholder((10, 8), name="B")
    Bi = oc.compute((10, 8), lambda i, j: B[i, j] + 5.0, name="Bi")
    C = oc.compute((10, 8), lambda i: vadd(A[i, 0:8], Bi[i, 0:8]), name="C")
    s = oc.create_schedule(C)
    s[Bi].compute_at(s[C], C.op.axis[0])
    assert oc.infer_bound(s)[Bi.op.axis[0]].extent.value == 1
    a, b = RNG.standard_normal((2, 10, 8)).astype("float32")
    c = np.zeros((10, 8), "float32")
    build_run(s, [A, B, C], a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) + b + 5.0, rtol=1e-6)


def gemv_intrin(f, name):
    """z[f] = sum_k w[f, k] * x[k] as ir_builder programs: body, reset, update.
    w's rows are strided (ldw), so the intrinsic reads a block of a wider matrix."""
    w = oc.placeholder((f, f), name="w")
    x = oc.placeholder((f,), name="x")
    k = oc.reduce_axis(f, "k")
    z = oc.compute((f,), lambda i: oc.sum(w[i, k] * x[k], axis=k), name="z")
    wb = oc.decl_buffer(w.shape, w.dtype, "W", offset_factor=1, strides=[oc.var("ldw"), 1])

    def program(ins, outs, init, accumulate):
        ib = oc.ir_builder.create()
        ww, xx = ins if ins else (None, None)
        pz = ib.buffer_ptr(outs[0])
        zo = outs[0].elem_offset
        with ib.for_range(0, f, name="r") as r:
            if init:
                pz[zo + r] = oc.const(0.0, "float32")
            if accumulate:
                pw, px = ib.buffer_ptr(ww), ib.buffer_ptr(xx)
                with ib.for_range(0, f, name="c") as c:
                    pz[zo + r] = pz[zo + r] + pw[ww.elem_offset + r * ww.strides[0] + c] * \
                        px[xx.elem_offset + c]
        return ib.get()

    def fintrin(ins, outs):
        return (program(ins, outs, True, True), program((), outs, True, False),
                program(ins, outs, False, True))
    return oc.decl_tensor_intrin(z.op, fintrin, name=name, binds={w: wb})


def test_reduction_reset_update_ir_builder():
    f, R, K = 4, 6, 12
    gemv = gemv_intrin(f, "tc_gemv4")
    W = oc.placeholder((R, f, K), name="W")
    X = oc.placeholder((K,), name="X")
    ko = oc.reduce_axis(K // f, "ko")
    C = oc.compute((R, f), lambda i: gemv(W[i, 0:f, ko * f:ko * f + f], X[ko * f:ko * f + f],
                                          reduce_axis=ko), name="C")
    s = oc.create_schedule(C)
    assert [iv.name for iv in s[C].leaf_iter_vars] == ["i", "ko"]
    w = RNG.standard_normal((R, f, K)).astype("float32")
    x = RNG.standard_normal(K).astype("float32")
    c = np.full((R, f), np.nan, "float32")
    build_run(s, [W, X, C], w, x, c)
    np.testing.assert_allclose(c, w.astype(np.float64) @ x, rtol=1e-5, atol=1e-5)


def test_scalar_params_and_symbolic_intrinsic():
    """scalar_params bound to the call's scalars; the intrinsic's shape var n takes
    the region's extent."""
    n = oc.var("n")
    v, w = oc.var("v"), oc.var("w")
    x = oc.placeholder((n,), "int32", name="x")
    z = oc.compute((n,), lambda i: x[i] * v + w, name="z")

    def fintrin(ins, outs, sp):
        assert sp == [v, w]
        ib = oc.ir_builder.create()
        px, pz = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, ins[0].shape[0], name="t") as t:
            pz[outs[0].elem_offset + t] = px[ins[0].elem_offset + t] * sp[0] + sp[1]
        return ib.get()
    axpb = oc.decl_tensor_intrin(z.op, fintrin, name="tc_axpb", scalar_params=[v, w])
    assert tuple(axpb.scalar_params) == (v, w) and axpb.reduce_init is None
    A = oc.placeholder((5, 6), "int32", name="A")
    C = oc.compute((5, 6), lambda i: axpb(A[i, 0:6], i * i, i + 3), name="C")
    s = oc.create_schedule(C)
    a = RNG.integers(-50, 50, (5, 6)).astype("int32")
    c = np.zeros((5, 6), "int32")
    build_run(s, [A, C], a, c)
    i = np.arange(5)[:, None]
    np.testing.assert_array_equal(c, a * i * i + i + 3)


def test_full_index_arguments_are_one_element_regions():
    x = oc.placeholder((1,), name="x")
    z = oc.compute((1,), lambda i: x[i] * 2.0, name="z")

    def fintrin(ins, outs):
        ib = oc.ir_builder.create()
        px, pz = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        pz[outs[0].elem_offset] = px[ins[0].elem_offset] * 2.0
        return ib.get()
    dbl = oc.decl_tensor_intrin(z.op, fintrin, name="tc_double1")
    A = oc.placeholder((3, 5), name="A")
    C = oc.compute((3, 5), lambda i, j: dbl(A[i, j]), name="C")
    s = oc.create_schedule(C)
    a = RNG.standard_normal((3, 5)).astype("float32")
    c = np.zeros((3, 5), "float32")
    build_run(s, [A, C], a, c)
    np.testing.assert_allclose(c, a.astype(np.float64) * 2.0, rtol=1e-6)


def test_bound_of_a_producer_follows_regions():
    """Bound inference of a producer attached at the op: the union of the regions
    (first and last element of each) read within one iteration."""
    f = 4
    x = oc.placeholder((2, f), name="x")
    z = oc.compute((f,), lambda j: x[0, j] + x[1, j], name="z")
    intr = oc.decl_tensor_intrin(z.op, lambda ins, outs: oc.call_extern(
        "int32", "unused_fn", outs[0].access_ptr("w"), ins[0].access_ptr("r")), name="tc_rows2")
    A = oc.placeholder((9, f), name="A")
    B = oc.compute((9, f), lambda i, j: A[i, j] * 2.0, name="B")
    C = oc.compute((8, f), lambda i: intr(B[i:i + 2, 0:f]), name="C")
    s = oc.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    bounds = oc.infer_bound(s)
    assert bounds[B.op.axis[0]].extent.value == 2
    assert bounds[B.op.axis[1]].extent.value == f


def test_cache_read_and_cache_write(vadd_lib):
    """The intrinsic reads local copies of A and B and writes a local C, copied out."""
    vadd = vadd8("tc_vadd8_cached")
    A = oc.placeholder((6, 8), name="A")
    B = oc.placeholder((6, 8), name="B")
    C = oc.compute((6, 8), lambda i: vadd(A[i, 0:8], B[i, 0:8]), name="C")
    s = oc.create_schedule(C)
    AL = s.cache_read(A, "local", C)
    s.cache_read(B, "local", C)
    CL = s.cache_write(C, "local")
    assert isinstance(CL.op, oc.TensorComputeOp) and AL in CL.op.input_tensors
    assert [iv.name for iv in s[C].leaf_iter_vars] == ["i", "ax0"]   # C is now a plain copy
    a, b = RNG.standard_normal((2, 6, 8)).astype("float32")
    c = np.zeros((6, 8), "float32")
    build_run(s, [A, B, C], a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) + b, rtol=1e-6)


def test_op_computed_at_its_consumer_parallel():
    """The tensor compute stage at its consumer's (parallel) row loop: one call per
    row into a row-sized buffer; the ir_builder intrinsic's accesses index the
    real buffers directly (no leftover casts)."""
    x = oc.placeholder((8,), name="x")
    y = oc.placeholder((8,), name="y")
    z = oc.compute((8,), lambda i: x[i] * y[i], name="z")

    def fintrin(ins, outs):
        ib = oc.ir_builder.create()
        px, py, pz = (ib.buffer_ptr(b) for b in (ins[0], ins[1], outs[0]))
        with ib.for_range(0, 8, name="v") as v:
            pz[outs[0].elem_offset + v] = px[ins[0].elem_offset + v] * \
                py[ins[1].elem_offset + v]
        return ib.get()
    vmul = oc.decl_tensor_intrin(z.op, fintrin, name="tc_vmul8_at")
    A = oc.placeholder((6, 8), name="A")
    B = oc.placeholder((6, 8), name="B")
    C = oc.compute((6, 8), lambda i: vmul(A[i, 0:8], B[i, 0:8]), name="C")
    D = oc.compute((6, 8), lambda i, j: C[i, j] + 1.0, name="D")
    s = oc.create_schedule(D)
    s[C].compute_at(s[D], D.op.axis[0])
    s[D].parallel(D.op.axis[0])
    text = str(oc.lower(s, [A, B, D]))
    assert "C = alloc global float32[8]" in text and "A[i * 8 + v]" in text
    a, b = RNG.standard_normal((2, 6, 8)).astype("float32")
    d = np.zeros((6, 8), "float32")
    build_run(s, [A, B, D], a, b, d)
    np.testing.assert_allclose(d, a.astype(np.float64) * b + 1.0, rtol=1e-6)


def test_call_packed_in_an_ir_builder_intrinsic():
    """The intrinsic's ir_builder body emits call_packed: a Python function gets the
    region of each call as NumPy views."""
    calls = []

    @oc.register_func("tc_py_triple", override=True)
    def triple(x, z):
        calls.append(x.shape)
        z[:] = x * 3.0
    x = oc.placeholder((4,), name="x")
    z = oc.compute((4,), lambda i: x[i] * 3.0, name="z")

    def fintrin(ins, outs):
        ib = oc.ir_builder.create()
        ib.emit(oc.call_packed("tc_py_triple", ins[0], outs[0]))
        return ib.get()
    intr = oc.decl_tensor_intrin(z.op, fintrin, name="tc_triple4")
    A = oc.placeholder((5, 4), name="A")
    C = oc.compute((5, 4), lambda i: intr(A[i, 0:4]), name="C")
    s = oc.create_schedule(C)
    a = RNG.standard_normal((5, 4)).astype("float32")
    c = np.zeros((5, 4), "float32")
    build_run(s, [A, C], a, c)
    assert calls == [(4,)] * 5
    np.testing.assert_allclose(c, a.astype(np.float64) * 3.0, rtol=1e-6)


def test_trace_replays_onto_a_fresh_schedule(vadd_lib):
    """split / cache_read / cache_write of a tensor compute stage serialize and
    replay like any primitive; the replayed schedule computes the same."""
    vadd = vadd8("tc_vadd8_trace")

    def graph():
        A = oc.placeholder((8, 8), name="A")
        B = oc.placeholder((8, 8), name="B")
        return A, B, oc.compute((8, 8), lambda i: vadd(A[i, 0:8], B[i, 0:8]), name="C")
    A, B, C = graph()
    s = oc.create_schedule(C)
    s.cache_read(A, "local", C)
    CL = s.cache_write(C, "local")
    s[CL].split(CL.op.axis[0], factor=2)
    text = s.trace.to_json()
    A2, B2, C2 = graph()
    s2 = oc.create_schedule(C2)
    oc.Trace.from_json(text).apply(s2)
    assert s2.trace.to_json() == text
    a, b = RNG.standard_normal((2, 8, 8)).astype("float32")
    c = np.zeros((8, 8), "float32")
    build_run(s2, [A2, B2, C2], a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) + b, rtol=1e-6)
