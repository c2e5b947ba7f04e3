"""Tensor expressions: tensors, axes, reductions, and NumPy's dtype rules."""
from __future__ import annotations

import itertools
import operator

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.arith.simplify import simplify

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"]
BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
          "//": operator.floordiv, "%": operator.mod, "&": operator.and_, "|": operator.or_,
          "^": operator.xor, "<": operator.lt, "==": operator.eq,
          "maximum": (np.maximum, oc.maximum), "minimum": (np.minimum, oc.minimum)}


def scalar(dtype, name="X"):
    return oc.placeholder((1,), dtype=dtype, name=name)[0]


def numpy_dtype(fn, *operands):
    """The dtype NumPy gives, or None where NumPy refuses the operation."""
    try:
        return np.asarray(fn(*operands)).dtype.name
    except (TypeError, OverflowError):
        return None


# -- tensors and axes ---------------------------------------------------------------------

def test_tensor_attributes():
    A = oc.placeholder((3, 5), dtype="int64", name="A")
    assert (A.name, A.dtype, A.ndim) == ("A", "int64", 2)
    assert [s.value for s in A.shape] == [3, 5]
    C = oc.compute((3, 5), lambda row, col: A[row, col] * 2, name="C", tag="scale")
    assert [iv.name for iv in C.op.axis] == ["row", "col"] and C.op.tag == "scale"
    assert C.op.reduce_axis == () and C.op.input_tensors == [A] and C.dtype == "int64"


def test_compute_with_varargs_names_axes():
    A = oc.placeholder((2, 3, 4), name="A")
    C = oc.compute(A.shape, lambda *idx: A[idx] + 1.0, name="C")
    assert [iv.name for iv in C.op.axis] == ["i0", "i1", "i2"]


def test_symbolic_var_shapes():
    n, m = oc.var("n"), oc.var("m", "int64")
    assert (n.dtype, m.dtype) == ("int32", "int64")
    A = oc.placeholder((n, m), name="A")
    assert A.shape[0] is n and A.shape[1] is m
    B = oc.compute((n, 4), lambda i, j: A[i, j], name="B")
    assert B.op.axis[0].extent is n and B.shape[0] is n


def test_scalar_shape_is_one_dimensional():
    A = oc.placeholder(7, name="A")
    assert A.ndim == 1 and A.shape[0].value == 7


def test_zero_dimensional_tensor():
    A = oc.placeholder((), name="A")
    B = oc.compute((), lambda: A[()] * 2.0, name="B")
    assert A.ndim == 0 and B.ndim == 0


def test_reduce_axis_range():
    k = oc.reduce_axis((2, 10), "k")
    assert k.kind == "reduce" and k.min.value == 2 and simplify(k.extent).value == 8


def test_reduction_body_and_axes():
    A = oc.placeholder((4, 8, 8), name="A")
    k, r = oc.reduce_axis(8, "k"), oc.reduce_axis(8, "r")
    C = oc.compute((4,), lambda i: oc.max(A[i, k, r], axis=[k, r], where=k.var < r.var), name="C")
    body = C.op.bodies[0]
    assert isinstance(body, E.Reduce) and body.combiner == "max"
    assert C.op.reduce_axis == (k, r) and body.condition.dtype == "bool"


def test_sum_of_bool_counts_in_int32():
    M = oc.placeholder((8,), dtype="bool", name="M")
    k = oc.reduce_axis(8, "k")
    C = oc.compute((1,), lambda i: oc.sum(M[k], axis=k), name="C")
    assert C.dtype == "int32"


def test_reduce_axis_in_arithmetic():
    A = oc.placeholder((16,), name="A")
    k = oc.reduce_axis(8, "k")
    oc.compute((1,), lambda i: oc.sum(A[k * 2 + 1], axis=k, where=k < 4), name="C")


def test_comparison_truth_value_is_structural():
    i, j = oc.var("i"), oc.var("j")
    assert bool(i == i) and not bool(i == j) and bool(i != j)
    assert {i + 1: "x"}[i + 1] == "x"


# -- dtypes: NumPy's promotion -----------------------------------------------------------

@pytest.mark.parametrize("a, b, expected", [
    ("int32", "float32", "float64"), ("float16", "int8", "float16"), ("int32", "int64", "int64"),
    ("bool", "int8", "int8"), ("uint8", "int8", "int16"), ("float32", "float64", "float64")])
def test_promotion_examples(a, b, expected):
    assert (scalar(a, "X") + scalar(b, "Y")).dtype == expected == np.result_type(a, b).name


@pytest.mark.parametrize("dtype, value, expected", [
    ("float32", 2.0, "float32"), ("int32", 1, "int32"), ("int32", 1.5, "float64"),
    ("int8", 1, "int8"), ("float16", 3, "float16"), ("bool", 1, "int64"), ("uint8", 200, "uint8")])
def test_python_scalars_are_weak(dtype, value, expected):
    assert (scalar(dtype) * value).dtype == expected
    assert (value * scalar(dtype)).dtype == expected
    assert expected == np.result_type(np.dtype(dtype), value).name


def test_integer_true_division_is_float64():
    assert (scalar("int32", "X") / scalar("int32", "Y")).dtype == "float64"
    assert (scalar("int8") / 2).dtype == "float64"
    assert (scalar("float16") / 2).dtype == "float16"


@pytest.mark.parametrize("op", list(BINARY))
def test_binary_dtypes_match_numpy(op):
    np_fn, oc_fn = BINARY[op] if isinstance(BINARY[op], tuple) else (BINARY[op],) * 2
    wrong = []
    for a, b in itertools.product(DTYPES, DTYPES):
        expected = numpy_dtype(np_fn, np.ones(1, a), np.ones(1, b))
        if expected is None:            # NumPy refuses (bool - bool, float & float)
            continue
        got = oc_fn(scalar(a, "X"), scalar(b, "Y")).dtype
        if got != expected:
            wrong.append((a, op, b, got, expected))
    assert not wrong


def test_integer_power_dtype_matches_numpy():
    for a, b in itertools.product(["bool", "int8", "int32", "int64", "uint8"], repeat=2):
        expected = numpy_dtype(operator.pow, np.ones(1, a), np.ones(1, b))
        assert (scalar(a, "X") ** scalar(b, "Y")).dtype == expected


def test_float_power_dtype_matches_numpy():
    for a, b in itertools.product(["float16", "float32", "float64", "int32"], ["float32", "float64"]):
        expected = numpy_dtype(operator.pow, np.ones(1, a), np.ones(1, b))
        assert (scalar(a, "X") ** scalar(b, "Y")).dtype == expected


MATH = ["exp", "log", "sqrt", "tanh", "abs", "floor", "ceil"]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64"])
def test_elementwise_math_dtype_matches_numpy(dtype):
    for name in MATH:
        expected = numpy_dtype(getattr(np, name), np.ones(1, dtype))
        assert getattr(oc, name)(scalar(dtype)).dtype == expected, name


@pytest.mark.parametrize("dtype", ["int8", "int16", "uint8", "bool"])
def test_elementwise_math_dtype_of_small_ints_matches_numpy(dtype):
    for name in MATH:
        expected = numpy_dtype(getattr(np, name), np.ones(1, dtype))
        assert getattr(oc, name)(scalar(dtype)).dtype == expected, name


def test_astype():
    x = scalar("float32")
    assert x.astype("int8").dtype == "int8" and x.astype(np.float64).dtype == "float64"
    assert oc.const(7, "int32").astype("float16").value == 7.0


def test_astype_of_float_constant_truncates():
    assert oc.const(2.7, "float32").astype("int32").value == np.float32(2.7).astype("int32")


def test_comparisons_and_select():
    x, y = scalar("float32", "X"), scalar("int32", "Y")
    assert (x < y).dtype == "bool" and (x == 1.0).dtype == "bool"
    assert oc.select(x < 0, x, y).dtype == np.result_type("float32", "int32").name
    assert (~(x < y)).dtype == "bool" and ((x < 1) & (y > 2)).dtype == "bool"
