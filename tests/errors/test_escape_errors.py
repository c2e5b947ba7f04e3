"""One test per misuse of extern stages, scans, tensor intrinsics and tensorize."""
from __future__ import annotations

import re

import pytest

import opcomp as oc
from opcomp import ScheduleError, TensorError, Trace

from ..opcomp.c_kernels import EXTERN_FUNCS, GEMM_8X8, compile_library


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("escape_errors")
    compile_library(folder, "oc_escape_err_ext", EXTERN_FUNCS)
    compile_library(folder, "oc_escape_err_gemm", GEMM_8X8)


def scale(src, name="B", fn="ex_scale"):
    return oc.extern(src.shape, [src], lambda ins, outs: oc.call_extern(
        "int32", fn, ins[0].data, outs[0].data, src.shape[0], oc.const(2.0, "float32")),
        name=name)


def pipeline(n=16):
    A = oc.placeholder((n,), name="A")
    A2 = oc.compute((n,), lambda i: A[i] * 3.0, name="A2")
    B = scale(A2)
    C = oc.compute((n,), lambda i: B[i] + 1.0, name="C")
    return A, A2, B, C


# -- declared buffers and calls ------------------------------------------------------
def test_access_ptr_mask_not_a_string():
    b = oc.decl_buffer((4,), "float32", "b")
    with pytest.raises(TensorError, match="access_ptr's mask must be a string like 'r', 'w' "
                                          "or 'rw', got"):
        b.access_ptr(3.5)


def test_decl_buffer_strides_wrong_length():
    with pytest.raises(TensorError, match="strides must have one entry per dimension"):
        oc.decl_buffer((4, 5), "float32", "b", strides=[1])


def test_call_extern_name_not_an_identifier():
    with pytest.raises(TensorError, match="call_extern: the function name must be a C "
                                          "identifier, got"):
        oc.call_extern("int32", "my-func", 1)


def test_call_extern_tensor_argument():
    A = oc.placeholder((4,), name="A")
    with pytest.raises(TensorError, match=re.escape(
            "passed as an argument; pass a buffer's pointer (ins[k].data, "
            "outs[k].access_ptr('w'))")):
        oc.call_extern("int32", "f", A)


def test_call_extern_argument_of_no_c_type():
    with pytest.raises(TensorError, match=re.escape(
            "to a C function (expected a number, an expression or a buffer pointer)")):
        oc.call_extern("int32", "f", "text")


# -- extern stages -------------------------------------------------------------------
def test_extern_on_a_gpu_target():
    A, A2, B, C = pipeline()
    with pytest.raises(ScheduleError, match=re.escape(
            "calls to C functions need a CPU target (llvm), but the target is")):
        oc.lower(oc.create_schedule(C), [A, C], target="cuda")


def test_extern_several_outputs_dtype_count_differs():
    # several output shapes make several outputs (TVM); their dtype list must match
    A = oc.placeholder((4,), name="A")
    with pytest.raises(TensorError, match=re.escape(
            "extern E: 3 dtypes given for 2 output shapes; give one per output (or one for all)")):
        oc.extern([(4,), (4,)], [A], lambda ins, outs: oc.call_extern("int32", "f"), name="E",
                  dtype=["float32", "float32", "int32"])


def test_extern_input_not_a_tensor():
    with pytest.raises(TensorError, match="inputs must be tensors, got"):
        oc.extern((4,), [3], lambda ins, outs: oc.call_extern("int32", "f"), name="E")


def test_extern_in_buffers_count():
    A = oc.placeholder((4,), name="A")
    bufs = [oc.decl_buffer((4,), "float32", "x"), oc.decl_buffer((4,), "float32", "y")]
    with pytest.raises(TensorError, match="in_buffers has 2 buffers for 1 tensors"):
        oc.extern((4,), [A], lambda ins, outs: oc.call_extern("int32", "f"), in_buffers=bufs)


def test_extern_in_buffer_of_another_dtype():
    A = oc.placeholder((4,), name="A")
    with pytest.raises(TensorError, match="does not fit tensor A"):
        oc.extern((4,), [A], lambda ins, outs: oc.call_extern("int32", "f"),
                  in_buffers=[oc.decl_buffer((4,), "int32", "x")])


def test_extern_fcompute_returns_no_call():
    A = oc.placeholder((4,), name="A")
    with pytest.raises(TensorError, match=re.escape(
            "fcompute must return a call (oc.call_extern(...)), a list of calls or a statement "
            "(oc.ir_builder's ib.get()), got")):
        oc.extern((4,), [A], lambda ins, outs: A[0] + 1.0)


def test_extern_fcompute_returns_an_empty_list():
    A = oc.placeholder((4,), name="A")
    with pytest.raises(TensorError, match="fcompute returned no call"):
        oc.extern((4,), [A], lambda ins, outs: [])


def test_extern_call_uses_a_foreign_buffer():
    A = oc.placeholder((4,), name="A")
    other = oc.decl_buffer((4,), "float32", "other")
    with pytest.raises(TensorError, match=re.escape(
            "which is not one of the buffers it may use here (the inputs and the output; a "
            "reset only the output)")):
        oc.extern((4,), [A], lambda ins, outs: oc.call_extern("int32", "f", other.data))


def test_intrinsic_reset_reads_an_input():
    a = oc.placeholder((8,), name="a")
    k = oc.reduce_axis(8, "k")
    c = oc.compute((1,), lambda i: oc.sum(a[k], axis=k), name="c")
    with pytest.raises(TensorError, match=re.escape("intrinsic err_reset (reset): the call "
                                                    "uses buffer a")):
        oc.decl_tensor_intrin(c.op, lambda ins, outs: (
            None, oc.call_extern("int32", "f", ins[0].data),
            oc.call_extern("int32", "g", outs[0].data)), name="err_reset")


def test_extern_declared_strides_do_not_match():
    A = oc.placeholder((4, 5), name="A")
    B = oc.extern((4, 5), [A], lambda ins, outs: oc.call_extern(
        "int32", "f", ins[0].data, outs[0].data),
        in_buffers=[oc.decl_buffer((4, 5), "float32", "a", strides=[3, 1])], name="B")
    with pytest.raises(ScheduleError, match=re.escape(
            "has stride 5 there; declare its strides with oc.var(...) to accept any")):
        oc.lower(oc.create_schedule(B), [A, B])


def test_split_an_extern_stage():
    A, A2, B, C = pipeline()
    s = oc.create_schedule(C)
    with pytest.raises(ScheduleError, match=re.escape(
            "an extern stage is opaque code (a call to a C function); it has no loops to split")):
        s[B].split(s[B].op.axis[0], factor=4)


def test_tile_an_extern_stage():
    A = oc.placeholder((8, 8), name="A")
    B = oc.extern((8, 8), [A], lambda ins, outs: oc.call_extern(
        "int32", "f", ins[0].data, outs[0].data), name="B")
    s = oc.create_schedule(B)
    with pytest.raises(ScheduleError, match="extern stage is opaque code"):
        s[B].tile(B.op.axis[0], B.op.axis[1], 4, 4)


def test_compute_inline_an_extern_stage():
    A, A2, B, C = pipeline()
    s = oc.create_schedule(C)
    with pytest.raises(ScheduleError, match="compute_inline: stage B.*extern stage is opaque"):
        s[B].compute_inline()


def test_inline_a_producer_of_an_extern_stage():
    A, A2, B, C = pipeline()
    s = oc.create_schedule(C)
    with pytest.raises(ScheduleError, match=re.escape(
            "reads A2 as a whole buffer (opaque code); it cannot be inlined there")):
        s[A2].compute_inline()


def test_compute_at_into_an_extern_stage():
    A, A2, B, C = pipeline()
    s = oc.create_schedule(C)
    with pytest.raises(ScheduleError, match="compute_at: stage B.*opaque code"):
        s[A2].compute_at(s[B], s[B].op.axis[0])


def test_cache_read_for_an_extern_reader():
    A, A2, B, C = pipeline()
    s = oc.create_schedule(C)
    with pytest.raises(ScheduleError, match="whose reads cannot be redirected"):
        s.cache_read(A2, "local", [B])


def test_cache_write_of_an_extern_stage():
    A, A2, B, C = pipeline()
    s = oc.create_schedule(C)
    with pytest.raises(ScheduleError, match="an extern, scan or scan update stage writes its "
                                            "buffer in place"):
        s.cache_write(B, "local")


def test_extern_symbol_no_library_defines(libs):
    A = oc.placeholder((8,), name="A")
    B = scale(A, fn="oc_escape_err_nowhere")
    with pytest.raises(RuntimeError, match="no loaded library defines it; load its shared "
                                           "library first"):
        oc.build(oc.create_schedule(B), [A, B])


def test_load_library_missing_file(tmp_path):
    with pytest.raises(oc.OpcompError, match="no such shared library"):
        oc.load_library(tmp_path / "libnothing.so")


# -- scans ---------------------------------------------------------------------------
def scan_parts(m=8, n=6):
    X = oc.placeholder((m, n), name="X")
    S = oc.placeholder((m, n), name="S")
    init = oc.compute((1, n), lambda _, i: X[0, i], name="init")
    update = oc.compute((m, n), lambda t, i: S[t - 1, i] + X[t, i], name="update")
    return X, S, init, update


def test_scan_state_and_output_both_passed_as_arguments():
    X, S, init, update = scan_parts()
    C = oc.scan(init, update, S)
    with pytest.raises(ScheduleError, match="stored in the scan's output, which is an argument "
                                            "too; give one of them"):
        oc.lower(oc.create_schedule(C), [X, S, C])


def test_scan_state_read_at_root_by_a_stage_no_update_reads():
    X, S, init, update = scan_parts()
    C = oc.scan(init, update, S)
    peek = oc.compute((8, 6), lambda t, i: S[t, i] * 0.5, name="peek")
    with pytest.raises(ScheduleError, match="but is computed at root, outside the scan's loop, "
                                            "and no update of the scan reads it; compute_inline "
                                            "it or compute_at it into the update stage"):
        oc.lower(oc.create_schedule([C, peek]), [X, C, peek])


def test_scan_list_lengths_differ():
    X, S, init, update = scan_parts()
    with pytest.raises(TensorError, match="init, update and state_placeholder must have the "
                                          "same number of tensors, got"):
        oc.scan([init, init], [update], [S])


def test_scan_init_not_a_tensor():
    X, S, init, update = scan_parts()
    with pytest.raises(TensorError, match="init must be a tensor, got"):
        oc.scan(3, update, S)


def test_scan_state_not_a_placeholder():
    X, S, init, update = scan_parts()
    with pytest.raises(TensorError, match=re.escape(
            "must be an oc.placeholder (the scan gives it its values)")):
        oc.scan(init, update, update)


def test_scan_update_not_a_compute():
    X, S, init, update = scan_parts()
    with pytest.raises(TensorError, match="update X must be an oc.compute"):
        oc.scan(init, X, S)


def test_scan_ranks_differ():
    X, S, init, update = scan_parts()
    flat = oc.compute((1,), lambda i: X[0, i], name="flat")
    with pytest.raises(TensorError, match=re.escape("must have the same rank (>= 1, time "
                                                    "first)")):
        oc.scan(flat, update, S)


def test_scan_shapes_differ():
    X, S, init, update = scan_parts()
    wide = oc.compute((1, 7), lambda _, i: X[0, 0], name="wide")
    with pytest.raises(TensorError, match="shapes differ in dimension 1"):
        oc.scan(wide, update, S)


def test_scan_dtypes_differ():
    X, S, init, update = scan_parts()
    as_int = oc.compute((1, 6), lambda _, i: X[0, i].astype("int32"), name="as_int")
    with pytest.raises(TensorError, match="dtypes differ: init int32"):
        oc.scan(as_int, update, S)


def test_scan_inits_cover_different_steps():
    X, S, init, update = scan_parts()
    S2 = oc.placeholder((8, 6), name="S2")
    init2 = oc.compute((2, 6), lambda t, i: X[t, i], name="init2")
    update2 = oc.compute((8, 6), lambda t, i: S2[t - 1, i], name="update2")
    with pytest.raises(TensorError, match="every init must cover the same number of steps"):
        oc.scan([init, init2], [update, update2], [S, S2])


def test_split_the_scan_stage():
    X, S, init, update = scan_parts()
    C = oc.scan(init, update, S, name="C")
    s = oc.create_schedule(C)
    with pytest.raises(ScheduleError, match="a scan stage is the sequential loop over time; it "
                                            "has no loops to schedule"):
        s[C].split(s[C].op.axis[1], factor=2)


def test_split_the_time_axis_of_a_scan_update():
    X, S, init, update = scan_parts()
    s = oc.create_schedule(oc.scan(init, update, S))
    with pytest.raises(ScheduleError, match="the time axis of a scan update is the scan's own "
                                            "sequential loop"):
        s[update].split(update.op.axis[0], factor=2)


def test_compute_root_a_scan_update():
    X, S, init, update = scan_parts()
    s = oc.create_schedule(oc.scan(init, update, S))
    with pytest.raises(ScheduleError, match="a scan's update stage runs inside the scan's time "
                                            "loop; it cannot be moved"):
        s[update].compute_root()


# -- tensor intrinsics ---------------------------------------------------------------
def vadd(name="err_vadd8", op=None, fn="tz_vadd8"):
    a = oc.placeholder((8,), name="va")
    b = oc.placeholder((8,), name="vb")
    c = oc.compute((8,), lambda i: a[i] + b[i], name="vc")
    return oc.decl_tensor_intrin(op or c.op, lambda ins, outs: oc.call_extern(
        "int32", fn, outs[0].access_ptr("w"), ins[0].access_ptr("r"), ins[1].access_ptr("r")),
        name=name)


def gemm_body_only(kc=32):
    a = oc.placeholder((8, kc), name="a")
    b = oc.placeholder((kc, 8), name="b")
    k = oc.reduce_axis(kc, "k")
    c = oc.compute((8, 8), lambda i, j: oc.sum(a[i, k] * b[k, j], axis=k), name="c")
    return oc.decl_tensor_intrin(c.op, lambda ins, outs: oc.call_extern(
        "int32", "tz_gemm8x8_reset", outs[0].access_ptr("w"), outs[0].strides[0]),
        name="err_gemm_body_only")


def add2d(m=4, n=32):
    X = oc.placeholder((m, n), name="X")
    Y = oc.placeholder((m, n), name="Y")
    Z = oc.compute((m, n), lambda i, j: X[i, j] + Y[i, j], name="Z")
    return X, Y, Z, oc.create_schedule(Z)


def test_intrinsic_of_a_placeholder():
    A = oc.placeholder((8,), name="A")
    with pytest.raises(TensorError, match=re.escape(
            "decl_tensor_intrin: op must be a compute (oc.compute(...).op), got")):
        oc.decl_tensor_intrin(A.op, lambda ins, outs: oc.call_extern("int32", "f"))


def test_intrinsic_scalar_params_not_vars():
    a = oc.placeholder((8,), name="a")
    c = oc.compute((8,), lambda i: a[i] * 2.0, name="c")
    with pytest.raises(TensorError, match=re.escape("scalar_params must be vars (oc.var(...)), "
                                                    "got")):
        oc.decl_tensor_intrin(c.op, lambda ins, outs, sp: oc.call_extern("int32", "f"),
                              scalar_params=[2.0])


def test_intrinsic_scalar_params_repeated():
    a = oc.placeholder((8,), name="a")
    x = oc.var("x")
    c = oc.compute((8,), lambda i: a[i] * x, name="c")
    with pytest.raises(TensorError, match="scalar_params lists a var twice"):
        oc.decl_tensor_intrin(c.op, lambda ins, outs, sp: oc.call_extern("int32", "f"),
                              scalar_params=[x, x])


def test_intrinsic_input_not_a_placeholder():
    a = oc.placeholder((8,), name="a")
    a2 = oc.compute((8,), lambda i: a[i] + 1.0, name="a2")
    c = oc.compute((8,), lambda i: a2[i] * 2.0, name="c")
    with pytest.raises(TensorError, match=re.escape(
            "must be a placeholder (an intrinsic reads its operands directly)")):
        oc.decl_tensor_intrin(c.op, lambda ins, outs: oc.call_extern("int32", "f"))


def test_intrinsic_bind_of_another_dtype():
    a = oc.placeholder((8,), name="a")
    c = oc.compute((8,), lambda i: a[i] * 2.0, name="c")
    with pytest.raises(TensorError, match="must be an oc.decl_buffer of dtype float32"):
        oc.decl_tensor_intrin(c.op, lambda ins, outs: oc.call_extern("int32", "f"),
                              binds={a: oc.decl_buffer((8,), "int32", "a")})


def test_intrinsic_without_body_or_update():
    a = oc.placeholder((8,), name="a")
    c = oc.compute((8,), lambda i: a[i] * 2.0, name="c")
    with pytest.raises(TensorError, match="fintrin must give a body, or a reset and an update"):
        oc.decl_tensor_intrin(c.op, lambda ins, outs: (
            None, oc.call_extern("int32", "f", outs[0].data), None))


def test_replay_names_an_undeclared_intrinsic(libs):
    X, Y, Z, s = add2d()
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    s[Z].tensorize(ji, vadd())
    text = s.trace.to_json().replace("err_vadd8", "err_never_declared")
    with pytest.raises(ScheduleError, match=re.escape(
            "is declared in this process; declare it with oc.decl_tensor_intrin(..., name=...) "
            "before replaying the trace")):
        Trace.from_json(text).apply(oc.create_schedule(Z))


def test_tensorize_with_something_else():
    X, Y, Z, s = add2d()
    with pytest.raises(ScheduleError, match="expected an intrinsic from oc.decl_tensor_intrin"):
        s[Z].tensorize(Z.op.axis[1], "vadd")


def test_tensorize_twice():
    X, Y, Z, s = add2d()
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    s[Z].tensorize(ji, vadd())
    with pytest.raises(ScheduleError, match="axis is inside the loops tensorized at j.inner"):
        s[Z].tensorize(ji, vadd())
    with pytest.raises(ScheduleError, match="the stage is already tensorized"):
        s[Z].tensorize(jo, vadd())


def test_tensorize_over_a_vectorized_loop():
    X, Y, Z, s = add2d()
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    s[Z].vectorize(ji)
    with pytest.raises(ScheduleError, match="tensorize: stage Z, axis j.inner: axis is already "
                                            "annotated vectorized"):
        s[Z].tensorize(ji, vadd())


def test_tensorize_over_an_attach_point():
    X = oc.placeholder((4, 32), name="X")
    X2 = oc.compute((4, 32), lambda i, j: X[i, j] * 2.0, name="X2")
    Z = oc.compute((4, 32), lambda i, j: X2[i, j] + X[i, j], name="Z")
    s = oc.create_schedule(Z)
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    s[X2].compute_at(s[Z], ji)
    with pytest.raises(ScheduleError, match="is computed at this loop, inside the region the "
                                            "intrinsic replaces"):
        s[Z].tensorize(ji, vadd())


def test_tensorize_a_tile_that_does_not_divide():
    X, Y, Z, s = add2d(n=44)
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    with pytest.raises(ScheduleError, match="a split inside it does not divide its axis"):
        s[Z].tensorize(ji, vadd())


def test_tensorize_a_block_of_symbolic_size():
    n = oc.var("n")
    X = oc.placeholder((n,), name="X")
    Y = oc.placeholder((n,), name="Y")
    Z = oc.compute((n,), lambda i: X[i] + Y[i], name="Z")
    s = oc.create_schedule(Z)
    with pytest.raises(ScheduleError, match="is not an affine block of constant size inside "
                                            "the region"):
        s[Z].tensorize(Z.op.axis[0], vadd())


def test_tensorize_a_fused_loop():
    X, Y, Z, s = add2d(m=2, n=4)
    f = s[Z].fuse(*Z.op.axis)
    with pytest.raises(ScheduleError, match=re.escape("is not an affine block inside the "
                                                      "region (a fused loop?)")):
        s[Z].tensorize(f, vadd())


def test_tensorize_a_block_with_a_gap():
    X = oc.placeholder((64,), name="X")
    Y = oc.placeholder((64,), name="Y")
    Z = oc.compute((64,), lambda i: X[i] + Y[i], name="Z")
    s = oc.create_schedule(Z)
    io, ii = s[Z].split(Z.op.axis[0], factor=8)
    s[Z].reorder(ii, io)
    with pytest.raises(ScheduleError, match="part of the axis lies outside the region"):
        s[Z].tensorize(io, vadd())


def test_tensorize_with_fewer_axes_than_the_intrinsic():
    a = oc.placeholder((8, 8), name="a")
    c = oc.compute((8, 8), lambda i, j: a[i, j] * 2.0, name="c")
    intrin = oc.decl_tensor_intrin(c.op, lambda ins, outs: oc.call_extern(
        "int32", "f", outs[0].data), name="err_scale8x8")
    X = oc.placeholder((64,), name="X")
    Z = oc.compute((64,), lambda i: X[i] * 2.0, name="Z")
    s = oc.create_schedule(Z)
    with pytest.raises(ScheduleError, match="the stage has 1 data axes, intrinsic err_scale8x8 "
                                            "has 2"):
        s[Z].tensorize(Z.op.axis[0], intrin)


def test_tensorize_an_outer_axis_the_intrinsic_lacks():
    X, Y, Z, s = add2d(n=8)
    with pytest.raises(ScheduleError, match="spans 4 iterations in the region, but intrinsic "
                                            "err_vadd8 has no axis for it"):
        s[Z].tensorize(Z.op.axis[0], vadd())


def test_tensorize_a_block_of_another_size():
    X, Y, Z, s = add2d()
    jo, ji = s[Z].split(Z.op.axis[1], factor=16)
    with pytest.raises(ScheduleError, match="spans 16 iterations in the region, but intrinsic "
                                            "err_vadd8's axis i has 8"):
        s[Z].tensorize(ji, vadd())


def test_tensorize_outer_reduction_without_reset_and_update():
    A = oc.placeholder((16, 64), name="A")
    B = oc.placeholder((64, 16), name="B")
    k = oc.reduce_axis(64, "k")
    C = oc.compute((16, 16), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = oc.create_schedule(C)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], 8, 8)
    ko, ki = s[C].split(k, factor=32)
    s[C].reorder(xo, yo, ko, xi, yi, ki)
    with pytest.raises(ScheduleError, match=re.escape(
            "(fintrin returns (body, reset, update)); or tensorize outside every reduction "
            "loop")):
        s[C].tensorize(xi, gemm_body_only())


def test_tensorize_a_different_computation():
    X = oc.placeholder((4, 32), name="X")
    Y = oc.placeholder((4, 32), name="Y")
    Z = oc.compute((4, 32), lambda i, j: X[i, j] - Y[i, j], name="Z")
    s = oc.create_schedule(Z)
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    with pytest.raises(ScheduleError, match="the body does not match intrinsic err_vadd8: the "
                                            "stage computes"):
        s[Z].tensorize(ji, vadd())


def test_tensorize_reads_one_operand_at_two_places():
    a = oc.placeholder((8,), name="a")
    c = oc.compute((8,), lambda i: a[i] + a[i], name="c")
    twice = oc.decl_tensor_intrin(c.op, lambda ins, outs: oc.call_extern(
        "int32", "f", outs[0].data, ins[0].data), name="err_twice")
    X = oc.placeholder((64,), name="X")
    Z = oc.compute((56,), lambda i: X[i] + X[i + 8], name="Z")
    s = oc.create_schedule(Z)
    io, ii = s[Z].split(Z.op.axis[0], factor=8)
    with pytest.raises(ScheduleError, match=re.escape("reads (at another block start)")):
        s[Z].tensorize(ii, twice)


def test_tensorize_default_compact_buffers_on_a_wider_tensor(libs):
    a = oc.placeholder((8, 8), name="a")
    c = oc.compute((8, 8), lambda i, j: a[i, j] * 2.0, name="c")
    intrin = oc.decl_tensor_intrin(c.op, lambda ins, outs: oc.call_extern(
        "int32", "f", outs[0].access_ptr("w"), ins[0].access_ptr("r")), name="err_compact")
    X = oc.placeholder((16, 16), name="X")
    Z = oc.compute((16, 16), lambda i, j: X[i, j] * 2.0, name="Z")
    s = oc.create_schedule(Z)
    xo, yo, xi, yi = s[Z].tile(Z.op.axis[0], Z.op.axis[1], 8, 8)
    s[Z].tensorize(xi, intrin)
    with pytest.raises(ScheduleError, match="is declared with stride 8 in dimension 0, but X "
                                            "has stride 16"):
        oc.lower(s, [X, Z])


def test_tensorize_on_a_gpu_target(libs):
    X, Y, Z, s = add2d()
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    s[Z].bind(Z.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[Z].bind(jo, oc.thread_axis("threadIdx.x"))
    s[Z].tensorize(ji, vadd())
    with pytest.raises(ScheduleError, match="is a CPU call; the target is cuda"):
        oc.lower(s, [X, Y, Z], target="cuda")


# -- Python functions (register_func / call_packed) ----------------------------------
def test_register_func_without_a_name():
    with pytest.raises(TensorError, match="register_func: the name must be a non-empty "
                                          "string, got"):
        oc.register_func("", lambda: None)


def test_register_func_twice():
    oc.register_func("oc_err_twice", lambda: None)
    with pytest.raises(TensorError, match="is already registered; pass override=True to "
                                          "replace it"):
        oc.register_func("oc_err_twice", lambda: None)
    oc.register_func("oc_err_twice", lambda: None, override=True)


def test_call_packed_name_not_a_string():
    with pytest.raises(TensorError, match="call_packed: the function name must be a string, "
                                          "got"):
        oc.call_packed(3)


def test_call_packed_argument_of_no_kind():
    with pytest.raises(TensorError, match=re.escape(
            "pass declared buffers (ins[k], outs[k]) or numbers")):
        oc.call_packed("f", object())


def packed_stage(name):
    A = oc.placeholder((4,), name="A")
    B = oc.extern((4,), [A], lambda ins, outs: oc.call_packed(name, ins[0], outs[0]), name="B")
    return A, B


def test_packed_function_raises():
    def fails(a, b):
        raise ValueError("boom from Python")
    oc.register_func("oc_err_fails", fails, override=True)
    A, B = packed_stage("oc_err_fails")
    mod = oc.build(oc.create_schedule(B), [A, B])
    import numpy as np
    with pytest.raises(RuntimeError, match="packed function 'oc_err_fails' raised an exception"):
        mod(np.ones(4, "float32"), np.zeros(4, "float32"))
    assert "boom from Python" in str(oc.packed.last_error())


def test_packed_function_never_registered():
    A, B = packed_stage("oc_err_not_registered")
    mod = oc.build(oc.create_schedule(B), [A, B])
    import numpy as np
    with pytest.raises(RuntimeError, match="raised an exception"):
        mod(np.ones(4, "float32"), np.zeros(4, "float32"))
    assert "no Python function is registered as 'oc_err_not_registered'" in \
        str(oc.packed.last_error())


def test_export_of_a_kernel_calling_python(tmp_path):
    oc.register_func("oc_err_export", lambda a, b: None, override=True)
    A, B = packed_stage("oc_err_export")
    mod = oc.build(oc.create_schedule(B), [A, B], name="calls_python")
    with pytest.raises(Exception, match="which a shared library cannot carry"):
        mod.export_library(tmp_path / "libcalls_python.so")


def test_vectorize_a_loop_around_a_tensorized_block():
    X, Y, Z, s = add2d()
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    s[Z].tensorize(ji, vadd())
    with pytest.raises(ScheduleError, match="call cannot be vectorized"):
        s[Z].vectorize(jo)


def test_tensorize_inside_a_vectorized_loop():
    X, Y, Z, s = add2d()
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    s[Z].vectorize(Z.op.axis[0])
    with pytest.raises(ScheduleError, match="a loop around intrinsic err_vadd8's call cannot "
                                            "be vectorized"):
        s[Z].tensorize(ji, vadd())


def test_cache_write_after_tensorize():
    X, Y, Z, s = add2d(n=8)
    s[Z].tensorize(Z.op.axis[1], vadd())
    with pytest.raises(ScheduleError, match="the stage is tensorized; cache_write must come "
                                            "before tensorize"):
        s.cache_write(Z, "local")


def test_scan_on_a_gpu_target():
    X, S, init, update = scan_parts()
    C = oc.scan(init, update, S)
    s = oc.create_schedule(C)
    s[update].bind(update.op.axis[1], oc.thread_axis("threadIdx.x"))
    with pytest.raises(ScheduleError, match=re.escape("scans are lowered for CPU targets "
                                                      "(llvm) only; the target is")):
        oc.lower(s, [X, C], target="cuda")


def test_tensorize_a_tuple_compute():
    X = oc.placeholder((4, 8), name="X")
    Y = oc.placeholder((4, 8), name="Y")
    P, Q = oc.compute((4, 8), lambda i, j: (X[i, j] + Y[i, j], X[i, j] * Y[i, j]), name="PQ")
    s = oc.create_schedule([P, Q])
    with pytest.raises(ScheduleError, match=re.escape("outputs (a tuple compute); an intrinsic "
                                                      "replaces a one-output computation")):
        s[P].tensorize(P.op.axis[1], vadd())
