"""Argument checks shared by the library's ops, and the target facts schedules read.

Every op checks its sizes, dtype and options before it builds anything, and a
misuse raises OpError (a ValueError) that names the op, the argument, what was
expected and what came:

    dense: argument K: expected a positive int, got 0
"""
from __future__ import annotations

import numpy as np

import opcomp as oc
from opcomp.ir import expr as _E

FLOATS = ("float32", "float64")
NUMERIC = ("float32", "float64", "int32")


class OpError(ValueError):
    """An op called with a size, dtype or option it does not accept."""


def fail(op: str, arg: str, expected: str, got) -> OpError:
    """The error for one bad argument (raise the result)."""
    return OpError(f"{op}: argument {arg}: expected {expected}, got {got!r}")


def positive(op: str, arg: str, value, minimum: int = 1) -> int:
    """A size: a Python int >= minimum (1 by default)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise fail(op, arg, f"an int >= {minimum}", value)
    if value < minimum:
        raise fail(op, arg, f"an int >= {minimum}", value)
    return int(value)


def shape(op: str, arg: str, value, min_ndim: int = 1) -> tuple:
    """A shape: a tuple (or list) of positive ints with at least min_ndim entries."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or len(value) < min_ndim:
        raise fail(op, arg, f"a tuple of at least {min_ndim} positive ints", value)
    for v in value:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise fail(op, arg, "a tuple of positive ints", tuple(value))
    return tuple(int(v) for v in value)


def dtype(op: str, value, allowed=NUMERIC, arg: str = "dtype") -> str:
    """The dtype's name if the op supports it."""
    try:     # bfloat16 by name needs no ml_dtypes (NumPy knows it only through that)
        name = value if isinstance(value, str) and value == "bfloat16" else np.dtype(value).name
    except TypeError:
        name = None
    if name not in allowed:
        raise fail(op, arg, "one of " + ", ".join(allowed), value)
    return name


def choice(op: str, arg: str, value, allowed):
    """One of a fixed set of option values."""
    if value not in allowed:
        raise fail(op, arg, "one of " + ", ".join(repr(a) for a in allowed), value)
    return value


def flag(op: str, arg: str, value) -> bool:
    """A boolean option."""
    if not isinstance(value, (bool, np.bool_)):
        raise fail(op, arg, "True or False", value)
    return bool(value)


def pair(op: str, arg: str, value, minimum: int = 1) -> tuple:
    """An int or a pair of ints (height, width), each >= minimum."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise fail(op, arg, f"an int or a pair of ints >= {minimum}", value)
        return positive(op, arg, value[0], minimum), positive(op, arg, value[1], minimum)
    v = positive(op, arg, value, minimum)
    return v, v


def target(op: str, value) -> "oc.Target":
    """The resolved CPU target."""
    try:
        t = oc.Target(value)
    except (oc.TargetError, TypeError) as e:
        raise fail(op, "target", "a CPU target string such as 'llvm'", value) from e
    if t.kind != "llvm":
        raise fail(op, "target", "a CPU target (kind 'llvm'); this op has no GPU schedule yet",
                   str(value))
    return t


def lanes(dtype_: str, tgt) -> int:
    """Elements of dtype_ in one of the target's vector registers."""
    return max(1, oc.Target(tgt).vector_bits // (8 * np.dtype(dtype_).itemsize))


def zero(dtype_: str):
    return oc.const(0, dtype_)


# -- symbolic sizes (oc.size_var): one build serves every size -------------------------------
def is_symbolic(value) -> bool:
    """A size given as an integer variable (oc.size_var / oc.var), not a number."""
    return isinstance(value, _E.Expr) and not isinstance(value, _E.Const) \
        and value.dtype in ("int32", "int64")


def size(op: str, arg: str, value, minimum: int = 1):
    """A size that may be symbolic: an int >= minimum, or an integer oc.size_var."""
    if isinstance(value, _E.Expr) and not is_symbolic(value):
        raise fail(op, arg, f"an int >= {minimum} or an integer oc.size_var", value)
    return value if is_symbolic(value) else positive(op, arg, value, minimum)


def sym_shape(op: str, arg: str, value, min_ndim: int = 1) -> tuple:
    """A shape whose entries are positive ints or integer oc.size_vars (shape()'s
    checks and messages when no entry is symbolic)."""
    if is_symbolic(value):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not any(isinstance(d, _E.Expr) for d in value):
        return shape(op, arg, value, min_ndim)
    if len(value) < min_ndim:
        raise fail(op, arg, f"a tuple of at least {min_ndim} positive ints", value)
    if not all(is_symbolic(d) for d in value if isinstance(d, _E.Expr)):
        raise fail(op, arg, "a tuple of positive ints or integer size_vars", tuple(value))
    return tuple(d if is_symbolic(d) else positive(op, arg, d) for d in value)


def const_value(value, default=None):
    """The int of a size, or `default` for a symbolic one."""
    if isinstance(value, _E.Const):
        return value.value
    return default if is_symbolic(value) else int(value)
