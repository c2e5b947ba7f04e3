"""Tensor expressions: the user's definition of an operator.

    n = oc.var("n")
    A = oc.placeholder((n, 64), name="A")
    k = oc.reduce_axis(64, "k")
    B = oc.compute((n,), lambda i: oc.sum(A[i, k] * 2.0, axis=k), name="B")

Every misuse raises at the line that made it: indexing with the wrong number
of indices or a non-integer index, a reduce axis used outside its reduction, a
reduction that is not the whole body of a compute, incompatible dtypes.
"""
from __future__ import annotations

import inspect
import itertools
import weakref

from . import dtype as dt
from .ir import expr as E
from .ir.visit import walk

_names = itertools.count()
# Vars of every reduce axis ever made, so a use outside its reduction is caught.
_REDUCE_VARS: "weakref.WeakSet" = weakref.WeakSet()


class TensorError(ValueError):
    """Invalid tensor-expression definition."""


def _fresh(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def var(name: str = "n", dtype: str = "int32") -> E.Var:
    """A symbolic size, usable in shapes and bound from argument shapes at call time."""
    dtype = dt.check(dtype)
    if not dt.is_int(dtype):
        raise TensorError(f"var {name!r}: a size variable must have an integer dtype, got {dtype}")
    return E.Var(name, dtype)


def size_var(name: str = "n", dtype: str = "int32") -> E.Var:
    """TVM's size_var: a var known to be >= 0.  Every opcomp size var already is
    (it is bound from an array's shape), so this is var."""
    return var(name, dtype)


def _as_extent(value, what: str) -> E.Expr:
    e = E.as_expr(value)
    if not dt.is_int(e.dtype) or dt.lanes(e.dtype) != 1:
        raise TensorError(f"{what}: a shape entry must be an int or an integer var, got {value!r}")
    if isinstance(e, E.Const) and e.value < 0:
        raise TensorError(f"{what}: a shape entry must be >= 0, got {e.value}")
    return e


def _as_shape(shape, what: str) -> tuple:
    if isinstance(shape, (int, E.Expr)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TensorError(f"{what}: shape must be a tuple of ints or vars, got {shape!r}")
    return tuple(_as_extent(s, what) for s in shape)


class Operation:
    """What produces a tensor: a placeholder or a compute."""
    name: str
    shape: tuple
    dtype: str
    tag: str = ""
    axis: tuple = ()
    reduce_axis: tuple = ()

    num_outputs = 1      # tuple-returning computes (several outputs) are not supported yet

    def output(self, index: int = 0) -> "Tensor":
        """The op's output tensor number index (TVM's op.output(k)); only 0 exists."""
        if isinstance(index, bool) or not isinstance(index, int) or \
                not 0 <= index < self.num_outputs:
            raise TensorError(f"operation {self.name}: output index {index!r} is out of range; "
                              f"it has {self.num_outputs} output(s)")
        return self._tensor

    @property
    def input_tensors(self) -> list:
        return []

    def __repr__(self):
        return f"{type(self).__name__}({self.name})"


class PlaceholderOp(Operation):
    def __init__(self, shape, dtype, name):
        self.name, self.shape, self.dtype = name, shape, dtype
        self._tensor = Tensor(self)


class ComputeOp(Operation):
    """out[axis] = body, where body may be a Reduce over reduce_axis."""

    def __init__(self, name, tag, axis, body):
        self.name, self.tag, self.axis, self.body = name, tag, tuple(axis), body
        self.shape = tuple(iv.extent for iv in self.axis)
        self.dtype = body.dtype
        self.reduce_axis = tuple(body.axes) if isinstance(body, E.Reduce) else ()
        self._tensor = Tensor(self)

    @property
    def input_tensors(self) -> list:
        seen = []
        walk(self.body, lambda n: seen.append(n.tensor)
             if isinstance(n, E.TensorRead) and n.tensor not in seen else None)
        return seen


class Tensor:
    """The output of an operation; T[i, j] reads one element."""

    def __init__(self, op: Operation):
        self.op = op

    name = property(lambda self: self.op.name)
    shape = property(lambda self: self.op.shape)
    dtype = property(lambda self: self.op.dtype)
    ndim = property(lambda self: len(self.op.shape))

    def __getitem__(self, indices):
        """T[i, j] reads one element; T[i] of a 2-D T is a partial index, so T[i][j]
        works as in TVM (the partial raises the rank error if used as a value)."""
        if not isinstance(indices, tuple):
            indices = (indices,)
        if 0 < len(indices) < self.ndim:
            return PartialIndex(self, tuple(self._index(i) for i in indices))
        return self._read(indices)

    def __call__(self, *indices) -> E.TensorRead:
        """T(i, j) is T[i, j] (TVM's call syntax); the index must be complete."""
        return self._read(indices)

    def _read(self, indices) -> E.TensorRead:
        if len(indices) != self.ndim:
            raise self._rank_error(indices)
        idx = tuple(self._index(i) for i in indices)
        return E.TensorRead(self, idx, self.dtype)

    def _rank_error(self, indices) -> TensorError:
        err = TensorError(f"tensor {self.name} has {self.ndim} dimensions "
                          f"{self._shape_str()} but was indexed with {len(indices)} "
                          f"indices: {self.name}[{', '.join(map(str, indices))}]")
        return err          # via a name: the error-site scanner keys this message here

    def _index(self, i) -> E.Expr:
        if isinstance(i, (slice, type(Ellipsis))):
            raise TensorError(f"tensor {self.name}: slices are not supported in an index, "
                              "use an index variable")
        e = E.as_expr(i)
        if not dt.is_int(e.dtype) or dt.lanes(e.dtype) != 1:
            raise TensorError(f"tensor {self.name}: index {i} has dtype {e.dtype}; "
                              "indices must be integers")
        return e

    def _shape_str(self) -> str:
        return "(" + ", ".join(str(s) for s in self.shape) + ")"

    def __repr__(self):
        return f"Tensor({self.name}, shape={self._shape_str()}, dtype={self.dtype})"

    # a tensor in arithmetic is a mistake worth a clear message
    def _no_arith(self, *_):
        raise TensorError(f"tensor {self.name} used as a value; index it first, e.g. {self.name}[i]")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _no_arith
    __truediv__ = __rtruediv__ = _no_arith


class PartialIndex:
    """T[i] of a tensor of higher rank: waits for the rest of the index (T[i][j])."""

    def __init__(self, tensor: Tensor, indices: tuple):
        self.tensor, self.indices = tensor, indices

    def __getitem__(self, more):
        more = more if isinstance(more, tuple) else (more,)
        return self.tensor[self.indices + more]

    def _as_expr(self):
        # used as a value while incomplete: the same error as T[i] always gave
        raise self.tensor._rank_error(self.indices)

    def _no_arith(self, *_):
        self._as_expr()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _no_arith
    __truediv__ = __rtruediv__ = __floordiv__ = __mod__ = __neg__ = _no_arith

    def __repr__(self):
        return f"{self.tensor.name}[{', '.join(map(str, self.indices))}]"


def placeholder(shape, dtype: str = "float32", name: str | None = None) -> Tensor:
    """An input tensor of the given shape (ints or vars) and dtype."""
    name = name or _fresh("placeholder")
    return PlaceholderOp(_as_shape(shape, f"placeholder {name}"), dt.check(dtype), name).output()


def reduce_axis(dom, name: str = "k") -> E.IterVar:
    """A reduction axis over range(extent) or range(lo, hi)."""
    if isinstance(dom, (tuple, list)):
        if len(dom) != 2:
            raise TensorError(f"reduce_axis {name!r}: a range is (lo, hi), got {dom!r}")
        lo, hi = E.as_expr(dom[0]), E.as_expr(dom[1])
        if isinstance(lo, E.Const) and isinstance(hi, E.Const) and hi.value < lo.value:
            raise TensorError(f"reduce_axis {name}: range ({lo.value}, {hi.value}) has hi < lo")
        ext = E.const(hi.value - lo.value, hi.dtype) if isinstance(lo, E.Const) and \
            isinstance(hi, E.Const) else hi - lo
        iv = E.IterVar(E.Var(name), lo, _as_extent(ext, f"reduce_axis {name}"), "reduce")
    else:
        iv = E.IterVar(E.Var(name), E.const(0), _as_extent(dom, f"reduce_axis {name}"), "reduce")
    _REDUCE_VARS.add(iv.var)
    return iv


def _arg_names(fcompute, ndim: int, name: str) -> list:
    try:
        params = list(inspect.signature(fcompute).parameters.values())
    except (TypeError, ValueError):
        params = []
    if params and params[0].kind == inspect.Parameter.VAR_POSITIONAL:
        return [f"i{k}" for k in range(ndim)]
    if len(params) != ndim:
        raise TensorError(f"compute {name}: shape has {ndim} dimensions but fcompute "
                          f"takes {len(params)} arguments")
    return [p.name for p in params]


def compute(shape, fcompute, name: str | None = None, tag: str = "") -> Tensor:
    """A tensor whose element at the index vars is fcompute(*vars)."""
    name = name or _fresh("compute")
    shape = _as_shape(shape, f"compute {name}")
    names = _arg_names(fcompute, len(shape), name)
    axis = tuple(E.IterVar(E.Var(n), E.const(0), s, "data") for n, s in zip(names, shape))
    result = fcompute(*[iv.var for iv in axis])
    if isinstance(result, (tuple, list)):
        raise TensorError(f"compute {name}: fcompute returned a tuple of {len(result)} values; "
                          "tuple outputs (multi-output compute) are not supported yet")
    body = E.as_expr(result)
    _check_body(body, name)
    return ComputeOp(name, tag, axis, body).output()


def _check_body(body: E.Expr, name: str) -> None:
    if dt.lanes(body.dtype) != 1:
        raise TensorError(f"compute {name}: the body must be a scalar expression")
    reduces = []
    walk(body, lambda n: reduces.append(n) if isinstance(n, E.Reduce) else None)
    if reduces and reduces[0] is not body:
        raise TensorError(f"compute {name}: a reduction must be the whole body of a compute, "
                          f"not part of an expression: {body}")
    if len(reduces) > 1:
        raise TensorError(f"compute {name}: nested reductions are not supported: {body}")
    allowed = {iv.var for iv in reduces[0].axes} if reduces else set()
    _check_reduce_vars(body.source if reduces else body, allowed, name)
    if reduces and reduces[0].condition is not None:
        _check_reduce_vars(reduces[0].condition, allowed, name)


def _check_reduce_vars(e, allowed: set, name: str) -> None:
    """A reduce axis's var may appear only inside the reduction that lists it."""
    def visit(n):
        if isinstance(n, E.Var) and n in _REDUCE_VARS and n not in allowed:
            raise TensorError(f"compute {name}: reduce axis {n.name} is used outside a "
                              f"reduction over it; add it to axis= of oc.sum/max/min/prod")
    walk(e, visit)


_IDENTITY = {"sum": 0, "prod": 1}


def _reducer(combiner: str):
    def reduce(expr, axis=None, where=None) -> E.Reduce:
        source = E.as_expr(expr)
        if axis is None:
            raise TensorError(f"{combiner}: axis= is required (a reduce_axis or a list of them)")
        axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
        for a in axes:
            if not isinstance(a, E.IterVar) or a.kind != "reduce":
                raise TensorError(f"{combiner}: axis {a!r} is not a reduce_axis")
        cond = None
        if where is not None:
            cond = E.as_expr(where)
            if not dt.is_bool(cond.dtype):
                raise TensorError(f"{combiner}: where= must be a bool expression, got {cond.dtype}")
        dtype = "int32" if dt.is_bool(source.dtype) else source.dtype
        return E.Reduce(combiner, E.cast(source, dtype), axes, cond, dtype)
    reduce.__name__ = combiner
    reduce.__doc__ = f"The {combiner} of expr over the reduce axes (optionally where=cond)."
    return reduce


sum = _reducer("sum")      # noqa: A001  (NumPy's names, as API.md fixes them)
prod = _reducer("prod")
max = _reducer("max")      # noqa: A001
min = _reducer("min")      # noqa: A001


def reduce_identity(combiner: str, dtype: str) -> E.Const:
    """The starting value of a reduction: 0, 1, or the dtype's lowest/highest value.

    A float sum starts at -0.0, IEEE's additive identity (-0.0 + x is x for every x,
    +0.0 + -0.0 is +0.0): a sum of negative zeros stays -0.0, as in NumPy.
    """
    import numpy as np
    if combiner == "sum" and dt.is_float(dtype):
        return E.const(-0.0, dtype)
    if combiner in _IDENTITY:
        return E.const(_IDENTITY[combiner], dtype)
    if dt.is_float(dtype):
        return E.const(float("-inf") if combiner == "max" else float("inf"), dtype)
    info = np.iinfo(dt.element(dtype))
    return E.const(info.min if combiner == "max" else info.max, dtype)


def combine(combiner: str, acc: E.Expr, value: E.Expr) -> E.Expr:
    """One step of a reduction."""
    if combiner == "sum":
        return E.binary("add", acc, value)
    if combiner == "prod":
        return E.binary("mul", acc, value)
    return E.binary(combiner, acc, value)


def tensors_in_order(outputs) -> list:
    """All tensors reachable from outputs, producers before consumers."""
    order, seen = [], set()

    def visit(t):
        if t.op in seen:
            return
        seen.add(t.op)
        for inp in t.op.input_tensors:
            visit(inp)
        order.append(t)
    for t in outputs:
        visit(t)
    return order
