"""Split factors that are expressions: split(i, factor=n // 4) with n a size var.

Such a factor must be a scalar integer expression over the computation's size
vars (bound from the argument shapes when the kernel runs) or over free integer
vars (split(i, factor=s), as TVM allows), which become scalar arguments of the
kernel: lower(s, [A, B, s]) (lower.py refuses a free var missing there).  The
trace records the factor as an expression object (trace.encode_expr).
"""
from __future__ import annotations

from .. import dtype as dt
from .. import te
from ..ir import expr as E


def symbolic_factor(stage, parent, value, what: str) -> E.Expr:
    """A split factor that is an expression: a scalar integer over the computation's
    size vars and free integer vars (scalar arguments of the kernel)."""
    if not dt.is_int(value.dtype) or dt.lanes(value.dtype) != 1:
        raise stage._error("split", parent, f"{what} must be a positive int or an integer "
                           f"expression, got a {value.dtype} expression")
    return value if value.dtype == parent.extent.dtype else E.cast(value, parent.extent.dtype)


def factor_vars(sch) -> list:
    """The free vars of the schedule's split factors (not size vars): each must be a
    scalar argument when the schedule is lowered."""
    from .stage import Split
    sizes, out = size_vars(sch), []
    for st in sch.stages:
        for rel in st.relations:
            if isinstance(rel, Split):
                part = rel.factor if rel.factor is not None else rel.nparts
                out += [v for v in _vars_in(part) if v not in sizes and v not in out]
    return out


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
