"""Split factors that are expressions: split(i, factor=n // 4) with n a size var.

Such a factor must be a scalar integer expression over the computation's size
vars (bound from the argument shapes when the kernel runs); the trace records
it as an expression object (trace.encode_expr).
"""
from __future__ import annotations

from .. import dtype as dt
from .. import te
from ..ir import expr as E


def symbolic_factor(stage, parent, value, what: str) -> E.Expr:
    """A split factor that is an expression: a scalar integer over the computation's
    size vars (a free variable would have no value when the kernel runs)."""
    if not dt.is_int(value.dtype) or dt.lanes(value.dtype) != 1:
        raise stage._error("split", parent, f"{what} must be a positive int or an integer "
                           f"expression, got a {value.dtype} expression")
    sizes = size_vars(stage.schedule)
    free = [v.name for v in _vars_in(value) if v not in sizes]
    if free:
        raise stage._error("split", parent, f"{what} {value} uses {', '.join(free)}, which is "
                           "not a size var of the computation's tensors; a symbolic factor "
                           "must be computable from the argument shapes")
    return value if value.dtype == parent.extent.dtype else E.cast(value, parent.extent.dtype)


def size_vars(sch) -> list:
    """The size vars in the shapes of every tensor of the schedule's computation."""
    out = []
    for t in te.tensors_in_order(sch.outputs):
        for s in t.shape:
            out += [v for v in _vars_in(s) if v not in out]
    return out


def _vars_in(e) -> list:
    from ..ir.visit import walk
    found = []
    walk(e, lambda n: found.append(n) if isinstance(n, E.Var) and n not in found else None)
    return found


def trace_factor(value):
    """A factor as the trace stores it: an int, an expression object, or None."""
    if isinstance(value, E.Expr):
        from .trace import encode_expr
        return encode_expr(value)
    return value
