"""One test per misuse of a reduction axis bound to a thread (a cross-thread
reduction, opcomp/schedule/cross_thread.py): refused at bind with the schedule
unchanged, or at lowering with the caller's schedule unchanged."""
from __future__ import annotations

import pytest

import opcomp as oc

from .test_schedule_errors import raises, unchanged


def row_sum(n=64, m=48, reducer=None):
    A = oc.placeholder((n, m), name="A")
    k = oc.reduce_axis((0, m), "k")
    red = reducer or oc.sum
    B = oc.compute((n,), lambda i: red(A[i, k], axis=k), name="B")
    return A, B


def test_bind_reduce_axis_of_a_comm_reducer():
    absmax = oc.comm_reducer(lambda x, y: oc.maximum(oc.abs(x), oc.abs(y)),
                             lambda t: oc.const(0, t), name="absmax")
    _, B = row_sum(reducer=absmax)
    s = oc.create_schedule(B)
    with unchanged(s), raises("bind", "B", "k", "a cross-thread reduction needs a built-in "
                              "reducer (oc.sum/prod/min/max), not absmax"):
        s[B].bind(B.op.reduce_axis[0], oc.thread_axis("threadIdx.x"))


def test_bind_second_reduce_axis_to_a_thread():
    _, B = row_sum()
    s = oc.create_schedule(B)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    s[B].bind(ki, oc.thread_axis("threadIdx.x"))
    with unchanged(s), raises("bind", "B", "k.outer", "reduction axis k.inner is already bound "
                              "to threadIdx.x; a stage binds one reduction axis to a thread"):
        s[B].bind(ko, oc.thread_axis("threadIdx.y"))


def test_bind_reduce_axis_on_llvm_target():
    A, B = row_sum()
    s = oc.create_schedule(B)
    s[B].bind(B.op.reduce_axis[0], oc.thread_axis("threadIdx.x"))
    with unchanged(s), raises("bind", "B", "k", "binding threadIdx.x needs a GPU target, "
                              "but the target is llvm"):
        oc.lower(s, [A, B], target="llvm")


def test_bind_reduce_axis_of_an_axisless_output():
    A = oc.placeholder((64,), name="A")
    k = oc.reduce_axis((0, 64), "k")
    B = oc.compute((), lambda: oc.sum(A[k], axis=k), name="B")
    s = oc.create_schedule(B)
    s[B].bind(k, oc.thread_axis("threadIdx.x"))
    with unchanged(s), raises("bind", "B", "k", "a cross-thread reduction needs a data loop "
                              "to compute the partials at (the output has no axes)"):
        oc.lower(s, [A, B], target="cuda")


def test_bind_reduce_axis_not_innermost():
    A, B = row_sum()
    s = oc.create_schedule(B)
    _, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    BF = s.rfactor(B, ki)
    xo, xi = s[B].split(B.op.axis[0], factor=8)
    s[B].bind(xo, oc.thread_axis("blockIdx.x"))
    rv = s[B].op.reduce_axis[0]
    s[B].reorder(rv, xi)
    s[B].bind(rv, oc.thread_axis("threadIdx.x"))
    s[BF].compute_at(s[B], rv)
    with unchanged(s), raises("bind", "B", "k.inner.v", "the thread-bound reduction loop must "
                              "be the innermost loop of B (reorder it last)"):
        oc.lower(s, [A, B], target="cuda")


def test_bind_reduce_axis_with_scheduled_partials():
    A, B = row_sum()
    s = oc.create_schedule(B)
    _, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    BF = s.rfactor(B, ki)
    s[B].bind(B.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[B].bind(s[B].op.reduce_axis[0], oc.thread_axis("threadIdx.x"))
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    s[BF].split(BF.op.axis[1], factor=4)
    with unchanged(s), raises("bind", "B", "k.inner.v", "the partials stage B.rf must keep its "
                              "data loops as rfactor made them"):
        oc.lower(s, [A, B], target="cuda")


def test_bind_reduce_axis_under_a_stage_at_a_reduction_loop():
    A, B = row_sum()
    s = oc.create_schedule(B)
    AL = s.cache_read(A, "local", [B])
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    s[B].bind(B.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[B].bind(ki, oc.thread_axis("threadIdx.x"))
    s[AL].compute_at(s[B], ko)
    with unchanged(s), raises("bind", "B", "k.inner", "stage A.local is computed at reduction "
                              "loop k.outer; a cross-thread reduction moves those loops into "
                              "the per-thread partials"):
        oc.lower(s, [A, B], target="cuda")


def test_bind_reduce_axis_fused_with_a_data_axis():
    _, B = row_sum()
    s = oc.create_schedule(B)
    fused = s[B].fuse(B.op.axis[0], B.op.reduce_axis[0])
    with unchanged(s), raises("bind", "B", fused.name, "this reduction loop fuses a data axis "
                              "in; bind a loop of the reduction axes alone to a thread"):
        s[B].bind(fused, oc.thread_axis("threadIdx.x"))


@pytest.mark.parametrize("tag", ["blockIdx.y"])
def test_bind_reduce_axis_to_a_block_axis(tag):
    _, B = row_sum()
    s = oc.create_schedule(B)
    with unchanged(s), raises("bind", "B", "k", f"cannot bind a reduction axis to {tag}: "
                              "blocks cannot combine their partial results; bind it to a "
                              "threadIdx axis"):
        s[B].bind(B.op.reduce_axis[0], oc.thread_axis(tag))
