"""End to end against NumPy: every primitive alone and combined, tails, symbolic sizes."""
import numpy as np
import pytest

import opcomp as oc

SIZES = [1, 7, 16, 33, 64, 97]


def rand(rng, shape, dtype):
    """Fresh random values of a dtype: floats in [-2, 2), ints in a small signed range."""
    if np.dtype(dtype).kind == "f":
        return (rng.random(shape) * 4 - 2).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), shape).astype(dtype)


def check(s, args, ref, rng, concrete=None, rtol=1e-5, atol=1e-5):
    """Build, run on random inputs, compare outputs with ref(*inputs) in float64."""
    mod = oc.build(s, args, target="llvm")
    n_in = len(args) - 1
    shapes = [tuple(concrete.get(x.name, x) if not isinstance(x, oc.ir.expr.Const) else x.value
                    for x in t.shape) for t in args] if concrete else \
        [tuple(x.value for x in t.shape) for t in args]
    ins = [rand(rng, shp, t.dtype) for shp, t in zip(shapes[:n_in], args)]
    out = np.full(shapes[-1], np.nan if np.dtype(args[-1].dtype).kind == "f" else 7,
                  dtype=args[-1].dtype)
    mod(*ins, out)
    expect = ref(*[x.astype(np.float64) if x.dtype.kind == "f" else x for x in ins])
    np.testing.assert_allclose(out, np.asarray(expect).astype(out.dtype), rtol=rtol, atol=atol)
    return mod


def elementwise(n, m):
    A = oc.placeholder((n, m), name="A")
    B = oc.placeholder((n, m), name="B")
    C = oc.compute((n, m), lambda i, j: A[i, j] * 2.0 + B[i, j], name="C")
    return A, B, C


def ref_elementwise(a, b):
    return a * 2 + b


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("factor", [1, 4, 16])
def test_split_factor(n, factor, rng):
    A, B, C = elementwise(n, 5)
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[0], factor=factor)
    check(s, [A, B, C], ref_elementwise, rng)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("nparts", [1, 3, 8])
def test_split_nparts(n, nparts, rng):
    A, B, C = elementwise(n, 3)
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[1], nparts=nparts)
    check(s, [A, B, C], ref_elementwise, rng)


@pytest.mark.parametrize("n,m", [(1, 1), (16, 32), (17, 31), (97, 5)])
def test_tile(n, m, rng):
    A, B, C = elementwise(n, m)
    s = oc.create_schedule(C)
    s[C].tile(C.op.axis[0], C.op.axis[1], 8, 4)
    check(s, [A, B, C], ref_elementwise, rng)


@pytest.mark.parametrize("n,m", [(1, 7), (16, 32), (13, 11)])
def test_fuse_then_split(n, m, rng):
    A, B, C = elementwise(n, m)
    s = oc.create_schedule(C)
    f = s[C].fuse(*C.op.axis)
    fo, fi = s[C].split(f, factor=16)
    s[C].vectorize(fi)
    check(s, [A, B, C], ref_elementwise, rng)


@pytest.mark.parametrize("n", SIZES)
def test_vectorize_with_tail(n, rng):
    A, B, C = elementwise(3, n)
    s = oc.create_schedule(C)
    _, ji = s[C].split(C.op.axis[1], factor=16)
    s[C].vectorize(ji)
    mod = check(s, [A, B, C], ref_elementwise, rng)
    if n >= 16:
        assert "<16 x float>" in mod.source("llvm")


@pytest.mark.parametrize("n", [1, 5, 64, 1001])
def test_parallel(n, rng):
    A, B, C = elementwise(n, 9)
    s = oc.create_schedule(C)
    s[C].parallel(C.op.axis[0])
    check(s, [A, B, C], ref_elementwise, rng)


@pytest.mark.parametrize("n", [1, 6, 33])
def test_unroll_and_reorder(n, rng):
    A, B, C = elementwise(n, 4)
    s = oc.create_schedule(C)
    i, j = C.op.axis
    s[C].reorder(j, i)
    s[C].unroll(j)
    check(s, [A, B, C], ref_elementwise, rng)


def matmul_def(n, m, k_):
    A = oc.placeholder((n, k_), name="A")
    B = oc.placeholder((k_, m), name="B")
    k = oc.reduce_axis(k_, "k")
    C = oc.compute((n, m), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


@pytest.mark.parametrize("n,m,k", [(1, 1, 1), (16, 32, 8), (17, 33, 7), (5, 97, 13)])
def test_matmul_cache_write_compute_at(n, m, k, rng):
    A, B, C = matmul_def(n, m, k)
    s = oc.create_schedule(C)
    CC = s.cache_write(C, "local")
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 16)
    s[C].parallel(xo)
    s[C].vectorize(yi)
    s[CC].compute_at(s[C], yo)
    kk, = s[CC].op.reduce_axis
    ko, ki = s[CC].split(kk, factor=4)
    xc, yc = s[CC].op.axis
    s[CC].reorder(ko, ki, xc, yc)
    s[CC].unroll(ki)
    s[CC].vectorize(yc)
    check(s, [A, B, C], lambda a, b: a @ b, rng, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n,m,k", [(16, 32, 8), (7, 9, 5)])
def test_cache_read_compute_at(n, m, k, rng):
    A, B, C = matmul_def(n, m, k)
    s = oc.create_schedule(C)
    AA = s.cache_read(A, "local", [C])
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    s[AA].compute_at(s[C], xo)
    check(s, [A, B, C], lambda a, b: a @ b, rng, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [1, 10, 33])
def test_compute_inline_and_root(n, rng):
    A = oc.placeholder((n, 8), name="A")
    T1 = oc.compute((n, 8), lambda i, j: A[i, j] + 1.0, name="T1")
    T2 = oc.compute((n, 8), lambda i, j: T1[i, j] * 3.0, name="T2")
    C = oc.compute((n, 8), lambda i, j: T2[i, j] - T1[i, j], name="C")
    s = oc.create_schedule(C)
    s[T2].compute_inline()
    check(s, [A, C], lambda a: (a + 1) * 3 - (a + 1), rng)


@pytest.mark.parametrize("n", [3, 20, 37])
def test_compute_at_producer_with_halo(n, rng):
    A = oc.placeholder((n + 2,), name="A")
    P = oc.compute((n + 2,), lambda i: A[i] * 2.0, name="P")
    C = oc.compute((n,), lambda i: P[i] + P[i + 1] + P[i + 2], name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[P].compute_at(s[C], xo)
    check(s, [A, C], lambda a: 2 * (a[:-2] + a[1:-1] + a[2:]), rng)


def test_symbolic_size(rng):
    n = oc.var("n")
    A = oc.placeholder((n, 4), name="A")
    k = oc.reduce_axis(4, "k")
    C = oc.compute((n,), lambda i: oc.sum(A[i, k], axis=k), name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].parallel(xo)
    mod = oc.build(s, [A, C])
    for size in (1, 8, 13, 100):
        a = rand(rng, (size, 4), "float32")
        c = np.empty(size, np.float32)
        mod(a, c)
        np.testing.assert_allclose(c, a.astype(np.float64).sum(1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("combiner", ["sum", "max", "min", "prod"])
def test_reductions_with_where(combiner, rng):
    A = oc.placeholder((9, 12), name="A")
    k = oc.reduce_axis(12, "k")
    fn = getattr(oc, combiner)
    C = oc.compute((9,), lambda i: fn(A[i, k], axis=k, where=k <= i), name="C")
    s = oc.create_schedule(C)

    def ref(a):
        mask = np.arange(12)[None, :] <= np.arange(9)[:, None]
        fill = {"sum": 0, "prod": 1, "max": -np.inf, "min": np.inf}[combiner]
        return getattr(np, {"sum": "sum", "prod": "prod", "max": "max", "min": "min"}[combiner])(
            np.where(mask, a, fill), axis=1)
    check(s, [A, C], ref, rng)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "int8", "int16",
                                   "uint8", "float16"])
def test_dtypes_add_mul(dtype, rng):
    A = oc.placeholder((37,), dtype, name="A")
    B = oc.placeholder((37,), dtype, name="B")
    C = oc.compute((37,), lambda i: A[i] * B[i] + A[i], name="C")
    s = oc.create_schedule(C)
    _, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].vectorize(xi)
    mod = oc.build(s, [A, B, C])
    a, b = rand(rng, 37, dtype), rand(rng, 37, dtype)
    c = np.empty(37, dtype)
    mod(a, b, c)
    tol = 1e-3 if dtype == "float16" else 1e-6
    np.testing.assert_allclose(c, (a * b + a), rtol=tol, atol=tol)


def test_bool_and_compare(rng):
    A = oc.placeholder((50,), "float32", name="A")
    C = oc.compute((50,), lambda i: oc.select((A[i] > 0.5) | (A[i] < -1.0), A[i], -A[i]),
                   name="C")
    s = oc.create_schedule(C)
    check(s, [A, C], lambda a: np.where((a > 0.5) | (a < -1), a, -a), rng)


def test_floordiv_floormod_negative(rng):
    A = oc.placeholder((64,), "int32", name="A")
    B = oc.placeholder((64,), "int32", name="B")
    C = oc.compute((64,), lambda i: A[i] // B[i] * 1000 + A[i] % B[i], name="C")
    s = oc.create_schedule(C)
    mod = oc.build(s, [A, B, C])
    a = rng.integers(-50, 50, 64).astype(np.int32)
    b = rng.integers(1, 9, 64).astype(np.int32) * rng.choice([-1, 1], 64).astype(np.int32)
    c = np.empty(64, np.int32)
    mod(a, b, c)
    np.testing.assert_array_equal(c, a // b * 1000 + a % b)


INTRINSICS = {"exp": (np.exp, (-20, 20)), "log": (np.log, (1e-3, 100)),
              "sqrt": (np.sqrt, (0, 100)), "rsqrt": (lambda x: 1 / np.sqrt(x), (1e-3, 100)),
              "tanh": (np.tanh, (-10, 10)), "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), (-30, 30)),
              "abs": (np.abs, (-5, 5)), "floor": (np.floor, (-5, 5)), "ceil": (np.ceil, (-5, 5)),
              "erf": (None, (-5, 5))}


@pytest.mark.parametrize("name", sorted(INTRINSICS))
@pytest.mark.parametrize("vector", [False, True])
def test_intrinsics(name, vector, rng):
    fn, (lo, hi) = INTRINSICS[name]
    if fn is None:
        import math
        fn = np.vectorize(math.erf)
    A = oc.placeholder((100,), name="A")
    C = oc.compute((100,), lambda i: getattr(oc, name)(A[i]), name="C")
    s = oc.create_schedule(C)
    if vector:
        _, xi = s[C].split(C.op.axis[0], factor=16)
        s[C].vectorize(xi)
    mod = oc.build(s, [A, C])
    a = (lo + (hi - lo) * rng.random(100)).astype(np.float32)
    c = np.empty(100, np.float32)
    mod(a, c)
    np.testing.assert_allclose(c, fn(a.astype(np.float64)), rtol=3e-6, atol=1e-7)


def test_power(rng):
    A = oc.placeholder((40,), name="A")
    C = oc.compute((40,), lambda i: oc.power(A[i], 2.5) + A[i] ** 2, name="C")
    s = oc.create_schedule(C)
    mod = oc.build(s, [A, C])
    a = (rng.random(40) * 3 + 0.1).astype(np.float32)
    c = np.empty(40, np.float32)
    mod(a, c)
    np.testing.assert_allclose(c, a.astype(np.float64) ** 2.5 + a.astype(np.float64) ** 2,
                               rtol=1e-5)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16", "int32", "int64"])
@pytest.mark.parametrize("vector", [False, True])
def test_integer_power_wraps_like_numpy(rng, dtype, vector):
    X = oc.placeholder((37,), dtype, name="X")
    Y = oc.placeholder((37,), dtype, name="Y")
    C = oc.compute((37,), lambda i: X[i] ** Y[i], name="C")
    s = oc.create_schedule(C)
    if vector:
        _, xi = s[C].split(C.op.axis[0], factor=16)
        s[C].vectorize(xi)
    mod = oc.build(s, [X, Y, C])
    info = np.iinfo(dtype) if dtype != "bool" else np.iinfo("uint8")
    a = rng.integers(max(info.min, -40), min(info.max, 40), 37, endpoint=True).astype(dtype)
    b = rng.integers(0, min(info.max, 70), 37, endpoint=True).astype(dtype)
    c = np.empty(37, C.dtype)
    mod(a, b, c)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(c, np.power(a, b))


def test_integer_power_negative_exponent_is_the_integer_part(rng):
    """NumPy refuses it; opcomp documents 1, +-1 for a base of -1, else 0."""
    X = oc.placeholder((7,), "int32", name="X")
    Y = oc.placeholder((7,), "int32", name="Y")
    C = oc.compute((7,), lambda i: X[i] ** Y[i], name="C")
    mod = oc.build(oc.create_schedule(C), [X, Y, C])
    a = np.array([1, -1, -1, 0, 2, -3, 5], "int32")
    b = np.array([-3, -3, -2, -1, -1, -5, 0], "int32")
    c = np.empty(7, "int32")
    mod(a, b, c)
    np.testing.assert_array_equal(c, [1, -1, 1, 0, 0, 0, 1])


def test_integer_power_of_constants_folds_like_the_kernel():
    C = oc.compute((1,), lambda i: oc.const(-2, "int8") ** oc.const(7, "int8")
                   + oc.const(-1, "int32") ** oc.const(-3, "int32"), name="C")
    assert "-129" in str(oc.lower(oc.create_schedule(C), [C]))


def test_gemm_library_schedule_odd_shape(rng):
    import schedules
    s, args = schedules.get("matmul")(37, 53, 29)
    check(s, args, lambda a, b: a @ b, rng, rtol=1e-4, atol=1e-4)


def test_gemm_library_schedule_divisible(rng):
    import schedules
    s, args = schedules.get("matmul")(64, 64, 64)
    check(s, args, lambda a, b: a @ b, rng, rtol=1e-4, atol=1e-4)
