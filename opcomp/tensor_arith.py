"""Arithmetic on whole tensors (TVM's te tensor overloads): ``A + B``, ``A * 2``,
``2 - A``, ``n + A``, ``-A`` build an elementwise compute.

    D = 3 + A - B * C + x          # four computes, D[i, j] = 3 + A[i, j] - ...

Tensor with tensor broadcasts by NumPy's rules (shapes aligned at the right, an
extent of 1 stretches; tag "broadcast"); tensor with a scalar (a number or a
scalar expression such as a var or B[0, 0]) keeps the tensor's shape (tag
"elemwise").  The element operation is the scalar one, so dtypes promote and
``/`` divides as on scalars (NumPy's rules).
"""
from __future__ import annotations

import operator

from .ir import expr as E
from .ir.expr import TensorError
from .topi.tag import BROADCAST as TAG_BROADCAST, ELEMWISE as TAG_ELEMWISE

# te.py calls in here (Tensor's operators) and passes its compute: no import of te, so
# the two modules do not import each other.

_OPS = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
        "divide": operator.truediv, "floor_divide": operator.floordiv,
        "mod": operator.mod}


def _is_tensor(v) -> bool:
    return getattr(v, "_tensor_arith", False)


def tensor_binary(compute, name: str, lhs, rhs):
    """lhs <op> rhs where at least one side is a Tensor; compute is oc.compute."""
    fn = _OPS[name]
    a, b = _operand(name, lhs), _operand(name, rhs)
    if _is_tensor(a) and _is_tensor(b):
        shape = broadcast_shape(name, a, b)
        return compute(shape, lambda *idx: fn(_read(a, idx), _read(b, idx)),
                       name=f"T_{name}", tag=TAG_BROADCAST)
    tensor = a if _is_tensor(a) else b
    return compute(tensor.shape, lambda *idx: fn(_value(a, idx), _value(b, idx)),
                   name=f"T_{name}", tag=TAG_ELEMWISE)


def tensor_negative(compute, t):
    """-t, elementwise."""
    return compute(t.shape, lambda *idx: -t[idx], name="T_negative", tag=TAG_ELEMWISE)


def _operand(name: str, v):
    if _is_tensor(v) or isinstance(v, E.Expr):
        return v
    if isinstance(v, E.IterVar):
        return v.var
    if isinstance(v, (bool, int, float)):
        return v
    raise TensorError(f"tensor {name}: cannot combine a tensor with a "
                         f"{type(v).__name__} ({v!r}); use a tensor, a number or a scalar "
                         "expression")


def _value(v, idx):
    return v[idx] if _is_tensor(v) else v


def _read(t, idx: tuple):
    """t at the output position idx, broadcast: leading output axes t lacks are
    dropped, and an extent-1 axis of t reads index 0."""
    own = idx[len(idx) - t.ndim:] if t.ndim else ()
    return t[tuple(E.const(0, i.dtype) if E.is_const(s, 1) else i
                   for i, s in zip(own, t.shape))]


def broadcast_shape(name: str, a, b) -> tuple:
    """NumPy's broadcast of a's and b's shapes; symbolic extents must match exactly."""
    rank = max(a.ndim, b.ndim)
    pa = (E.const(1),) * (rank - a.ndim) + tuple(a.shape)
    pb = (E.const(1),) * (rank - b.ndim) + tuple(b.shape)
    return tuple(_broadcast_dim(name, a, b, x, y) for x, y in zip(pa, pb))


def _broadcast_dim(name, a, b, x, y):
    if E.is_const(x, 1):
        return y
    if E.is_const(y, 1) or E.same(x, y):
        return x
    if isinstance(x, E.Const) and isinstance(y, E.Const) and x.value == y.value:
        return x
    raise TensorError(f"tensor {name}: shapes {a._shape_str()} of {a.name} and "
                         f"{b._shape_str()} of {b.name} do not broadcast (extents {x} and {y})")
