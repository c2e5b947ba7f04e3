"""conv2d NCHW and NHWC against float64 PyTorch-free NumPy references: W4/W5 scaled
down, stride, padding, dilation, groups, odd sizes, every dtype; the tile model."""
import numpy as np
import pytest

import opcomp as oc
from schedules.conv2d import choose_tile, conv2d


def reference(x, w, stride, pad, dil, groups):
    """Direct float64 convolution, NCHW, weight (K, C/groups, R, S)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
    out = np.zeros((N, K, OH, OW))
    Kg = K // groups
    for k in range(K):
        g = k // Kg
        for r in range(R):
            for s in range(S):
                patch = xp[:, g * Cg:(g + 1) * Cg, r * dh:r * dh + sh * (OH - 1) + 1:sh,
                           s * dw:s * dw + sw * (OW - 1) + 1:sw]
                out[:, k] += np.einsum("nchw,c->nhw", patch, w[k, :, r, s])
    return out


def pairs(v):
    return v if isinstance(v, tuple) else (v, v)


def check(rng, N, C, H, W, K, R, S, layout="NCHW", dtype="float32", stride=1, padding=0,
          dilation=1, groups=1, tol=1e-5, **opts):
    s, args = conv2d(N, C, H, W, K, R, S, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, layout=layout, dtype=dtype, **opts)
    if dtype == "int32":
        x = rng.integers(-4, 5, (N, C, H, W)).astype(dtype)
        w = rng.integers(-4, 5, (K, C // groups, R, S)).astype(dtype)
    else:
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        w = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    ref = reference(x, w, pairs(stride), pairs(padding), pairs(dilation), groups)
    if layout == "NHWC":
        x, w = x.transpose(0, 2, 3, 1).copy(), w.transpose(2, 3, 1, 0).copy()
        ref = ref.transpose(0, 2, 3, 1)
    out = np.full(ref.shape, -7, dtype)
    oc.build(s, args, bounds_check=True)(x, w, out)
    if dtype == "int32":
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.sqrt(C * R * S))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_w4_scaled_down(rng, layout):
    check(rng, 1, 16, 14, 14, 16, 3, 3, layout=layout, padding=1)


@pytest.mark.parametrize("layout, variant", [("NCHW", "auto"), ("NCHW", "rows"),
                                             ("NHWC", "auto")])
def test_w5_scaled_down(rng, layout, variant):
    """14 columns: not a whole number of vectors (NCHW auto: the flat variant);
    24 filters: not a whole tile."""
    check(rng, 1, 24, 14, 14, 24, 3, 3, layout=layout, padding=1, variant=variant)


def test_flat_variant_padding_dilation_groups(rng):
    check(rng, 2, 6, 9, 11, 9, 3, 2, padding=(2, 1), dilation=(1, 2), groups=3,
          variant="flat", cblock=1)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_stride_padding_dilation_groups(rng, layout):
    check(rng, 2, 6, 11, 13, 9, 3, 2, layout=layout, stride=(2, 1), padding=(2, 1),
          dilation=(1, 2), groups=3)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_one_by_one(rng, layout):
    check(rng, 1, 1, 1, 1, 1, 1, 1, layout=layout)


def test_prime_sizes_no_padding(rng):
    check(rng, 1, 5, 7, 11, 3, 2, 3)


@pytest.mark.parametrize("layout, dtype, variant", [("NCHW", "float64", "auto"),
                                                    ("NCHW", "int32", "rows"),
                                                    ("NHWC", "int32", "auto")])
def test_other_dtypes(rng, layout, dtype, variant):
    check(rng, 1, 4, 6, 9, 5, 3, 3, layout=layout, dtype=dtype, padding=1, tol=1e-12,
          variant=variant)


@pytest.mark.parametrize("registers, lanes", [(16, 8), (32, 16)])
@pytest.mark.parametrize("shape", [(56, 56, 64), (14, 14, 256), (7, 5, 3)])
def test_tile_fits_the_registers(registers, lanes, shape):
    """At most registers - 4 accumulators, and at least one full row of vectors."""
    OW, OH, K = shape
    vb, a, b = choose_tile(OW, OH, K, lanes, registers, 2)
    assert 1 <= vb * a * b <= registers - 4
    vb, a, b = choose_tile(K, 1, OH * OW, lanes, registers, 2, kind="nhwc")
    assert a == 1 and 1 <= vb * b <= registers - 4


def test_w4_tile_on_avx2_has_no_padded_columns():
    """W4's 56 columns are 7 vectors of 8: the model does not pad them."""
    vb, a, b = choose_tile(56, 56, 64, 8, 16, 2)
    assert 56 % (vb * 8) == 0 and vb * a * b >= 10


def test_stride_one_input_is_copied_without_gathers():
    """The padded copy of the input and the vectorized loads of the convolution are
    contiguous: no gathers in the kernel (a clamped index in the pad would make some)."""
    s, args = conv2d(1, 8, 14, 14, 8, 3, 3, padding=1, target="llvm -mcpu=haswell")
    llvm = oc.build(s, args, target="llvm -mcpu=haswell").source("llvm")
    assert "masked.gather" not in llvm
