"""Misuses of the tensor-core (WMMA) intrinsics: each a ScheduleError naming the stage,
the axis and the rule, raised at tensorize or when the schedule is lowered."""
import re

import pytest

import opcomp as oc
from schedules.gpu.tensorcore import gpu_matmul_tensorcore
from schedules.gpu.wmma import wmma_gemm, wmma_load_matrix, wmma_store_matrix

SM80 = "cuda -arch=sm_80"


def fragment_matmul(M=32, N=32, K=32):
    """C = A @ B (float16 in, float32 out) with C's accumulator in wmma.accumulator."""
    A = oc.placeholder((M, K), "float16", name="A")
    B = oc.placeholder((K, N), "float16", name="B")
    k = oc.reduce_axis(K, "k")
    C = oc.compute((M, N), lambda i, j: oc.sum(A[i, k].astype("float32") *
                                               B[k, j].astype("float32"), axis=k), name="C")
    s = oc.create_schedule(C)
    CF = s.cache_write(C, "wmma.accumulator")
    s.args = [A, B, C]
    return s, CF


def tile_by_16(s, CF):
    """CF's loops cut in 16x16x16 blocks, the blocks innermost; returns the block's
    first loop."""
    i, j = s[CF].op.axis
    io, ii = s[CF].split(i, factor=16)
    jo, ji = s[CF].split(j, factor=16)
    ko, ki = s[CF].split(s[CF].op.reduce_axis[0], factor=16)
    s[CF].reorder(io, jo, ko, ii, ji, ki)
    return ii


def test_wmma_tile_of_8_is_not_the_intrinsics_16():
    s, CF = fragment_matmul()
    i, j = s[CF].op.axis
    io, ii = s[CF].split(i, factor=8)
    jo, ji = s[CF].split(j, factor=16)
    ko, ki = s[CF].split(s[CF].op.reduce_axis[0], factor=16)
    s[CF].reorder(io, jo, ko, ii, ji, ki)
    with pytest.raises(oc.ScheduleError, match=r"stage C\.wmma\.accumulator, axis i\.c\.inner: "
                       r"data axis i\.c spans 8 iterations in the region, but intrinsic "
                       r"wmma_gemm's axis i has 16"):
        s[CF].tensorize(ii, wmma_gemm())


def test_wmma_on_a_shape_not_a_multiple_of_16_needs_a_tail_guard():
    s, CF = fragment_matmul(M=20)
    ii = tile_by_16(s, CF)
    with pytest.raises(oc.ScheduleError, match=r"the region needs a tail guard .*choose "
                                               r"factors that divide the shape"):
        s[CF].tensorize(ii, wmma_gemm())


def test_wmma_intrinsic_on_the_cpu_target():
    s, CF = fragment_matmul()
    s[CF].tensorize(tile_by_16(s, CF), wmma_gemm())
    with pytest.raises(oc.ScheduleError, match=r"runs on the tensor cores \(WMMA calls\) and "
                                               r"needs a cuda target; the target is llvm"):
        oc.lower(s, s.args, target="llvm")


def test_wmma_load_into_a_buffer_of_the_wrong_scope():
    A = oc.placeholder((2, 16, 16), "float16", name="A")
    C = oc.compute((2, 16, 16), lambda b, i, j: A[b, i, j].astype("float32"), name="C")
    s = oc.create_schedule(C)
    AS = s.cache_read(A, "shared", [C])
    AF = s.cache_read(AS, "shared", [C])       # should be "wmma.matrix_a"
    s[C].bind(C.op.axis[0], oc.thread_axis("blockIdx.x"))
    for st in (AS, AF):
        s[st].compute_at(s[C], C.op.axis[0])
    s[AF].tensorize(AF.op.axis[1], wmma_load_matrix("wmma.matrix_a"))
    with pytest.raises(oc.ScheduleError, match=r"operand 0 of opcomp_wmma_load_a is "
                       r"A\.shared\.shared in scope 'shared', but it must be a fragment in "
                       r"scope 'wmma.matrix_a'"):
        oc.lower(s, [A, C], target=SM80)


def test_wmma_load_from_local_memory():
    s, args = gpu_matmul_tensorcore(64, 64, 64, target=SM80)
    next(st for st in s.stages if st.name == "A.shared").set_scope("local")
    with pytest.raises(oc.ScheduleError, match=r"in scope 'local'; WMMA loads and stores move "
                                               r"tiles between fragments and shared or global"):
        oc.lower(s, args, target=SM80)


def test_fragment_read_without_a_wmma_intrinsic():
    A = oc.placeholder((2, 16, 16), "float16", name="A")
    C = oc.compute((2, 16, 16), lambda b, i, j: A[b, i, j] * 2, name="C")
    s = oc.create_schedule(C)
    AF = s.cache_read(A, "wmma.matrix_a", [C])
    s[C].bind(C.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[AF].compute_at(s[C], C.op.axis[0])
    with pytest.raises(oc.ScheduleError, match=r"stage A\.wmma\.matrix_a, axis -: its buffer is "
                       r"in scope 'wmma.matrix_a', " + re.escape(
                           "which only WMMA intrinsics read and write; tensorize the stage "
                           "with one (schedules.gpu.wmma), or give it the local scope")):
        oc.lower(s, [A, C], target=SM80)


def custom_intrinsic_schedule(dtype, fintrin, name):
    """A (2, 16, 16) copy whose 16x16 blocks are tensorized with a hand-made intrinsic."""
    src = oc.placeholder((16, 16), dtype, name="src")
    dst = oc.compute((16, 16), lambda i, j: src[i, j], name="dst")
    intrin = oc.decl_tensor_intrin(dst.op, fintrin, name=name)
    A = oc.placeholder((2, 16, 16), dtype, name="A")
    C = oc.compute((2, 16, 16), lambda b, i, j: A[b, i, j], name="C")
    s = oc.create_schedule(C)
    s[C].bind(C.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[C].tensorize(C.op.axis[1], intrin)
    return s, [A, C]


def test_wmma_call_with_the_wrong_number_of_arguments():
    s, args = custom_intrinsic_schedule("float32", lambda ins, outs: oc.call_extern(
        "int32", "opcomp_wmma_fill", outs[0].access_ptr("w")), "fill_one_arg")
    with pytest.raises(oc.ScheduleError, match="opcomp_wmma_fill takes 2 arguments, got 1"):
        oc.lower(s, args, target=SM80)


def test_wmma_call_with_a_number_for_a_pointer():
    s, args = custom_intrinsic_schedule("float32", lambda ins, outs: oc.call_extern(
        "int32", "opcomp_wmma_store", 0, ins[0].access_ptr("r"), 16), "store_to_zero")
    with pytest.raises(oc.ScheduleError, match=r"operand 0 of opcomp_wmma_store must be a buffer "
                                               r"pointer \(buf.access_ptr"):
        oc.lower(s, args, target=SM80)


def test_wmma_store_of_float16_memory():
    s, args = custom_intrinsic_schedule("float16", lambda ins, outs: oc.call_extern(
        "int32", "opcomp_wmma_store", outs[0].access_ptr("w"), ins[0].access_ptr("r"), 16),
        "store_half")
    with pytest.raises(oc.ScheduleError, match=r"operand 0 of opcomp_wmma_store is C of dtype "
                                               r"float16; the call moves float32"):
        oc.lower(s, args, target=SM80)


def one_row_of_tiles(N, lanes_tag=None):
    """C (16, N) = A (16, 16) @ B (16, N) with one WMMA tile per 16 columns; the loop over
    the tiles bound to lanes_tag (None: a serial loop)."""
    A = oc.placeholder((16, 16), "float16", name="A")
    B = oc.placeholder((16, N), "float16", name="B")
    k = oc.reduce_axis(16, "k")
    C = oc.compute((16, N), lambda i, j: oc.sum(A[i, k].astype("float32") *
                                               B[k, j].astype("float32"), axis=k), name="C")
    s = oc.create_schedule(C)
    CF = s.cache_write(C, "wmma.accumulator")
    AF = s.cache_read(A, "wmma.matrix_a", [CF])
    BF = s.cache_read(B, "wmma.matrix_b", [CF])
    i, j = s[C].op.axis
    io, ii = s[C].split(i, factor=16)
    jo, ji = s[C].split(j, factor=16)
    s[C].reorder(io, jo, ii, ji)
    s[C].bind(io, oc.thread_axis("blockIdx.x"))
    if lanes_tag:
        s[C].bind(jo, oc.thread_axis(lanes_tag))
    s[C].tensorize(ii, wmma_store_matrix())
    s[CF].compute_at(s[C], jo)
    s[CF].tensorize(tile_by_16(s, CF), wmma_gemm())
    for frag, scope in ((AF, "wmma.matrix_a"), (BF, "wmma.matrix_b")):
        s[frag].compute_at(s[CF], s[CF].leaf_iter_vars[2])
        r, c = s[frag].op.axis
        co, ci = s[frag].split(c, factor=16)
        s[frag].reorder(co, r, ci)
        s[frag].tensorize(r, wmma_load_matrix(scope))
    return s, [A, B, C]


def test_wmma_in_a_kernel_without_whole_warps():
    s, args = one_row_of_tiles(16)
    with pytest.raises(oc.ScheduleError, match=r"WMMA calls are made by whole warps, but "
                       r"threadIdx.x has 1 " + re.escape(
                           "threads, not a multiple of 32, so a warp would mix threadIdx.y "
                           "values; bind 32 lanes (or a multiple) to threadIdx.x")):
        oc.lower(s, args, target=SM80)


def test_wmma_call_inside_a_loop_bound_to_the_lanes():
    s, args = one_row_of_tiles(16 * 32, lanes_tag="threadIdx.x")
    with pytest.raises(oc.ScheduleError, match=r"stage C\.wmma\.accumulator, axis -: " + re.escape(
            "a WMMA call inside a loop bound to threadIdx.x would give each lane of a warp its "
            "own tile; the 32 lanes must make each call together: bind the warps to "
            "threadIdx.y/z and leave threadIdx.x to copies")):
        oc.lower(s, args, target=SM80)
