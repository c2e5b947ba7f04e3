"""bounds_check=True end to end: a planted out-of-bounds access is caught at run
time with an error that names it, and nothing at or past it is written."""
import numpy as np
import pytest

import opcomp as oc

SENTINEL = -7.0


def overrun(n):
    """C[i] = A[i + 1] over the whole of C: the last iteration reads A[n]."""
    A = oc.placeholder((n,), name="A")
    C = oc.compute((n,), lambda i: A[i + 1] * 2.0, name="C")
    return A, C


def run_checked(s, A, C, size):
    mod = oc.build(s, [A, C], bounds_check=True)
    a = np.random.default_rng(0).standard_normal(size).astype(np.float32) + 3.0
    c = np.full(size, SENTINEL, np.float32)
    with pytest.raises(RuntimeError, match=r"out-of-bounds access A\[") as err:
        mod(a, c)
    return a, c, str(err.value)


def test_planted_overrun_raises_and_leaves_the_element_unwritten():
    A, C = overrun(10)
    a, c, msg = run_checked(oc.create_schedule(C), A, C, 10)
    assert "A[i + 1]" in msg and "10" in msg
    np.testing.assert_array_equal(c[:9], a[1:] * 2)      # the safe iterations ran
    assert c[9] == SENTINEL                              # the bad one stopped before its store


def test_planted_overrun_under_split_vectorize_parallel():
    A, C = overrun(64)
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].vectorize(xi)
    s[C].parallel(xo)
    a, c, msg = run_checked(s, A, C, 64)
    assert c[-1] == SENTINEL
    np.testing.assert_array_equal(c[:56], a[1:57] * 2)   # the other tasks finished


def test_planted_overrun_with_a_symbolic_size():
    A, C = overrun(oc.var("n"))
    a, c, msg = run_checked(oc.create_schedule(C), A, C, 33)
    assert c[-1] == SENTINEL


def test_checked_build_of_a_correct_schedule_runs_and_matches(rng):
    A = oc.placeholder((37,), name="A")
    C = oc.compute((36,), lambda i: A[i + 1] - A[i], name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=8)     # a tail, guarded
    s[C].vectorize(xi)
    mod = oc.build(s, [A, C], bounds_check=True)
    a = rng.standard_normal(37).astype(np.float32)
    c = np.full(36, SENTINEL, np.float32)
    mod(a, c)
    np.testing.assert_array_equal(c, np.diff(a))


def test_checked_build_catches_a_partitioning_bug_that_drops_the_tail_guard(monkeypatch):
    """An injected compiler bug: loop partitioning keeps the guarded body for the
    tail, so the last block runs past the buffer. The checked build must say so."""
    import opcomp.passes.partition as partition
    real = partition._drop_guard
    monkeypatch.setattr(partition, "_drop_guard", lambda s, cond, value: real(s, cond, True))
    A = oc.placeholder((30,), name="A")
    C = oc.compute((30,), lambda i: A[i] + 1.0, name="C")
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[0], factor=8)
    mod = oc.build(s, [A, C], bounds_check=True)
    a = np.ones(30, np.float32)
    c = np.full(30, SENTINEL, np.float32)
    with pytest.raises(RuntimeError, match=r"out-of-bounds access"):
        mod(a, c)


def test_zero_dimensional_output_builds_checked():
    A = oc.placeholder((4,), name="A")
    k = oc.reduce_axis(4, "k")
    B = oc.compute((), lambda: oc.sum(A[k], axis=k), name="B")
    mod = oc.build(oc.create_schedule(B), [A, B], bounds_check=True)
    a = np.arange(1, 5, dtype=np.float32)
    b = np.empty((), np.float32)
    mod(a, b)
    assert b == 10
