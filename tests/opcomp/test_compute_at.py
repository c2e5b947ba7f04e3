"""compute_at of a stage with several consumers (TVM's rule): every consumer runs
inside the attach loop, and the stage covers the union of what they read there.
Results against NumPy, regions against hand-computed extents."""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc
from opcomp.arith.simplify import simplify
from opcomp.infer_bound import infer_bound
from opcomp.ir import expr as E


def softmax(rows, cols):
    """M = row max, E = exp(X - M), S = row sum of E, Y = E / S: E has two consumers."""
    X = oc.placeholder((rows, cols), name="X")
    k1, k2 = oc.reduce_axis(cols, "k1"), oc.reduce_axis(cols, "k2")
    M = oc.compute((rows,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E_ = oc.compute((rows, cols), lambda i, j: oc.exp(X[i, j] - M[i]), name="E")
    S = oc.compute((rows,), lambda i: oc.sum(E_[i, k2], axis=k2), name="S")
    Y = oc.compute((rows, cols), lambda i, j: E_[i, j] / S[i], name="Y")
    return X, M, E_, S, Y


def softmax_ref(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def run(s, args, *inputs):
    out = np.full(tuple(d.value for d in args[-1].shape), np.nan, np.float32)
    oc.build(s, args)(*inputs, out)
    return out


def extent(ranges, iv) -> int:
    e = simplify(ranges[iv].extent)
    assert isinstance(e, E.Const), e
    return e.value


def test_softmax_fused_per_row_matches_numpy(rng):
    X, M, E_, S, Y = softmax(7, 33)
    s = oc.create_schedule(Y)
    i = Y.op.axis[0]
    for T in (M, E_, S):
        s[T].compute_at(s[Y], i)
    x = rng.standard_normal((7, 33)).astype(np.float32)
    np.testing.assert_allclose(run(s, [X, Y], x), softmax_ref(x.astype(np.float64)),
                               rtol=1e-5, atol=1e-7)


def test_softmax_fused_regions_are_one_row():
    X, M, E_, S, Y = softmax(7, 33)
    s = oc.create_schedule(Y)
    i = Y.op.axis[0]
    for T in (M, E_, S):
        s[T].compute_at(s[Y], i)
    r = infer_bound(s)
    # E is read by Y (row i) and by S (computed at row i, reading row i): one row.
    assert [extent(r, iv) for iv in s[E_].op.axis] == [1, 33]
    assert r[s[E_].op.axis[0]].min is i.var
    assert extent(r, s[M].op.axis[0]) == extent(r, s[S].op.axis[0]) == 1
    assert extent(r, s[S].op.reduce_axis[0]) == 33
    text = str(oc.lower(s, [X, Y]))
    assert "E = alloc global float32[33]" in text and "M = alloc global float32[1]" in text


def test_attach_order_does_not_matter():
    """Producers first or consumers first: the same loops."""
    lowered = []
    for order in ((0, 1, 2), (2, 1, 0), (1, 0, 2)):
        X, M, E_, S, Y = softmax(4, 16)
        s = oc.create_schedule(Y)
        for k in order:
            s[(M, E_, S)[k]].compute_at(s[Y], Y.op.axis[0])
        lowered.append(str(oc.lower(s, [X, Y])))
    assert lowered[0] == lowered[1] == lowered[2]


def test_inlined_exp_leaves_max_with_two_consumers(rng):
    """With E inlined, M is read by S and Y: both at the row loop."""
    X, M, E_, S, Y = softmax(5, 19)
    s = oc.create_schedule(Y)
    s[E_].compute_inline()
    s[M].compute_at(s[Y], Y.op.axis[0])
    s[S].compute_at(s[Y], Y.op.axis[0])
    assert extent(infer_bound(s), s[M].op.axis[0]) == 1
    x = rng.standard_normal((5, 19)).astype(np.float32)
    np.testing.assert_allclose(run(s, [X, Y], x), softmax_ref(x.astype(np.float64)),
                               rtol=1e-5, atol=1e-7)


def two_readers(n=32):
    """B is read by C1 at i and by C2 at i + 2; Y = C1 + C2."""
    A = oc.placeholder((n + 2,), name="A")
    B = oc.compute((n + 2,), lambda i: A[i] * 3.0, name="B")
    C1 = oc.compute((n,), lambda i: B[i] + 1.0, name="C1")
    C2 = oc.compute((n,), lambda i: B[i + 2] * 2.0, name="C2")
    Y = oc.compute((n,), lambda i: C1[i] + C2[i], name="Y")
    return A, B, C1, C2, Y


def two_readers_ref(a):
    b = a * 3.0
    return (b[:-2] + 1.0) + b[2:] * 2.0


def test_region_is_the_union_of_the_consumers_reads(rng):
    A, B, C1, C2, Y = two_readers()
    s = oc.create_schedule(Y)
    yo, yi = s[Y].split(Y.op.axis[0], factor=8)
    for T in (B, C1, C2):
        s[T].compute_at(s[Y], yo)
    r = infer_bound(s)
    # C1 reads [yo*8, yo*8 + 8), C2 reads [yo*8 + 2, yo*8 + 10): B covers 10 elements.
    assert extent(r, s[B].op.axis[0]) == 10
    assert extent(r, s[C1].op.axis[0]) == extent(r, s[C2].op.axis[0]) == 8
    a = rng.standard_normal(34).astype(np.float32)
    np.testing.assert_allclose(run(s, [A, Y], a), two_readers_ref(a.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)


def test_consumer_attached_deeper_than_the_producer(rng):
    """C1 at the inner loop yi runs inside B's loop yo: its reads relax over yi."""
    A, B, C1, C2, Y = two_readers(30)
    s = oc.create_schedule(Y)
    yo, yi = s[Y].split(Y.op.axis[0], factor=8)
    s[B].compute_at(s[Y], yo)
    s[C2].compute_at(s[Y], yo)
    s[C1].compute_at(s[Y], yi)
    r = infer_bound(s)
    assert extent(r, s[C1].op.axis[0]) == 1
    assert extent(r, s[B].op.axis[0]) == 10
    a = rng.standard_normal(32).astype(np.float32)
    np.testing.assert_allclose(run(s, [A, Y], a), two_readers_ref(a.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)


def test_consumer_attached_outside_the_producer_is_refused_at_lower():
    A, B, C1, C2, Y = two_readers()
    s = oc.create_schedule(Y)
    yo, yi = s[Y].split(Y.op.axis[0], factor=8)
    s[B].compute_at(s[Y], yi)
    s[C1].compute_at(s[Y], yi)
    s[C2].compute_at(s[Y], yo)        # runs before B exists in this iteration
    with pytest.raises(oc.ScheduleError, match="its consumer C2 is computed at loop i.outer "
                       "of Y, outside loop i.inner of Y"):
        oc.lower(s, [A, Y])


def test_consumer_through_a_chain_of_attached_stages(rng):
    """S is computed at a loop of T, which is computed at Y's row: S runs inside the row."""
    X = oc.placeholder((6, 20), name="X")
    B = oc.compute((6, 20), lambda i, j: X[i, j] * 2.0, name="B")
    k = oc.reduce_axis(20, "k")
    S = oc.compute((6,), lambda i: oc.sum(B[i, k], axis=k), name="S")
    T = oc.compute((6,), lambda i: S[i] + 1.0, name="T")
    Y = oc.compute((6, 20), lambda i, j: B[i, j] * T[i], name="Y")
    s = oc.create_schedule(Y)
    s[T].compute_at(s[Y], Y.op.axis[0])
    s[S].compute_at(s[T], T.op.axis[0])
    s[B].compute_at(s[Y], Y.op.axis[0])
    assert [extent(infer_bound(s), iv) for iv in s[B].op.axis] == [1, 20]
    x = rng.standard_normal((6, 20)).astype(np.float32)
    xd = x.astype(np.float64) * 2.0
    np.testing.assert_allclose(run(s, [X, Y], x), xd * (xd.sum(1, keepdims=True) + 1.0),
                               rtol=1e-5)


def test_compute_at_refusals_happen_at_the_call():
    """A consumer that can never be inside the loop is refused by compute_at itself."""
    X, M, E_, S, Y = softmax(4, 8)
    s = oc.create_schedule([S, Y])
    with pytest.raises(oc.ScheduleError, match="S also reads E but is an output"):
        s[E_].compute_at(s[Y], Y.op.axis[0])
    assert s[E_].attach_type == "root" and len(s.trace) == 0
