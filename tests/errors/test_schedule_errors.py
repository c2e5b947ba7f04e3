"""One test per schedule misuse: the error names the primitive, the stage, the
axis and the rule, and the schedule is left exactly as it was."""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

import opcomp as oc

N = 64


def matmul(n=N):
    A = oc.placeholder((n, n), name="A")
    B = oc.placeholder((n, n), name="B")
    k = oc.reduce_axis(n, "k")
    C = oc.compute((n, n), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


def chain(n=N, length=3):
    """A -> B -> C (-> D): elementwise stages, the last one the output."""
    def plus_one(p, name):
        return oc.compute((n, n), lambda i, j: p[i, j] + 1.0, name=name)
    ts = [oc.placeholder((n, n), name="A")]
    for name in "BCD"[:length - 1]:
        ts.append(plus_one(ts[-1], name))
    return ts


def snapshot(s):
    """Everything a primitive may change, by name."""
    def name(x):
        return x.name if x is not None else None
    return len(s.trace), s.trace.to_json(), [
        (st.name, id(st.op), st.scope, st.attach_type, name(st.attach_stage), name(st.attach_ivar),
         [iv.name for iv in st.leaf_iter_vars], [iv.name for iv in st.all_iter_vars],
         len(st.relations), sorted((iv.name, a) for iv, a in st.annotations.items()),
         sorted((iv.name, sorted(p.items())) for iv, p in st.pragmas.items()),
         sorted(st.storage_aligns.items()), st.double_buffered,
         name(st.group))
        for st in s.stages] + [len(s.groups)]


@contextmanager
def unchanged(s):
    before = snapshot(s)
    yield
    assert snapshot(s) == before


def raises(primitive, stage, axis, rule):
    """The error template: '<primitive>: stage <S>, axis <a>: ...<rule>...; loops of <S>: [...]'."""
    head = re.escape(f"{primitive}: stage {stage}, axis {axis}: ")
    return pytest.raises(oc.ScheduleError,
                         match=f"^{head}.*{re.escape(rule)}.*; loops of {re.escape(stage)}: \\[")


# -- split / tile -------------------------------------------------------------------

def test_split_factor_zero():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "i", "factor must be a positive int, got 0"):
        s[C].split(C.op.axis[0], factor=0)


def test_split_factor_too_big_for_the_loop_counter():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "i",
                              "factor 4294967296 does not fit the axis's int32 loop counter"):
        s[C].split(C.op.axis[0], factor=2 ** 32)


def test_split_factor_negative():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "j", "factor must be a positive int, got -4"):
        s[C].split(C.op.axis[1], factor=-4)


def test_split_nparts_zero():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "k", "nparts must be a positive int, got 0"):
        s[C].split(C.op.reduce_axis[0], nparts=0)


def test_split_both_factor_and_nparts():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "i", "give exactly one of factor= or nparts="):
        s[C].split(C.op.axis[0], factor=4, nparts=4)


def test_split_neither():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "i", "give exactly one of factor= or nparts="):
        s[C].split(C.op.axis[0])


@pytest.mark.parametrize("factor", [2.5, "4", True, 4.0])
def test_split_non_int_factor(factor):
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "i", f"factor must be a positive int, got {factor!r}"):
        s[C].split(C.op.axis[0], factor=factor)


def test_split_axis_of_other_stage():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "i",
                              "axis is not a loop of this stage (it belongs to stage B)"):
        s[C].split(B.op.axis[0], factor=4)


def test_split_axis_of_other_computation():
    A, B, C = chain()
    other = matmul()[2]
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "i",
                              "axis is not a loop of this stage (it is not an axis of this stage)"):
        s[C].split(other.op.axis[0], factor=4)


def test_split_axis_already_split():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[0], factor=8)
    with unchanged(s), raises("split", "C", "i", "axis was already split or fused; use its new axes"):
        s[C].split(C.op.axis[0], factor=4)


def test_split_annotated_axis():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    s[C].unroll(C.op.axis[1])
    with unchanged(s), raises("split", "C", "j", "axis is already annotated unrolled"):
        s[C].split(C.op.axis[1], factor=4)


def test_split_placeholder():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "A", "i", "an input placeholder has no loops to schedule"):
        s[A].split(C.op.axis[0], factor=4)


def test_split_not_an_axis():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "i", "expected a loop axis (IterVar), got Var"):
        s[C].split(C.op.axis[0].var, factor=4)


def test_tile_same_axis():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    i = C.op.axis[0]
    with unchanged(s), raises("tile", "C", "i", "tile needs two different axes"):
        s[C].tile(i, i, 8, 8)


def test_tile_factor_zero():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("tile", "C", "j", "factor must be a positive int, got 0"):
        s[C].tile(*C.op.axis, 8, 0)


def test_tile_annotated_axis():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    s[C].parallel(C.op.axis[0])
    with unchanged(s), raises("tile", "C", "i", "axis is already annotated parallel"):
        s[C].tile(*C.op.axis, 8, 8)


# -- fuse / reorder ---------------------------------------------------------------------

def test_fuse_not_adjacent():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    jo, ji = s[C].split(C.op.axis[1], factor=8)
    with unchanged(s), raises("fuse", "C", "j.inner",
                              "axes to fuse must be adjacent loops, given outer to inner"):
        s[C].fuse(C.op.axis[0], ji)


def test_fuse_wrong_order():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    i, j = C.op.axis
    with unchanged(s), raises("fuse", "C", "i",
                              "axes to fuse must be adjacent loops, given outer to inner"):
        s[C].fuse(j, i)


def test_rfactor_after_fusing_data_with_reduce():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    fused = s[C].fuse(C.op.axis[1], C.op.reduce_axis[0])
    ko, ki = s[C].split(fused, factor=4)
    with unchanged(s), raises("rfactor", "C", "j.k.fused.inner", "loop j.k.fused fuses a data "
                              "axis with a reduction axis; rfactor needs the reduction loops "
                              "apart from the data loops"):
        s.rfactor(C, ki)


def test_fuse_annotated_axis():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    s[C].parallel(C.op.axis[0])
    with unchanged(s), raises("fuse", "C", "i", "axis is already annotated parallel"):
        s[C].fuse(*C.op.axis)


def test_reorder_duplicate():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    i, j = C.op.axis
    with unchanged(s), raises("reorder", "C", "i", "axis is listed twice"):
        s[C].reorder(i, j, i)


def test_reorder_axis_of_other_stage():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("reorder", "C", "j",
                              "axis is not a loop of this stage (it belongs to stage B)"):
        s[C].reorder(C.op.axis[0], B.op.axis[1])


# -- annotations --------------------------------------------------------------------------

def test_vectorize_reduce_axis():
    A, B, C = matmul(16)
    s = oc.create_schedule(C)
    with unchanged(s), raises("vectorize", "C", "k", "cannot vectorize a reduction axis "
                              "(lanes would race on the accumulator); vectorize a data axis"):
        s[C].vectorize(C.op.reduce_axis[0])


def test_vectorize_second_axis():
    A, B = chain(n=8, length=2)
    s = oc.create_schedule(B)
    s[B].vectorize(B.op.axis[1])
    with unchanged(s), raises("vectorize", "B", "i", "axis j is already vectorized; "
                              "vectorize one axis per stage (fuse them first)"):
        s[B].vectorize(B.op.axis[0])


def test_parallel_reduce_axis():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("parallel", "C", "k", "cannot parallelize a reduction axis "
                              "(iterations would race on the output)"):
        s[C].parallel(C.op.reduce_axis[0])


@pytest.mark.parametrize("first, second, kind", [
    ("unroll", "vectorize", "unrolled"), ("vectorize", "parallel", "vectorized"),
    ("parallel", "unroll", "parallel")])
def test_annotate_twice_differently(first, second, kind):
    A, B = chain(n=16, length=2)
    s = oc.create_schedule(B)
    j = B.op.axis[1]
    getattr(s[B], first)(j)
    with unchanged(s), raises(second, "B", "j", f"axis is already annotated {kind}"):
        getattr(s[B], second)(j)


def test_bind_not_thread_axis():
    A, B = chain(length=2)
    s = oc.create_schedule(B)
    with unchanged(s), raises("bind", "B", "i", "expected oc.thread_axis(...), got 'threadIdx.x'"):
        s[B].bind(B.op.axis[0], "threadIdx.x")


def test_bind_same_thread_twice():
    A, B = chain(length=2)
    s = oc.create_schedule(B)
    s[B].bind(B.op.axis[0], oc.thread_axis("threadIdx.x"))
    with unchanged(s), raises("bind", "B", "j", "threadIdx.x is already bound to axis i"):
        s[B].bind(B.op.axis[1], oc.thread_axis("threadIdx.x"))


def test_bind_axis_to_second_thread():
    A, B = chain(length=2)
    s = oc.create_schedule(B)
    s[B].bind(B.op.axis[0], oc.thread_axis("blockIdx.x"))
    with unchanged(s), raises("bind", "B", "i", "axis is already annotated thread"):
        s[B].bind(B.op.axis[0], oc.thread_axis("threadIdx.x"))


def test_bind_reduce_axis():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("bind", "C", "k", "cannot bind a reduction axis to blockIdx.x: "
                              "blocks cannot combine their partial results"):
        s[C].bind(C.op.reduce_axis[0], oc.thread_axis("blockIdx.x"))


def test_bind_on_llvm_target():
    A, B = chain(length=2)
    s = oc.create_schedule(B)
    xo, xi = s[B].split(B.op.axis[0], factor=8)
    s[B].bind(xo, oc.thread_axis("blockIdx.x"))
    with unchanged(s), raises("bind", "B", "i.outer",
                              "binding blockIdx.x needs a GPU target, but the target is llvm"):
        oc.lower(s, [A, B], target="llvm")


def test_thread_axis_unknown_tag():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "thread_axis: unknown tag 'threadIdx.w'; valid: blockIdx.x, blockIdx.y")):
        oc.thread_axis("threadIdx.w")


# -- compute_at / compute_inline / compute_root ----------------------------------------

def diamond(n=N):
    """A -> B, A -> C, D = B + C: B and C are siblings."""
    A = oc.placeholder((n, n), name="A")
    B = oc.compute((n, n), lambda i, j: A[i, j] + 1.0, name="B")
    C = oc.compute((n, n), lambda i, j: A[i, j] * 2.0, name="C")
    D = oc.compute((n, n), lambda i, j: B[i, j] + C[i, j], name="D")
    return A, B, C, D


def test_compute_at_non_consumer():
    A, B, C, D = diamond()
    s = oc.create_schedule(D)
    with unchanged(s), raises("compute_at", "B", "i", "stage C does not consume B"):
        s[B].compute_at(s[C], C.op.axis[0])


def test_compute_at_self():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("compute_at", "B", "i", "cannot compute a stage at itself"):
        s[B].compute_at(s[B], B.op.axis[0])


def test_compute_at_axis_not_of_target():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("compute_at", "C", "i",
                              "axis is not a loop of this stage (it belongs to stage B)"):
        s[B].compute_at(s[C], B.op.axis[0])


def test_compute_at_target_not_stage():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("compute_at", "B", "i", "target must be a stage (s[T]), got Tensor(C"):
        s[B].compute_at(C, C.op.axis[0])


def test_compute_at_output():
    A, B, C = chain()
    s = oc.create_schedule([B, C])
    with unchanged(s), raises("compute_at", "B", "i",
                              "an output tensor cannot be computed at another stage"):
        s[B].compute_at(s[C], C.op.axis[0])


def test_compute_at_inlined_target():
    A, B, C, D = chain(length=4)
    s = oc.create_schedule(D)
    s[C].compute_inline()
    with unchanged(s), raises("compute_at", "B", "i", "target stage C is inlined"):
        s[B].compute_at(s[C], C.op.axis[0])


@pytest.mark.parametrize("primitive", ["compute_inline", "compute_root"])
def test_compute_inline_or_root_placeholder(primitive):
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises(primitive, "A", "-", "an input placeholder is not computed"):
        getattr(s[A], primitive)()


def test_compute_at_placeholder():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("compute_at", "A", "-", "an input placeholder is not computed"):
        s[A].compute_at(s[B], B.op.axis[0])


def test_compute_at_producer_with_other_consumer():
    """E can never run inside D's loops (D does not read E): refused at the call."""
    A, B, C, D = diamond()
    E = oc.compute((N, N), lambda i, j: B[i, j] * C[i, j], name="E")     # B is read by D and E
    s = oc.create_schedule([D, E])
    with unchanged(s), raises("compute_at", "B", "i", "E also reads B but can never run inside "
                              "loop i of D (D does not consume E); every consumer of B must run "
                              "inside that loop"):
        s[B].compute_at(s[D], D.op.axis[0])


def test_lower_attached_stage_in_args():
    A, B, C = chain(n=16)
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    s[B].compute_at(s[C], xo)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "lower: tensor B is an argument but its stage is computed at C; "
            "an argument must be computed at root (s[T].compute_root())")):
        oc.lower(s, [A, B, C])


def test_compute_inline_reduction():
    A, B, C = matmul()
    D = oc.compute((N, N), lambda i, j: C[i, j] + 1.0, name="D")
    s = oc.create_schedule(D)
    with unchanged(s), raises("compute_inline", "C", "-", "cannot inline a reduction"):
        s[C].compute_inline()


def test_compute_inline_output():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("compute_inline", "C", "-", "cannot inline an output tensor"):
        s[C].compute_inline()


def test_compute_inline_with_attached_stage():
    A, B, C, D = chain(length=4)
    s = oc.create_schedule(D)
    s[B].compute_at(s[C], C.op.axis[1])
    with unchanged(s), raises("compute_inline", "C", "-", "stage B is computed at this stage"):
        s[C].compute_inline()


# -- cache_read / cache_write -----------------------------------------------------------

def test_cache_write_after_vectorize():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    s[C].vectorize(C.op.axis[1])
    with unchanged(s), raises("cache_write", "C", "-",
                              "cache_write must come before other primitives on this stage"):
        s.cache_write(C, "local")


def test_cache_write_after_fusing_data_with_reduction():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    i, j = C.op.axis
    s[C].reorder(i, C.op.reduce_axis[0], j)
    s[C].fuse(i, C.op.reduce_axis[0])
    with unchanged(s), raises("cache_write", "C", "i.k.fused", "a loop fusing a data axis "
                              "with a reduction axis cannot become an axis of the cache"):
        s.cache_write(C, "local")


def test_cache_write_after_compute_at():
    A, B, C = chain()
    s = oc.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    with unchanged(s), raises("cache_write", "B", "-",
                              "cache_write must come before other primitives on this stage"):
        s.cache_write(B, "local")


def test_cache_write_with_attached_stage():
    A, B, C = chain()
    s = oc.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    with unchanged(s), pytest.raises(oc.ScheduleError, match="^cache_write: stage C"):
        s.cache_write(C, "local")


def test_cache_write_placeholder():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("cache_write", "A", "-", "an input placeholder is not computed"):
        s.cache_write(A, "local")


def test_cache_write_bad_scope():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "cache_write: stage C, axis -: unknown scope 'register' (valid: global, shared, local")):
        s.cache_write(C, "register")


def test_cache_read_bad_scope():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "cache_read: stage A, axis -: unknown scope 'texture' (valid: global, shared, local")):
        s.cache_read(A, "texture", [C])


def test_cache_read_bad_scope_follows_template():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with raises("cache_read", "A", "-", "unknown scope 'texture'"):
        s.cache_read(A, "texture", [C])


def test_cache_read_non_reader():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("cache_read", "A", "-", "reader C does not read A directly"):
        s.cache_read(A, "shared", [C])


def test_cache_read_no_readers():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("cache_read", "A", "-", "needs at least one reader"):
        s.cache_read(A, "shared", [])


# -- schedules, lower ---------------------------------------------------------------------

def test_schedule_unknown_tensor():
    A, B, C = chain()
    X = oc.placeholder((4,), name="X")
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "schedule: tensor X is not part of this schedule's computation")):
        s[X]


def test_create_schedule_non_tensor():
    A, B, C = chain()
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "create_schedule: outputs must be tensors or operations, got 3")):
        oc.create_schedule([C, 3])


def test_create_schedule_no_outputs():
    with pytest.raises(oc.ScheduleError, match="^create_schedule: needs at least one output tensor"):
        oc.create_schedule([])


def test_lower_missing_input():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "lower: tensor A is an input of the computation but is not in the argument list")):
        oc.lower(s, [C])


def test_lower_missing_output():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "lower: output tensor C is not in the argument list")):
        oc.lower(s, [A, B])


def test_lower_duplicate_arg():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "lower: tensor A appears twice in args")):
        oc.lower(s, [A, C, A])


def test_lower_args_not_tensors():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "lower: args must be tensors or integer vars, got 'C'")):
        oc.lower(s, [A, "C"])


@pytest.mark.parametrize("args", [[], None, "AC"])
def test_lower_args_not_a_list(args):
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "lower: args must be a non-empty list of tensors (inputs and outputs)")):
        oc.lower(s, args)


def test_lower_not_a_schedule():
    A, B, C = chain()
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "lower: expected a schedule from oc.create_schedule, got Tensor(C")):
        oc.lower(C, [A, C])


# -- trace replay -------------------------------------------------------------------------

def test_trace_not_a_list():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: malformed trace JSON (expected a list of {primitive, stage, args} records)")):
        oc.Trace.from_json('{"primitive": "split"}')


def test_trace_record_not_an_object():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: record 1: must be an object with exactly primitive, stage, args")):
        oc.Trace.from_json('[{"primitive": "compute_root", "stage": "C", "args": {}}, 2]')


def test_trace_record_with_an_extra_field():
    with pytest.raises(oc.ScheduleError, match="^trace: record 0: must be an object with exactly"):
        oc.Trace.from_json('[{"primitive": "compute_root", "stage": "C", "args": {}, "x": 1}]')


def test_trace_unknown_primitive():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: record 0: unknown primitive 'eval'; known: split, fuse")):
        oc.Trace.from_json('[{"primitive": "eval", "stage": "C", "args": {}}]')


def test_trace_stage_not_a_name():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: record 0 (split): stage must be a name and args an object")):
        oc.Trace.from_json('[{"primitive": "split", "stage": 3, "args": {}}]')


def test_trace_unexpected_argument():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: record 0 (vectorize): unexpected argument 'code'")):
        oc.Trace.from_json('[{"primitive": "vectorize", "stage": "C", '
                           '"args": {"axis": "j", "code": "import os"}}]')


@pytest.mark.parametrize("args, key, kind, got", [
    ('{"axes": "ij"}', "axes", "a list of names", "str"),
    ('{"axis": "i", "factor": "4"}', "factor", "an integer, an expression object or null", "str"),
    ('{"axis": "i", "factor": true}', "factor", "an integer, an expression object or null",
     "bool"),
    ('{"axis": ["i"]}', "axis", "a name (string)", "list"),
])
def test_trace_argument_of_the_wrong_type(args, key, kind, got):
    prim = "reorder" if "axes" in args else "split"
    with pytest.raises(oc.ScheduleError, match=re.escape(
            f"trace: record 0 ({prim}): argument '{key}' must be {kind}, got {got}")):
        oc.Trace.from_json(f'[{{"primitive": "{prim}", "stage": "C", "args": {args}}}]')


def test_trace_readers_not_a_list_of_names():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: record 0 (cache_read): argument 'readers' must be a list of names, got int")):
        oc.Trace.from_json('[{"primitive": "cache_read", "stage": "A", '
                           '"args": {"scope": "local", "readers": 7}}]')


def test_trace_not_valid_json():
    with pytest.raises(oc.ScheduleError, match="^trace: not valid JSON"):
        oc.Trace.from_json("split C i 4")


def test_trace_nested_too_deeply():
    with pytest.raises(oc.ScheduleError, match="^trace: not valid JSON \\(RecursionError"):
        oc.Trace.from_json("[" * 200000 + "]" * 200000)


def test_trace_that_fails_halfway_changes_nothing():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    trace = oc.Trace.from_json(
        '[{"primitive": "split", "stage": "C", "args": {"axis": "i", "factor": 4}},'
        ' {"primitive": "vectorize", "stage": "C", "args": {"axis": "nope"}}]')
    with unchanged(s), pytest.raises(oc.ScheduleError, match="no axis named 'nope'"):
        trace.apply(s)
    assert len(s.trace) == 0


def test_trace_unknown_axis():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    trace = oc.Trace.from_json('[{"primitive": "split", "stage": "C", '
                               '"args": {"axis": "q", "factor": 4}}]')
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: stage C has no axis named 'q'; loops of C: [i, j, k]")):
        trace.apply(s)


def test_trace_unknown_stage():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    trace = oc.Trace.from_json('[{"primitive": "compute_inline", "stage": "Z", "args": {}}]')
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "schedule: no stage named 'Z'; stages: ['A', 'B', 'C']")):
        trace.apply(s)


def test_trace_invalid_primitive_arguments():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    trace = oc.Trace.from_json('[{"primitive": "split", "stage": "C", '
                               '"args": {"axis": "i", "factor": 0}}]')
    with unchanged(s), raises("split", "C", "i", "factor must be a positive int, got 0"):
        trace.apply(s)


def test_trace_missing_argument():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: record 0 (split): missing argument 'axis'")):
        oc.Trace.from_json('[{"primitive": "split", "stage": "C", "args": {}}]').apply(s)


def test_trace_header_of_another_format():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: format 'tvm' version 1; this opcomp reads 'opcomp-trace' version 1")):
        oc.Trace.from_json('{"format": "tvm", "version": 1, "records": []}')


def test_trace_header_with_unknown_keys():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: the header must have exactly the keys format, records, target, version, "
            "workload")):
        oc.Trace.from_json('{"format": "opcomp-trace", "version": 1, "records": [], "x": 1}')


def test_trace_header_workload_not_a_string():
    with pytest.raises(oc.ScheduleError, match="trace: header workload must be a string or null"):
        oc.Trace.from_json('{"format": "opcomp-trace", "version": 1, "workload": 3, '
                           '"target": null, "records": []}')


def test_trace_of_another_workload_is_refused():
    A = oc.placeholder((8,), name="A")
    B = oc.compute((8,), lambda i: A[i] + 1.0, name="B")
    A2 = oc.placeholder((16,), name="A")
    B2 = oc.compute((16,), lambda i: A2[i] + 1.0, name="B")
    s = oc.create_schedule(B)
    s[B].split(B.op.axis[0], factor=4)
    s2 = oc.create_schedule(B2)
    with pytest.raises(oc.ScheduleError, match=r"trace: made for workload \w+\.\.\., but the "
                       r"schedule computes workload \w+\.\.\. \(another computation or other "
                       r"shapes\)"):
        oc.Trace.from_json(s.trace.to_json()).apply(s2)
    assert len(s2.trace) == 0


# -- compute_at with several consumers ---------------------------------------------------

def softmax(rows=8, cols=16):
    """X -> M = max, E = exp(X - M), S = sum(E), Y = E / S: E is read by S and Y."""
    X = oc.placeholder((rows, cols), name="X")
    k1, k2 = oc.reduce_axis(cols, "k1"), oc.reduce_axis(cols, "k2")
    M = oc.compute((rows,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E = oc.compute((rows, cols), lambda i, j: oc.exp(X[i, j] - M[i]), name="E")
    S = oc.compute((rows,), lambda i: oc.sum(E[i, k2], axis=k2), name="S")
    Y = oc.compute((rows, cols), lambda i, j: E[i, j] / S[i], name="Y")
    return X, M, E, S, Y


def test_compute_at_producer_read_by_an_output():
    """S is an output, so it stays at root: E cannot go inside Y's row loop."""
    X, M, E, S, Y = softmax()
    s = oc.create_schedule([S, Y])
    with unchanged(s), raises("compute_at", "E", "i", "S also reads E but is an output, which "
                              "stays at root, outside loop i of Y"):
        s[E].compute_at(s[Y], Y.op.axis[0])


def test_compute_at_other_consumer_left_outside_the_loop():
    """S could still be computed at Y's row loop, so compute_at accepts E there; the
    schedule as it stands at lowering (S at root) is refused."""
    X, M, E, S, Y = softmax()
    s = oc.create_schedule(Y)
    s[E].compute_at(s[Y], Y.op.axis[0])
    with unchanged(s), raises("compute_at", "E", "i", "its consumer S is computed at root, "
                              "outside loop i of Y; compute S at or inside that loop too"):
        oc.lower(s, [X, Y])


# -- rfactor ------------------------------------------------------------------------------

def row_sum(rows=8, cols=16):
    X = oc.placeholder((rows, cols), name="X")
    k = oc.reduce_axis(cols, "k")
    T = oc.compute((rows,), lambda i: oc.sum(X[i, k], axis=k), name="T")
    return X, T


def test_rfactor_not_a_reduction():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("rfactor", "B", "i", "B is not a reduction; rfactor splits a "
                              "reduction"):
        s.rfactor(B, B.op.axis[0])


def test_rfactor_placeholder():
    X, T = row_sum()
    s = oc.create_schedule(T)
    with unchanged(s), raises("rfactor", "X", "k", "an input placeholder has no loops to schedule"):
        s.rfactor(X, T.op.reduce_axis[0])


def test_rfactor_data_axis():
    X, T = row_sum()
    s = oc.create_schedule(T)
    with unchanged(s), raises("rfactor", "T", "i", "a data axis cannot be factored; give a "
                              "reduction axis"):
        s.rfactor(T, T.op.axis[0])


def test_rfactor_axis_already_split():
    X, T = row_sum()
    s = oc.create_schedule(T)
    s[T].split(T.op.reduce_axis[0], factor=4)
    with unchanged(s), raises("rfactor", "T", "k", "axis was already split or fused; use its "
                              "new axes"):
        s.rfactor(T, T.op.reduce_axis[0])


@pytest.mark.parametrize("factor_axis", ["1", 1.0, True, None])
def test_rfactor_factor_axis_not_an_int(factor_axis):
    X, T = row_sum()
    s = oc.create_schedule(T)
    with unchanged(s), raises("rfactor", "T", "k", "factor_axis must be an int in [0, 1], "
                              f"got {factor_axis!r}"):
        s.rfactor(T, T.op.reduce_axis[0], factor_axis=factor_axis)


@pytest.mark.parametrize("factor_axis", [-1, 2])
def test_rfactor_factor_axis_out_of_range(factor_axis):
    X, T = row_sum()
    s = oc.create_schedule(T)
    with unchanged(s), raises("rfactor", "T", "k", f"factor_axis {factor_axis} is out of range: "
                              "the factored tensor has 2 axes, so it must be in [0, 1]"):
        s.rfactor(T, T.op.reduce_axis[0], factor_axis=factor_axis)


def test_rfactor_with_a_stage_at_a_reduction_loop():
    X, T = row_sum()
    s = oc.create_schedule(T)
    XL = s.cache_read(X, "local", [T])
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=4)
    s[XL].compute_at(s[T], ko)
    with unchanged(s), raises("rfactor", "T", "k.inner", "stage X.local is computed at reduction "
                              "loop k.outer, which rfactor moves to T.rf; rfactor before "
                              "compute_at"):
        s.rfactor(T, ki)


def test_trace_rfactor_without_factor_axis():
    X, T = row_sum()
    s = oc.create_schedule(T)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: record 0 (rfactor): missing argument 'factor_axis'")):
        oc.Trace.from_json('[{"primitive": "rfactor", "stage": "T", "args": {"axis": "k"}}]')


def test_trace_rfactor_factor_axis_null():
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: record 0 (rfactor): argument 'factor_axis' must be an integer, got NoneType")):
        oc.Trace.from_json('[{"primitive": "rfactor", "stage": "T", '
                           '"args": {"axis": "k", "factor_axis": null}}]')


def test_trace_rfactor_invalid_factor_axis():
    X, T = row_sum()
    s = oc.create_schedule(T)
    trace = oc.Trace.from_json('[{"primitive": "rfactor", "stage": "T", '
                               '"args": {"axis": "k", "factor_axis": 7}}]')
    with unchanged(s), raises("rfactor", "T", "k", "factor_axis 7 is out of range"):
        trace.apply(s)


# -- TVM spellings: oc.const factors are checked like ints ---------------------------------

def test_split_const_factor_zero():
    A, B, C = matmul()
    s = oc.create_schedule(C.op)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "split: stage C, axis i: factor must be a positive int, got 0; loops of C: [i, j, k]")):
        s[C].split(C.op.axis[0], oc.const(0))


def test_split_float_const_factor():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "split: stage C, axis i: nparts must be a positive int, got 2.0f; loops of C")):
        s[C].split(C.op.axis[0], nparts=oc.const(2.0))


def test_tile_const_factor_negative():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "tile: stage C, axis j: factor must be a positive int, got -2")):
        s[C].tile(C.op.axis[0], C.op.axis[1], oc.const(4), oc.const(-2))


def test_create_schedule_non_tensor_in_op_list():
    A, B, C = matmul()
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "create_schedule: outputs must be tensors or operations, got 'C'")):
        oc.create_schedule([C.op, "C"])


# -- set_scope / storage_align / double_buffer / pragma (schedule/storage.py) ---------------

def test_set_scope_unknown_scope():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("set_scope", "B", "-", "unknown scope 'texture' (valid: global, "
                              "shared, local, "):
        s[B].set_scope("texture")


def test_set_scope_of_a_placeholder():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("set_scope", "A", "-", "an input placeholder is the caller's "
                              "array; cache_read it into a scope instead"):
        s[A].set_scope("shared")


def test_set_scope_of_an_output():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("set_scope", "C", "-", "an output is the caller's array and stays "
                              "global, not local; cache_write it into local instead"):
        s[C].set_scope("local")


def test_storage_align_not_a_data_axis():
    A, B, C = chain()
    s = oc.create_schedule(C)
    xo, xi = s[B].split(B.op.axis[0], factor=4)
    with unchanged(s), raises("storage_align", "B", "i.outer", "expected a data axis of the "
                              "stage's tensor (s[T].op.axis[k]), got 'i.outer'"):
        s[B].storage_align(xo, 8, 1)


def test_storage_align_of_a_placeholder():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("storage_align", "A", "-", "an input placeholder has no loops"):
        s[A].storage_align("-", 8, 1)


def test_storage_align_of_an_output():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("storage_align", "C", "i", "an output is the caller's array, whose "
                              "layout is fixed; cache_write it and apply this to the cache stage"):
        s[C].storage_align(C.op.axis[0], 8, 1)


def test_storage_align_factor_not_an_int():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("storage_align", "B", "i", "factor must be an int, got 8.0"):
        s[B].storage_align(B.op.axis[0], 8.0, 1)


def test_storage_align_factor_zero():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("storage_align", "B", "i", "factor must be positive, got 0"):
        s[B].storage_align(B.op.axis[0], 0, 0)


def test_storage_align_offset_out_of_range():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("storage_align", "B", "i", "offset must be in [0, factor), got "
                              "offset 8 with factor 8"):
        s[B].storage_align(B.op.axis[0], 8, 8)


def test_double_buffer_of_a_placeholder():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("double_buffer", "A", "-", "an input placeholder is not computed"):
        s[A].double_buffer()


def test_double_buffer_of_an_output():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("double_buffer", "C", "-", "an output is the caller's array"):
        s[C].double_buffer()


def test_double_buffer_of_an_inlined_stage():
    A, B, C = chain()
    s = oc.create_schedule(C)
    s[B].compute_inline()
    with unchanged(s), raises("double_buffer", "B", "-", "an inlined stage has no buffer"):
        s[B].double_buffer()


def test_pragma_key_not_a_name():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("pragma", "C", "i", "pragma key must be a name such as "
                              "'unroll_explicit', got 'un roll'"):
        s[C].pragma(C.op.axis[0], "un roll", 1)


def test_pragma_value_of_the_wrong_type():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("pragma", "C", "i", "pragma value must be an int, a bool, a string "
                              "or omitted, got list"):
        s[C].pragma(C.op.axis[0], "unroll_explicit", [1])


def test_pragma_auto_unroll_max_step_negative():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("pragma", "C", "i", "auto_unroll_max_step takes a non-negative "
                              "int, got -1"):
        s[C].pragma(C.op.axis[0], "auto_unroll_max_step", -1)


def test_pragma_on_an_axis_of_another_stage():
    A, B, C = chain()
    s = oc.create_schedule(C)
    with unchanged(s), raises("pragma", "C", "i", "axis is not a loop of this stage"):
        s[C].pragma(B.op.axis[0], "unroll_explicit", True)


# -- vthread, symbolic split ------------------------------------------------------------------

def test_bind_reduction_axis_to_vthread():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    with unchanged(s), raises("bind", "C", "k", "cannot bind a reduction axis to a virtual thread "
                              "(TVM interleaves data loops only)"):
        s[C].bind(C.op.reduce_axis[0], oc.thread_axis("vthread"))


def test_bind_vthread_axis_twice_with_another_kind():
    A, B, C = chain()
    s = oc.create_schedule(C)
    s[C].bind(C.op.axis[0], oc.thread_axis("vthread", name="vx"))
    with unchanged(s), raises("bind", "C", "i", "axis is already annotated vthread"):
        s[C].bind(C.op.axis[0], oc.thread_axis("threadIdx.x"))


def test_split_by_a_float_expression():
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    C = oc.compute((n,), lambda i: A[i] * 2.0, name="C")
    s = oc.create_schedule(C)
    with unchanged(s), raises("split", "C", "i", "factor must be a positive int or an integer "
                              "expression, got a float64 expression"):
        s[C].split(C.op.axis[0], factor=n * 0.5)


def test_lower_split_by_a_free_var_missing_from_the_arguments():
    n, t = oc.var("n"), oc.var("tile")
    A = oc.placeholder((n,), name="A")
    C = oc.compute((n,), lambda i: A[i] * 2.0, name="C")
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[0], factor=t)
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "lower: a split factor uses tile, which is neither a size var of the arguments' "
            "shapes nor a scalar argument; add it to the argument list (oc.build(s, [..., "
            "tile]))")):
        oc.lower(s, [A, C])


def test_lower_replayed_free_factor_var_missing_from_the_arguments():
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    C = oc.compute((n,), lambda i: A[i] * 2.0, name="C")
    s = oc.create_schedule(C)
    trace = oc.Trace.from_json('[{"primitive": "split", "stage": "C", "args": '
                               '{"axis": "i", "factor": {"var": "m"}}}]')
    trace.apply(s)                         # m: a free factor var, a scalar argument
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "lower: a split factor uses m, which is neither a size var")):
        oc.lower(s, [A, C])


def test_trace_cannot_record_a_split_factor_with_a_select():
    from opcomp.schedule.trace import encode_expr
    n = oc.var("n")
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "(only integer arithmetic over size vars: add, sub, mul, floordiv")):
        encode_expr(oc.select(n > 2, n, 2))


# -- create_group (schedule/group.py) ------------------------------------------------------

def group_chain(n=N):
    """x -> x1 -> x2 -> y (y also reads x)."""
    x = oc.placeholder((n, n), name="x")
    x1 = oc.compute((n, n), lambda i, j: x[i, j] + 1.0, name="x1")
    x2 = oc.compute((n, n), lambda i, j: x1[i, j] * 2.0, name="x2")
    y = oc.compute((n, n), lambda i, j: x2[i, j] + x[i, j], name="y")
    return x, x1, x2, y


def test_create_group_without_outputs():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "create_group: needs at least one output tensor")):
        s.create_group([], x)


def test_create_group_include_inputs_not_a_bool():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "create_group: include_inputs must be a bool, got 'yes'")):
        s.create_group(x2, x, include_inputs="yes")


def test_group_compute_at_an_inlined_stage():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    s[x2].compute_inline()
    g = s.create_group(outputs=x1, inputs=x)
    with unchanged(s), raises("compute_at", "x1", "j", "target stage x2 is inlined"):
        g.compute_at(s[x2], x2.op.axis[1])


def test_create_group_overlapping_another():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    s.create_group(x2, x)                  # {x1, x2}
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "create_group: stage x2 belongs to group group0, which the new group would only "
            "partly hold; groups nest but cannot overlap")):
        s.create_group(y, x1)              # {x2, y}: cuts group0


def test_create_group_input_not_on_the_way():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "create_group: input y is not read on the way to the group's outputs")):
        s.create_group(x1, y, include_inputs=True)


def test_group_compute_at_not_a_stage():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    g = s.create_group(x2, x)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "compute_at: group group0: target must be a stage (s[T]), got")):
        g.compute_at(y, y.op.axis[0])


def test_group_compute_at_a_member():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    g = s.create_group(x2, x)
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "compute_at: group group0: target stage x2 is a member of the group; a group is "
            "computed at a stage outside it")):
        g.compute_at(s[x2], x2.op.axis[0])


def test_group_compute_at_with_no_member_at_root():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    g = s.create_group(x1, x)
    s[x1].compute_inline()
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "compute_at: group group0: no member is at root (every one is inlined or computed "
            "at another stage)")):
        g.compute_at(s[y], y.op.axis[0])


def test_group_with_an_output_member_compute_at():
    x, x1, x2, y = group_chain()
    z = oc.compute((N, N), lambda i, j: x2[i, j] * y[i, j], name="z")
    s = oc.create_schedule([y, z])
    g = s.create_group(y, x1)
    with unchanged(s), raises("compute_at", "y", "i", "an output tensor cannot be computed at "
                              "another stage (it is a member of the group)"):
        g.compute_at(s[z], z.op.axis[0])


def test_group_compute_at_a_non_consumer():
    x, x1, x2, y = group_chain()
    w = oc.compute((N, N), lambda i, j: x[i, j] * 3.0, name="w")
    s = oc.create_schedule([y, w])
    g = s.create_group(x1, x)
    with unchanged(s), raises("compute_at", "x1", "i", "stage w does not consume x1"):
        g.compute_at(s[w], w.op.axis[0])


def test_trace_group_unknown():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    trace = oc.Trace.from_json('[{"primitive": "group_compute_at", "stage": "group3", "args": '
                               '{"target": "y", "axis": "i"}}]')
    with unchanged(s), pytest.raises(oc.ScheduleError, match=re.escape(
            "trace: no group named 'group3'; groups: []")):
        trace.apply(s)


def test_compute_inline_of_an_rfactor_over_a_whole_axis():
    # the factored tensor reduces over no axes but is still a reduction (fuzz seed 99)
    A = oc.placeholder((7, 16), name="A")
    k = oc.reduce_axis(16, "k")
    C = oc.compute((7,), lambda i: oc.min(A[i, k] + 1, axis=k, where=k <= i), name="C")
    s = oc.create_schedule(C)
    CF = s.rfactor(C, k, factor_axis=0)
    with unchanged(s), raises("compute_inline", "C.rf", "-", "cannot inline a reduction"):
        s[CF].compute_inline()


def test_compute_at_a_reduction_loop_of_a_reduction_whose_init_reads_it():
    A = oc.placeholder((5, 16), name="A")
    k = oc.reduce_axis((1, 16), "k")
    C = oc.compute((5,), lambda i: oc.max(A[i, k], axis=k, init=A[i, 0]), name="C")
    s = oc.create_schedule(C)
    ko, ki = s[C].split(k, factor=2)
    AS = s.cache_read(A, "shared", [C])
    s[AS].compute_at(s[C], ko)
    with pytest.raises(oc.ScheduleError, match=re.escape(
            "compute_at: stage A.shared, axis k.outer: the init= of C's reduction reads "
            "A.shared before the reduction loops run, where A.shared is not computed yet; "
            "compute it at a loop of C outside the reduction loops")):
        oc.lower(s, [A, C])
