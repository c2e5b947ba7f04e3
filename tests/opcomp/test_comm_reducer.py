"""User-defined reducers (comm_reducer), tuple reducers (argmax/argmin) and init=."""
import numpy as np

import opcomp as oc

N, M = 23, 41


def argreducer(better, name):
    """(index, value) pairs: keep the lhs when better(lhs value, rhs value) holds or ties."""
    def fcombine(x, y):
        keep = better(x[1], y[1]) | ((x[1] == y[1]) & (x[0] < y[0]))
        return oc.select(keep, x[0], y[0]), oc.select(keep, x[1], y[1])

    def fidentity(t0, t1):
        start = oc.min_value(t1) if name == "argmax" else oc.max_value(t1)
        return oc.const(-1, t0), start
    return oc.comm_reducer(fcombine, fidentity, name=name)


def data(rng, shape=(N, M)):
    return rng.standard_normal(shape).astype(np.float32)


def test_argmax_and_argmin(rng):
    A = oc.placeholder((N, M), name="A")
    k = oc.reduce_axis(M, "k")
    for name, better, ref in (("argmax", lambda a, b: a > b, np.argmax),
                              ("argmin", lambda a, b: a < b, np.argmin)):
        red = argreducer(better, name)
        I, V = oc.compute((N,), lambda i: red((k, A[i, k]), axis=k), name="T")
        s = oc.create_schedule([I, V])
        s[I].parallel(I.op.axis[0])
        mod = oc.build(s, [A, I, V])
        a = data(rng)
        a[3, 5] = a[3, 9] = a[3].max() + 1          # a tie: the first index wins, as NumPy
        a[4, 7] = a[4, 2] = a[4].min() - 1
        idx, val = np.zeros(N, np.int32), np.zeros(N, np.float32)
        mod(a, idx, val)
        np.testing.assert_array_equal(idx, ref(a, axis=1))
        np.testing.assert_array_equal(val, a[np.arange(N), ref(a, axis=1)])


def test_argmax_with_where_and_split_reduction(rng):
    A = oc.placeholder((N, M), name="A")
    k = oc.reduce_axis(M, "k")
    red = argreducer(lambda a, b: a > b, "argmax")
    I, V = oc.compute((N,), lambda i: red((k, A[i, k]), axis=k, where=k % 3 != 0), name="T")
    s = oc.create_schedule([I, V])
    ko, ki = s[I].split(k, factor=8)
    mod = oc.build(s, [A, I, V])
    a = data(rng)
    idx, val = np.zeros(N, np.int32), np.zeros(N, np.float32)
    mod(a, idx, val)
    masked = np.where(np.arange(M) % 3 != 0, a, -np.inf)
    np.testing.assert_array_equal(idx, masked.argmax(1))
    np.testing.assert_array_equal(val, masked.max(1))


def test_single_value_user_reducer(rng):
    A = oc.placeholder((N, M), name="A")
    k = oc.reduce_axis(M, "k")
    sumsq = oc.comm_reducer(lambda x, y: x + y * y, lambda t: oc.const(0, t), name="sumsq")
    S = oc.compute((N,), lambda i: sumsq(A[i, k], axis=k), name="S")
    mod = oc.build(oc.create_schedule(S), [A, S])
    a = data(rng)
    out = np.zeros(N, np.float32)
    mod(a, out)
    np.testing.assert_allclose(out, (a.astype(np.float64) ** 2).sum(1), rtol=1e-5)
    assert "sumsq(" in str(S.op.bodies[0])


def test_integer_reducer_bitwise_or(rng):
    A = oc.placeholder((N, M), "uint32", name="A")
    k = oc.reduce_axis(M, "k")
    bor = oc.comm_reducer(lambda x, y: x | y, lambda t: oc.const(0, t), name="bitor")
    S = oc.compute((N,), lambda i: bor(A[i, k], axis=k), name="S")
    mod = oc.build(oc.create_schedule(S), [A, S])
    a = rng.integers(0, 2**32, (N, M), dtype=np.uint32) & rng.integers(0, 2**32, (N, M),
                                                                       dtype=np.uint32)
    out = np.zeros(N, np.uint32)
    mod(a, out)
    np.testing.assert_array_equal(out, np.bitwise_or.reduce(a, axis=1))


def test_init_replaces_the_identity(rng):
    A = oc.placeholder((N, M), name="A")
    B = oc.placeholder((N,), name="B")
    k = oc.reduce_axis(M, "k")
    S = oc.compute((N,), lambda i: oc.sum(A[i, k], axis=k, init=B[i] * 10.0), name="S")
    X = oc.compute((N,), lambda i: oc.max(A[i, k], axis=k, init=0.5), name="X")
    s = oc.create_schedule([S, X])
    mod = oc.build(s, [A, B, S, X])
    a, b = data(rng), data(rng, (N,))
    sv, xv = np.zeros(N, np.float32), np.zeros(N, np.float32)
    mod(a, b, sv, xv)
    np.testing.assert_allclose(sv, a.astype(np.float64).sum(1) + b * np.float32(10), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(xv, np.maximum(a.max(1), 0.5))


def test_tuple_reducer_init(rng):
    A = oc.placeholder((N, M), name="A")
    k = oc.reduce_axis(M, "k")
    red = argreducer(lambda a, b: a > b, "argmax")
    I, V = oc.compute((N,), lambda i: red((k, A[i, k]), axis=k, init=(-7, 1.0)), name="T")
    mod = oc.build(oc.create_schedule([I, V]), [A, I, V])
    a = data(rng)
    idx, val = np.zeros(N, np.int32), np.zeros(N, np.float32)
    mod(a, idx, val)
    above = a.max(1) > 1.0
    np.testing.assert_array_equal(idx, np.where(above, a.argmax(1), -7))
    np.testing.assert_array_equal(val, np.where(above, a.max(1), 1.0).astype(np.float32))


def test_argmax_on_the_cuda_emulator(rng):
    A = oc.placeholder((64, M), name="A")
    k = oc.reduce_axis(M, "k")
    red = argreducer(lambda a, b: a > b, "argmax")
    I, V = oc.compute((64,), lambda i: red((k, A[i, k]), axis=k), name="T")
    s = oc.create_schedule([I, V])
    xo, xi = s[I].split(I.op.axis[0], factor=32)
    s[I].bind(xo, oc.thread_axis("blockIdx.x"))
    s[I].bind(xi, oc.thread_axis("threadIdx.x"))
    mod = oc.build(s, [A, I, V], target="cuda", emulate=True)
    a = data(rng, (64, M))
    idx, val = np.zeros(64, np.int32), np.zeros(64, np.float32)
    mod(a, idx, val)
    np.testing.assert_array_equal(idx, a.argmax(1))
    np.testing.assert_array_equal(val, a.max(1))


def test_argmax_vectorized_over_rows(rng):
    """The index is stored before the value (it reads the old value), so the step is
    plain vector stores."""
    A = oc.placeholder((40, 13), name="A")
    k = oc.reduce_axis(13, "k")
    red = argreducer(lambda a, b: a > b, "argmax")
    I, V = oc.compute((40,), lambda i: red((k, A[i, k]), axis=k), name="T")
    s = oc.create_schedule([I, V])
    xo, xi = s[I].split(I.op.axis[0], factor=8)
    s[I].reorder(xo, k, xi)
    s[I].vectorize(xi)
    text = str(oc.lower(s, [A, I, V]))
    assert "T.v0[ramp(" in text and "T.v1[ramp(" in text
    mod = oc.build(s, [A, I, V])
    a = data(rng, (40, 13))
    idx, val = np.zeros(40, np.int32), np.zeros(40, np.float32)
    mod(a, idx, val)
    np.testing.assert_array_equal(idx, a.argmax(1))
    np.testing.assert_array_equal(val, a.max(1))


def test_tuple_reducer_whose_results_read_each_other(rng):
    """Complex product: each new part reads both old parts (computed before either store)."""
    re_ = oc.placeholder((N, M), "float64", name="Re")
    im_ = oc.placeholder((N, M), "float64", name="Im")
    k = oc.reduce_axis(M, "k")
    cmul = oc.comm_reducer(lambda x, y: (x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]),
                           lambda t0, t1: (oc.const(1, t0), oc.const(0, t1)), name="cmul")
    P, Q = oc.compute((N,), lambda i: cmul((re_[i, k], im_[i, k]), axis=k), name="P")
    mod = oc.build(oc.create_schedule([P, Q]), [re_, im_, P, Q])
    z = np.exp(1j * rng.uniform(-np.pi, np.pi, (N, M)))      # unit modulus: no overflow
    p, q = np.zeros(N), np.zeros(N)
    mod(z.real.copy(), z.imag.copy(), p, q)
    want = np.prod(z, axis=1)
    np.testing.assert_allclose(p, want.real, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(q, want.imag, rtol=1e-9, atol=1e-12)


def test_tvm_style_argmax_with_symbolic_sizes(rng):
    """TVM's test_argmax written with opcomp's names: size vars, (index, value) inputs,
    create_schedule(T0.op), a split and parallel data loop."""
    n, m = oc.size_var("n"), oc.size_var("m")
    idx = oc.placeholder((n, m), "int32", name="idx")
    val = oc.placeholder((n, m), name="val")
    k = oc.reduce_axis((0, m), "k")
    red = argreducer(lambda a, b: a > b, "argmax")
    T0, T1 = oc.compute((n,), lambda i: red((idx[i, k], val[i, k]), axis=k), name="T")
    s = oc.create_schedule(T0.op)
    xo, _ = s[T0].split(T0.op.axis[0], factor=8)
    s[T0].parallel(xo)
    mod = oc.build(s, [idx, val, T0, T1])
    a = data(rng, (37, 23))
    ix = np.tile(np.arange(23, dtype=np.int32), (37, 1))
    t0, t1 = np.zeros(37, np.int32), np.zeros(37, np.float32)
    mod(ix, a, t0, t1)
    np.testing.assert_array_equal(t0, a.argmax(1))
    np.testing.assert_array_equal(t1, a.max(1))
