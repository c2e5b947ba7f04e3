"""Library ops with symbolic sizes (oc.size_var): one build serves every size.

Each op is built once with its row (or every) size symbolic, then run at
several sizes, 1 and primes included (tails of the vector and tile splits),
against a NumPy float64 reference on fresh random inputs.  The default
schedule must stay vectorized and parallel with symbolic sizes.
"""
import math

import numpy as np
import pytest

import opcomp as oc
import schedules

ROWS = (1, 2, 7, 13)          # 1 and primes: every split leaves a tail
LENGTHS = (1, 5, 37, 64)


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype("float32")


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * g + b


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _lowered(s, args) -> str:
    return str(oc.lower(s, args, name="f"))


@pytest.mark.parametrize("fixed_length", [False, True])
def test_row_ops_serve_every_row_count(fixed_length):
    rng = np.random.default_rng(1)
    R = oc.size_var("R")
    L = 37 if fixed_length else oc.size_var("L")
    mods = {name: oc.build(*schedules.get(name)(R, L))
            for name in ("softmax", "log_softmax", "layer_norm", "rms_norm")}
    for r in ROWS:
        for n in ((37,) if fixed_length else LENGTHS):
            x, g, b = _rand(rng, r, n), _rand(rng, n), _rand(rng, n)
            xd = x.astype(np.float64)
            y = np.empty_like(x)
            mods["softmax"](x, y)
            np.testing.assert_allclose(y, _softmax(xd), rtol=1e-5, atol=1e-6)
            mods["log_softmax"](x, y)
            np.testing.assert_allclose(y, np.log(_softmax(xd)), rtol=1e-5, atol=1e-5)
            mods["layer_norm"](x, g, b, y)
            np.testing.assert_allclose(y, _layer_norm(xd, g, b), rtol=1e-4, atol=1e-4)
            mods["rms_norm"](x, g, y)
            ref = xd / np.sqrt((xd ** 2).mean(-1, keepdims=True) + 1e-6) * g
            np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_softmax_symbolic_schedule_is_parallel_and_vectorized():
    text = _lowered(*schedules.get("softmax")(oc.size_var("R"), oc.size_var("L")))
    assert "parallel for i in range(R)" in text
    assert "ramp(" in text                       # vector loads and stores
    assert "range(L // 32)" in text or "range(L // 16)" in text or "range(L // 8)" in text


@pytest.mark.parametrize("options", [
    {},
    {"bias": True, "activation": "gelu_tanh", "transpose_b": True},
    {"transpose_a": True, "residual": True, "activation": "relu"},
])
def test_dense_serves_every_batch(options):
    rng = np.random.default_rng(2)
    N, K = 40, 33
    mod = oc.build(*schedules.get("dense")(oc.size_var("M"), N, K, **options))
    for m in ROWS + (64,):
        a = _rand(rng, K, m) if options.get("transpose_a") else _rand(rng, m, K)
        w = _rand(rng, N, K) if options.get("transpose_b") else _rand(rng, K, N)
        args = [a, w]
        ref = (a.T if options.get("transpose_a") else a).astype(np.float64) @ \
            (w.T if options.get("transpose_b") else w)
        if options.get("bias"):
            args.append(_rand(rng, N))
            ref = _gelu_tanh(ref + args[-1])
        if options.get("residual"):
            args.append(_rand(rng, m, N))
            ref = np.maximum(ref, 0) + args[-1]
        out = np.empty((m, N), np.float32)
        mod(*args, out)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_matmul_serves_every_row_count():
    rng = np.random.default_rng(3)
    s, args = schedules.get("matmul")(oc.size_var("M"), 48, 29)
    assert "ramp(" in _lowered(s, args) and "parallel" in _lowered(s, args)
    mod = oc.build(s, args)
    for m in ROWS + (50,):
        a, b = _rand(rng, m, 29), _rand(rng, 29, 48)
        c = np.empty((m, 48), np.float32)
        mod(a, b, c)
        np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def test_elementwise_ops_take_symbolic_shapes():
    rng = np.random.default_rng(4)
    R, L = oc.size_var("R"), oc.size_var("L")
    relu = oc.build(*schedules.get("relu")((R, L)))
    exp1d = oc.build(*schedules.get("exp")((L,)))
    add = oc.build(*schedules.get("add")((R, L), (L,)))
    mul = oc.build(*schedules.get("multiply")((R, 1), (R, L)))
    transpose = oc.build(*schedules.get("transpose")((R, L)))
    for r, n in ((1, 1), (3, 7), (13, 37), (2, 40000)):
        x, y, col = _rand(rng, r, n), _rand(rng, n), _rand(rng, r, 1)
        z = np.empty_like(x)
        relu(x, z)
        np.testing.assert_array_equal(z, np.maximum(x, 0))
        add(x, y, z)
        np.testing.assert_allclose(z, x.astype(np.float64) + y, rtol=1e-6)
        mul(col, x, z)
        np.testing.assert_allclose(z, col.astype(np.float64) * x, rtol=1e-6)
        t = np.empty((n, r), np.float32)
        transpose(x, t)
        np.testing.assert_array_equal(t, x.T)
        e = np.empty(n, np.float32)
        exp1d(y, e)
        np.testing.assert_allclose(e, np.exp(y.astype(np.float64)), rtol=1e-5)


def test_symbolic_elementwise_schedule_is_parallel_and_vectorized():
    text = _lowered(*schedules.get("relu")((oc.size_var("R"), oc.size_var("L"))))
    assert "parallel for" in text and "ramp(" in text


@pytest.mark.parametrize("kind", ["sum", "mean", "max", "argmax"])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_reductions_take_symbolic_shapes(kind, axis):
    rng = np.random.default_rng(5)
    mod = oc.build(*schedules.get(kind)((oc.size_var("R"), oc.size_var("L")), axis=axis))
    for shape in ((1, 1), (3, 5), (7, 37), (2, 100)):
        x = _rand(rng, *shape)
        ref = getattr(np, kind)(x.astype(np.float64), axis=axis)
        out = np.empty(np.shape(ref), np.int64 if kind == "argmax" else np.float32)
        mod(x, out)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_broadcast_of_different_symbolic_sizes_is_rejected():
    with pytest.raises(ValueError, match="shape_b: expected a shape that broadcasts"):
        schedules.get("add")((oc.size_var("R"),), (oc.size_var("S"),))
