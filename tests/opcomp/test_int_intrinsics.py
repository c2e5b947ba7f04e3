"""Integer intrinsics (shifts, bitwise ops, truncdiv/truncmod, floordiv/floormod,
popcount) against NumPy on every integer dtype, scalar and vectorized, folded
as constants, and printed as CUDA C (run on the CPU emulator)."""
import numpy as np
import pytest

import opcomp as oc
from opcomp.arith.simplify import simplify_expr
from opcomp.ir import expr as E

N = 67
INT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]


def trunc_ref(a, b, op):
    """C's / and % (toward zero) with NumPy's wraparound; 0 for a zero divisor."""
    out = []
    for x, y in zip(a.tolist(), b.tolist()):
        if y == 0:
            out.append(0)
            continue
        q = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
        out.append(q if op == "truncdiv" else x - q * y)
    return np.array([v % (1 << (8 * a.itemsize)) for v in out], dtype=f"uint{8 * a.itemsize}") \
        .view(a.dtype)


def popcount_ref(a):
    bits = a.view(f"uint{8 * a.itemsize}")
    return np.bitwise_count(bits).astype(a.dtype)


OPS = {
    "shl": (lambda x, y: x << y, np.left_shift),
    "shr": (lambda x, y: oc.shift_right(x, y), np.right_shift),
    "and": (lambda x, y: x & y, np.bitwise_and),
    "or": (lambda x, y: oc.bitwise_or(x, y), np.bitwise_or),
    "xor": (lambda x, y: x ^ y, np.bitwise_xor),
    "not": (lambda x, y: ~x + (y - y), lambda a, b: ~a),
    "popcount": (lambda x, y: oc.popcount(x) + (y - y), lambda a, b: popcount_ref(a)),
    "truncdiv": (oc.truncdiv, lambda a, b: trunc_ref(a, b, "truncdiv")),
    "truncmod": (oc.truncmod, lambda a, b: trunc_ref(a, b, "truncmod")),
    "floordiv": (oc.floordiv, lambda a, b: np.where(b == 0, 0, np.floor_divide(a, np.where(b == 0, 1, b)))),
    "floormod": (oc.floormod, lambda a, b: np.where(b == 0, 0, np.remainder(a, np.where(b == 0, 1, b)))),
}


def operands(dtype, rng):
    info = np.iinfo(dtype)
    a = rng.integers(info.min, int(info.max) + 1, N, dtype=dtype, endpoint=False)
    a[:3] = [info.min, info.max, 0]
    lo = -3 if info.min < 0 else 0
    b = rng.integers(lo, 8 * np.dtype(dtype).itemsize + 4, N).astype(dtype)
    b[:3] = [-1 if info.min < 0 else 1, 0, 0]            # INT_MIN / -1, x / 0
    b[3:5] = [8 * np.dtype(dtype).itemsize, 0]            # a shift by the full width
    return a, b


def build(dtype, fns, vectorize):
    """One kernel computing every op (a tuple-returning compute: one output per op)."""
    A = oc.placeholder((N,), dtype, name="A")
    B = oc.placeholder((N,), dtype, name="B")
    outs = oc.compute((N,), lambda i: tuple(fn(A[i], B[i]) for fn in fns), name="C")
    s = oc.create_schedule(outs)
    if vectorize:
        _, xi = s[outs[0]].split(outs[0].op.axis[0], factor=8)
        s[outs[0]].vectorize(xi)
    return oc.build(s, [A, B] + outs), outs


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_ops_match_numpy(dtype, rng):
    a, b = operands(dtype, rng)
    names = list(OPS)
    for vectorize in (False, True):
        mod, outs = build(dtype, [OPS[n][0] for n in names], vectorize)
        got = [np.zeros(N, dtype) for _ in outs]
        mod(a, b, *got)
        for name, out, c in zip(names, outs, got):
            assert out.dtype == dtype
            with np.errstate(all="ignore"):
                want = OPS[name][1](a, b).astype(dtype)
            np.testing.assert_array_equal(c, want, err_msg=f"{name} {dtype} vec={vectorize}")


def test_vectorized_shift_is_vector_code():
    mod, _ = build("int32", [lambda x, y: (x << y) ^ oc.popcount(x)], True)
    src = mod.source("llvm")
    assert "<8 x i32>" in src and "ctpop" in src


@pytest.mark.parametrize("op,a,b,dtype,want", [
    ("shl", 1, 7, "int8", -128), ("shl", 1, 8, "int8", 0), ("shl", 3, -1, "int32", 0),
    ("shr", -5, 1, "int32", -3), ("shr", -5, 40, "int32", -1), ("shr", 200, 3, "uint8", 25),
    ("truncdiv", -7, 2, "int32", -3), ("truncmod", -7, 2, "int32", -1),
    ("truncdiv", -2**31, -1, "int32", -2**31), ("truncdiv", 5, 0, "int32", 0),
    ("and", 12, 10, "int16", 8), ("or", 12, 10, "uint16", 14), ("xor", 12, 10, "int64", 6),
])
def test_constant_folding(op, a, b, dtype, want):
    e = simplify_expr(E.binary(op, oc.const(a, dtype), oc.const(b, dtype)))
    assert isinstance(e, E.Const) and e.value == want and e.dtype == dtype


def test_popcount_and_not_fold():
    assert simplify_expr(oc.popcount(oc.const(-1, "int8"))).value == 8
    assert simplify_expr(oc.bitwise_not(oc.const(5, "uint8"))).value == 250


def test_dtype_rules():
    x8, x32 = oc.var("x", "int8"), oc.var("y", "int32")
    assert (x8 << 3).dtype == "int8"
    assert oc.shift_left(x8, x32).dtype == "int32"           # NumPy promotion
    flag = oc.placeholder((2,), "bool", name="F")
    assert oc.shift_left(flag[0], flag[1]).dtype == "int8"  # bool << bool is int8
    assert oc.popcount(oc.var("u", "uint64")).dtype == "uint64"
    assert str(oc.truncmod(x32, 3)) == "truncmod(y, 3)"
    k = oc.reduce_axis(8, "k")
    assert str(k << 1) == "shl(k, 1)" and str(oc.shift_right(k, 2)) == "shr(k, 2)"


def test_cuda_c_prints_and_emulates_integer_ops(rng):
    dtype = "int32"
    A = oc.placeholder((N,), dtype, name="A")
    B = oc.placeholder((N,), dtype, name="B")
    C = oc.compute((N,), lambda i: (A[i] << B[i]) + (A[i] >> B[i]) + oc.truncdiv(A[i], B[i])
                   + oc.truncmod(A[i], B[i]) + oc.popcount(A[i]) + (~A[i] & B[i]), name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=32)
    s[C].bind(xo, oc.thread_axis("blockIdx.x"))
    s[C].bind(xi, oc.thread_axis("threadIdx.x"))
    mod = oc.build(s, [A, B, C], target="cuda", emulate=True)
    src = mod.source("cuda")
    assert "__builtin_popcountll" in src and "<<" in src
    a, b = operands(dtype, rng)
    c = np.zeros(N, dtype)
    mod(a, b, c)
    with np.errstate(all="ignore"):
        want = (np.left_shift(a, b) + np.right_shift(a, b) + trunc_ref(a, b, "truncdiv")
                + trunc_ref(a, b, "truncmod") + popcount_ref(a) + (~a & b))
    np.testing.assert_array_equal(c, want)
