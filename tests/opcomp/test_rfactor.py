"""rfactor with TVM's semantics: the factored tensor it returns, the final
reduction left in the original stage, results against NumPy and loop extents
against hand-computed ones."""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc
from opcomp.arith.simplify import simplify
from opcomp.infer_bound import infer_bound
from opcomp.ir import expr as E


def row_reduce(rows, cols, reducer=oc.sum, where=None):
    X = oc.placeholder((rows, cols), name="X")
    k = oc.reduce_axis(cols, "k")
    cond = None if where is None else where(k)
    T = oc.compute((rows,), lambda i: reducer(X[i, k], axis=k, where=cond), name="T")
    return X, T


def value(e) -> int:
    e = simplify(E.as_expr(e))
    assert isinstance(e, E.Const), e
    return e.value


def names(ivs) -> list:
    return [iv.name for iv in ivs]


def run(s, args, *inputs):
    out = np.full(tuple(value(d) for d in args[-1].shape), np.nan, args[-1].dtype)
    oc.build(s, args)(*inputs, out)
    return out


def test_rfactor_returns_the_factored_tensor():
    X, T = row_reduce(5, 37)
    s = oc.create_schedule(T)
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=8)
    TF = s.rfactor(T, ki, factor_axis=1)
    assert [st.name for st in s.stages] == ["X", "T.rf", "T"]
    assert [value(d) for d in TF.shape] == [5, 8] and s[TF] is s.stages[1]
    # T.rf: the rows, the factored axis (now data), and the rest of the reduction.
    assert names(s[TF].op.axis) == ["i", "k.inner"] and names(s[TF].op.reduce_axis) == ["k.outer"]
    assert value(s[TF].op.reduce_axis[0].extent) == 5          # ceil(37 / 8)
    assert s[TF].op.bodies[0].condition is not None                 # the tail: ko*8 + ki < 37
    # T: the final reduction over the factored axis, its data axes unchanged.
    assert s[T].op.axis == T.op.axis and names(s[T].leaf_iter_vars) == ["i", "k.inner.v"]
    assert s[T].op.bodies[0].source.tensor is TF and value(s[T].op.reduce_axis[0].extent) == 8


@pytest.mark.parametrize("factor_axis", [0, 1])
def test_rfactor_matches_numpy_for_a_prime_length(rng, factor_axis):
    X, T = row_reduce(3, 37)
    s = oc.create_schedule(T)
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=8)
    TF = s.rfactor(T, ki, factor_axis=factor_axis)
    assert [value(d) for d in TF.shape] == ([8, 3] if factor_axis == 0 else [3, 8])
    x = rng.standard_normal((3, 37)).astype(np.float32)
    np.testing.assert_allclose(run(s, [X, T], x), x.astype(np.float64).sum(1), rtol=1e-5,
                               atol=1e-5)


def test_vectorized_factored_axis(rng):
    """The point of rfactor: the partial sums run as vector lanes, the rows in parallel."""
    X, T = row_reduce(9, 70)
    s = oc.create_schedule(T)
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=16)
    TF = s.rfactor(T, ki, factor_axis=1)
    i, kf = s[TF].op.axis
    s[TF].reorder(i, s[TF].op.reduce_axis[0], kf)
    s[TF].vectorize(kf)
    s[TF].parallel(i)
    s[T].parallel(T.op.axis[0])
    text = str(oc.lower(s, [X, T]))
    assert "T.rf[ramp(" in text and "parallel for i" in text
    x = rng.standard_normal((9, 70)).astype(np.float32)
    np.testing.assert_allclose(run(s, [X, T], x), x.astype(np.float64).sum(1), rtol=1e-5,
                               atol=1e-5)


def test_factored_stage_at_the_row_loop_covers_one_row():
    X, T = row_reduce(6, 40)
    s = oc.create_schedule(T)
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=8)
    TF = s.rfactor(T, ki, factor_axis=1)
    s[TF].compute_at(s[T], T.op.axis[0])
    r = infer_bound(s)
    assert [value(r[iv].extent) for iv in s[TF].op.axis] == [1, 8]
    assert value(r[s[TF].op.reduce_axis[0]].extent) == 5


def test_factored_stage_at_the_final_reduction_loop(rng):
    """TVM's GPU idiom: T.rf computed at T's new reduction axis, one element each."""
    X, T = row_reduce(4, 24)
    s = oc.create_schedule(T)
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=4)
    TF = s.rfactor(T, ki)
    s[TF].compute_at(s[T], s[T].op.reduce_axis[0])
    assert [value(infer_bound(s)[iv].extent) for iv in s[TF].op.axis] == [1, 1]
    x = rng.standard_normal((4, 24)).astype(np.float32)
    np.testing.assert_allclose(run(s, [X, T], x), x.astype(np.float64).sum(1), rtol=1e-5,
                               atol=1e-5)


def test_rfactor_of_an_unsplit_axis_factors_the_whole_reduction(rng):
    X, T = row_reduce(3, 10)
    s = oc.create_schedule(T)
    TF = s.rfactor(T, T.op.reduce_axis[0], factor_axis=1)
    assert s[TF].op.reduce_axis == () and [value(d) for d in TF.shape] == [3, 10]
    x = rng.standard_normal((3, 10)).astype(np.float32)
    np.testing.assert_allclose(run(s, [X, T], x), x.astype(np.float64).sum(1), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("reducer, ref", [(oc.max, np.max), (oc.min, np.min), (oc.prod, np.prod)])
def test_rfactor_other_combiners(rng, reducer, ref):
    X, T = row_reduce(4, 13, reducer)
    s = oc.create_schedule(T)
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=4)
    s.rfactor(T, ki, factor_axis=1)
    x = (rng.random((4, 13)) + 0.5).astype(np.float32)
    np.testing.assert_allclose(run(s, [X, T], x), ref(x.astype(np.float64), axis=1), rtol=1e-5)


def test_rfactor_keeps_the_where_condition(rng):
    X, T = row_reduce(4, 21, where=lambda k: k % 3 != 1)
    s = oc.create_schedule(T)
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=4)
    s.rfactor(T, ko)                       # the outer part: T.rf has 6 partial sums per row
    x = rng.standard_normal((4, 21)).astype(np.float32)
    keep = np.arange(21) % 3 != 1
    np.testing.assert_allclose(run(s, [X, T], x), x[:, keep].astype(np.float64).sum(1),
                               rtol=1e-5, atol=1e-5)


def test_rfactor_with_two_reduction_axes_and_a_fuse(rng):
    """sum over (a, b) of X[i, a, b]: fuse a and b, split, factor the inner part."""
    X = oc.placeholder((3, 5, 7), name="X")
    a, b = oc.reduce_axis(5, "a"), oc.reduce_axis(7, "b")
    T = oc.compute((3,), lambda i: oc.sum(X[i, a, b], axis=[a, b]), name="T")
    s = oc.create_schedule(T)
    f = s[T].fuse(a, b)
    fo, fi = s[T].split(f, factor=8)
    TF = s.rfactor(T, fi, factor_axis=1)
    assert value(s[TF].op.reduce_axis[0].extent) == 5            # ceil(35 / 8)
    x = rng.standard_normal((3, 5, 7)).astype(np.float32)
    np.testing.assert_allclose(run(s, [X, T], x), x.astype(np.float64).sum((1, 2)), rtol=1e-5,
                               atol=1e-5)


def test_rfactor_one_of_two_reduction_axes(rng):
    X = oc.placeholder((6, 4), name="X")
    a, b = oc.reduce_axis(6, "a"), oc.reduce_axis(4, "b")
    T = oc.compute((1,), lambda i: oc.sum(X[a, b], axis=[a, b]), name="T")
    s = oc.create_schedule(T)
    TF = s.rfactor(T, b, factor_axis=0)
    assert [value(d) for d in TF.shape] == [4, 1] and names(s[TF].op.reduce_axis) == ["a"]
    x = rng.standard_normal((6, 4)).astype(np.float32)
    np.testing.assert_allclose(run(s, [X, T], x), [x.astype(np.float64).sum()], rtol=1e-5)


def test_data_axis_schedule_survives_rfactor():
    X, T = row_reduce(32, 16)
    s = oc.create_schedule(T)
    io, ii = s[T].split(T.op.axis[0], factor=8)
    s[T].parallel(io)
    ko, ki = s[T].split(T.op.reduce_axis[0], factor=4)
    s[T].unroll(ko)
    TF = s.rfactor(T, ki, factor_axis=1)
    assert names(s[T].leaf_iter_vars) == ["i.outer", "i.inner", "k.inner.v"]
    assert s[T].annotations == {io: ("parallel", None)}
    # The unrolled reduction loop moved to T.rf with its annotation.
    assert [(iv.name, a[0]) for iv, a in s[TF].annotations.items()] == [("k.outer", "unrolled")]
    s[TF].compute_at(s[T], io)
    assert [value(infer_bound(s)[iv].extent) for iv in s[TF].op.axis] == [8, 4]


def test_rfactor_with_symbolic_sizes(rng):
    n, m = oc.var("n"), oc.var("m")
    X = oc.placeholder((n, m), name="X")
    k = oc.reduce_axis(m, "k")
    T = oc.compute((n,), lambda i: oc.sum(X[i, k], axis=k), name="T")
    s = oc.create_schedule(T)
    ko, ki = s[T].split(k, factor=8)
    TF = s.rfactor(T, ki, factor_axis=1)
    s[TF].compute_at(s[T], T.op.axis[0])
    mod = oc.build(s, [X, T])
    for shape in ((1, 1), (3, 17), (5, 64)):
        x = rng.standard_normal(shape).astype(np.float32)
        t = np.empty(shape[0], np.float32)
        mod(x, t)
        np.testing.assert_allclose(t, x.astype(np.float64).sum(1), rtol=1e-5, atol=1e-5)


def test_producer_region_is_clipped_to_its_domain(rng):
    """T.rf reads P[i, ko*32 + w] for ko*32 + w < 37 only (the where= guard), but bound
    inference relaxes ko and w to [0, 64): the region is cut back to P's 37 columns."""
    X = oc.placeholder((4, 37), name="X")
    P = oc.compute((4, 37), lambda i, j: X[i, j] * 2.0, name="P")
    k = oc.reduce_axis(37, "k")
    T = oc.compute((4,), lambda i: oc.sum(P[i, k], axis=k), name="T")
    s = oc.create_schedule(T)
    ko, ki = s[T].split(k, factor=32)
    TF = s.rfactor(T, ki, factor_axis=1)
    s[TF].compute_at(s[T], T.op.axis[0])
    s[P].compute_at(s[T], T.op.axis[0])
    assert [value(infer_bound(s)[iv].extent) for iv in s[P].op.axis] == [1, 37]
    x = rng.standard_normal((4, 37)).astype(np.float32)
    t = np.empty(4, np.float32)
    oc.build(s, [X, T], bounds_check=True)(x, t)
    np.testing.assert_allclose(t, 2 * x.astype(np.float64).sum(1), rtol=1e-5, atol=1e-5)


def test_whole_reduction_factored_keeps_its_condition_as_a_guard(rng):
    """No reduction loop left, but where= still decides which reads happen: the
    excluded ones (past A's end here) are never made."""
    A = oc.placeholder((10,), name="A")
    k = oc.reduce_axis(16, "k")
    T = oc.compute((1,), lambda i: oc.sum(A[k], axis=k, where=k < 10), name="T")
    s = oc.create_schedule(T)
    TF = s.rfactor(T, k)
    assert s[TF].op.reduce_axis == () and s[TF].op.bodies[0].condition is not None
    a = rng.standard_normal(10).astype(np.float32)
    t = np.empty(1, np.float32)
    oc.build(s, [A, T], bounds_check=True)(a, t)
    np.testing.assert_allclose(t, [a.astype(np.float64).sum()], rtol=1e-5)


def test_a_where_condition_reading_the_input_stays_inside_the_tail_guard():
    """Fuzz find (seed 20261201, case 206): k in [1, 5) split by nparts=3 has a tail;
    T.rf's condition must not read A at the tail's out-of-range k (the bounds-checked
    build raised out-of-bounds; unchecked, it read past the row)."""
    A = oc.placeholder((5, 5), "float32", name="A")
    k = oc.reduce_axis((1, 5), "k")
    C = oc.compute((5,), lambda i: oc.prod(A[i, k] * A[i, k], axis=k, where=A[i, k] > 0),
                   name="C")
    s = oc.create_schedule([C])
    ko, ki = s[C].split(s[C].op.reduce_axis[0], nparts=3)
    s[C].split(ki, factor=16)
    s.rfactor(C, ko, factor_axis=1)
    mod = oc.build(s, [A, C], bounds_check=True)
    rng = np.random.default_rng(0)
    a = (rng.integers(1, 17, (5, 5)) * rng.choice([-1, 1], (5, 5)) / 8).astype("float32")
    c = np.full(5, -7, np.float32)
    mod(a, c)
    a64 = a[:, 1:].astype(np.float64)
    want = np.where(a64 > 0, a64 * a64, 1.0).prod(axis=1)
    np.testing.assert_allclose(c, want, rtol=1e-5)
