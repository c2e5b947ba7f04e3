"""Integer scalar Vars as build arguments (TVM: `tvm.build(s, [A, B, x])`): the value
comes from the call, in the argument's position; shapes may depend on it."""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc

RNG = np.random.default_rng(77)


def _strided_copy():
    n, m, x = oc.size_var("n"), oc.size_var("m"), oc.size_var("x")
    A = oc.placeholder((n, m), name="A")
    B = oc.compute((m, n // x), lambda i, j: A[i, j] * 2.0, name="B")
    return A, B, x


def test_a_scalar_that_only_a_shape_uses():
    A, B, x = _strided_copy()
    mod = oc.build(oc.create_schedule(B.op), [A, B, x])
    a = RNG.random((7, 7)).astype("float32") + 0.5
    for xv in (1, 2, 3):
        b = np.full((7, 7 // xv), np.nan, np.float32)
        mod(a, b, xv)
        np.testing.assert_allclose(b, a[:, :7 // xv].astype(np.float64) * 2.0, rtol=1e-6)
    assert "x: int32" in repr(mod)


def test_a_scalar_read_by_the_body_in_the_middle_of_the_arguments():
    n = oc.size_var("n")
    shift = oc.var("shift")
    A = oc.placeholder((n,), name="A", dtype="int32")
    B = oc.compute((n,), lambda i: A[i] * shift + i, name="B")
    s = oc.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(xi)
    mod = oc.build(s, [A, shift, B])
    a = RNG.integers(-50, 50, 29).astype(np.int32)
    b = np.zeros(29, np.int32)
    mod(a, -3, b)
    np.testing.assert_array_equal(b, a * -3 + np.arange(29))
    mod(a, np.int64(5), b)            # NumPy integers are accepted
    np.testing.assert_array_equal(b, a * 5 + np.arange(29))


def test_the_exported_library_takes_the_scalar(tmp_path):
    A, B, x = _strided_copy()
    mod = oc.build(oc.create_schedule(B.op), [A, B, x], name="strided")
    path = mod.export_library(str(tmp_path / "strided.so"))
    header = (tmp_path / "strided.h").read_text()
    assert "int64_t n, int64_t m, int64_t x);" in header
    assert "x: scalar argument" in header
    loaded = oc.load_module(path)
    a = RNG.random((6, 5)).astype("float32")
    b = np.zeros((5, 3), np.float32)
    loaded(a, b, 2)
    np.testing.assert_allclose(b, a[:5, :3] * 2.0, rtol=1e-6)


def test_a_wrong_scalar_is_refused_before_anything_is_written():
    A, B, x = _strided_copy()
    mod = oc.build(oc.create_schedule(B.op), [A, B, x])
    a = RNG.random((6, 6)).astype("float32")
    b = np.full((6, 3), 7.0, np.float32)
    with pytest.raises(oc.ArgumentError, match="n // x evaluates to 2"):
        mod(a, b, 3)
    np.testing.assert_array_equal(b, 7.0)
