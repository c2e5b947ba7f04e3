"""Strict floating point by default: NaN, Inf and denormals propagate through every
intrinsic and every reduction as NumPy's float64 reference says, in float16, float32
and float64, in scalar, vectorized and parallel loops; nothing flushes denormals to
zero and nothing reassociates without fast_math=True."""
import math

import numpy as np
import pytest

import opcomp as oc

FLOATS = ["float16", "float32", "float64"]
UNARY = ["exp", "log", "sqrt", "rsqrt", "tanh", "erf", "sigmoid", "abs", "floor", "ceil"]
LANES = 16


def special_values(dtype) -> np.ndarray:
    """NaN, both infinities and zeros, the extremes, denormals (smallest, largest and
    both signs) and a few ordinary values, padded to a multiple of LANES."""
    info = np.finfo(dtype)
    tiny, denorm = float(info.tiny), float(info.smallest_subnormal)
    values = [np.nan, np.inf, -np.inf, 0.0, -0.0, denorm, -denorm, tiny - denorm,
              -(tiny - denorm), tiny, -tiny, float(info.max), -float(info.max),
              1.0, -1.0, 0.5, -2.5, 3.0, 20.0, -20.0, 80.0, -700.0, 1e-3, -1e-3,
              7.5, -0.75, 2.0 ** -10, 100.0, -100.0, 1.5, 11000.0, -11000.0]
    return np.array(values, np.float64).astype(dtype)


def reference(name: str, x: np.ndarray) -> np.ndarray:
    """name(x) computed in float64, rounded once to x's dtype."""
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        out = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs,
               "rsqrt": lambda v: 1.0 / np.sqrt(v), "tanh": np.tanh,
               "floor": np.floor, "ceil": np.ceil,
               "erf": np.vectorize(math.erf, otypes=[np.float64]),
               "sigmoid": _sigmoid}[name](x64)
        return out.astype(x.dtype)


def _sigmoid(v):
    """Without cancellation: exp(-|v|) never overflows, and for v < 0 the tiny
    results come from exp(v) itself."""
    z = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def unary_module(name, dtype, n, how):
    A = oc.placeholder((n,), dtype, name="A")
    C = oc.compute((n,), lambda i: getattr(oc, name)(A[i]), name="C")
    s = oc.create_schedule(C)
    if how != "scalar":
        xo, xi = s[C].split(C.op.axis[0], factor=LANES)
        s[C].vectorize(xi)
        if how == "parallel":
            s[C].parallel(xo)
    return oc.build(s, [A, C])


def assert_same_specials(got, want, ulps=4):
    """NaN and Inf in the same places (Inf with its sign), zeros with their sign where
    the reference has a signed zero, the rest within a few units in the last place."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), "NaN positions")
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), "+Inf positions")
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), "-Inf positions")
    finite = np.isfinite(want)
    g, w = got[finite].astype(np.float64), want[finite].astype(np.float64)
    below_max = np.nextafter(np.finfo(want.dtype).max, 0)   # spacing(max) is inf
    spacing = np.spacing(np.minimum(np.abs(want[finite]), below_max)).astype(np.float64)
    bad = np.abs(g - w) > ulps * spacing
    assert not bad.any(), f"got {got[finite][bad]} want {want[finite][bad]}"
    zero = w == 0
    np.testing.assert_array_equal(np.signbit(g[zero]), np.signbit(w[zero]), "signs of zeros")
    nonzero_denormal = (w != 0) & (np.abs(w) < np.finfo(want.dtype).tiny)
    assert (g[nonzero_denormal] != 0).all(), "a denormal result was flushed to zero"


@pytest.mark.parametrize("how", ["scalar", "vector", "parallel"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", UNARY)
def test_intrinsic_special_values(name, dtype, how):
    x = special_values(dtype)
    got = np.full_like(x, 42)
    unary_module(name, dtype, x.size, how)(x, got)
    assert_same_specials(got, reference(name, x))


@pytest.mark.parametrize("dtype", FLOATS)
def test_denormal_inputs_are_not_treated_as_zero(dtype):
    """DAZ would make these 0 (sqrt) or -inf (log); strict IEEE keeps them."""
    x = np.full(LANES * 2, np.finfo(dtype).smallest_subnormal, dtype)
    for name in ("sqrt", "log", "abs"):
        got = np.empty_like(x)
        unary_module(name, dtype, x.size, "parallel")(x, got)
        assert np.isfinite(got).all() and (got != 0).all(), (name, got[:2])


@pytest.mark.parametrize("how", ["scalar", "vector"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_power_special_values(dtype, how):
    """Every pair of a grid of special bases and exponents: C99's pow rules
    (pow(x, 0) = 1 even for NaN, pow(1, y) = 1, pow(-inf, odd) = -inf, ...)."""
    base = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 3.0,
                     float(np.finfo(dtype).smallest_subnormal), 2.0])
    expo = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, -3.0, 0.25])
    x, y = (v.ravel().astype(dtype) for v in np.meshgrid(base, expo))
    n = x.size                                          # 144, a multiple of 16
    A, B = oc.placeholder((n,), dtype, name="A"), oc.placeholder((n,), dtype, name="B")
    C = oc.compute((n,), lambda i: oc.power(A[i], B[i]), name="C")
    s = oc.create_schedule(C)
    if how == "vector":
        s[C].vectorize(s[C].split(C.op.axis[0], factor=LANES)[1])
    got = np.full_like(x, 42)
    oc.build(s, [A, B, C])(x, y, got)
    with np.errstate(all="ignore"):
        want = np.power(x.astype(np.float64), y.astype(np.float64)).astype(dtype)
    assert_same_specials(got, want)


@pytest.mark.parametrize("how", ["scalar", "vector"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_propagate_nan(op, dtype, how):
    """NumPy's maximum/minimum: a NaN on either side gives NaN (unlike fmax)."""
    values = special_values(dtype)
    x, y = values, np.roll(values, 5)
    n = x.size
    A, B = oc.placeholder((n,), dtype, name="A"), oc.placeholder((n,), dtype, name="B")
    C = oc.compute((n,), lambda i: getattr(oc, op)(A[i], B[i]), name="C")
    s = oc.create_schedule(C)
    if how == "vector":
        s[C].vectorize(s[C].split(C.op.axis[0], factor=LANES)[1])
    got = np.full_like(x, 42)
    oc.build(s, [A, B, C])(x, y, got)
    assert_same_specials(got, getattr(np, op)(x, y), ulps=0)


def reduction_rows(dtype) -> np.ndarray:
    """Rows whose reductions hit every special case: a NaN, +-Inf alone, Inf - Inf,
    denormals only (their sum and max stay denormal), overflow to Inf, zeros."""
    info = np.finfo(dtype)
    d, big = float(info.smallest_subnormal), float(info.max)
    rows = [[1, 2, np.nan, 4], [1, np.inf, 3, 4], [1, -np.inf, 3, 4],
            [np.inf, 1, -np.inf, 2], [d, d, d, d], [-d, d, -d, -d],
            [big, big, 1, 1], [-0.0, -0.0, -0.0, -0.0], [0.5, 0.5, d * 8, 2],
            [np.nan, np.inf, -np.inf, 0]]
    return np.array(rows, np.float64).astype(dtype)


def reduce_module(combiner, dtype, rows, cols, how):
    A = oc.placeholder((rows, cols), dtype, name="A")
    k = oc.reduce_axis(cols, "k")
    C = oc.compute((rows,), lambda i: getattr(oc, combiner)(A[i, k], axis=k), name="C")
    s = oc.create_schedule(C)
    if how == "vector":            # the rows in vector lanes, the reduction per lane
        (i,) = s[C].op.axis
        s[C].vectorize(s[C].split(i, factor=LANES)[1])
    return oc.build(s, [A, C])


@pytest.mark.parametrize("how", ["scalar", "vector"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("combiner", ["sum", "prod", "max", "min"])
def test_reduction_special_values(combiner, dtype, how):
    rows = reduction_rows(dtype)
    a = np.concatenate([rows, rows[:6]])          # 16 rows: one full vector
    got = np.full(a.shape[0], 42, dtype)
    reduce_module(combiner, dtype, *a.shape, how)(a, got)
    np_op = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}[combiner]
    with np.errstate(all="ignore"):
        # Sequential accumulation in the dtype, as the loop does (NumPy's pairwise
        # sum could round differently on the overflow row).
        want = np.array([_sequential(np_op, row) for row in a], dtype)
    assert_same_specials(got, want, ulps=0)


def _sequential(np_op, row):
    if np_op in (np.max, np.min):
        return np_op(row)
    acc = row[0]
    for v in row[1:]:
        acc = acc + v if np_op is np.sum else acc * v
    return acc


def strict_sum_module(n, fast_math):
    A = oc.placeholder((n,), "float32", name="A")
    k = oc.reduce_axis(n, "k")
    C = oc.compute((1,), lambda _: oc.sum(A[k], axis=k), name="C")
    return oc.build(oc.create_schedule(C), [A, C], fast_math=fast_math)


def test_sum_is_not_reassociated_without_fast_math():
    """1e8 + 1 rounds back to 1e8 in float32, so in order the ones all vanish; a
    reassociated (vectorized) sum would add them up in other lanes first."""
    a = np.ones(1024, np.float32)
    a[0], a[-1] = 1e8, -1e8
    strict = np.zeros(1, np.float32)
    strict_sum_module(a.size, fast_math=False)(a, strict)
    assert strict[0] == np.cumsum(a, dtype=np.float32)[-1] == 0.0
    fast = np.zeros(1, np.float32)
    strict_sum_module(a.size, fast_math=True)(a, fast)
    assert fast[0] != 0.0, "fast_math should have reassociated: this test is blind"


@pytest.mark.parametrize("dtype", FLOATS)
def test_denormal_arithmetic_in_worker_threads(dtype):
    """Worker threads must not run with flush-to-zero: half the smallest normal is
    a denormal, not 0, in every task of a parallel loop."""
    n = LANES * 8
    A = oc.placeholder((n,), dtype, name="A")
    C = oc.compute((n,), lambda i: A[i] * oc.const(0.5, dtype), name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=LANES)
    s[C].parallel(xo)
    s[C].vectorize(xi)
    x = np.full(n, np.finfo(dtype).tiny, dtype)
    got = np.zeros_like(x)
    oc.build(s, [A, C])(x, got)
    np.testing.assert_array_equal(got, x * np.asarray(0.5, dtype))
    assert (got != 0).all()
