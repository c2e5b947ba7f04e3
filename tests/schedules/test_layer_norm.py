"""Layer norm and RMS norm from the library: against a float64 NumPy reference at
float32 tolerance, on odd shapes, with the vector width read from the target."""
import numpy as np
import pytest

import opcomp as oc
import schedules

AVX2, AVX512 = "llvm -mcpu=haswell", "llvm -mcpu=znver5"
SHAPES = [(1, 1), (3, 1), (1, 7), (5, 13), (2, 37), (4, 64), (3, 97), (2, 769)]


def layer_norm_ref(x, gamma, beta, eps):
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def rms_norm_ref(x, gamma, eps):
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps) * gamma


def inputs(rng, R, L, dtype=np.float32):
    x = (rng.standard_normal((R, L)) * 2 + 0.5).astype(dtype)
    return x, (rng.random(L) + 0.5).astype(dtype), rng.standard_normal(L).astype(dtype)


def run(op, R, L, *arrays, **options):
    s, args = schedules.get(op)(R, L, target="llvm", **options)
    y = np.full((R, L), np.nan, arrays[0].dtype)
    oc.build(s, args)(*arrays, y)
    return y


def as64(*arrays):
    return [a.astype(np.float64) for a in arrays]


def test_registered_with_their_arguments():
    assert {"layer_norm", "rms_norm"} <= set(schedules.list_ops())
    s, args = schedules.get("layer_norm")(6, 10, target="llvm")
    assert [t.name for t in args] == ["X", "gamma", "beta", "Y"]
    assert [[d.value for d in t.shape] for t in args] == [[6, 10], [10], [10], [6, 10]]
    s, args = schedules.get("rms_norm")(6, 10, target="llvm")
    assert [t.name for t in args] == ["X", "gamma", "Y"]


@pytest.mark.parametrize("R, L", SHAPES)
def test_layer_norm_matches_numpy(rng, R, L):
    x, g, b = inputs(rng, R, L)
    np.testing.assert_allclose(run("layer_norm", R, L, x, g, b),
                               layer_norm_ref(*as64(x, g, b), 1e-5), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("R, L", SHAPES)
def test_rms_norm_matches_numpy(rng, R, L):
    x, g, _ = inputs(rng, R, L)
    np.testing.assert_allclose(run("rms_norm", R, L, x, g), rms_norm_ref(*as64(x, g), 1e-6),
                               rtol=2e-5, atol=2e-6)


def test_eps_is_used(rng):
    """A constant row has variance 0: the output is beta, and eps keeps it finite."""
    x = np.full((2, 9), 3.0, np.float32)
    _, g, b = inputs(rng, 2, 9)
    y = run("layer_norm", 2, 9, x, g, b, eps=0.5)
    np.testing.assert_allclose(y, np.broadcast_to(b, (2, 9)), rtol=1e-6, atol=1e-6)


def test_large_offset_keeps_precision(rng):
    """Two passes (mean, then squares around it): no cancellation at a large mean."""
    x = (rng.standard_normal((3, 300)) + 1e3).astype(np.float32)
    g, b = np.ones(300, np.float32), np.zeros(300, np.float32)
    np.testing.assert_allclose(run("layer_norm", 3, 300, x, g, b),
                               layer_norm_ref(*as64(x, g, b), 1e-5), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("op", ["layer_norm", "rms_norm"])
def test_without_rfactor_matches_numpy(rng, op):
    x, g, b = inputs(rng, 3, 37)
    arrays = (x, g, b) if op == "layer_norm" else (x, g)
    ref = layer_norm_ref(*as64(x, g, b), 1e-5) if op == "layer_norm" else \
        rms_norm_ref(*as64(x, g), 1e-6)
    np.testing.assert_allclose(run(op, 3, 37, *arrays, rfactor=False), ref, rtol=1e-4,
                               atol=2e-5)


def test_float64(rng):
    x, g, b = inputs(rng, 3, 23, np.float64)
    np.testing.assert_allclose(run("layer_norm", 3, 23, x, g, b, dtype="float64"),
                               layer_norm_ref(x, g, b, 1e-5), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("target, lanes", [(AVX512, 16), (AVX2, 8)])
def test_fused_rows_parallel_and_vectorized(target, lanes):
    s, args = schedules.get("layer_norm")(64, 768, target=target)
    text = str(oc.lower(s, args, target=target))
    assert text.count("parallel for i in range(64)") == 1 and text.count("for i") == 1
    assert f"S.rf[ramp(0, 1, {4 * lanes})]" in text and f"Q.rf[ramp(0, 1, {4 * lanes})]" in text
    assert f"Y[ramp(i * 768 + j.outer * {4 * lanes}, 1, {4 * lanes})]" in text
