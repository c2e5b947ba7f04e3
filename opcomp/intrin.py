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
