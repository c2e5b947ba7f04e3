"""The GEMM schedule sizes its register tile by the target's vector registers, so the
accumulators stay in registers on AVX2 and AVX-512 alike (no spills), and it is
correct on shapes that leave tails."""
import re

import numpy as np
import pytest

import opcomp as oc
from schedules.matmul import matmul, register_tile

AVX2, AVX512 = "llvm -mcpu=haswell", "llvm -mcpu=znver5"


def vector_registers(target):
    t = oc.Target(target)
    return t.vector_bits, t.vector_registers


def test_vector_registers_of_named_cpus():
    assert vector_registers(AVX512) == (512, 32)
    assert vector_registers(AVX2) == (256, 16)
    assert vector_registers("llvm -mcpu=x86-64") == (128, 16)


@pytest.mark.parametrize("target, dtype, tile", [
    (AVX512, "float32", {"bm": 8, "bn": 32, "lanes": 16}),
    (AVX512, "float64", {"bm": 8, "bn": 16, "lanes": 8}),
    (AVX2, "float32", {"bm": 6, "bn": 16, "lanes": 8}),
    (AVX2, "float64", {"bm": 6, "bn": 8, "lanes": 4}),
])
def test_register_tile_follows_the_target(target, dtype, tile):
    assert register_tile(dtype, target) == tile


def stack_spills(asm: str) -> list:
    """Vector registers stored to or reloaded from the stack."""
    return [ln for ln in asm.splitlines() if re.search(r"[xyz]mm\d+, -?\d*\(%rsp\)|\(%rsp\), %[xyz]mm", ln)]


@pytest.mark.parametrize("target", [AVX2, AVX512])
def test_default_tile_does_not_spill(target):
    s, args = matmul(128, 128, 128, target=target)
    assert stack_spills(oc.build(s, args, target=target).source("asm")) == []


def test_a_tile_too_big_for_avx2_spills():
    """The check above can see a spill: AVX-512's tile on AVX2 spills."""
    s, args = matmul(128, 128, 128, bm=8, bn=32, lanes=16, target=AVX2)
    assert stack_spills(oc.build(s, args, target=AVX2).source("asm"))


@pytest.mark.parametrize("shape", [(37, 53, 29), (6, 16, 1), (1, 1, 1), (64, 64, 64)])
def test_host_default_matches_numpy(shape, rng):
    M, N, K = shape
    s, args = matmul(M, N, K)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = np.full((M, N), np.nan, np.float32)
    oc.build(s, args)(a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)
