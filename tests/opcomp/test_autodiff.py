"""oc.gradient: derived backward expressions, built and checked in float64.

Each gradient is checked against the analytic one where it is short (matmul,
max), and otherwise against central finite differences of the forward module
itself: <head, f(x + eps e_i) - f(x - eps e_i)> / 2 eps for every element i.
"""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E

F64 = "float64"


def _build_backward(out, inputs, head=None):
    """(forward-free) gradient module: args = used inputs, head, grads; and the grads."""
    grads = oc.gradient(out, inputs, head)
    s = oc.create_schedule(grads)
    used = [x for x in inputs if x.op in s.stage_map]
    heads = [head] if head is not None and head.op in s.stage_map else []
    return oc.build(s, used + heads + grads, name="backward"), used, grads


def _shape(t, sizes):
    return tuple(int(d.value) if isinstance(d, E.Const) else sizes[d.name] for d in t.shape)


def _check(out, inputs, sizes, rng, tol=1e-6):
    """Gradients of out w.r.t. inputs equal finite differences of the forward."""
    fwd = oc.build(oc.create_schedule(out), inputs + [out], name="forward")
    head = oc.placeholder(out.shape, out.dtype, name="head")
    bwd, used, grads = _build_backward(out, inputs, head)
    xs = [rng.standard_normal(_shape(x, sizes)) for x in inputs]
    h = rng.standard_normal(_shape(out, sizes))
    got = [np.empty_like(x) for x in xs]
    bwd(*[x for x, t in zip(xs, inputs) if t in used], h, *got)

    def loss():
        y = np.empty(h.shape)
        fwd(*xs, y)
        return float(np.sum(y * h))
    eps = 1e-6
    for x, g in zip(xs, got):
        want = np.empty_like(x)
        for i in np.ndindex(x.shape):
            keep = x[i]
            x[i] = keep + eps
            up = loss()
            x[i] = keep - eps
            want[i] = (up - loss()) / (2 * eps)
            x[i] = keep
        np.testing.assert_allclose(g, want, rtol=tol, atol=tol)
    return grads


def test_elementwise_math(rng):
    n = oc.var("n")
    x, y = (oc.placeholder((n,), F64, name=k) for k in "xy")
    z = oc.compute((n,), lambda i: oc.tanh(x[i]) * oc.sigmoid(y[i]) + oc.log(x[i] * x[i] + 1.0)
                   + oc.sqrt(oc.abs(y[i]) + 1.0) + x[i] / (y[i] * y[i] + 2.0)
                   + oc.power(x[i] * x[i] + 1.0, y[i]) + oc.erf(x[i]) - oc.exp(-y[i])
                   + oc.rsqrt(x[i] * x[i] + 1.0) + oc.minimum(x[i], y[i]), name="z")
    _check(z, [x, y], {"n": 9}, rng)


def test_elementwise_gradient_has_no_reduction():
    n = oc.var("n")
    x = oc.placeholder((n,), F64, name="x")
    z = oc.compute((n,), lambda i: x[i] * x[i], name="z")
    dx, = oc.gradient(z, [x], oc.placeholder((n,), F64, name="h"))
    assert not isinstance(dx.op.bodies[0], E.Reduce)        # no loop over z per element of x


def test_relu_derivative_at_zero_is_zero():
    x = oc.placeholder((3,), F64, name="x")
    z = oc.compute((3,), lambda i: oc.maximum(x[i], 0.0), name="z")
    bwd, _, _ = _build_backward(z, [x])
    g = np.empty(3)
    bwd(np.array([-1.0, 0.0, 2.0]), g)
    assert g.tolist() == [0.0, 0.0, 1.0]


def test_broadcast_and_transpose(rng):
    n, m = oc.var("n"), oc.var("m")
    a = oc.placeholder((n, m), F64, name="a")
    v = oc.placeholder((m,), F64, name="v")
    t = oc.compute((m, n), lambda j, i: a[i, j] * v[j] + v[j], name="t")
    _check(t, [a, v], {"n": 3, "m": 4}, rng)


def test_row_sum_and_intermediate_stage(rng):
    n, m = oc.var("n"), oc.var("m")
    a = oc.placeholder((n, m), F64, name="a")
    sq = oc.compute((n, m), lambda i, j: a[i, j] * a[i, j], name="sq")
    k = oc.reduce_axis(m, "k")
    s = oc.compute((n,), lambda i: oc.sum(sq[i, k], axis=k), name="s")
    _check(s, [a], {"n": 3, "m": 5}, rng)


def test_max_sends_the_gradient_to_the_maximum():
    a = oc.placeholder((2, 4), F64, name="a")
    k = oc.reduce_axis(4, "k")
    mx = oc.compute((2,), lambda i: oc.max(a[i, k], axis=k), name="mx")
    head = oc.placeholder((2,), F64, name="h")
    bwd, _, _ = _build_backward(mx, [a], head)
    x = np.array([[1.0, 5.0, 2.0, 0.0], [-3.0, -4.0, -1.0, -2.0]])
    g = np.empty_like(x)
    bwd(x, np.array([10.0, 20.0]), g)
    assert g.tolist() == [[0, 10, 0, 0], [0, 0, 20, 0]]


def test_min_and_prod_reductions(rng):
    a = oc.placeholder((3, 4), F64, name="a")
    k, r = oc.reduce_axis(4, "k"), oc.reduce_axis(4, "r")
    mn = oc.compute((3,), lambda i: oc.min(a[i, k], axis=k), name="mn")
    pr = oc.compute((3,), lambda i: oc.prod(a[i, r], axis=r), name="pr")
    both = oc.compute((3,), lambda i: mn[i] + pr[i], name="both")
    _check(both, [a], {}, rng)


def test_matmul_gradients_are_matmuls(rng):
    m, n, k = oc.var("m"), oc.var("n"), oc.var("k")
    a = oc.placeholder((m, k), F64, name="a")
    b = oc.placeholder((k, n), F64, name="b")
    r = oc.reduce_axis(k, "r")
    c = oc.compute((m, n), lambda i, j: oc.sum(a[i, r] * b[r, j], axis=r), name="c")
    h = oc.placeholder((m, n), F64, name="h")
    bwd, _, (da, db) = _build_backward(c, [a, b], h)
    assert [iv.extent for iv in da.op.reduce_axis] == [n]    # sums over n only
    x, y, hh = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    ga, gb = np.empty_like(x), np.empty_like(y)
    bwd(x, y, hh, ga, gb)
    np.testing.assert_allclose(ga, hh @ y.T, rtol=1e-12)
    np.testing.assert_allclose(gb, x.T @ hh, rtol=1e-12)


def _conv2d(stride: int, pad: int):
    """NCHW-like conv of D (2, 9, 8) with K (4, 2, 3, 3), zero padding as a select."""
    H, W, R = 9, 8, 3
    D = oc.placeholder((2, H, W), F64, name="D")
    K = oc.placeholder((4, 2, R, R), F64, name="K")
    P = oc.compute((2, H + 2 * pad, W + 2 * pad), lambda c, y, x: oc.select(
        (y >= pad) & (y < H + pad) & (x >= pad) & (x < W + pad),
        D[c, oc.minimum(oc.maximum(y - pad, 0), H - 1), oc.minimum(oc.maximum(x - pad, 0), W - 1)],
        oc.const(0.0, F64)), name="P")
    Ho, Wo = (H + 2 * pad - R) // stride + 1, (W + 2 * pad - R) // stride + 1
    rc, ry, rx = oc.reduce_axis(2, "rc"), oc.reduce_axis(R, "ry"), oc.reduce_axis(R, "rx")
    O = oc.compute((4, Ho, Wo), lambda f, y, x: oc.sum(
        P[rc, y * stride + ry, x * stride + rx] * K[f, rc, ry, rx], axis=[rc, ry, rx]), name="O")
    return D, K, O


def test_strided_padded_convolution(rng):
    D, K, O = _conv2d(stride=2, pad=1)
    _check(O, [D, K], {}, rng)


def test_convolution_data_gradient_sums_over_the_window_only():
    x = oc.placeholder((20,), F64, name="x")
    w = oc.placeholder((3,), F64, name="w")
    r = oc.reduce_axis(3, "r")
    y = oc.compute((18,), lambda i: oc.sum(x[i + r] * w[r], axis=r), name="y")
    dx, dw = oc.gradient(y, [x, w], oc.placeholder((18,), F64, name="h"))
    assert [int(iv.extent.value) for iv in dx.op.reduce_axis] == [3]
    assert [int(iv.extent.value) for iv in dw.op.reduce_axis] == [18]


def test_packed_layout_divmod_pair_is_solved(rng):
    x = oc.placeholder((3, 4), F64, name="x")
    y = oc.compute((12,), lambda i: x[i // 4, i % 4] * 3.0, name="y")
    dx, = oc.gradient(y, [x], oc.placeholder((12,), F64, name="h"))
    # i = j0 * 4 + j1 is solved: no sum over the 12 elements of y per element of x
    assert [iv.extent.value for iv in dx.op.reduce_axis] in ([], [1])
    _check(y, [x], {}, rng)


def test_default_head_is_ones():
    n = oc.var("n")
    x = oc.placeholder((n,), F64, name="x")
    z = oc.compute((n,), lambda i: x[i] * x[i] * x[i], name="z")
    bwd, _, _ = _build_backward(z, [x])
    g = np.empty(4)
    bwd(np.arange(4.0), g)
    np.testing.assert_array_equal(g, 3 * np.arange(4.0) ** 2)


def test_two_outputs_add_up(rng):
    x = oc.placeholder((5,), F64, name="x")
    a = oc.compute((5,), lambda i: x[i] * 2.0, name="a")
    b = oc.compute((5,), lambda i: x[i] * x[i], name="b")
    ha, hb = (oc.placeholder((5,), F64, name=k) for k in ("ha", "hb"))
    dx, = oc.gradient([a, b], [x], [ha, hb])
    mod = oc.build(oc.create_schedule(dx), [x, ha, hb, dx])
    xs, u, v = (rng.standard_normal(5) for _ in range(3))
    g = np.empty(5)
    mod(xs, u, v, g)
    np.testing.assert_allclose(g, 2 * u + 2 * xs * v, rtol=1e-12)


def test_unreached_input_gets_zeros():
    x = oc.placeholder((3,), F64, name="x")
    y = oc.placeholder((3,), F64, name="y")
    u = oc.compute((3,), lambda i: x[i] + 0 * y[i].astype("int32").astype(F64), name="u")
    # y feeds u only through an integer cast: no derivative reaches it.
    dx, dy = oc.gradient(u, [x, y])
    g = np.full(3, 7.0)
    oc.build(oc.create_schedule(dy), [dy])(g)
    assert g.tolist() == [0.0, 0.0, 0.0]


def test_float32_gradient_keeps_float32():
    x = oc.placeholder((4,), "float32", name="x")
    z = oc.compute((4,), lambda i: oc.exp(x[i]), name="z")
    dx, = oc.gradient(z, [x])
    assert dx.dtype == "float32"


# -- misuse --------------------------------------------------------------------------------
def _square():
    x = oc.placeholder((3,), F64, name="x")
    return x, oc.compute((3,), lambda i: x[i] * x[i], name="z")


def test_error_integer_input():
    i = oc.placeholder((3,), "int32", name="i")
    z = oc.compute((3,), lambda k: i[k].astype(F64), name="z")
    with pytest.raises(oc.GradientError, match="input i has dtype int32; only float tensors"):
        oc.gradient(z, [i])


def test_error_head_shape():
    x, z = _square()
    with pytest.raises(oc.GradientError, match=r"head h must have the shape and dtype of output "
                       r"z, \(3\) float64; got \(4\) float64"):
        oc.gradient(z, [x], oc.placeholder((4,), F64, name="h"))


def test_error_input_not_in_graph():
    x, z = _square()
    other = oc.placeholder((3,), F64, name="other")
    with pytest.raises(oc.GradientError, match="input other is not part of the computation of z"):
        oc.gradient(z, [other])


def test_error_output_is_a_placeholder():
    x, _ = _square()
    with pytest.raises(oc.GradientError, match="output must be a compute tensor"):
        oc.gradient(x, [x])


def test_error_head_count():
    x, z = _square()
    with pytest.raises(oc.GradientError, match="1 outputs but 2 heads"):
        oc.gradient([z], [x], [z, z])
