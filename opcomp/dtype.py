"""Dtype strings and NumPy's promotion rules.

A dtype is a string: a scalar type ("float32", "int64", "bool") optionally with
a lane count for vectors ("float32x16").  Supported scalars: bool, int8, int16,
int32, int64, uint8, uint16, uint32, uint64, float16, bfloat16, float32, float64.

Promotion follows NumPy 2 exactly, because users compare against NumPy:

- two tensor/expression dtypes promote with ``np.promote_types``:
  int32 + int64 -> int64, int32 + float32 -> float64, float16 + int8 -> float16,
  bool + int8 -> int8, float32 + float64 -> float64;
- a Python scalar is "weak" (NEP 50): it takes the expression's dtype when it
  fits its kind (float32 * 2.0 -> float32, int32 + 1 -> int32), and a Python
  float meeting an integer expression gives float64 (int32 + 1.5 -> float64);
- true division ``/`` of integers gives float64, as ``np.true_divide`` does;
- ``//`` and ``%`` round toward negative infinity, as NumPy and Python do.

bfloat16 (8 exponent bits, 7 fraction bits; NumPy has no such dtype, host
arrays are ``ml_dtypes.bfloat16``) promotes as float16 does, with itself in
float16's place: bfloat16 + int8 -> bfloat16, bfloat16 * 2.0 -> bfloat16,
bfloat16 + int16 -> float32, bfloat16 + float32 -> float32; bfloat16 with
float16 gives float32 (the smallest float holding both, as JAX has it).
"""
from __future__ import annotations

import numpy as np

SCALARS = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "bfloat16", "float32", "float64")
BFLOAT16 = "bfloat16"


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
    """Normalize a user dtype (str, numpy dtype, ml_dtypes.bfloat16) or raise TypeError
    naming it."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in SCALARS:
        raise TypeError(f"unsupported dtype {dtype!r}; supported: {', '.join(SCALARS)}")
    return name


def is_float(dtype: str) -> bool:
    e = element(dtype)
    return e.startswith("float") or e == BFLOAT16


def is_int(dtype: str) -> bool:
    e = element(dtype)
    return e.startswith("int") or e.startswith("uint")


def is_signed(dtype: str) -> bool:
    return element(dtype).startswith("int")


def is_bool(dtype: str) -> bool:
    return element(dtype) == "bool"


def bits(dtype: str) -> int:
    e = element(dtype)
    return 1 if e == "bool" else itemsize(e) * 8


def itemsize(dtype: str) -> int:
    e = element(dtype)
    return 2 if e == BFLOAT16 else np.dtype(e).itemsize


def promote(a: str, b: str) -> str:
    """NumPy promotion of two expression dtypes (scalar parts); bfloat16 as the
    module docstring says."""
    a, b = element(a), element(b)
    if BFLOAT16 not in (a, b):
        return np.promote_types(a, b).name
    if a == b:
        return BFLOAT16
    other = b if a == BFLOAT16 else a
    if other == "float16":
        return "float32"
    return _bfloat16_for_float16(np.promote_types("float16", other).name)


def promote_scalar(expr_dtype: str, value) -> str:
    """NumPy (NEP 50) promotion of an expression dtype with a Python scalar."""
    e = element(expr_dtype)
    if e == BFLOAT16:
        return _bfloat16_for_float16(np.result_type(np.dtype("float16"), value).name)
    return np.result_type(np.dtype(e), value).name


def _bfloat16_for_float16(name: str) -> str:
    """bfloat16 where a float16 promotion kept float16."""
    return BFLOAT16 if name == "float16" else name


def numpy_dtype(dtype: str) -> np.dtype:
    """The NumPy dtype of a scalar dtype; bfloat16 is ml_dtypes.bfloat16 (imported
    here, when first needed: an ImportError naming the package when it is missing)."""
    e = element(dtype)
    if e != BFLOAT16:
        return np.dtype(e)
    try:
        import ml_dtypes
    except ImportError as exc:
        raise ImportError("bfloat16 arrays need the ml_dtypes package (NumPy has no "
                          "bfloat16; pip install ml_dtypes, it comes with JAX)") from exc
    return np.dtype(ml_dtypes.bfloat16)


def scalar_dtype(value) -> str:
    """The dtype a lone Python scalar gets: bool, int32 (int64 if too big), float32."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        if isinstance(value, np.integer):
            return np.dtype(type(value)).name
        return "int32" if -2**31 <= value < 2**31 else "int64"
    if isinstance(value, np.floating) or type(value).__name__ == BFLOAT16:
        return np.dtype(type(value)).name
    if isinstance(value, float):
        return "float32"
    raise TypeError(f"cannot make a constant from {type(value).__name__} {value!r}")
