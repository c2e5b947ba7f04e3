"""Reductions (sum, mean, max, min, prod over any axes, keepdims) and argmax/argmin
against float64 NumPy."""
import numpy as np
import pytest

import opcomp as oc
from schedules.reduce import arg_reduce, reduce

NP = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}


def run(s, args, x, out_dtype):
    out = np.full([d.value for d in args[-1].shape], -7, out_dtype)
    # bounds_check fails to build with a 0-d buffer (compiler bug, see the report)
    zero_d = any(not st.op.shape for st in s.stages if not st.is_placeholder)
    oc.build(s, args, bounds_check=not zero_d)(x, out)
    return out


@pytest.mark.parametrize("kind, shape, axis, keepdims", [
    ("sum", (64, 128), -1, False),          # the softmax rows of W7, scaled down
    ("sum", (5, 37), 0, True),              # the last axis kept: vector blocks with a tail
    ("sum", (3, 5, 64), 1, False),          # ... whole blocks, fused into the parallel loop
    ("mean", (3, 4, 37), (0, 2), False),    # the last axis reduced with others: lanes + tail
    ("max", (2, 3, 70), 1, True),
    ("min", (7, 33), None, False),          # everything: a 0-d result
    ("prod", (4, 9), 1, False),
    ("sum", (1,), 0, False),
])
def test_matches_numpy(rng, kind, shape, axis, keepdims):
    x = (rng.random(shape) + 0.5).astype(np.float32)
    got = run(*reduce(shape, axis, kind, keepdims), x, np.float32)
    want = NP[kind](x.astype(np.float64), axis=axis, keepdims=keepdims)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-6)


@pytest.mark.parametrize("dtype, kind", [("float64", "sum"), ("int32", "max"), ("int32", "sum")])
def test_other_dtypes(rng, dtype, kind):
    x = rng.integers(-50, 50, (6, 41)).astype(dtype)
    got = run(*reduce((6, 41), 1, kind, dtype=dtype), x, dtype)
    np.testing.assert_allclose(got, NP[kind](x, axis=1), rtol=1e-12)


@pytest.mark.parametrize("kind", ["argmax", "argmin"])
@pytest.mark.parametrize("shape, axis", [((5, 37), 1), ((4, 3, 9), 0), ((6, 7), None)])
def test_arg_reduce_first_index_and_nan(rng, kind, shape, axis):
    x = rng.integers(0, 4, shape).astype(np.float32)       # ties: the first index wins
    x.flat[len(x.flat) // 2] = np.nan                       # NaN wins, as in NumPy
    got = run(*arg_reduce(shape, axis, kind), x, np.int64)
    np.testing.assert_array_equal(got, getattr(np, kind)(x, axis=axis))


def test_argmax_int32_keepdims(rng):
    x = rng.integers(-5, 5, (3, 11)).astype(np.int32)
    got = run(*arg_reduce((3, 11), -1, "argmax", keepdims=True, dtype="int32"), x, np.int64)
    np.testing.assert_array_equal(got, np.argmax(x, axis=-1, keepdims=True))
