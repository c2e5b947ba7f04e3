"""Dtype strings and NumPy's promotion rules.

A dtype is a string: a scalar type ("float32", "int64", "bool") optionally with
a lane count for vectors ("float32x16").  Supported scalars: bool, int8, int16,
int32, int64, uint8, uint16, uint32, uint64, float16, float32, float64.

Promotion follows NumPy 2 exactly, because users compare against NumPy:

- two tensor/expression dtypes promote with ``np.promote_types``:
  int32 + int64 -> int64, int32 + float32 -> float64, float16 + int8 -> float16,
  bool + int8 -> int8, float32 + float64 -> float64;
- a Python scalar is "weak" (NEP 50): it takes the expression's dtype when it
  fits its kind (float32 * 2.0 -> float32, int32 + 1 -> int32), and a Python
  float meeting an integer expression gives float64 (int32 + 1.5 -> float64);
- true division ``/`` of integers gives float64, as ``np.true_divide`` does;
- ``//`` and ``%`` round toward negative infinity, as NumPy and Python do.
"""
from __future__ import annotations

import numpy as np

SCALARS = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64")


def element(dtype: str) -> str:
    """The scalar part of a dtype: 'float32x16' -> 'float32'."""
    base, _, lanes = dtype.partition("x")
    return base


def lanes(dtype: str) -> int:
    """The lane count of a dtype: 'float32x16' -> 16, 'int32' -> 1."""
    _, _, n = dtype.partition("x")
    return int(n) if n else 1


def with_lanes(dtype: str, n: int) -> str:
    """The dtype with n lanes (n == 1 gives the scalar)."""
    base = element(dtype)
    return base if n == 1 else f"{base}x{n}"


def check(dtype) -> str:
    """Normalize a user dtype (str or numpy dtype) or raise TypeError naming it."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in SCALARS:
        raise TypeError(f"unsupported dtype {dtype!r}; supported: {', '.join(SCALARS)}")
    return name


def is_float(dtype: str) -> bool:
    return element(dtype).startswith("float")


def is_int(dtype: str) -> bool:
    e = element(dtype)
    return e.startswith("int") or e.startswith("uint")


def is_signed(dtype: str) -> bool:
    return element(dtype).startswith("int")


def is_bool(dtype: str) -> bool:
    return element(dtype) == "bool"


def bits(dtype: str) -> int:
    e = element(dtype)
    return 1 if e == "bool" else np.dtype(e).itemsize * 8


def itemsize(dtype: str) -> int:
    return np.dtype(element(dtype)).itemsize


def promote(a: str, b: str) -> str:
    """NumPy promotion of two expression dtypes (scalar parts)."""
    return np.promote_types(element(a), element(b)).name


def promote_scalar(expr_dtype: str, value) -> str:
    """NumPy (NEP 50) promotion of an expression dtype with a Python scalar."""
    return np.result_type(np.dtype(element(expr_dtype)), value).name


def scalar_dtype(value) -> str:
    """The dtype a lone Python scalar gets: bool, int32 (int64 if too big), float32."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        if isinstance(value, np.integer):
            return np.dtype(type(value)).name
        return "int32" if -2**31 <= value < 2**31 else "int64"
    if isinstance(value, np.floating):
        return np.dtype(type(value)).name
    if isinstance(value, float):
        return "float32"
    raise TypeError(f"cannot make a constant from {type(value).__name__} {value!r}")
