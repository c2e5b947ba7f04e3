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
from .tensor_slice import NotAValue, slice_tensor
from .reduce_args import elementwise_values, fold_with, is_value, split_reduce_args

_names = itertools.count()
# Vars of every reduce axis ever made, so a use outside its reduction is caught.
_REDUCE_VARS: "weakref.WeakSet" = weakref.WeakSet()


TensorError = E.TensorError      # defined with the expressions, whose checks raise it too


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
    attrs = None          # ComputeOp: an op_attrs.AttrsMap (compute(..., attrs=))
    reduce_axis: tuple = ()

    num_outputs = 1      # a tuple-returning compute has one per value

    def output(self, index: int = 0) -> "Tensor":
        """The op's output tensor number index (TVM's op.output(k))."""
        if isinstance(index, bool) or not isinstance(index, int) or \
                not 0 <= index < self.num_outputs:
            raise TensorError(f"operation {self.name}: output index {index!r} is out of range; "
                              f"it has {self.num_outputs} output(s)")
        return self._tensor if index == 0 else self._outputs[index]

    @property
    def dtypes(self) -> tuple:
        """The dtype of each output."""
        return (self.dtype,)

    def output_shape(self, value_index: int) -> tuple:
        """The shape of output value_index (a scan's states may differ; others share one)."""
        return self.shape

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

    def __init__(self, name, tag, axis, body, attrs=None):
        # body: one expression, or a tuple of them (a tuple-returning compute: one
        # output per value, computed in one loop nest).  .bodies and .body (TVM's
        # name: ComputeOp.body is an array) are that tuple; .bodies[0] the first.
        from .op_attrs import convert_attrs
        self.attrs = convert_attrs(attrs, f"compute {name}")
        self.bodies = tuple(body) if isinstance(body, tuple) else (body,)
        self.name, self.tag, self.axis, self.body = name, tag, tuple(axis), self.bodies
        self.shape = tuple(iv.extent for iv in self.axis)
        first = self.bodies[0]
        self.dtype = first.dtype
        self.num_outputs = len(self.bodies)
        self.reduce_axis = tuple(first.axes) if isinstance(first, E.Reduce) else ()
        self._tensor = Tensor(self)
        self._outputs = (self._tensor,) + tuple(Tensor(self, k) for k in range(1, self.num_outputs))

    @property
    def dtypes(self) -> tuple:
        return tuple(b.dtype for b in self.bodies)

    @property
    def input_tensors(self) -> list:
        seen = []
        walk(self.bodies, lambda n: seen.append(n.tensor)
             if isinstance(n, E.TensorRead) and n.tensor not in seen else None)
        return seen


def _tensor_op(name: str, reflected: bool = False):
    """A Tensor operator method: T <op> x (or x <op> T) as an elementwise compute."""
    def method(self, other):
        from .tensor_arith import tensor_binary
        lhs, rhs = (other, self) if reflected else (self, other)
        return tensor_binary(compute, name, lhs, rhs)
    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


class Tensor:
    """The output of an operation; T[i, j] reads one element; A + B, A * 2, ... on whole
    tensors are elementwise computes with NumPy broadcasting (tensor_arith.py)."""

    def __init__(self, op: Operation, value_index: int = 0):
        self.op, self.value_index = op, value_index

    # Outputs of a tuple-returning compute C are C.v0, C.v1, ... (TVM's names).
    name = property(lambda self: self.op.name if self.op.num_outputs == 1
                    else f"{self.op.name}.v{self.value_index}")
    shape = property(lambda self: self.op.output_shape(self.value_index))
    dtype = property(lambda self: self.op.dtypes[self.value_index])
    ndim = property(lambda self: len(self.shape))

    def __getitem__(self, indices):
        """T[i, j] reads one element; T[i] of a 2-D T is a partial index, so T[i][j]
        works as in TVM (the partial raises the rank error if used as a value)."""
        if not isinstance(indices, tuple):
            indices = (indices,)
        if any(isinstance(i, slice) for i in indices):     # a region: a tensor intrinsic's
            return slice_tensor(self, indices)            # argument (tensor_slice.py)
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

    # Arithmetic on whole tensors builds elementwise computes (tensor_arith.py, TVM's
    # te tensor overloads); other uses of a tensor as a value keep a clear message.
    _tensor_arith = True     # tells Expr's operators to defer to these (ir/expr.py)

    def _as_expr(self):
        # a whole tensor where one scalar is needed (oc.exp(A), a compute body A)
        raise TensorError(f"tensor {self.name} used as a value; index it first, e.g. {self.name}[i]")

    __add__ = _tensor_op("add")
    __radd__ = _tensor_op("add", reflected=True)
    __sub__ = _tensor_op("subtract")
    __rsub__ = _tensor_op("subtract", reflected=True)
    __mul__ = _tensor_op("multiply")
    __rmul__ = _tensor_op("multiply", reflected=True)
    __truediv__ = _tensor_op("divide")
    __rtruediv__ = _tensor_op("divide", reflected=True)
    __floordiv__ = _tensor_op("floor_divide")
    __rfloordiv__ = _tensor_op("floor_divide", reflected=True)
    __mod__ = _tensor_op("mod")
    __rmod__ = _tensor_op("mod", reflected=True)

    def __neg__(self):
        from .tensor_arith import tensor_negative
        return tensor_negative(compute, self)


class PartialIndex(NotAValue):
    """T[i] of a tensor of higher rank: waits for the rest of the index (T[i][j])."""

    def __init__(self, tensor: Tensor, indices: tuple):
        self.tensor, self.indices = tensor, indices

    def __getitem__(self, more):
        more = more if isinstance(more, tuple) else (more,)
        return self.tensor[self.indices + more]

    def _as_expr(self):
        # used as a value while incomplete: the same error as T[i] always gave
        raise self.tensor._rank_error(self.indices)

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
            isinstance(hi, E.Const) else _simplified(hi - lo)
        iv = E.IterVar(E.Var(name), lo, _as_extent(ext, f"reduce_axis {name}"), "reduce")
    else:
        iv = E.IterVar(E.Var(name), E.const(0), _as_extent(dom, f"reduce_axis {name}"), "reduce")
    _REDUCE_VARS.add(iv.var)
    return iv


def _simplified(e: E.Expr) -> E.Expr:
    """hi - lo of a range, simplified so (0, n) has extent n, as in TVM."""
    from .arith.simplify import simplify_expr
    return simplify_expr(e)


def _arg_names(fcompute, ndim: int, name: str) -> tuple:
    """(index variable names, fewer): fewer is True when fcompute takes fewer index
    variables than the shape has dimensions, TVM's tensor compute form, valid only
    when fcompute calls a tensor intrinsic (see compute)."""
    try:
        params = list(inspect.signature(fcompute).parameters.values())
    except (TypeError, ValueError):      # no signature to read: only a full index fits
        return _all_indices(ndim, name, [])
    if params and params[0].kind == inspect.Parameter.VAR_POSITIONAL:
        return [f"i{k}" for k in range(ndim)], False
    variadic = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)
    if len(params) < ndim and not variadic:
        return [p.name for p in params], True
    return _all_indices(ndim, name, [p.name for p in params])


def _all_indices(ndim: int, name: str, names: list) -> tuple:
    """(names, False) when fcompute takes one index variable per dimension."""
    if len(names) != ndim:
        raise TensorError(f"compute {name}: shape has {ndim} dimensions but fcompute "
                          f"takes {len(names)} arguments")
    return names, False


def compute(shape, fcompute, name: str | None = None, tag: str = "", attrs=None) -> Tensor:
    """A tensor whose element at the index vars is fcompute(*vars).  tag= defaults to
    the active oc.tag_scope's; attrs= is a dict kept as op.attrs (TVM's values)."""
    from .op_attrs import current_tag
    name, tag = name or _fresh("compute"), current_tag(tag)
    shape = _as_shape(shape, f"compute {name}")
    names, fewer = _arg_names(fcompute, len(shape), name)
    axis = tuple(E.IterVar(E.Var(n), E.const(0), s, "data") for n, s in zip(names, shape))
    result = fcompute(*[iv.var for iv in axis])
    if hasattr(result, "tensor_compute_op"):        # fcompute called a tensor intrinsic
        return result.tensor_compute_op(name, tag, axis, shape)
    if fewer:                                       # too few index variables after all
        _all_indices(len(shape), name, names)        # raises
    if isinstance(result, (tuple, list)):
        op = ComputeOp(name, tag, axis, _tuple_body(result, name), attrs)
        return [op.output(k) for k in range(op.num_outputs)]
    body = E.as_expr(result)
    _check_body(body, name)
    if isinstance(body, E.Reduce):
        _check_same_reduction([body], name)
    return ComputeOp(name, tag, axis, body, attrs).output()


def _tuple_body(result, name: str) -> tuple:
    """The bodies of a tuple-returning compute: all elementwise, or all results of
    one reduction (same reducer, axes and condition; a tuple reducer's values)."""
    if not result:
        raise TensorError(f"compute {name}: fcompute returned an empty tuple")
    bodies = tuple(E.as_expr(r) if not isinstance(r, (tuple, list)) else _nested(r, name)
                   for r in result)
    reduces = [b for b in bodies if isinstance(b, E.Reduce)]
    if reduces and len(reduces) != len(bodies):
        raise TensorError(f"compute {name}: a tuple compute's values must all be reductions "
                          "or all be elementwise, not a mix")
    for b in bodies:
        _check_body(b, name)
    if reduces:
        _check_same_reduction(reduces, name)
    return bodies


def _nested(r, name):
    raise TensorError(f"compute {name}: fcompute returned a nested tuple {r!r}; "
                      "return one flat tuple of values")


def _check_same_reduction(reduces, name: str) -> None:
    first = reduces[0]
    if isinstance(first.combiner, E.CommReducer) and len(reduces) != len(first.combiner.result):
        raise TensorError(f"compute {name}: reducer {first.combiner.name} gives "
                          f"{len(first.combiner.result)} values but the compute returns "
                          f"{len(reduces)}")
    for k, r in enumerate(reduces):
        if r.combiner != first.combiner or r.axes != first.axes or \
                not E.same(r.condition, first.condition):
            raise TensorError(f"compute {name}: the values of a tuple compute must come from "
                              "one reduction (the same reducer, axes and where=)")
        if isinstance(r.combiner, E.CommReducer) and r.value_index != k:
            raise TensorError(f"compute {name}: value {k} is result {r.value_index} of "
                              f"reducer {r.combiner.name}; return its results in order")


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


def _combine_elementwise(combiner: str, values: list) -> E.Expr:
    out = values[0]
    for v in values[1:]:
        out = combine(combiner, out, v)
    return out


def _reducer(combiner: str):
    def reduce(expr, *args, axis=None, where=None, init=None) -> E.Reduce:
        if args and is_value(args[0]):
            return _combine_elementwise(combiner, elementwise_values(
                combiner, expr, args, {"axis": axis, "where": where, "init": init}))
        axis, where, init = split_reduce_args(combiner, args, axis, where, init)
        source = E.as_expr(expr)
        axes, cond = _reduce_args(combiner, axis, where)
        dtype = "int32" if dt.is_bool(source.dtype) else source.dtype
        start = _init_value(combiner, init, dtype, axes)
        return E.Reduce(combiner, E.cast(source, dtype), axes, cond, dtype, 0, start)
    reduce.__name__ = combiner
    reduce.__doc__ = (f"The {combiner} of expr over the reduce axes (optionally where=cond); "
                      "init= starts the reduction from that value instead of the identity. "
                      f"Called on two expressions ({combiner}(a, b), TVM's form) it is their "
                      "elementwise combine.")
    return reduce


def _reduce_args(what: str, axis, where) -> tuple:
    if axis is None:
        raise TensorError(f"{what}: axis= is required (a reduce_axis or a list of them)")
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    for a in axes:
        if not isinstance(a, E.IterVar) or a.kind != "reduce":
            raise TensorError(f"{what}: axis {a!r} is not a reduce_axis")
    cond = None
    if where is not None:
        cond = E.as_expr(where)
        if not dt.is_bool(cond.dtype):
            raise TensorError(f"{what}: where= must be a bool expression, got {cond.dtype}")
    return axes, cond


def _init_value(what: str, init, dtype: str, axes):
    """init= as an expression of the result's dtype; it may read tensors at the output
    position but not use the reduction's own axes."""
    if init is None:
        return None
    value = E.as_expr(init)
    used = {iv.var for iv in axes}
    walk(value, lambda n: _raise(TensorError(
        f"{what}: init= uses reduce axis {n.name}; the starting value is one per output "
        "element")) if isinstance(n, E.Var) and n in used else None)
    return E.cast(value, dtype)


def _raise(err):
    raise err


def comm_reducer(fcombine, fidentity, name: str = "reduce"):
    """A commutative reducer from fcombine(x, y) and fidentity(dtype, ...) (TVM's
    comm_reducer).  For one value, fcombine(x, y) -> z and fidentity(dtype) -> its
    identity; for n values x and y are n-tuples, fcombine returns an n-tuple and
    fidentity takes n dtypes.  The reducer is called like oc.sum:
    reducer(expr or tuple, axis=k, where=cond, init=...), a tuple giving a tuple of
    reductions for a tuple-returning compute (argmax: (index, value))."""
    if not callable(fcombine) or not callable(fidentity):
        raise TensorError(f"comm_reducer {name}: fcombine and fidentity must be callables")

    def reducer(expr, *args, axis=None, where=None, init=None):
        if args and is_value(args[0]):
            return fold_with(fcombine, elementwise_values(
                name, expr, args, {"axis": axis, "where": where, "init": init}))
        axis, where, init = split_reduce_args(name, args, axis, where, init)
        multi = isinstance(expr, (tuple, list))
        sources = tuple(E.as_expr(e) for e in (expr if multi else (expr,)))
        axes, cond = _reduce_args(name, axis, where)
        comb = _make_reducer(name, fcombine, fidentity, sources, multi)
        inits = _tuple_init(name, init, sources, axes, multi)
        out = tuple(E.Reduce(comb, src, axes, cond, src.dtype, k, inits[k])
                    for k, src in enumerate(sources))
        return out if multi else out[0]
    reducer.__name__ = name
    reducer.__doc__ = f"The {name} reduction of expr over axis (a comm_reducer)."
    return reducer


def _make_reducer(name, fcombine, fidentity, sources, multi) -> E.CommReducer:
    dtypes = [s.dtype for s in sources]
    lhs = tuple(E.Var(f"x{k}", d) for k, d in enumerate(dtypes))
    rhs = tuple(E.Var(f"y{k}", d) for k, d in enumerate(dtypes))
    result = fcombine(lhs, rhs) if multi else fcombine(lhs[0], rhs[0])
    identity = fidentity(*dtypes)
    result = _as_values(name, "fcombine", result, dtypes, multi)
    identity = _as_values(name, "fidentity", identity, dtypes, multi)
    bad = [n for v in result for n in _reads(v)]
    if bad:
        raise TensorError(f"comm_reducer {name}: fcombine reads tensor {bad[0].name}; it may "
                          "only combine its two arguments")
    return E.CommReducer(name, lhs, rhs, result, identity)


def _reads(e) -> list:
    out = []
    walk(e, lambda n: out.append(n.tensor) if isinstance(n, E.TensorRead) else None)
    return out


def _as_values(name, what, value, dtypes, multi) -> tuple:
    """fcombine's / fidentity's answer as one expression per reduced value."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(values) != len(dtypes) or (isinstance(value, (tuple, list)) and not multi):
        raise TensorError(f"comm_reducer {name}: {what} returned {len(values)} value(s) for "
                          f"a reduction of {len(dtypes)} value(s); the arity must match")
    return tuple(E.cast(E.as_expr(v), d) for v, d in zip(values, dtypes))


def _tuple_init(name, init, sources, axes, multi) -> tuple:
    if init is None:
        return (None,) * len(sources)
    values = tuple(init) if isinstance(init, (tuple, list)) else (init,)
    if len(values) != len(sources):
        raise TensorError(f"comm_reducer {name}: init= has {len(values)} value(s) for a "
                          f"reduction of {len(sources)} value(s)")
    return tuple(_init_value(name, v, s.dtype, axes) for v, s in zip(values, sources))


def min_value(dtype: str) -> E.Const:
    """The lowest value of dtype (-inf for floats), TVM's te.min_value."""
    return reduce_identity("max", dt.check(dtype))


def max_value(dtype: str) -> E.Const:
    """The highest value of dtype (+inf for floats), TVM's te.max_value."""
    return reduce_identity("min", dt.check(dtype))


sum = _reducer("sum")      # noqa: A001  (NumPy's names, as API.md fixes them)
prod = _reducer("prod")
max = _reducer("max")      # noqa: A001
min = _reducer("min")      # noqa: A001


def reduce_start(red: E.Reduce) -> E.Expr:
    """The value a reduction's accumulator starts from: init= if given, else the identity."""
    if red.init is not None:
        return red.init
    if isinstance(red.combiner, E.CommReducer):
        return red.combiner.identity[red.value_index]
    return reduce_identity(red.combiner, red.dtype)


def combine_all(combiner, accs: tuple, values: tuple) -> tuple:
    """One step of a (possibly tuple) reduction: every new accumulator value from
    the old ones (accs) and the incoming ones (values)."""
    if isinstance(combiner, E.CommReducer):
        from .ir.visit import substitute
        mapping = dict(zip(combiner.lhs, accs))
        mapping.update(zip(combiner.rhs, values))
        return tuple(substitute(r, mapping) for r in combiner.result)
    return tuple(combine(combiner, a, v) for a, v in zip(accs, values))


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
