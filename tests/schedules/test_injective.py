"""Injective ops against NumPy: elementwise math, broadcasting binary ops, relu(a + b),
transpose, pad, concatenate, cast and layout transforms."""
import math

import numpy as np
import pytest

import opcomp as oc
import schedules
from schedules.injective import BINARY, UNARY


def run(op, sizes, inputs, result_shape, result_dtype, **opts):
    s, args = schedules.get(op)(*sizes, **opts)
    out = np.zeros(result_shape, result_dtype)
    oc.build(s, args, bounds_check=True)(*inputs, out)
    return out


REF_UNARY = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "rsqrt": lambda a: 1 / np.sqrt(a),
             "tanh": np.tanh, "erf": np.vectorize(math.erf),
             "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "floor": np.floor, "ceil": np.ceil,
             "abs": np.abs, "negative": np.negative, "relu": lambda a: np.maximum(a, 0),
             "square": np.square}
REF_BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
              "divide": np.divide, "maximum": np.maximum, "minimum": np.minimum,
              "power": np.power, "relu_add": lambda a, b: np.maximum(a + b, 0)}


def test_every_op_has_a_reference():
    assert set(UNARY) == set(REF_UNARY) and set(BINARY) == set(REF_BINARY)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(rng, name):
    shape = (3, 37)                               # rows of a width that leaves a tail
    x = (rng.random(shape) * 4 - (0 if name in ("log", "sqrt", "rsqrt") else 2) + 0.01)
    x = x.astype(np.float32)
    got = run(name, (shape,), [x], shape, np.float32)
    np.testing.assert_allclose(got, REF_UNARY[name](x.astype(np.float64)), rtol=3e-6,
                               atol=1e-7)


@pytest.mark.parametrize("name, shape_a, shape_b", [
    ("add", (3, 1, 17), (5, 1)), ("subtract", (9,), (4, 9)), ("multiply", (1,), (2, 3)),
    ("divide", (4, 9), (4, 9)), ("maximum", (6, 1), (1, 11)), ("minimum", (5,), (5,)),
    ("power", (7, 3), (3,)), ("relu_add", (2, 33), (2, 33)),
])
def test_binary_broadcasting(rng, name, shape_a, shape_b):
    a = (rng.random(shape_a) * 3 + 0.1).astype(np.float32)
    b = (rng.random(shape_b) * 3 - (0 if name in ("power", "divide") else 1.5)).astype(np.float32)
    want = REF_BINARY[name](a.astype(np.float64), b)
    got = run(name, (shape_a, shape_b), [a, b], want.shape, np.float32)
    np.testing.assert_allclose(got, want, rtol=3e-6)


def test_relu_add_w10_scaled_down_exact(rng):
    """W10's op: a long row split into parallel tasks, with a tail."""
    n = 3 * 16384 + 11
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    got = run("relu_add", ((n,), (n,)), [a, b], (n,), np.float32)
    np.testing.assert_array_equal(got, np.maximum(a + b, 0))


@pytest.mark.parametrize("dtype", ["float64", "int32"])
def test_binary_other_dtypes(rng, dtype):
    a, b = rng.integers(-9, 9, (4, 13)).astype(dtype), rng.integers(-9, 9, (13,)).astype(dtype)
    got = run("relu_add", ((4, 13), (13,)), [a, b], (4, 13), dtype, dtype=dtype)
    np.testing.assert_array_equal(got, np.maximum(a + b, 0))


@pytest.mark.parametrize("shape, axes", [((3, 5), None), ((2, 3, 17), (0, 2, 1)),
                                         ((4, 1, 6, 7), (3, 0, 2, 1))])
def test_transpose(rng, shape, axes):
    x = rng.random(shape).astype(np.float32)
    want = np.transpose(x, axes)
    np.testing.assert_array_equal(run("transpose", (shape,), [x], want.shape, np.float32,
                                      axes=axes), want)


@pytest.mark.parametrize("shape, width, value", [
    ((5,), (2, 3), 1.5), ((3, 13), ((1, 2), (1, 1)), 0.0), ((2, 3, 17), 1, -2.0),
    ((4, 9), ((2, 0), (0, 0)), 3.0)])
def test_pad(rng, shape, width, value):
    x = rng.random(shape).astype(np.float32)
    want = np.pad(x, width, constant_values=value)
    got = run("pad", (shape, width), [x], want.shape, np.float32, value=value)
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got[want == 0]).any()      # a zero pad is +0.0, as in NumPy


@pytest.mark.parametrize("shapes, axis", [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 5), (2, 1)], 1)])
def test_concatenate(rng, shapes, axis):
    xs = [rng.random(sh).astype(np.float32) for sh in shapes]
    want = np.concatenate(xs, axis)
    np.testing.assert_array_equal(run("concatenate", (shapes,), xs, want.shape, np.float32,
                                      axis=axis), want)


@pytest.mark.parametrize("src, dst", [("float32", "int32"), ("int32", "float64"),
                                      ("float64", "float32"), ("float32", "bool")])
def test_cast(rng, src, dst):
    x = (rng.random((3, 37)) * 100 - 50).astype(src)
    got = run("cast", ((3, 37),), [x], (3, 37), dst, dtype=src, out_dtype=dst)
    np.testing.assert_array_equal(got, x.astype(dst))


def test_layout_transforms_round_trip(rng):
    x = rng.random((2, 12, 5, 7)).astype(np.float32)
    nhwc = run("layout_transform", (x.shape,), [x], (2, 5, 7, 12), np.float32,
               src="NCHW", dst="NHWC")
    np.testing.assert_array_equal(nhwc, x.transpose(0, 2, 3, 1))
    blocked = run("layout_transform", (x.shape,), [x], (2, 2, 5, 7, 8), np.float32,
                  src="NCHW", dst="NCHW8c")
    padded = np.concatenate([x, np.zeros((2, 4, 5, 7), np.float32)], axis=1)
    np.testing.assert_array_equal(blocked, padded.reshape(2, 2, 8, 5, 7).transpose(0, 1, 3, 4, 2))
    back = run("layout_transform", (blocked.shape,), [blocked], (2, 16, 5, 7), np.float32,
               src="NCHW8c", dst="NCHW")
    np.testing.assert_array_equal(back, padded)
