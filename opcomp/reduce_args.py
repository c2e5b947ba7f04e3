"""The argument forms of oc.sum/max/min/prod and comm_reducer reducers (te.py).

TVM's reducers take ``reducer(expr, axis, where=None, init=None)``, and, when the
second positional argument is a value rather than axes, ``reducer(a, b, ...)``:
the elementwise combine of the values (``oc.min(a, b)``, ``mysum(m, n)``).  The
keyword ``axis=`` is always axes, so ``oc.max(x, axis=k.var)`` stays an error.
"""
from __future__ import annotations

from .ir import expr as E
from .ir.expr import TensorError


def is_value(axis) -> bool:
    """True when the second positional argument of a reducer is a value, not axes:
    TVM's elementwise form oc.min(a, b) / reducer(a, b)."""
    return axis is not None and not isinstance(axis, (E.IterVar, list, tuple))


def split_reduce_args(what: str, args: tuple, axis, where, init) -> tuple:
    """(axis, where, init) from reducer(expr, axis, where, init) given positionally or by
    keyword; the keyword axis= is always axes (a plain var there is a mistake)."""
    if len(args) > 3:
        raise TensorError(f"{what}: takes expr, axis, where, init; got {1 + len(args)} "
                          "positional arguments")
    given = dict(zip(("axis", "where", "init"), args))
    for key, value in (("axis", axis), ("where", where), ("init", init)):
        if key in given and value is not None:
            raise TensorError(f"{what}: {key} given both positionally and as {key}=")
        given.setdefault(key, value)
    return given["axis"], given["where"], given["init"]


def elementwise_values(what: str, expr, args: tuple, keywords: dict) -> list:
    """The values of reducer(a, b, ...) (TVM's form: no axes, an elementwise combine)."""
    extra = [k for k, v in keywords.items() if v is not None]
    if extra:
        raise TensorError(f"{what}: {extra[0]}= applies to a reduction over axes, not to "
                          f"the elementwise form {what}(a, b, ...)")
    values = [expr, *args]
    for v in values:
        if isinstance(v, (list, tuple)):
            raise TensorError(f"{what}: combining values elementwise takes scalar expressions, "
                              f"got {type(v).__name__} {v!r}")
    return [E.as_expr(v) for v in values]


def fold_with(fcombine, values: list) -> E.Expr:
    """reducer(a, b, ...): fcombine applied left to right, no reduction (TVM's form)."""
    out = values[0]
    for v in values[1:]:
        out = E.as_expr(fcombine(out, v))
    return out
