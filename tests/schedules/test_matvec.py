"""matvec (GEMV) against float64 NumPy: y = A @ x and A.T @ x, tails, every dtype."""
import numpy as np
import pytest

import opcomp as oc
from schedules.matvec import matvec


def check(rng, M, N, transpose_a=False, dtype="float32", tol=1e-5):
    s, args = matvec(M, N, dtype=dtype, transpose_a=transpose_a)
    shape = (N, M) if transpose_a else (M, N)
    if dtype == "int32":
        a, x = rng.integers(-9, 10, shape).astype(dtype), rng.integers(-9, 10, N).astype(dtype)
    else:
        a, x = rng.standard_normal(shape).astype(dtype), rng.standard_normal(N).astype(dtype)
    y = np.full(M, -7, dtype)
    oc.build(s, args, bounds_check=True)(a, x, y)
    want = (a.T if transpose_a else a).astype(np.float64) @ x
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol * np.sqrt(N))


@pytest.mark.parametrize("M, N", [(64, 256), (37, 53), (1, 1), (5, 3)])
@pytest.mark.parametrize("transpose_a", [False, True])
def test_matches_numpy(rng, M, N, transpose_a):
    check(rng, M, N, transpose_a)


@pytest.mark.parametrize("dtype", ["float64", "int32"])
def test_other_dtypes(rng, dtype):
    check(rng, 13, 40, dtype=dtype, tol=1e-12)
