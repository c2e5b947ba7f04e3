"""Tuple-returning compute: several outputs of one operation, one stage, one loop nest."""
import numpy as np
import opcomp as oc

N, M = 37, 19


def pair(A, B):
    return oc.compute((N, M), lambda i, j: (A[i, j] + B[i, j], A[i, j] * B[i, j]), name="C")


def inputs(rng, *shapes):
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_outputs_share_one_operation_and_stage():
    A = oc.placeholder((N, M), name="A")
    B = oc.placeholder((N, M), name="B")
    C0, C1 = pair(A, B)
    assert C0.op is C1.op and C0.op.num_outputs == 2
    assert C0.op.output(1) is C1 and (C0.name, C1.name) == ("C.v0", "C.v1")
    s = oc.create_schedule(C0.op)
    assert s[C0] is s[C1] and len([st for st in s.stages if not st.is_placeholder]) == 1


def test_one_loop_nest_writes_every_output(rng):
    A = oc.placeholder((N, M), name="A")
    B = oc.placeholder((N, M), name="B")
    C0, C1 = pair(A, B)
    s = oc.create_schedule([C0, C1])
    _, ji = s[C1].split(C1.op.axis[1], factor=8)       # s[C1] is s[C0]
    s[C0].vectorize(ji)
    s[C0].parallel(C0.op.axis[0])
    text = str(oc.lower(s, [A, B, C0, C1]))
    assert text.count("parallel for i ") == 1 and "C.v0[ramp(" in text and "C.v1[ramp(" in text
    mod = oc.build(s, [A, B, C0, C1])
    a, b = inputs(rng, (N, M), (N, M))
    c0, c1 = np.zeros_like(a), np.zeros_like(a)
    mod(a, b, c0, c1)
    np.testing.assert_allclose(c0, a.astype(np.float64) + b, rtol=1e-6)
    np.testing.assert_allclose(c1, a.astype(np.float64) * b, rtol=1e-6)


def test_mixed_dtypes_and_one_output_only_as_argument(rng):
    """Outputs may differ in dtype; an output left out of the args is a temporary."""
    A = oc.placeholder((N,), name="A")
    Q, R = oc.compute((N,), lambda i: ((A[i] * 4.0).astype("int32"), A[i] > 0), name="Q")
    D = oc.compute((N,), lambda i: oc.select(R[i], Q[i], -Q[i]), name="D")
    assert (Q.dtype, R.dtype) == ("int32", "bool")
    s = oc.create_schedule(D)
    mod = oc.build(s, [A, D])
    (a,) = inputs(rng, (N,))
    d = np.zeros(N, np.int32)
    mod(a, d)
    q = (a * np.float32(4)).astype(np.int32)
    np.testing.assert_array_equal(d, np.where(a > 0, q, -q))


def test_compute_at_and_bound_inference(rng):
    A = oc.placeholder((N, M), name="A")
    P0, P1 = oc.compute((N, M), lambda i, j: (A[i, j] + 1.0, A[i, j] * 3.0), name="P")
    Q = oc.compute((N, M - 2), lambda i, j: P0[i, j] - P1[i, j + 2], name="Q")
    s = oc.create_schedule(Q)
    s[P1].compute_at(s[Q], Q.op.axis[0])
    bounds = oc.infer_bound(s)
    assert str(bounds[P0.op.axis[0]].extent) == "1" and str(bounds[P0.op.axis[1]].extent) == str(M)
    mod = oc.build(s, [A, Q])
    (a,) = inputs(rng, (N, M))
    q = np.zeros((N, M - 2), np.float32)
    mod(a, q)
    a64 = a.astype(np.float64)
    np.testing.assert_allclose(q, (a64[:, :-2] + 1) - a64[:, 2:] * 3, rtol=1e-5, atol=1e-6)


def test_tuple_of_builtin_reductions(rng):
    A = oc.placeholder((N, M), name="A")
    k = oc.reduce_axis(M, "k")
    S, Q = oc.compute((N,), lambda i: (oc.sum(A[i, k], axis=k), oc.sum(A[i, k] * A[i, k], axis=k)),
                      name="S")
    s = oc.create_schedule([S, Q])
    ko, ki = s[S].split(k, factor=4)
    mod = oc.build(s, [A, S, Q])
    (a,) = inputs(rng, (N, M))
    sv, qv = np.zeros(N, np.float32), np.zeros(N, np.float32)
    mod(a, sv, qv)
    a64 = a.astype(np.float64)
    np.testing.assert_allclose(sv, a64.sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(qv, (a64 * a64).sum(1), rtol=1e-5, atol=1e-5)


def test_workload_key_sees_every_output():
    A = oc.placeholder((N,), name="A")
    X0, X1 = oc.compute((N,), lambda i: (A[i] + 1.0, A[i] * 2.0), name="X")
    Y0, Y1 = oc.compute((N,), lambda i: (A[i] + 1.0, A[i] * 3.0), name="X")
    assert oc.workload_key([X0, X1]) != oc.workload_key([Y0, Y1])
    R0 = oc.compute((N,), lambda i: X0[i] * 1.0, name="R")
    R1 = oc.compute((N,), lambda i: X1[i] * 1.0, name="R")
    assert oc.workload_key(R0) != oc.workload_key(R1)


def test_cuda_emulated_tuple_compute(rng):
    A = oc.placeholder((64,), name="A")
    C0, C1 = oc.compute((64,), lambda i: (A[i] + 1.0, A[i] - 1.0), name="C")
    s = oc.create_schedule([C0, C1])
    xo, xi = s[C0].split(C0.op.axis[0], factor=32)
    s[C0].bind(xo, oc.thread_axis("blockIdx.x"))
    s[C0].bind(xi, oc.thread_axis("threadIdx.x"))
    mod = oc.build(s, [A, C0, C1], target="cuda", emulate=True)
    (a,) = inputs(rng, (64,))
    c0, c1 = np.zeros_like(a), np.zeros_like(a)
    mod(a, c0, c1)
    np.testing.assert_allclose(c0, a + np.float32(1), rtol=1e-6)
    np.testing.assert_allclose(c1, a - np.float32(1), rtol=1e-6)


def test_inlined_producer_feeds_a_tuple_compute(rng):
    A = oc.placeholder((N,), name="A")
    P = oc.compute((N,), lambda i: A[i] + 1.0, name="P")
    C0, C1 = oc.compute((N,), lambda i: (P[i] * 2.0, P[i] * P[i]), name="C")
    s = oc.create_schedule([C0, C1])
    s[P].compute_inline()
    mod = oc.build(s, [A, C0, C1])
    (a,) = inputs(rng, (N,))
    c0, c1 = np.zeros_like(a), np.zeros_like(a)
    mod(a, c0, c1)
    p = a.astype(np.float64) + 1
    np.testing.assert_allclose(c0, 2 * p, rtol=1e-6)
    np.testing.assert_allclose(c1, p * p, rtol=1e-6)
