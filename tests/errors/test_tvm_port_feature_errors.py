"""One test per misuse of the TVM-port features (issue 9): reducers' elementwise form,
tag_scope, compute(attrs=), multi-output scan, tensor arithmetic."""
from __future__ import annotations

import re

import pytest

import opcomp as oc


def raises(cls, text):
    return pytest.raises(cls, match=re.escape(text))


def test_elementwise_reducer_given_a_list_value():
    x = oc.var("x")
    with raises(oc.TensorError, "min: combining values elementwise takes scalar expressions, "
                "got list [1, 2]"):
        oc.min(x, 3, [1, 2])


def test_elementwise_comm_reducer_given_a_tuple_value():
    mysum = oc.comm_reducer(lambda a, b: a + b, lambda t: oc.const(0, dtype=t), name="mysum")
    x = oc.var("x")
    with raises(oc.TensorError, "mysum: combining values elementwise takes scalar expressions"):
        mysum(x, x, (1, 2))


def test_tag_scope_tag_not_a_string():
    with raises(oc.TensorError, "tag_scope: tag must be a string, got 3"):
        oc.tag_scope(tag=3)


def test_tag_scope_nested():
    with oc.tag_scope(tag="outer"):
        with raises(oc.TensorError, "tag_scope: tag 'inner' inside tag_scope 'outer'; nested "
                    "tag scopes are not allowed"):
            with oc.tag_scope(tag="inner"):
                pass


def test_compute_attrs_not_a_dict():
    A = oc.placeholder((4,), name="A")
    with raises(oc.TensorError, "compute B: attrs= must be a dict of name -> value, got list"):
        oc.compute((4,), lambda i: A[i], name="B", attrs=[1])


def test_compute_attrs_name_not_a_string():
    A = oc.placeholder((4,), name="A")
    with raises(oc.TensorError, "compute B: attrs= names must be strings, got 1"):
        oc.compute((4,), lambda i: A[i], name="B", attrs={1: 2})


def test_compute_attrs_value_of_unknown_kind():
    A = oc.placeholder((4,), name="A")
    with raises(oc.TensorError, "use ints, floats, bools, strings, lists or dicts of them"):
        oc.compute((4,), lambda i: A[i], name="B", attrs={"x": object()})


def test_reducer_too_many_positional_arguments():
    A = oc.placeholder((4,), name="A")
    k = oc.reduce_axis(4, "k")
    with raises(oc.TensorError, "sum: takes expr, axis, where, init; got 5 positional arguments"):
        oc.sum(A[k], k, None, None, 1)


def test_reducer_axis_given_twice():
    A = oc.placeholder((4,), name="A")
    k = oc.reduce_axis(4, "k")
    with raises(oc.TensorError, "sum: axis given both positionally and as axis="):
        oc.sum(A[k], k, axis=k)


def test_elementwise_reducer_with_where():
    x = oc.var("x")
    with raises(oc.TensorError, "max: where= applies to a reduction over axes, not to the "
                "elementwise form max(a, b, ...)"):
        oc.max(x, 1, where=x > 0)


def test_tensor_arithmetic_with_a_string():
    A = oc.placeholder((4,), name="A")
    with raises(oc.TensorError, "tensor add: cannot combine a tensor with a str ('x'); use a "
                "tensor, a number or a scalar expression"):
        A + "x"


def test_tensor_arithmetic_shapes_do_not_broadcast():
    A = oc.placeholder((4, 5), name="A")
    B = oc.placeholder((3,), name="B")
    with raises(oc.TensorError, "tensor multiply: shapes (4, 5) of A and (3) of B do not "
                "broadcast (extents 5 and 3)"):
        A * B


def test_tensor_arithmetic_symbolic_extents_differ():
    n, m = oc.var("n"), oc.var("m")
    A = oc.placeholder((n,), name="A")
    B = oc.placeholder((m,), name="B")
    with raises(oc.TensorError, "do not broadcast (extents n and m)"):
        A - B


def _tuple_compute():
    A = oc.placeholder((4, 8), name="A")
    B0, B1 = oc.compute((4, 8), lambda i, j: (A[i, j] + 1.0, A[i, j] * 2.0), name="B")
    return A, B0, B1


def test_cache_write_list_of_tensors_of_different_ops():
    A, B0, B1 = _tuple_compute()
    C = oc.compute((4, 8), lambda i, j: B0[i, j] + B1[i, j], name="C")
    s = oc.create_schedule(C)
    with raises(oc.ScheduleError, "cache_write: a list of tensors must be the outputs of one "
                "operation, got"):
        s.cache_write([B0, C], "local")


def test_cache_write_list_missing_an_output():
    A, B0, B1 = _tuple_compute()
    s = oc.create_schedule([B0, B1])
    with raises(oc.ScheduleError, "cache_write: stage B, axis -: the list must hold every output "
                "of B once (2 outputs share one loop nest)"):
        s.cache_write([B1], "local")


def test_build_config_unknown_option():
    with raises(oc.TensorError, "build_config: unknown option 'auto_unroll'; opcomp takes "
                "offset_factor= and data_alignment="):
        oc.build_config(auto_unroll=4)


def test_build_config_offset_factor_not_an_int():
    with raises(oc.TensorError, "build_config: offset_factor must be an int >= 0, got 1.5"):
        oc.build_config(offset_factor=1.5)


def test_thread_axis_range_not_from_zero():
    with raises(oc.ScheduleError, "thread_axis threadIdx.x: a range must be (0, n) with a "
                "constant n > 0, got (1, 32)"):
        oc.thread_axis((1, 32), "threadIdx.x")


def test_bind_loop_extent_differs_from_declared_thread_extent():
    A = oc.placeholder((128,), name="A")
    C = oc.compute((128,), lambda i: A[i] + 1, name="C")
    s = oc.create_schedule(C)
    o, i = s[C].split(C.op.axis[0], factor=16)
    with raises(oc.ScheduleError, "bind: stage C, axis i.inner: threadIdx.x was declared with "
                "extent 32 but the loop's extent is 16; they must match"):
        s[C].bind(i, oc.thread_axis((0, 32), "threadIdx.x"))


def test_extern_outputs_of_different_ranks():
    A = oc.placeholder((4,), name="A")
    with raises(oc.TensorError, "extern E: output shapes [(4,), (4, 2)] differ in rank; the "
                "outputs of one extern stage must have one rank"):
        oc.extern([(4,), (4, 2)], [A], lambda ins, outs: oc.call_extern("int32", "f"), name="E")
