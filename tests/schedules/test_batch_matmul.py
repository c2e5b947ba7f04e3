"""batch_matmul against float64 NumPy: W3 scaled down, tails, transposes, float64."""
import numpy as np
import pytest

import opcomp as oc
from schedules.batch_matmul import batch_matmul


def check(rng, B, M, N, K, dtype="float32", tol=1e-5, **opts):
    s, args = batch_matmul(B, M, N, K, dtype=dtype, **opts)
    a = rng.standard_normal((B, K, M) if opts.get("transpose_a") else (B, M, K)).astype(dtype)
    b = rng.standard_normal((B, N, K) if opts.get("transpose_b") else (B, K, N)).astype(dtype)
    ref = (a.transpose(0, 2, 1) if opts.get("transpose_a") else a).astype(np.float64) @ \
        (b.transpose(0, 2, 1) if opts.get("transpose_b") else b)
    out = np.full((B, M, N), np.nan, dtype)
    oc.build(s, args, bounds_check=True)(a, b, out)
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.sqrt(K))


@pytest.mark.parametrize("B, M, N, K", [(3, 24, 32, 16), (2, 13, 21, 7), (1, 1, 1, 1)])
def test_matches_numpy(rng, B, M, N, K):
    check(rng, B, M, N, K)


@pytest.mark.parametrize("ta, tb", [(True, False), (False, True)])
def test_transposed_operands(rng, ta, tb):
    check(rng, 3, 6, 16, 4, transpose_a=ta, transpose_b=tb)


def test_float64(rng):
    check(rng, 2, 6, 8, 4, dtype="float64", tol=1e-12)


def test_column_tail_keeps_the_batch_parallel_and_the_body_vectorized():
    """With N not a multiple of the panel, fusing batch and panel loops would leave a
    per-element guard in every tile; the batch loop is parallel alone instead."""
    s, args = batch_matmul(4, 12, 20, 8, target="llvm -mcpu=haswell")
    text = str(oc.lower(s, args, target="llvm -mcpu=haswell"))
    assert "parallel for b in range(4)" in text
    assert " if " not in text and "C[ramp(" in text


def test_with_packed_a(rng):
    check(rng, 2, 7, 20, 9, pack_a=True, transpose_a=True)
