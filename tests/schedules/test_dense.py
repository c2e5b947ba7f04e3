"""dense: A @ B with either operand transposed and a fused epilogue, against float64 NumPy
(float32 rounding), on the W2/W9 shapes scaled down and on shapes that leave tails."""
import math
import re

import numpy as np
import pytest

import opcomp as oc
from schedules.dense import dense, register_tile

AVX2, AVX512 = "llvm -mcpu=haswell", "llvm -mcpu=znver5"


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    from math import erf
    return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


ACT = {None: lambda x: x, "relu": lambda x: np.maximum(x, 0), "gelu_tanh": gelu_tanh,
       "gelu_erf": gelu_erf}


def check(rng, M, N, K, dtype="float32", tol=1e-5, **opts):
    s, args = dense(M, N, K, dtype=dtype, **opts)
    a = rng.standard_normal((K, M) if opts.get("transpose_a") else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if opts.get("transpose_b") else (K, N)).astype(dtype)
    ins = [a, b]
    ref = (a.T if opts.get("transpose_a") else a).astype(np.float64) @ \
        (b.T if opts.get("transpose_b") else b)
    if opts.get("bias"):
        ins.append(rng.standard_normal(N).astype(dtype))
        ref = ref + ins[-1]
    ref = ACT[opts.get("activation")](ref)
    if opts.get("residual"):
        ins.append(rng.standard_normal((M, N)).astype(dtype))
        ref = ref + ins[-1]
    out = np.full((M, N), np.nan, dtype)
    oc.build(s, args, bounds_check=True)(*ins, out)
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * math.sqrt(K))


@pytest.mark.parametrize("M, N, K", [(24, 64, 48), (37, 53, 29), (1, 1, 1)])
def test_plain_product(rng, M, N, K):
    """W2 scaled down (whole tiles), tails in every dimension, and the smallest."""
    check(rng, M, N, K)


@pytest.mark.parametrize("ta, tb", [(True, False), (True, True)])
def test_transposed_operands(rng, ta, tb):
    check(rng, 12, 16, 8, transpose_a=ta, transpose_b=tb)


@pytest.mark.parametrize("activation", ["relu", "gelu_tanh", "gelu_erf"])
def test_fused_activation_with_bias(rng, activation):
    check(rng, 6, 16, 8, bias=True, activation=activation, tol=2e-5)


def test_full_epilogue_transposed_b(rng):
    """bias, gelu and a residual add on PyTorch's Linear layout (W9's layer, scaled down)."""
    check(rng, 6, 20, 8, bias=True, activation="gelu_tanh", residual=True, transpose_b=True,
          tol=2e-5)


def test_float64(rng):
    check(rng, 6, 8, 8, dtype="float64", tol=1e-12, bias=True, activation="gelu_erf")


@pytest.mark.parametrize("target, dtype, tile", [
    (AVX2, "float32", {"bm": 4, "bn": 24, "lanes": 8}),
    (AVX512, "float32", {"bm": 8, "bn": 32, "lanes": 16}),
    (AVX2, "float64", {"bm": 4, "bn": 12, "lanes": 4}),
])
def test_register_tile_follows_the_target(target, dtype, tile):
    assert register_tile(dtype, target) == tile


def test_register_tile_avoids_padding_a_column_tail():
    """128 columns are 5 panels of 24 and a tail of 8, or 8 panels of 16."""
    assert register_tile("float32", AVX2, 128, 3072) == {"bm": 4, "bn": 24, "lanes": 8}
    assert register_tile("float32", AVX2, 128, 128) == {"bm": 6, "bn": 16, "lanes": 8}


def k_loops(asm: str) -> list:
    """The basic blocks of the GEMM's k loop: many FMAs fed by broadcasts from memory."""
    blocks, cur = [], []
    for line in asm.splitlines():
        if re.match(r"\.LBB\d+_\d+:", line):
            blocks.append(cur)
            cur = []
        cur.append(line)
        if re.match(r"\s+j[a-z]+\s", line):
            blocks.append(cur)
            cur = []
    blocks.append(cur)
    text = ["\n".join(b) for b in blocks]
    return [b for b in text if b.count("vfmadd231p") >= 12 and
            len(re.findall(r"vbroadcasts[sd]\s+-?\d*\(%r(?!ip)", b)) >= 4]


@pytest.mark.parametrize("target", [AVX2, AVX512])
def test_fused_gelu_keeps_the_k_loop_in_registers(target):
    """The register tile of the fused layer stays in registers across the k loop
    (the epilogue after it may use the stack for tanh's temporaries)."""
    s, args = dense(24, 32, 64, bias=True, activation="gelu_tanh", target=target)
    loops = k_loops(oc.build(s, args, target=target).source("asm"))
    assert loops
    assert all("(%rsp)" not in b for b in loops)


def test_the_check_sees_a_spill():
    """AVX-512's 8 x 32 tile on AVX2 does not fit its 16 registers."""
    s, args = dense(24, 32, 64, bm=8, bn=32, target=AVX2)
    loops = k_loops(oc.build(s, args, target=AVX2).source("asm"))
    assert any("(%rsp)" in b for b in loops)


def test_without_packing_a(rng):
    check(rng, 7, 20, 9, pack_a=False, transpose_a=True)
