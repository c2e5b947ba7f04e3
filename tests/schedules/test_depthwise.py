"""depthwise_conv2d against a float64 NumPy reference: W6 scaled down, stride,
padding, dilation, channel multiplier, odd sizes, every dtype."""
import numpy as np
import pytest

import opcomp as oc
from schedules.depthwise import choose_tile, depthwise_conv2d


def reference(x, w, stride, pad, dil, mult):
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    N, C, H, W = x.shape
    R, S = w.shape[2:]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
    out = np.zeros((N, C * mult, OH, OW))
    for k in range(C * mult):
        for r in range(R):
            for s in range(S):
                out[:, k] += w[k, 0, r, s] * xp[:, k // mult, r * dh:r * dh + sh * (OH - 1) + 1:sh,
                                                s * dw:s * dw + sw * (OW - 1) + 1:sw]
    return out


def check(rng, N, C, H, W, R, S, stride=(1, 1), padding=(0, 0), dilation=(1, 1), multiplier=1,
          dtype="float32", tol=1e-5):
    s, args = depthwise_conv2d(N, C, H, W, R, S, stride=stride, padding=padding,
                               dilation=dilation, multiplier=multiplier, dtype=dtype)
    if dtype == "int32":
        x = rng.integers(-9, 10, (N, C, H, W)).astype(dtype)
        w = rng.integers(-9, 10, (C * multiplier, 1, R, S)).astype(dtype)
    else:
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        w = rng.standard_normal((C * multiplier, 1, R, S)).astype(dtype)
    ref = reference(x, w, stride, padding, dilation, multiplier)
    out = np.full(ref.shape, -7, dtype)
    oc.build(s, args, bounds_check=True)(x, w, out)
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * 3)


def test_w6_scaled_down(rng):
    check(rng, 1, 8, 24, 24, 3, 3, padding=(1, 1))


def test_stride_padding_dilation(rng):
    check(rng, 2, 3, 13, 17, 3, 2, stride=(2, 3), padding=(2, 1), dilation=(2, 1))


def test_channel_multiplier(rng):
    check(rng, 1, 3, 9, 11, 3, 3, padding=(1, 1), multiplier=2)


def test_smallest(rng):
    check(rng, 1, 1, 1, 1, 1, 1)


@pytest.mark.parametrize("dtype", ["float64", "int32"])
def test_other_dtypes(rng, dtype):
    check(rng, 1, 2, 7, 10, 3, 3, padding=(1, 1), dtype=dtype, tol=1e-12)


@pytest.mark.parametrize("registers, lanes", [(16, 8), (32, 16)])
def test_tile_fits_the_registers(registers, lanes):
    bh, bw = choose_tile(56, 56, 3, 3, lanes, registers)
    assert bw % lanes == 0 and 1 <= bh * bw // lanes <= registers - 4


def test_padded_plane_is_a_vector_copy():
    """The pad stage copies rows with contiguous vectors: no gathers in the kernel."""
    s, args = depthwise_conv2d(1, 4, 16, 16, 3, 3, padding=1, target="llvm -mcpu=haswell")
    assert "masked.gather" not in oc.build(s, args, target="llvm -mcpu=haswell").source("llvm")
