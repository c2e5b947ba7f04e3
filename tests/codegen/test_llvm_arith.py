"""LLVM backend arithmetic against NumPy: division semantics, casts, NaN rules, math calls."""
import warnings

import numpy as np
import pytest

from opcomp import dtype as dt
from opcomp.ir import expr as E
from opcomp.ir import tir as T

from .test_llvm_basic import BACKEND, build, buf, call, func, ld, loop, ramp, rand, st

INTS = ["int8", "int16", "int32", "int64", "uint8"]
FLOATS = ["float16", "float32", "float64"]


def multi(fns, inputs, out_dtypes, lanes=1, **attrs):
    """One kernel computing out_k[i] = fns[k](in0[i], ...) for every k; returns the outputs."""
    n = len(inputs[0])
    assert n % lanes == 0
    ins = [buf(f"in{k}", str(a.dtype), n) for k, a in enumerate(inputs)]
    outs = [buf(f"out{k}", d, n) for k, d in enumerate(out_dtypes)]
    i = E.Var("i")
    idx = i if lanes == 1 else ramp(i * lanes, lanes)
    loads = [ld(b, idx, lanes) for b in ins]
    body = T.seq(*[st(o, idx, f(*loads)) for o, f in zip(outs, fns)])
    kernel = build(func(ins + outs, loop(i, n // lanes, body), **attrs))
    results = [np.zeros(n, d) for d in out_dtypes]
    assert call(kernel, *inputs, *results) == 0
    return results


def numpy_quietly(fn, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args)


# -- integer floor division ----------------------------------------------------------------
def _int_operands(rng, dtype, n=256):
    a, b = rand(rng, n, dtype), rand(rng, n, dtype)
    b[::7] = 0                                 # x // 0 == x % 0 == 0 in NumPy
    if dt.is_signed(dtype):
        info = np.iinfo(dtype)
        a[:4] = [info.min, info.min, info.max, -1]
        b[:4] = [-1, 3, -1, -1]                # INT_MIN // -1 wraps instead of trapping
    return a, b


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("lanes", [1, 16])
def test_int_floordiv_floormod_match_numpy(dtype, lanes, rng):
    a, b = _int_operands(rng, dtype)
    q, r = multi([lambda x, y: x // y, lambda x, y: x % y], [a, b], [dtype, dtype], lanes)
    np.testing.assert_array_equal(q, numpy_quietly(np.floor_divide, a, b))
    np.testing.assert_array_equal(r, numpy_quietly(np.remainder, a, b))


@pytest.mark.parametrize("dtype", ["int32", "int8", "uint8"])
def test_int_floordiv_by_constants(dtype, rng):
    a = rand(rng, 128, dtype)
    divisors = [7, 1, 0] + ([-1, -5] if dt.is_signed(dtype) else [200])
    fns = []
    for c in divisors:
        fns += [lambda x, c=c: x // E.const(c, dtype), lambda x, c=c: x % E.const(c, dtype)]
    for lanes in (1, 16):
        outs = multi(fns, [a], [dtype] * len(fns), lanes)
        for k, c in enumerate(divisors):
            cb = np.array(c, dtype)
            np.testing.assert_array_equal(outs[2 * k], numpy_quietly(np.floor_divide, a, cb))
            np.testing.assert_array_equal(outs[2 * k + 1], numpy_quietly(np.remainder, a, cb))


# -- float floor division ------------------------------------------------------------------
def _float_operands(rng, dtype, n=512):
    a, b = rand(rng, n, dtype), rand(rng, n, dtype)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.1, 3.0, -3.0]
    k = len(special)
    a[:k * k] = np.repeat(special, k)
    b[:k * k] = np.tile(special, k)
    b[k * k::11] = a[k * k::11] / 2          # exact multiples: remainder zero, sign of zero
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("lanes", [1, 8])
def test_float_floordiv_floormod_match_numpy(dtype, lanes, rng):
    a, b = _float_operands(rng, dtype)
    q, r = multi([lambda x, y: x // y, lambda x, y: x % y], [a, b], [dtype, dtype], lanes)
    expect_q = numpy_quietly(np.floor_divide, a, b)
    expect_r = numpy_quietly(np.remainder, a, b)
    np.testing.assert_array_equal(q, expect_q)
    np.testing.assert_array_equal(r, expect_r)
    assert (np.signbit(q) == np.signbit(expect_q))[~np.isnan(expect_q)].all()
    assert (np.signbit(r) == np.signbit(expect_r))[~np.isnan(expect_r)].all()


def test_float_floordiv_is_not_floor_of_quotient():
    a, b = np.full(16, 1.0), np.full(16, 0.1)
    (q,) = multi([lambda x, y: x // y], [a, b], ["float64"], lanes=16)
    assert (q == 9.0).all()                    # floor(1.0 / 0.1) would be 10


# -- min / max / compare / select -------------------------------------------------------------
@pytest.mark.parametrize("lanes", [1, 16])
def test_float_min_max_propagate_nan(lanes, rng):
    a, b = rand(rng, 64, "float32"), rand(rng, 64, "float32")
    a[::5], b[::3] = np.nan, np.nan
    lo, hi = multi([E.minimum, E.maximum], [a, b], ["float32"] * 2, lanes)
    np.testing.assert_array_equal(lo, np.minimum(a, b))
    np.testing.assert_array_equal(hi, np.maximum(a, b))


@pytest.mark.parametrize("dtype", INTS + ["bool"])
def test_int_and_bool_min_max(dtype, rng):
    a, b = rand(rng, 64, dtype), rand(rng, 64, dtype)
    lo, hi = multi([E.minimum, E.maximum], [a, b], [dtype] * 2, lanes=16)
    np.testing.assert_array_equal(lo, np.minimum(a, b))
    np.testing.assert_array_equal(hi, np.maximum(a, b))


OPS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
       "gt": np.greater, "ge": np.greater_equal}


@pytest.mark.parametrize("dtype", ["float32", "float16", "int16", "uint8", "bool"])
@pytest.mark.parametrize("lanes", [1, 16])
def test_compare_matches_numpy_including_nan(dtype, lanes, rng):
    a, b = rand(rng, 64, dtype), rand(rng, 64, dtype)
    b[::4] = a[::4]
    if dt.is_float(dtype):
        a[::6], b[::9] = np.nan, np.nan
    fns = [lambda x, y, op=op: E.compare(op, x, y) for op in OPS]
    outs = multi(fns, [a, b], ["bool"] * len(OPS), lanes)
    for out, ref in zip(outs, OPS.values()):
        np.testing.assert_array_equal(out, ref(a, b))


@pytest.mark.parametrize("lanes", [1, 16])
def test_select_and_logic(lanes, rng):
    a, b = rand(rng, 64, "int32"), rand(rng, 64, "int32")
    c = rand(rng, 64, "bool")
    outs = multi([lambda x, y, m: E.select(m, x, y), lambda x, y, m: x & y,
                  lambda x, y, m: x | y, lambda x, y, m: x ^ y, lambda x, y, m: ~x,
                  lambda x, y, m: -x, lambda x, y, m: ~m, lambda x, y, m: m & (x < y),
                  lambda x, y, m: m | (x < y)],
                 [a, b, c], ["int32"] * 6 + ["bool"] * 3, lanes)
    expect = [np.where(c, a, b), a & b, a | b, a ^ b, ~a, -a, ~c, c & (a < b), c | (a < b)]
    for out, ref in zip(outs, expect):
        np.testing.assert_array_equal(out, ref)


def test_bool_arithmetic_is_logical(rng):
    a, b = rand(rng, 32, "bool"), rand(rng, 32, "bool")
    add, mul = multi([lambda x, y: E.binary("add", x, y), lambda x, y: E.binary("mul", x, y)],
                     [a, b], ["bool", "bool"], lanes=16)
    np.testing.assert_array_equal(add, a + b)
    np.testing.assert_array_equal(mul, a * b)


# -- casts -----------------------------------------------------------------------------------
def _cast_inputs(rng, src):
    if dt.is_float(src):
        vals = (rng.random(64) * 200 - 50)       # fits every target, uint8 included
        vals[:6] = [0.0, -0.0, 0.5, -0.7, 99.9, 127.0]
        return vals.astype(src)
    return rand(rng, 64, src)


# bfloat16 is a CUDA dtype (the CPU backend refuses it: tests/errors/test_bfloat16_errors.py;
# its casts are checked bit-exact on the CUDA emulator: tests/cuda/test_tensorcore_bf16.py)
CPU_SCALARS = tuple(d for d in dt.SCALARS if d != "bfloat16")


@pytest.mark.parametrize("src", CPU_SCALARS)
@pytest.mark.parametrize("lanes", [1, 16])
def test_casts_match_astype(src, lanes, rng):
    a = _cast_inputs(rng, src)
    dsts = list(CPU_SCALARS)
    outs = multi([lambda x, d=d: E.cast(x, d) for d in dsts], [a], dsts, lanes)
    for d, out in zip(dsts, outs):
        expect = numpy_quietly(lambda v: v.astype(d), a)
        np.testing.assert_array_equal(out, expect, err_msg=f"{src} -> {d}")


def test_special_float_casts(rng):
    a = np.array([np.nan, -0.0, 0.0, np.inf, -3.0, 300.7, 2.9, -2.9] * 2, np.float32)
    flag, small, byte = multi([lambda x: E.cast(x, "bool"), lambda x: E.cast(x, "int8"),
                               lambda x: E.cast(x, "uint8")], [a], ["bool", "int8", "uint8"], 16)
    np.testing.assert_array_equal(flag, a.astype(bool))           # NaN is True
    np.testing.assert_array_equal(small[4:8], [-3, 44, 2, -2])     # truncate, then wrap
    np.testing.assert_array_equal(byte[4:8], [253, 44, 2, 254])


# -- math calls -------------------------------------------------------------------------------
MATH = {
    "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x), "abs": np.abs, "floor": np.floor,
    "ceil": np.ceil, "exp": np.exp, "log": np.log, "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("lanes", [1, 16])
def test_math_calls(dtype, lanes, rng):
    x = rand(rng, 128, dtype)
    pos = np.abs(x) + dtype_eps(dtype)
    names = list(MATH)
    ins = [pos if n in ("sqrt", "rsqrt", "log") else x for n in names]
    outs = multi([lambda *v, k=k, n=n: E.call(n, v[k]) for k, n in enumerate(names)],
                 ins, [dtype] * len(names), lanes)
    rtol = 2e-3 if dtype == "float16" else 2e-6
    for name, inp, out in zip(names, ins, outs):
        expect = MATH[name](inp.astype(np.float64)).astype(dtype)
        np.testing.assert_allclose(out, expect, rtol=rtol, atol=rtol * 1e-2, err_msg=name)


def dtype_eps(dtype):
    return np.finfo(dtype).eps * 4


def test_erf_and_pow(rng):
    from math import erf
    x, y = rand(rng, 64, "float64"), rand(rng, 64, "float64")
    base = np.abs(x) + 0.1
    e, p, p32 = multi([lambda a, b, c: E.call("erf", a), lambda a, b, c: E.call("pow", c, b),
                       lambda a, b, c: E.call("pow", E.cast(c, "float32x16"),
                                              E.cast(b, "float32x16"))],
                      [x, y, base], ["float64", "float64", "float32"], lanes=16)
    np.testing.assert_allclose(e, [erf(v) for v in x], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(p, np.power(base, y), rtol=1e-14)
    np.testing.assert_allclose(p32, np.power(base, y).astype(np.float32), rtol=1e-6)


def test_integer_abs_wraps_like_numpy(rng):
    a = rand(rng, 32, "int8")
    a[0] = -128
    (out,) = multi([lambda x: E.call("abs", x)], [a], ["int8"], lanes=16)
    np.testing.assert_array_equal(out, np.abs(a))


# -- floating-point flags ---------------------------------------------------------------------
def _fma_kernel(**attrs):
    A, B = buf("A", "float32", 64), buf("B", "float32", 64)
    i = E.Var("i")
    r = ramp(i * 16, 16)
    return func([A, B], loop(i, 4, st(B, r, ld(A, r, 16) * ld(B, r, 16) + 1.0)), **attrs)


def test_contract_by_default_fast_math_on_request():
    from codegen.llvm_emit import emit_module
    plain = str(emit_module(_fma_kernel()))
    assert "fmul contract" in plain and "fadd contract" in plain and "fast" not in plain
    fast = str(emit_module(_fma_kernel(fast_math=True)))
    assert "fmul fast" in fast and "fadd fast" in fast
    assert "vfmadd" in BACKEND.compile(BACKEND.render(_fma_kernel(), "llvm"), "llvm").asm


def test_float16_arithmetic_rounds_like_numpy(rng):
    a, b = rand(rng, 64, "float16"), rand(rng, 64, "float16")
    s, d = multi([lambda x, y: x + y, lambda x, y: x / y], [a, b], ["float16"] * 2, lanes=16)
    np.testing.assert_array_equal(s, a + b)
    np.testing.assert_array_equal(d, a / b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_libm_fallback_without_llvm_math(dtype, rng, monkeypatch):
    import codegen.llvm_ops as ops
    monkeypatch.setattr(ops, "_float_math_impl", lambda: None)
    x = rand(rng, 64, dtype)
    names = ["exp", "tanh", "sigmoid", "erf"]
    fns = [lambda v, n=n: E.call(n, v) for n in names]
    fns.append(lambda v: E.call("log", E.call("abs", v)))
    outs = multi(fns, [x], [dtype] * 5, lanes=16)
    from math import erf
    refs = [np.exp, np.tanh, lambda v: 1 / (1 + np.exp(-v)), np.vectorize(erf),
            lambda v: np.log(np.abs(v))]
    for name, out, ref in zip(names + ["log"], outs, refs):
        np.testing.assert_allclose(out, ref(x.astype(np.float64)).astype(dtype), rtol=2e-6,
                                   atol=1e-7, err_msg=name)
