"""Softmax and log_softmax from the library: against a float64 NumPy reference
at float32 tolerance, on odd shapes (1, primes, lengths the vector width does not
divide), with the vector width read from the target."""
import numpy as np
import pytest

import opcomp as oc
import schedules
from schedules.softmax import row_widths

AVX2, AVX512, SSE = "llvm -mcpu=haswell", "llvm -mcpu=znver5", "llvm -mcpu=x86-64"
SHAPES = [(1, 1), (3, 1), (1, 7), (5, 13), (2, 37), (4, 64), (3, 97), (2, 1031)]


def softmax_ref(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax_ref(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


REFS = {"softmax": softmax_ref, "log_softmax": log_softmax_ref}


def run(op, R, L, x, **options):
    s, (X, Y) = schedules.get(op)(R, L, target="llvm", **options)
    y = np.full((R, L), np.nan, x.dtype)
    oc.build(s, [X, Y])(x, y)
    return y


def test_registered_with_the_api_signature():
    assert {"softmax", "log_softmax"} <= set(schedules.list_ops())
    s, args = schedules.get("softmax")(6, 10, target="llvm")
    assert isinstance(s, oc.Schedule) and [t.name for t in args] == ["X", "Y"]
    assert [[d.value for d in t.shape] for t in args] == [[6, 10], [6, 10]]


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("R, L", SHAPES)
def test_matches_numpy(rng, op, R, L):
    x = (rng.standard_normal((R, L)) * 3).astype(np.float32)
    np.testing.assert_allclose(run(op, R, L, x), REFS[op](x.astype(np.float64)),
                               rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_without_rfactor_matches_numpy(rng, op):
    x = (rng.standard_normal((3, 37)) * 3).astype(np.float32)
    np.testing.assert_allclose(run(op, 3, 37, x, rfactor=False), REFS[op](x.astype(np.float64)),
                               rtol=2e-5, atol=2e-6)


def test_large_inputs_do_not_overflow(rng):
    """exp only ever sees x - max(x) <= 0."""
    x = (rng.standard_normal((4, 50)) * 1e3).astype(np.float32)
    y = run("softmax", 4, 50, x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, softmax_ref(x.astype(np.float64)), rtol=2e-5, atol=2e-6)


def test_float64(rng):
    x = rng.standard_normal((3, 23))
    np.testing.assert_allclose(run("softmax", 3, 23, x, dtype="float64"), softmax_ref(x),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("target, dtype, widths", [
    (AVX512, "float32", (16, 64)), (AVX2, "float32", (8, 32)), (SSE, "float32", (4, 16)),
    (AVX2, "float64", (4, 16)),
])
def test_vector_widths_follow_the_target(target, dtype, widths):
    assert row_widths(1024, dtype, target)[:2] == widths


@pytest.mark.parametrize("L, widths", [(5, (5, 5)), (8, (8, 8)), (20, (8, 16)), (33, (8, 32))])
def test_short_rows_narrow_the_widths(L, widths):
    assert row_widths(L, "float32", AVX2)[:2] == widths


@pytest.mark.parametrize("target, lanes", [(AVX512, 16), (AVX2, 8)])
def test_fused_rows_parallel_and_vectorized(target, lanes):
    """One pass per row: every stage at the row loop, reductions factored and vectorized."""
    s, args = schedules.get("softmax")(64, 256, target=target)
    text = str(oc.lower(s, args, target=target))
    assert text.count("parallel for i in range(64)") == 1 and text.count("for i") == 1
    assert f"M.rf[ramp(0, 1, {4 * lanes})]" in text and f"S.rf[ramp(0, 1, {4 * lanes})]" in text
    assert f"exp(X[ramp(i * 256 + j.outer * {4 * lanes}, 1, {4 * lanes})]" in text


def test_one_core_runs_rows_serially():
    target = "llvm -mcpu=haswell -cores=1"
    s, args = schedules.get("softmax")(16, 64, target=target)
    assert "parallel" not in str(oc.lower(s, args, target=target))
