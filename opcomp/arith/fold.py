"""Constant folding with NumPy semantics, for every op on every dtype.

Integers wrap to their dtype (as NumPy arrays do), floordiv/floormod round
toward -infinity and give 0 for a zero divisor (NumPy's answer); floats are
computed in the dtype's own precision (a float32 sum is rounded to float32):

    fold_binary("add", 2**31 - 1, 1, "int32")   ->  -2147483648
    fold_binary("floordiv", -7, 2, "int32")     ->  -4
    fold_binary("add", 0.1, 0.2, "float32")     ->  0.30000001192092896
    fold_cast(3.7, "float32", "int32")          ->  3

A folder returns None where NumPy would raise or the result is undefined
(bool subtraction, a float that does not fit the integer it is cast to).
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import dtype as dt


def int_range(dtype: str) -> tuple:
    """Smallest and largest value of an integer or bool dtype."""
    e = dt.element(dtype)
    if e == "bool":
        return 0, 1
    info = np.iinfo(e)
    return int(info.min), int(info.max)


_RANGES = {d: int_range(d) for d in dt.SCALARS if not dt.is_float(d)}


def wrap_int(v: int, dtype: str) -> int:
    """v reduced to the dtype's range, two's complement (NumPy's overflow)."""
    r = _RANGES.get(dtype)      # scalar dtypes: skip parsing the lanes
    lo, hi = r if r is not None else _RANGES[dt.element(dtype)]
    if lo <= v <= hi:
        return v
    span = hi - lo + 1
    return (v - lo) % span + lo


def _fdiv(a, b):
    return a // b if b else 0


def _fmod(a, b):
    return a % b if b else 0


def _tdiv(a, b):
    """C's / (toward zero); x / 0 == 0.  Wrapping (INT_MIN / -1) is the caller's."""
    if not b:
        return 0
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _tmod(a, b):
    return a - b * _tdiv(a, b) if b else 0


def shift_left(a: int, b: int, dtype: str) -> int:
    """NumPy's <<: an amount outside [0, bits) gives 0."""
    return wrap_int(a << b, dtype) if 0 <= b < dt.bits(dtype) else 0


def shift_right(a: int, b: int, dtype: str) -> int:
    """NumPy's >>: arithmetic on signed values; an amount outside [0, bits) gives
    0, or -1 for a negative value."""
    if 0 <= b < dt.bits(dtype):
        return a >> b
    return -1 if a < 0 else 0


_INT_OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
            "floordiv": _fdiv, "floormod": _fmod, "min": min, "max": max,
            "and": operator.and_, "or": operator.or_, "xor": operator.xor,
            "truncdiv": _tdiv, "truncmod": _tmod}
_SHIFTS = {"shl": shift_left, "shr": shift_right}
# NumPy's bool arithmetic is logical: + is or, * is and; - raises.
_BOOL_OPS = {"add": operator.or_, "mul": operator.and_, "min": operator.and_,
             "max": operator.or_, "and": operator.and_, "or": operator.or_,
             "xor": operator.xor}
_FLOAT_OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
              "floordiv": np.floor_divide, "floormod": np.remainder,
              "min": np.minimum, "max": np.maximum}
_CMP = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
        "gt": operator.gt, "ge": operator.ge}


def _np_type(dtype: str):
    return dt.numpy_dtype(dtype).type         # bfloat16: ml_dtypes' type


def fold_binary(op: str, a, b, dtype: str):
    """The value of `a op b` in dtype (Python scalar), or None if not foldable."""
    if dt.is_bool(dtype):
        fn = _BOOL_OPS.get(op)
        return None if fn is None else bool(fn(bool(a), bool(b)))
    if dt.is_int(dtype):
        if op in _SHIFTS:
            return wrap_int(_SHIFTS[op](int(a), int(b), dtype), dtype)
        fn = _INT_OPS.get(op)
        return None if fn is None else wrap_int(fn(int(a), int(b)), dtype)
    fn = _FLOAT_OPS.get(op)
    if fn is None:
        return None
    t = _np_type(dtype)
    with np.errstate(all="ignore"):
        return float(t(fn(t(a), t(b))))


def fold_compare(op: str, a, b) -> bool:
    """The truth of `a op b` for two already-typed scalars (NaN compares false)."""
    return bool(_CMP[op](a, b))


def fold_unary(op: str, a, dtype: str):
    """neg / not of a constant: -x wraps for ints, ~ is bitwise on ints, logical on bool."""
    if op == "not":
        return (not a) if dt.is_bool(dtype) else wrap_int(~int(a), dtype)
    if op == "neg":
        if dt.is_int(dtype):
            return wrap_int(-int(a), dtype)
        return -float(a) if dt.is_float(dtype) else None
    return None


def fold_cast(value, src: str, dst: str):
    """NumPy astype of one scalar; None where the result is undefined (NaN -> int)."""
    if dt.is_bool(dst):
        return bool(value)
    if dt.is_int(dst):
        if dt.is_float(src):
            if not math.isfinite(value):
                return None
            v = int(value)      # truncation toward zero, as astype does
            lo, hi = _RANGES[dt.element(dst)]
            return v if lo <= v <= hi else None
        return wrap_int(int(value), dst)
    with np.errstate(all="ignore"):
        return float(_np_type(dst)(value))


def _sigmoid(x):
    # In float64 and without exp(-x) overflowing: for x << 0 the result is
    # z / (1 + z), subnormal in float32 long after exp(-x) became inf.
    z = np.exp(-np.abs(np.float64(x)))
    return type(x)((1 / (1 + z)) if x >= 0 else (z / (1 + z)))


_FLOAT_CALLS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
                "rsqrt": lambda x: 1 / np.sqrt(x), "sigmoid": _sigmoid,
                "floor": np.floor, "ceil": np.ceil, "abs": np.abs}


def int_power(a: int, b: int, dtype: str) -> int:
    """Integer a ** b as expr._power defines it (a negative exponent gives the
    integer part of the exact value), wrapped to dtype."""
    if b < 0:
        return 1 if a == 1 else (-1) ** (-b) if a == -1 else 0
    return pow(a, b, 1 << dt.bits(dtype))


def fold_call(name: str, args: tuple, dtype: str):
    """A math intrinsic on constants, computed in dtype's precision (erf via float64)."""
    if dt.is_int(dtype):
        if name == "pow":
            return wrap_int(int_power(int(args[0]), int(args[1]), dtype), dtype)
        if name == "popcount":
            return wrap_int(bin(int(args[0]) % (1 << dt.bits(dtype))).count("1"), dtype)
        return wrap_int(abs(int(args[0])), dtype) if name == "abs" else None
    if not dt.is_float(dtype):
        return None
    t = _np_type(dtype)
    with np.errstate(all="ignore"):
        if name == "pow":
            return float(t(np.power(t(args[0]), t(args[1]))))
        if name == "erf":
            return float(t(math.erf(float(args[0]))))
        fn = _FLOAT_CALLS.get(name)
        return None if fn is None else float(t(fn(t(args[0]))))
