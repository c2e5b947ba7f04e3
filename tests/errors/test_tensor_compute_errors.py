"""One test per misuse of oc.ir_builder and of tensor compute ops (an intrinsic
called inside oc.compute on tensor slices)."""
from __future__ import annotations

import re

import pytest

import opcomp as oc
from opcomp import ScheduleError, TensorError


def vadd(n=8, name="err_vadd", with_body=True, reset=False):
    x = oc.placeholder((n,), name="x")
    y = oc.placeholder((n,), name="y")
    z = oc.compute((n,), lambda i: x[i] + y[i], name="z")

    def fintrin(ins, outs):
        call = oc.call_extern("int32", "err_vadd_fn", outs[0].access_ptr("w"),
                              ins[0].access_ptr("r"), ins[1].access_ptr("r"))
        if reset:
            clear = oc.call_extern("int32", "err_vadd_clear", outs[0].access_ptr("w"))
            return (call if with_body else None), clear, call
        return call
    return oc.decl_tensor_intrin(z.op, fintrin, name=name)


def ab(rows=4, n=8):
    return oc.placeholder((rows, n), name="A"), oc.placeholder((rows, n), name="B")


# -- ir_builder ---------------------------------------------------------------

def test_ib_index_rank():
    ib = oc.ir_builder.create()
    p = ib.allocate("float32", (4, 4), name="p")
    with pytest.raises(TensorError, match="has 2 dimensions but was indexed with 3 indices"):
        p[0, 1, 2]


def test_ib_constant_index_out_of_range():
    ib = oc.ir_builder.create()
    p = ib.allocate("float32", (4,), name="p")
    with pytest.raises(TensorError, match="index 4 is out of range for buffer p of 4 elements"):
        p[4] = 1.0


def test_ib_float_index():
    ib = oc.ir_builder.create()
    p = ib.allocate("float32", (4,), name="p")
    with pytest.raises(TensorError, match="must be a scalar integer expression"):
        p[1.5]


def test_ib_store_wrong_dtype():
    ib = oc.ir_builder.create()
    p = ib.allocate("float32", (4,), name="p")
    with pytest.raises(TensorError, match=re.escape(
            "ir_builder: storing a int32 value into buffer p of float32; convert it first "
            "(value.astype")):
        p[0] = oc.var("n")


def test_ib_emit_not_a_statement():
    ib = oc.ir_builder.create()
    with pytest.raises(TensorError, match=re.escape("ir_builder: emit takes a statement or a call "
                                                    "(oc.call_extern / oc.call_packed), got")):
        ib.emit(oc.const(1.0))


def test_ib_get_inside_scope():
    ib = oc.ir_builder.create()
    with ib.for_range(0, 4):
        with pytest.raises(TensorError, match=re.escape(
                "ir_builder: get() called inside a with-scope; call it after the last scope "
                "is closed")):
            ib.get()


def test_ib_unknown_loop_kind():
    ib = oc.ir_builder.create()
    with pytest.raises(TensorError, match="ir_builder: for_range kind 'fast' is unknown; use one of"):
        ib.for_range(0, 4, kind="fast")


def test_ib_if_scope_not_bool():
    ib = oc.ir_builder.create()
    with pytest.raises(TensorError, match="ir_builder: if_scope needs a bool condition, got"):
        ib.if_scope(oc.var("n"))


def test_ib_else_without_if():
    ib = oc.ir_builder.create()
    with pytest.raises(TensorError, match="ir_builder: else_scope must follow an if_scope directly"):
        ib.else_scope()


def test_ib_thread_extent_attr():
    ib = oc.ir_builder.create()
    with pytest.raises(TensorError, match=re.escape(
            "launches GPU threads; an ir_builder body runs on the CPU (bind threads with "
            "s[T].bind in a schedule instead)")):
        ib.scope_attr(oc.thread_axis("threadIdx.x"), "thread_extent", 32)


def test_ib_allocate_unknown_scope():
    ib = oc.ir_builder.create()
    with pytest.raises(TensorError, match="unknown scope 'texture'; use 'global', 'local' "
                                          "or 'shared'"):
        ib.allocate("float32", (4,), name="t", scope="texture")


def test_ib_buffer_ptr_of_a_tensor():
    ib = oc.ir_builder.create()
    with pytest.raises(TensorError, match=re.escape(
            "ir_builder: buffer_ptr takes a declared buffer (ins[k], outs[k], oc.decl_buffer(...)), got")):
        ib.buffer_ptr(oc.placeholder((4,), name="A"))


def test_ib_extern_uses_foreign_pointer():
    A = oc.placeholder((4,), name="A")

    def body(ins, outs):
        ib = oc.ir_builder.create()
        ptr = ib.pointer("float32", name="elsewhere")
        ib.buffer_ptr(outs[0])[0] = ptr[0]
        return ib.get()
    with pytest.raises(TensorError, match="the call uses buffer elsewhere, which is not one of"):
        oc.extern((4,), [A], body, name="B")


# -- tensor compute ops ---------------------------------------------------------

def test_slice_with_step():
    A, _ = ab()
    with pytest.raises(TensorError, match=re.escape("has a step; a tensor intrinsic reads "
                                                    "contiguous regions (lo:hi)")):
        A[0, 0:8:2]


def test_intrinsic_argument_not_slice_or_scalar():
    A, _ = ab()
    with pytest.raises(TensorError, match=re.escape(
            "is neither a tensor slice (A[i, 0:16]) nor a scalar expression")):
        oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], A))


def test_intrinsic_scalar_reads_tensor():
    A, B = ab()
    with pytest.raises(TensorError, match="reads a tensor; pass the tensor as a slice argument "
                                          "instead"):
        oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B[i, 0:8], A[i, 0] * 2.0))


def test_intrinsic_reduce_axis_not_reduce():
    A, B = ab()
    with pytest.raises(TensorError, match=re.escape("reduce_axis= takes reduce axes "
                                                    "(oc.reduce_axis), got")):
        oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B[i, 0:8], reduce_axis=i))


def test_intrinsic_reduce_without_update():
    A, B = ab()
    k = oc.reduce_axis(2, "k")
    with pytest.raises(TensorError, match=re.escape(
            "a call with reduce_axis= needs the intrinsic's reset and update (fintrin returns "
            "(body, reset, update))")):
        oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B[i, 0:8], reduce_axis=k))


def test_intrinsic_wrong_tensor_count():
    A, _ = ab()
    with pytest.raises(TensorError, match="called with 1 tensor arguments, but it has 2 inputs"):
        oc.compute((4, 8), lambda i: vadd()(A[i, 0:8]))


def test_intrinsic_wrong_scalar_count():
    A, B = ab()
    with pytest.raises(TensorError, match="called with 1 scalar arguments, but it declares 0 "
                                          "scalar_params"):
        oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B[i, 0:8], i))


def test_intrinsic_dtype_mismatch():
    A = oc.placeholder((4, 8), "int32", name="A")
    _, B = ab()
    with pytest.raises(TensorError, match="is int32, but the intrinsic's input x is float32"):
        oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B[i, 0:8]))


def test_intrinsic_region_does_not_fit():
    A, B = ab(n=16)
    with pytest.raises(TensorError, match="which do not fit its buffer x of shape"):
        oc.compute((4, 16), lambda i: vadd()(A[i, 0:16], B[i, 0:16]))


def test_intrinsic_without_body_called_plainly():
    A, B = ab()
    with pytest.raises(TensorError, match=re.escape(
            "has no body (only reset and update); call it with reduce_axis=")):
        oc.compute((4, 8), lambda i: vadd(name="err_vadd_nobody", with_body=False,
                                          reset=True)(A[i, 0:8], B[i, 0:8]))


def test_fewer_args_without_intrinsic():
    A, _ = ab()
    with pytest.raises(TensorError, match="shape has 2 dimensions but fcompute takes 1 "
                                          "arguments"):
        oc.compute((4, 8), lambda i: A[i, 0])


def test_schedule_intrinsic_axis():
    A, B = ab()
    C = oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B[i, 0:8]), name="C")
    s = oc.create_schedule(C)
    with pytest.raises(ScheduleError, match="axis is computed inside intrinsic err_vadd's "
                                            "call; schedule the axes fcompute takes"):
        s[C].split(C.op.axis[1], factor=2)


def test_inline_into_tensor_compute():
    A, B = ab()
    B2 = oc.compute((4, 8), lambda i, j: B[i, j] * 2.0, name="B2")
    C = oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B2[i, 0:8]), name="C")
    s = oc.create_schedule(C)
    s[B2].compute_inline()
    with pytest.raises(ScheduleError, match="reads it as a buffer, so it cannot be inlined "
                                            "there"):
        oc.lower(s, [A, B, C])


def test_tensor_compute_on_gpu_target():
    A, B = ab()
    C = oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B[i, 0:8]), name="C")
    s = oc.create_schedule(C)
    with pytest.raises(ScheduleError, match="is a CPU call, but the target is"):
        oc.lower(s, [A, B, C], target="cuda")


def test_tensor_compute_partly_kept():
    A, B = ab()
    C = oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B[i, 0:8]), name="C")
    D = oc.compute((4, 8), lambda i, j: C[i, j] + 1.0, name="D")
    s = oc.create_schedule(D)
    s[C].compute_at(s[D], D.op.axis[1])
    with pytest.raises(ScheduleError, match="of it is kept where the stage is computed; "
                                            "compute it at an outer loop"):
        oc.lower(s, [A, B, D])


def test_cache_write_after_split():
    A, B = ab()
    C = oc.compute((4, 8), lambda i: vadd()(A[i, 0:8], B[i, 0:8]), name="C")
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[0], factor=2)
    with pytest.raises(ScheduleError, match="cache_write of a tensor compute stage must come "
                                            "before other primitives on it"):
        s.cache_write(C, "local")


def test_slice_used_as_a_value():
    A, _ = ab()
    with pytest.raises(TensorError, match=re.escape(
            "tensor slice A[0, 0:4] is a region, an argument of a tensor intrinsic; index it "
            "with integers to read one element")):
        oc.compute((4,), lambda i: A[0, 0:4] + 1.0)


def test_vload_wrong_rank():
    b = oc.decl_buffer((4, 4), "float32", "b")
    with pytest.raises(TensorError, match=re.escape("buffer b: vload takes one index per "
                                                    "dimension (2), got 1")):
        b.vload([0])


def test_vload_other_dtype():
    b = oc.decl_buffer((4, 4), "float32", "b")
    with pytest.raises(TensorError, match=re.escape(
            "a load has the buffer's dtype (convert the value with .astype)")):
        b.vload([0, 0], "float64")


def test_vstore_wrong_dtype():
    b = oc.decl_buffer((4, 4), "float32", "b")
    with pytest.raises(TensorError, match="vstore of a int32 value into a buffer of float32"):
        b.vstore([0, 0], oc.var("n"))
