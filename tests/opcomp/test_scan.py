"""Scans (recurrences over the first axis) against NumPy, with the update's
inner axes scheduled (split, vectorize, parallel)."""
from __future__ import annotations

import numpy as np

import opcomp as oc
from opcomp import Trace


def cumsum(m, n):
    X = oc.placeholder((m, n), name="X")
    S = oc.placeholder((m, n), name="S")
    init = oc.compute((1, n), lambda _, i: X[0, i], name="init")
    update = oc.compute((m, n), lambda t, i: S[t - 1, i] + X[t, i], name="update")
    return X, update, oc.scan(init, update, S, name="C")


def schedule_update(s, update, factor=8):
    io, ii = s[update].split(update.op.axis[1], factor=factor)
    s[update].vectorize(ii)
    s[update].parallel(io)
    return s


def test_cumsum_with_scheduled_update(rng):
    m, n = 19, 45
    X, update, C = cumsum(m, n)
    s = schedule_update(oc.create_schedule(C), update)
    mod = oc.build(s, [X, C])
    x = rng.standard_normal((m, n)).astype("float32")
    c = np.full((m, n), np.nan, "float32")
    mod(x, c)
    np.testing.assert_allclose(c, np.cumsum(x.astype("float64"), axis=0), rtol=1e-5, atol=1e-5)


def test_cumsum_symbolic_sizes(rng):
    m, n = oc.var("m"), oc.var("n")
    X, update, C = cumsum(m, n)
    s = oc.create_schedule(C)
    s[update].split(update.op.axis[1], factor=4)
    mod = oc.build(s, [X, C])
    for shape in ((1, 3), (7, 10)):
        x = rng.standard_normal(shape).astype("float32")
        c = np.full(shape, np.nan, "float32")
        mod(x, c)
        np.testing.assert_allclose(c, np.cumsum(x.astype("float64"), axis=0), rtol=1e-5,
                                   atol=1e-5)


def test_second_order_recurrence_with_two_init_steps(rng):
    """s[t] = s[t-1] - 0.5 * s[t-2] + x[t]; s[0], s[1] = x[0], x[1]."""
    m, n = 23, 10
    X = oc.placeholder((m, n), name="X")
    S = oc.placeholder((m, n), name="S")
    init = oc.compute((2, n), lambda t, i: X[t, i], name="init")
    update = oc.compute((m, n), lambda t, i: S[t - 1, i] - 0.5 * S[t - 2, i] + X[t, i],
                        name="update")
    C = oc.scan(init, update, S, name="C")
    Y = oc.compute((m, n), lambda t, i: C[t, i] * 2.0, name="Y")
    mod = oc.build(oc.create_schedule(Y), [X, Y])
    x = rng.standard_normal((m, n)).astype("float32")
    y = np.full((m, n), np.nan, "float32")
    mod(x, y)
    ref = x.astype("float64").copy()
    for t in range(2, m):
        ref[t] = ref[t - 1] - 0.5 * ref[t - 2] + ref[t]
    np.testing.assert_allclose(y, 2 * ref, rtol=1e-5, atol=1e-5)


def test_two_states_advance_together(rng):
    """a[t] = a[t-1] + b[t-1], b[t] = 0.5 * b[t-1] + x[t]."""
    m, n = 17, 12
    X = oc.placeholder((m, n), name="X")
    SA = oc.placeholder((m, n), name="SA")
    SB = oc.placeholder((m, n), name="SB")
    init_a = oc.compute((1, n), lambda _, i: X[0, i] * 0.0 + 1.0, name="init_a")
    init_b = oc.compute((1, n), lambda _, i: X[0, i], name="init_b")
    upd_a = oc.compute((m, n), lambda t, i: SA[t - 1, i] + SB[t - 1, i], name="upd_a")
    upd_b = oc.compute((m, n), lambda t, i: 0.5 * SB[t - 1, i] + X[t, i], name="upd_b")
    A, B = oc.scan([init_a, init_b], [upd_a, upd_b], [SA, SB], name="AB")
    s = oc.create_schedule([A, B])
    schedule_update(s, upd_b, factor=4)
    mod = oc.build(s, [X, A, B])
    x = rng.standard_normal((m, n)).astype("float32")
    a, b = np.full((m, n), np.nan, "float32"), np.full((m, n), np.nan, "float32")
    mod(x, a, b)
    ra, rb = np.ones((m, n)), x.astype("float64").copy()
    for t in range(1, m):
        ra[t] = ra[t - 1] + rb[t - 1]
        rb[t] = 0.5 * rb[t - 1] + rb[t]
    np.testing.assert_allclose(a, ra, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b, rb, rtol=1e-5, atol=1e-5)


def test_scan_reads_a_computed_input_and_an_inlined_helper(rng):
    m, n = 9, 16
    X = oc.placeholder((m, n), name="X")
    X2 = oc.compute((m, n), lambda t, i: X[t, i] * X[t, i], name="X2")
    S = oc.placeholder((m, n), name="S")
    half = oc.compute((m, n), lambda t, i: S[t - 1, i] * 0.5, name="half")
    init = oc.compute((1, n), lambda _, i: X2[0, i], name="init")
    update = oc.compute((m, n), lambda t, i: half[t, i] + X2[t, i], name="update")
    C = oc.scan(init, update, S, name="C")
    s = oc.create_schedule(C)
    s[half].compute_inline()
    mod = oc.build(s, [X, C])
    x = rng.standard_normal((m, n)).astype("float32")
    c = np.full((m, n), np.nan, "float32")
    mod(x, c)
    ref = x.astype("float64") ** 2
    for t in range(1, m):
        ref[t] = 0.5 * ref[t - 1] + ref[t]
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-6)


def test_lowered_scan_is_a_sequential_time_loop():
    X, update, C = cumsum(8, 16)
    s = schedule_update(oc.create_schedule(C), update)
    text = str(oc.lower(s, [X, C]))
    time_loop = next(line for line in text.splitlines() if "C.t.step" in line)
    assert time_loop.strip().startswith("for ") and "range(7)" in time_loop
    assert "parallel for" in text and "ramp(" in text


def test_trace_of_the_update_schedule_replays():
    X, update, C = cumsum(8, 16)
    s = schedule_update(oc.create_schedule(C), update)
    fresh = oc.create_schedule(C)
    Trace.from_json(s.trace.to_json()).apply(fresh)
    assert str(oc.lower(fresh, [X, C])) == str(oc.lower(s, [X, C]))


def test_rnn_like_update_with_a_reduction(rng):
    """h[t] = tanh applied after the scan of h[t] = h[t-1] @ W; the update reduces
    over k with a vectorized inner axis."""
    steps, n = 6, 10
    X = oc.placeholder((steps, n), name="X")
    W = oc.placeholder((n, n), name="W")
    S = oc.placeholder((steps, n), name="S")
    init = oc.compute((1, n), lambda _, i: X[0, i], name="init")
    k = oc.reduce_axis(n, "k")
    update = oc.compute((steps, n), lambda t, i: oc.sum(S[t - 1, k] * W[k, i], axis=k),
                        name="update")
    H = oc.scan(init, update, S, name="H")
    Y = oc.compute((steps, n), lambda t, i: oc.tanh(H[t, i]), name="Y")
    s = oc.create_schedule(Y)
    io, ii = s[update].split(update.op.axis[1], factor=4)
    s[update].reorder(io, k, ii)
    s[update].vectorize(ii)
    mod = oc.build(s, [X, W, Y])
    x = rng.standard_normal((steps, n)).astype("float32")
    w = (0.3 * rng.standard_normal((n, n))).astype("float32")
    y = np.full((steps, n), np.nan, "float32")
    mod(x, w, y)
    ref = np.zeros((steps, n))
    ref[0] = x[0]
    for t in range(1, steps):
        ref[t] = ref[t - 1] @ w.astype("float64")
    np.testing.assert_allclose(y, np.tanh(ref), rtol=1e-5, atol=1e-6)
