"""max_pool2d and avg_pool2d against float64 NumPy references (PyTorch's floor mode)."""
import numpy as np
import pytest

import opcomp as oc
from schedules.pool import avg_pool2d, max_pool2d


def windows(x, R, S, stride, pad, fill):
    """(N, C, OH, OW, R, S) windows of x padded with fill."""
    (sh, sw), (ph, pw) = stride, pad
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    OH, OW = (xp.shape[2] - R) // sh + 1, (xp.shape[3] - S) // sw + 1
    out = np.empty(x.shape[:2] + (OH, OW, R, S))
    for r in range(R):
        for s in range(S):
            out[..., r, s] = xp[:, :, r:r + sh * (OH - 1) + 1:sh, s:s + sw * (OW - 1) + 1:sw]
    return out


def run(s, args, x):
    out = np.full([d.value for d in args[-1].shape], -7, x.dtype)
    oc.build(s, args, bounds_check=True)(x, out)
    return out


CASES = [((1, 8, 16, 16), 3, 3, (2, 2), (1, 1)), ((2, 3, 11, 13), 2, 3, (1, 2), (1, 1)),
         ((1, 1, 1, 1), 1, 1, (1, 1), (0, 0))]


@pytest.mark.parametrize("shape, R, S, stride, pad", CASES)
def test_max_pool(rng, shape, R, S, stride, pad):
    x = rng.standard_normal(shape).astype(np.float32)
    got = run(*max_pool2d(*shape, R, S, stride=stride, padding=pad), x)
    np.testing.assert_array_equal(got, windows(x, R, S, stride, pad, -np.inf).max(axis=(4, 5)))


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("shape, R, S, stride, pad", CASES[:2])
def test_avg_pool(rng, shape, R, S, stride, pad, include):
    x = rng.standard_normal(shape).astype(np.float32)
    got = run(*avg_pool2d(*shape, R, S, stride=stride, padding=pad, count_include_pad=include),
              x)
    win = windows(x, R, S, stride, pad, 0.0).sum(axis=(4, 5))
    count = R * S if include else windows(np.ones_like(x), R, S, stride, pad, 0).sum(axis=(4, 5))
    np.testing.assert_allclose(got, win / count, rtol=1e-5, atol=1e-6)


def test_max_pool_int32_and_default_stride(rng):
    x = rng.integers(-1000, 1000, (1, 2, 9, 8)).astype(np.int32)
    got = run(*max_pool2d(1, 2, 9, 8, 3, 2, dtype="int32"), x)
    np.testing.assert_array_equal(got, windows(x, 3, 2, (3, 2), (0, 0), 0).max(axis=(4, 5)))


def test_avg_pool_float64(rng):
    x = rng.standard_normal((1, 2, 7, 7))
    got = run(*avg_pool2d(1, 2, 7, 7, 3, 3, stride=2, padding=1, dtype="float64"), x)
    np.testing.assert_allclose(got, windows(x, 3, 3, (2, 2), (1, 1), 0).mean(axis=(4, 5)),
                               rtol=1e-13)
