"""One test per tensor-expression misuse: the exact exception class and message."""
from __future__ import annotations

import re

import pytest

import opcomp as oc
from opcomp.ir import expr as E


def A2(dtype="float32"):
    return oc.placeholder((4, 8), dtype=dtype, name="A")


def raises(cls, text):
    return pytest.raises(cls, match=re.escape(text))


# -- indexing -------------------------------------------------------------------------

def test_index_wrong_number_of_indices():
    A = A2()
    with raises(oc.TensorError, "tensor A has 2 dimensions (4, 8) but was indexed with 1 indices: A[i]"):
        oc.compute((4,), lambda i: A[i], name="B")


def test_index_float():
    A = A2()
    with raises(oc.TensorError, "tensor A: index 1.5 has dtype float32; indices must be integers"):
        A[0, 1.5]


def test_index_float_expression():
    A = A2()
    with raises(oc.TensorError, "has dtype float64; indices must be integers"):
        oc.compute((4, 8), lambda i, j: A[i, j / 2], name="B")


def test_index_bool():
    A = A2()
    with raises(oc.TensorError, "tensor A: index True has dtype bool; indices must be integers"):
        A[0, True]


def test_index_slice():
    A = A2()
    with raises(oc.TensorError, "tensor A: slices are not supported in an index, use an index variable"):
        A[0, ...]


@pytest.mark.parametrize("index", [slice(0, 2), slice(None)])
def test_index_slice_used_as_value(index):
    # A[0, lo:hi] is a region (a tensor intrinsic's argument, tensor_slice.py), not a value
    A = A2()
    with raises(oc.TensorError, "is a region, an argument of a tensor intrinsic"):
        oc.compute((2,), lambda i: A[0, index] * 2.0)


# -- reductions ---------------------------------------------------------------------

def test_reduce_axis_outside_reduction():
    A = A2()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "compute B: reduce axis k is used outside a reduction over it; "
                "add it to axis= of oc.sum/max/min/prod"):
        oc.compute((4,), lambda i: A[i, k], name="B")


def test_reduce_axis_of_another_reduction():
    A = A2()
    k, r = oc.reduce_axis(8, "k"), oc.reduce_axis(8, "r")
    with raises(oc.TensorError, "compute B: reduce axis r is used outside a reduction over it"):
        oc.compute((4,), lambda i: oc.sum(A[i, k] + A[i, r], axis=k), name="B")


def test_reduce_axis_outside_reduction_in_where():
    A = A2()
    k, r = oc.reduce_axis(8, "k"), oc.reduce_axis(8, "r")
    with raises(oc.TensorError, "compute B: reduce axis r is used outside a reduction over it"):
        oc.compute((4,), lambda i: oc.sum(A[i, k], axis=k, where=r.var < 4), name="B")


def test_reduction_inside_expression():
    A = A2()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "compute B: a reduction must be the whole body of a compute, "
                "not part of an expression"):
        oc.compute((4,), lambda i: oc.sum(A[i, k], axis=k) + 1.0, name="B")


def test_nested_reduction():
    A = A2()
    k, r = oc.reduce_axis(4, "k"), oc.reduce_axis(8, "r")
    with raises(oc.TensorError, "compute B: nested reductions are not supported"):
        oc.compute((1,), lambda i: oc.sum(oc.max(A[k, r], axis=r), axis=k), name="B")


@pytest.mark.parametrize("reducer", ["sum", "max", "min", "prod"])
def test_reduction_without_axis(reducer):
    A = A2()
    with raises(oc.TensorError, f"{reducer}: axis= is required (a reduce_axis or a list of them)"):
        getattr(oc, reducer)(A[0, 0])


def test_axis_not_a_reduce_axis():
    A = A2()
    j = oc.compute((4, 8), lambda i, j: A[i, j], name="T").op.axis[1]
    with raises(oc.TensorError, "sum: axis j[0, 0+8) is not a reduce_axis"):
        oc.sum(A[0, j], axis=j)


def test_axis_is_a_plain_var():
    A = A2()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "max: axis k is not a reduce_axis"):
        oc.max(A[0, k], axis=k.var)


def test_where_not_bool():
    A = A2()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "sum: where= must be a bool expression, got int32"):
        oc.compute((4,), lambda i: oc.sum(A[i, k], axis=k, where=k), name="B")


def test_reduce_axis_range_not_a_pair():
    with raises(oc.TensorError, "reduce_axis 'k': a range is (lo, hi), got (0, 4, 8)"):
        oc.reduce_axis((0, 4, 8), "k")


def test_reduce_axis_negative_extent():
    with raises(oc.TensorError, "reduce_axis k: a shape entry must be >= 0, got -3"):
        oc.reduce_axis(-3, "k")


def test_reduce_axis_empty_range():
    with pytest.raises(oc.TensorError, match=re.escape("reduce_axis k: range (5, 2) has hi < lo")):
        oc.reduce_axis((5, 2), "k")


# -- compute / shapes / dtypes ----------------------------------------------------------

def test_fcompute_wrong_number_of_arguments():
    A = A2()
    with raises(oc.TensorError, "compute B: shape has 2 dimensions but fcompute takes 1 arguments"):
        oc.compute((4, 8), lambda i: A[i, 0], name="B")


def test_negative_shape():
    with raises(oc.TensorError, "placeholder A: a shape entry must be >= 0, got -1"):
        oc.placeholder((4, -1), name="A")


def test_float_shape():
    with raises(oc.TensorError, "placeholder A: a shape entry must be an int or an integer var, got 2.5"):
        oc.placeholder((4, 2.5), name="A")


def test_float_var_in_shape():
    with raises(oc.TensorError, "compute B: a shape entry must be an int or an integer var, got x"):
        oc.compute((E.Var("x", "float32"),), lambda i: 1.0, name="B")


def test_shape_not_a_tuple():
    with raises(oc.TensorError, "placeholder A: shape must be a tuple of ints or vars, got 'ab'"):
        oc.placeholder("ab", name="A")


def test_compute_vector_body():
    # Unreachable through the public DSL (every public dtype is scalar): built from internals.
    vec = E.Broadcast(E.const(1.0, "float32"), 4, "float32x4")
    with raises(oc.TensorError, "compute B: the body must be a scalar expression"):
        oc.compute((4,), lambda i: vec, name="B")


def test_tensor_used_as_a_scalar_value():
    # A + 1 on whole tensors is an elementwise compute (tensor_arith.py); a tensor where
    # one scalar is needed stays an error
    A = A2()
    for use in (lambda: oc.exp(A), lambda: oc.compute((4, 8), lambda i, j: A, name="B"),
                lambda: oc.compute((4, 8), lambda i, j: oc.max(A, 1.0), name="B")):
        with raises(oc.TensorError, "tensor A used as a value; index it first, e.g. A[i]"):
            use()


def test_bool_of_symbolic_comparison():
    A = A2()
    with raises(TypeError, "a symbolic expression has no truth value"):
        oc.compute((4, 8), lambda i, j: A[i, j] if A[i, j] > 0 else 0.0, name="B")


def test_bool_of_symbolic_var():
    with raises(TypeError, "a symbolic expression has no truth value: n; use oc.select"):
        bool(oc.var("n"))


def test_invert_float():
    A = A2()
    with raises(TypeError, "operator ~ needs an integer or bool operand, got float32"):
        ~A[0, 0]


def test_and_on_floats():
    A = A2()
    with raises(TypeError, "operator and needs integer or bool operands, got float32"):
        A[0, 0] & A[1, 1]


def test_negate_bool():
    M = A2("bool")
    with raises(TypeError, "operator - is not defined for bool; use ~"):
        -M[0, 0]


def test_select_non_bool_condition():
    A = A2()
    with raises(TypeError, "select: condition must be bool, got float32"):
        oc.select(A[0, 0], 1.0, 0.0)


@pytest.mark.parametrize("dtype", ["complex64", "float32x4", "int4", "string"])
def test_placeholder_unsupported_dtype(dtype):
    with raises(TypeError, f"unsupported dtype {dtype!r}; supported: bool, int8"):
        oc.placeholder((4,), dtype=dtype, name="A")


def test_astype_unsupported_dtype():
    with raises(TypeError, "unsupported dtype 'float128'"):
        A2()[0, 0].astype("float128")


@pytest.mark.parametrize("dtype", ["float32", "bool"])
def test_var_non_integer_dtype(dtype):
    with raises(oc.TensorError, f"var 'n': a size variable must have an integer dtype, got {dtype}"):
        oc.var("n", dtype)


def test_python_int_out_of_range_for_dtype():
    X = oc.placeholder((4,), dtype="int8", name="X")
    with pytest.raises((OverflowError, TypeError, ValueError)):
        X[0] + 300


def test_subtract_bools():
    M = A2("bool")
    with pytest.raises(TypeError, match="bool"):
        M[0, 0] - M[1, 1]


# -- TVM spellings ------------------------------------------------------------------------

def test_op_output_index_out_of_range():
    A = A2()
    B = oc.compute((4, 8), lambda i, j: A[i, j] * 2.0, name="B")
    with raises(oc.TensorError, "operation B: output index 1 is out of range; it has 1 output(s)"):
        B.op.output(1)
    with raises(oc.TensorError, "operation A: output index -1 is out of range; it has 1 output(s)"):
        A.op.output(-1)


def test_tuple_compute_mixes_reduction_and_elementwise():
    A = A2()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "compute B: a tuple compute's values must all be reductions "
                "or all be elementwise, not a mix"):
        oc.compute((4,), lambda i: (oc.sum(A[i, k], axis=k), A[i, 0]), name="B")


def test_tuple_compute_values_from_different_reductions():
    A = A2()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "compute B: the values of a tuple compute must come from one "
                "reduction (the same reducer, axes and where=)"):
        oc.compute((4,), lambda i: (oc.sum(A[i, k], axis=k), oc.max(A[i, k], axis=k)), name="B")


def test_tuple_compute_empty_tuple():
    with raises(oc.TensorError, "compute B: fcompute returned an empty tuple"):
        oc.compute((4,), lambda i: (), name="B")


def test_tuple_compute_nested_tuple():
    A = A2()
    with raises(oc.TensorError, "compute B: fcompute returned a nested tuple"):
        oc.compute((4,), lambda i: (A[i, 0], (A[i, 1], A[i, 2])), name="B")


def _argmax():
    def fcombine(x, y):
        take = x[1] >= y[1]
        return oc.select(take, x[0], y[0]), oc.select(take, x[1], y[1])
    return oc.comm_reducer(fcombine, lambda t0, t1: (oc.const(-1, t0), oc.min_value(t1)),
                           name="argmax")


def test_tuple_reducer_fewer_values_than_results():
    A, argmax = A2(), _argmax()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "compute B: reducer argmax gives 2 values but the compute "
                "returns 1"):
        oc.compute((4,), lambda i: argmax((k, A[i, k]), axis=k)[1], name="B")


def test_tuple_reducer_results_out_of_order():
    A, argmax = A2(), _argmax()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "compute B: value 0 is result 1 of reducer argmax; "
                "return its results in order"):
        oc.compute((4,), lambda i: tuple(reversed(argmax((k, A[i, k]), axis=k))), name="B")


def test_comm_reducer_fcombine_wrong_arity():
    A = A2()
    k = oc.reduce_axis(8, "k")
    bad = oc.comm_reducer(lambda x, y: x[0] + y[0], lambda t0, t1: (0, 0), name="bad")
    with raises(oc.TensorError, "comm_reducer bad: fcombine returned 1 value(s) for a reduction "
                "of 2 value(s); the arity must match"):
        bad((A[0, k], A[1, k]), axis=k)


def test_comm_reducer_fidentity_wrong_arity():
    A = A2()
    k = oc.reduce_axis(8, "k")
    bad = oc.comm_reducer(lambda x, y: x + y, lambda t: (0, 0), name="bad")
    with raises(oc.TensorError, "comm_reducer bad: fidentity returned 2 value(s) for a "
                "reduction of 1 value(s)"):
        bad(A[0, k], axis=k)


def test_comm_reducer_not_callable():
    with raises(oc.TensorError, "comm_reducer r: fcombine and fidentity must be callables"):
        oc.comm_reducer("add", lambda t: 0, name="r")


def test_comm_reducer_fcombine_reads_a_tensor():
    A = A2()
    k = oc.reduce_axis(8, "k")
    bad = oc.comm_reducer(lambda x, y: x + y + A[0, 0], lambda t: 0, name="bad")
    with raises(oc.TensorError, "comm_reducer bad: fcombine reads tensor A; it may only "
                "combine its two arguments"):
        bad(A[0, k], axis=k)


def test_comm_reducer_init_wrong_length():
    A, argmax = A2(), _argmax()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "comm_reducer argmax: init= has 1 value(s) for a reduction "
                "of 2 value(s)"):
        argmax((k, A[0, k]), axis=k, init=0)


def test_reduction_init_uses_reduce_axis():
    A = A2()
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "sum: init= uses reduce axis k; the starting value is one "
                "per output element"):
        oc.sum(A[0, k], axis=k, init=A[0, k])


def test_shift_on_floats():
    A = A2()
    with raises(oc.TensorError, "operator shl needs integer or bool operands, got float32"):
        A[0, 0] << 2


def test_truncdiv_on_floats():
    A = A2()
    with raises(oc.TensorError, "operator truncdiv needs integer or bool operands, got float32"):
        oc.truncdiv(A[0, 0], 2.0)


def test_bitwise_and_on_floats_is_a_tensor_error():
    A = A2()
    with raises(oc.TensorError, "operator and needs integer or bool operands, got float32"):
        oc.bitwise_and(A[0, 0], A[0, 1])


def test_bitwise_not_on_floats_is_a_tensor_error():
    A = A2()
    with raises(oc.TensorError, "operator ~ needs an integer or bool operand, got float32"):
        oc.bitwise_not(A[0, 0])


def test_popcount_on_floats():
    A = A2()
    with raises(oc.TensorError, "popcount needs an integer operand, got float32"):
        oc.popcount(A[0, 0])


def test_compute_inline_tuple_compute():
    A = A2()
    B0, B1 = oc.compute((4, 8), lambda i, j: (A[i, j] + 1.0, A[i, j] * 2.0), name="B")
    C = oc.compute((4, 8), lambda i, j: B0[i, j] + B1[i, j], name="C")
    s = oc.create_schedule(C)
    with raises(oc.ScheduleError, "compute_inline: stage B, axis -: cannot inline a "
                "tuple-returning compute (2 outputs in one loop nest); compute it at root or "
                "compute_at a consumer"):
        s[B0].compute_inline()


def test_cache_write_tuple_compute():
    A = A2()
    B0, B1 = oc.compute((4, 8), lambda i, j: (A[i, j] + 1.0, A[i, j] * 2.0), name="B")
    s = oc.create_schedule([B0, B1])
    with raises(oc.ScheduleError, "cache_write of a tuple-returning compute takes the list of "
                "all its outputs (s.cache_write([C0, C1], scope))"):
        s.cache_write(B1, "local")


def test_rfactor_user_reducer():
    A = A2()
    k = oc.reduce_axis(8, "k")
    mysum = oc.comm_reducer(lambda x, y: x + y, lambda t: oc.const(0, t), name="mysum")
    B = oc.compute((4,), lambda i: mysum(A[i, k], axis=k), name="B")
    s = oc.create_schedule(B)
    with raises(oc.ScheduleError, "rfactor of a user-defined reducer (mysum, from comm_reducer) "
                "is not supported; use oc.sum/max/min/prod"):
        s.rfactor(B, k)


def test_rfactor_tuple_reduction():
    A, argmax = A2(), _argmax()
    k = oc.reduce_axis(8, "k")
    B0, B1 = oc.compute((4,), lambda i: argmax((k, A[i, k]), axis=k), name="B")
    s = oc.create_schedule([B0, B1])
    with raises(oc.ScheduleError, "rfactor of a tuple-returning compute is not supported"):
        s.rfactor(B0, k)


def test_call_syntax_wrong_number_of_indices():
    A = A2()
    with raises(oc.TensorError, "tensor A has 2 dimensions (4, 8) but was indexed with 1 indices: A[i]"):
        oc.compute((4,), lambda i: A(i), name="B")


def test_chained_index_too_many_indices():
    A = A2()
    with raises(oc.TensorError, "tensor A has 2 dimensions (4, 8) but was indexed with 3 indices: "
                "A[i, j, 0]"):
        oc.compute((4, 8), lambda i, j: A[i][j, 0], name="B")


def test_partial_index_used_as_a_value():
    A = A2()
    with raises(oc.TensorError, "tensor A has 2 dimensions (4, 8) but was indexed with 1 indices: A[i]"):
        oc.compute((4,), lambda i: A[i] * 2.0, name="B")
    with raises(oc.TensorError, "but was indexed with 1 indices: A[i]"):
        oc.compute((4,), lambda i: 2.0 + A[i], name="B")
    k = oc.reduce_axis(8, "k")
    with raises(oc.TensorError, "but was indexed with 1 indices: A[i]"):
        oc.compute((4,), lambda i: oc.sum(A[i], axis=k), name="B")


def test_partial_index_float_index_checked_early():
    A = A2()
    with raises(oc.TensorError, "tensor A: index 1.5 has dtype float32; indices must be integers"):
        A[1.5]


def test_gradient_of_tuple_compute():
    A = A2()
    B0, B1 = oc.compute((4, 8), lambda i, j: (A[i, j] * 2.0, A[i, j] * 3.0), name="B")
    with raises(oc.GradientError, "gradient: B is a tuple-returning compute or a reduction "
                "with init=; gradient does not differentiate those yet"):
        oc.gradient(B1, [A])
