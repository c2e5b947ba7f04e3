"""Elementwise math on expressions, with NumPy's names and dtype rules.

Integer inputs to float math (exp, log, ...) compute in float64, as NumPy does.
"""
from __future__ import annotations

from .ir import expr as E


def _math(name: str):
    def fn(x):
        return E.call(name, x)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name}(x)."
    return fn


exp = _math("exp")
log = _math("log")
sqrt = _math("sqrt")
rsqrt = _math("rsqrt")
tanh = _math("tanh")
erf = _math("erf")
sigmoid = _math("sigmoid")
abs = _math("abs")      # noqa: A001
floor = _math("floor")
ceil = _math("ceil")


def power(x, y):
    """Elementwise x ** y.

    Floats follow C99 pow for special values (pow(x, 0) = 1 even for NaN,
    pow(-inf, 0.5) = inf, pow(-0.0, 0.5) = +0.0), as NumPy's np.power does for
    array exponents; NumPy's ``a ** 0.5`` with a scalar exponent computes sqrt
    instead (NaN and -0.0 there), which opcomp does not imitate.  Integers wrap
    like NumPy's; see expr._power for negative integer exponents."""
    return E.call("pow", x, y)


# -- integer arithmetic (TVM's names; NumPy's dtype rules) ---------------------------

def floordiv(a, b):
    """a // b rounding toward -inf (x // 0 == 0 for integers, as NumPy gives)."""
    return E.binary("floordiv", a, b)


def floormod(a, b):
    """a % b with the sign of b (Python's and NumPy's %)."""
    return E.binary("floormod", a, b)


def truncdiv(a, b):
    """Integer a / b rounding toward zero (C's /); x / 0 == 0, INT_MIN / -1 wraps."""
    return E.binary("truncdiv", a, b)


def truncmod(a, b):
    """Integer remainder with the sign of a (C's %); x % 0 == 0."""
    return E.binary("truncmod", a, b)


def shift_left(a, b):
    """a << b on integers; a shift by a negative amount or >= the bit width gives 0 (NumPy)."""
    return E.binary("shl", a, b)


def shift_right(a, b):
    """a >> b on integers: arithmetic for signed, logical for unsigned dtypes; a shift
    >= the bit width gives 0 (-1 for a negative signed value), as NumPy."""
    return E.binary("shr", a, b)


def bitwise_and(a, b):
    """a & b on integers (logical and on bool)."""
    return E.binary("and", a, b)


def bitwise_or(a, b):
    """a | b on integers (logical or on bool)."""
    return E.binary("or", a, b)


def bitwise_xor(a, b):
    """a ^ b on integers (logical xor on bool)."""
    return E.binary("xor", a, b)


def bitwise_not(a):
    """~a on integers (logical not on bool)."""
    return E.unary("not", a)


popcount = E.popcount


def if_then_else(cond, a, b):
    """cond ? a : b, where only the taken arm is evaluated: if_then_else(i > 0, A[i - 1], 0)
    never reads A[-1] (TVM's if_then_else).  oc.select has the same semantics in opcomp."""
    return E.select(cond, a, b)
