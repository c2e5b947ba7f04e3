"""The expression grammar, shared by tensor expressions and the loop IR.

    Expr := Const(value, dtype)              a literal
          | Var(name, dtype)                 a size or loop variable (identity)
          | Binary(op, a, b, dtype)          add sub mul div floordiv floormod
                                             truncdiv truncmod min max
                                             and or xor shl shr (integers: bitwise)
          | Unary(op, a, dtype)              neg not
          | Compare(op, a, b, dtype)         eq ne lt le gt ge  -> bool
          | Select(cond, a, b, dtype)        cond ? a : b; an arm that may read out of
                                             bounds is evaluated only where taken
          | Cast(value, dtype)
          | Call(name, args, dtype)          exp log sqrt rsqrt tanh erf sigmoid
                                             abs floor ceil pow popcount
          | TensorRead(tensor, indices, dtype)   element of a te tensor
          | Load(buffer, indices, dtype)     element of a loop-IR buffer
          | Reduce(combiner, source, axes, condition, dtype)
          | Ramp(base, stride, lanes, dtype) base + stride*[0..lanes)
          | Broadcast(value, lanes, dtype)

Nodes are frozen and hash structurally; Var, IterVar, Buffer and tensors
compare by identity.  ``==`` on expressions builds a Compare node (as the DSL
needs); its truth value is structural equality, so nodes work as dict keys.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

import numpy as np

from .. import dtype as dt
from ..errors import OpcompError


class TensorError(OpcompError, ValueError):
    """Invalid tensor-expression definition."""


class OperandTypeError(TensorError, TypeError):
    """An operator applied to a dtype it is not defined on (a bitwise op on floats)."""


class Node:
    """Base of all IR nodes: structural hash, cached."""

    def __hash__(self):
        h = self.__dict__.get("_h")
        if h is None:
            h = hash((type(self),) + tuple(getattr(self, f) for f in field_names(self)))
            object.__setattr__(self, "_h", h)
        return h


_FIELDS: dict = {}


def field_names(node) -> tuple:
    """Names of a node's dataclass fields (cached per class)."""
    cls = type(node)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


def same(a, b) -> bool:
    """Structural equality of IR values (nodes, tuples, literals)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, Node):
        if a.__dict__.get("_identity") or hash(a) != hash(b):
            return False
        return all(same(getattr(a, f), getattr(b, f)) for f in field_names(a))
    return a == b


class Expr(Node):
    """Base of expressions: Python operators build IR."""
    dtype: str

    # arithmetic -----------------------------------------------------------
    def __add__(self, o): return binary("add", self, o)
    def __radd__(self, o): return binary("add", o, self)
    def __sub__(self, o): return binary("sub", self, o)
    def __rsub__(self, o): return binary("sub", o, self)
    def __mul__(self, o): return binary("mul", self, o)
    def __rmul__(self, o): return binary("mul", o, self)
    def __truediv__(self, o): return binary("div", self, o)
    def __rtruediv__(self, o): return binary("div", o, self)
    def __floordiv__(self, o): return binary("floordiv", self, o)
    def __rfloordiv__(self, o): return binary("floordiv", o, self)
    def __mod__(self, o): return binary("floormod", self, o)
    def __rmod__(self, o): return binary("floormod", o, self)
    def __pow__(self, o): return call("pow", self, o)
    def __rpow__(self, o): return call("pow", o, self)
    def __neg__(self): return unary("neg", self)
    def __pos__(self): return self
    def __invert__(self): return unary("not", self)
    def __and__(self, o): return binary("and", self, o)
    def __rand__(self, o): return binary("and", o, self)
    def __or__(self, o): return binary("or", self, o)
    def __ror__(self, o): return binary("or", o, self)
    def __xor__(self, o): return binary("xor", self, o)
    def __rxor__(self, o): return binary("xor", o, self)
    def __lshift__(self, o): return binary("shl", self, o)
    def __rlshift__(self, o): return binary("shl", o, self)
    def __rshift__(self, o): return binary("shr", self, o)
    def __rrshift__(self, o): return binary("shr", o, self)

    # comparisons ------------------------------------------------------------
    def __lt__(self, o): return compare("lt", self, o)
    def __le__(self, o): return compare("le", self, o)
    def __gt__(self, o): return compare("gt", self, o)
    def __ge__(self, o): return compare("ge", self, o)
    def __eq__(self, o): return compare("eq", self, o)
    def __ne__(self, o): return compare("ne", self, o)

    __hash__ = Node.__hash__

    def __bool__(self):
        raise TypeError(f"a symbolic expression has no truth value: {self}; "
                        "use oc.select or a where= condition")

    def astype(self, dtype) -> "Expr":
        """Convert to another dtype (NumPy's astype semantics)."""
        return cast(self, dt.check(dtype))

    def __str__(self):
        from .printer import expr_str
        return expr_str(self)

    __repr__ = __str__


@dataclass(frozen=True, eq=False, repr=False)
class Const(Expr):
    value: object
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class Var(Expr):
    name: str
    dtype: str = "int32"

    def __hash__(self):
        return id(self)

    def __post_init__(self):
        object.__setattr__(self, "_identity", True)


@dataclass(frozen=True, eq=False, repr=False)
class Binary(Expr):
    op: str
    a: Expr
    b: Expr
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class Unary(Expr):
    op: str
    a: Expr
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class Compare(Expr):
    op: str
    a: Expr
    b: Expr
    dtype: str

    def __bool__(self):
        # Lets nodes serve as dict keys: `x == y` is structural equality.
        if self.op == "eq":
            return same(self.a, self.b)
        if self.op == "ne":
            return not same(self.a, self.b)
        return Expr.__bool__(self)


@dataclass(frozen=True, eq=False, repr=False)
class Select(Expr):
    """cond ? a : b.  lazy: evaluate only the arm taken (set by the CPU tail's
    mark_lazy_selects where an arm holds a load not proven in bounds)."""
    cond: Expr
    a: Expr
    b: Expr
    dtype: str
    lazy: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Cast(Expr):
    value: Expr
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class Call(Expr):
    name: str
    args: tuple
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class TensorRead(Expr):
    tensor: object
    indices: tuple
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class Load(Expr):
    buffer: object
    indices: tuple
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class Reduce(Expr):
    combiner: object       # sum | prod | max | min, or a CommReducer (te.comm_reducer)
    source: Expr           # this result's input (a tuple reducer: input value_index)
    axes: tuple            # IterVars
    condition: Optional[Expr]
    dtype: str
    value_index: int = 0   # which result of a tuple reducer this node is
    init: Optional[Expr] = None   # replaces the identity as the starting value

    @property
    def axis(self) -> tuple:
        """The reduction axes (TVM's Reduce.axis)."""
        return self.axes


@dataclass(frozen=True, eq=False, repr=False)
class CommReducer(Node):
    """A user-defined commutative reduction (TVM's comm_reducer) over n values:
    combine(lhs, rhs) = result (tuples of n), starting from identity (n values).

        argmax: lhs (i0, v0), rhs (i1, v1) -> result (select(v1 > v0, i1, i0), max(v0, v1)),
                identity (-1, lowest value)
    """
    name: str
    lhs: tuple             # Vars: the accumulated values
    rhs: tuple             # Vars: the incoming values
    result: tuple          # Exprs over lhs and rhs
    identity: tuple        # Exprs (constants)

    def __str__(self):
        return self.name

    __repr__ = __str__


@dataclass(frozen=True, eq=False, repr=False)
class Ramp(Expr):
    base: Expr
    stride: Expr
    lanes: int
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class Broadcast(Expr):
    value: Expr
    lanes: int
    dtype: str


@dataclass(frozen=True)
class Range:
    """A loop's range [min, min + extent) (TVM's Range): IterVar.dom, oc.infer_bound's values."""
    min: Expr
    extent: Expr


@dataclass(frozen=True, eq=False, repr=False)
class IterVar(Node):
    """A loop axis: its variable, its range [min, min+extent) and kind."""
    var: Var
    min: Expr
    extent: Expr
    kind: str = "data"      # data | reduce

    # TVM's IterVar type codes, as Stage.iter_var_attrs[iv].iter_type reports them
    # (class constants, not fields).
    DataPar = 0
    ThreadIndex = 1
    CommReduce = 2
    Ordered = 3
    Opaque = 4
    Unrolled = 5
    Vectorized = 6
    Parallelized = 7
    Tensorized = 8

    def __hash__(self):
        return id(self)

    def __post_init__(self):
        object.__setattr__(self, "_identity", True)

    @property
    def name(self) -> str:
        return self.var.name

    @property
    def dom(self):
        """The axis's range [min, min + extent) (TVM's IterVar.dom): .min and .extent."""
        return Range(self.min, self.extent)

    def _as_expr(self) -> Var:
        return self.var

    def __str__(self):
        return f"{self.var.name}[{self.min}, {self.min}+{self.extent})"

    __repr__ = __str__


# ---------------------------------------------------------------------------
# smart constructors: coerce Python scalars, promote dtypes NumPy's way
# ---------------------------------------------------------------------------

MATH_UNARY = ("exp", "log", "sqrt", "rsqrt", "tanh", "erf", "sigmoid",
              "abs", "floor", "ceil")
FLOAT_ONLY = ("exp", "log", "sqrt", "rsqrt", "tanh", "erf", "sigmoid", "floor", "ceil")
BITWISE = ("and", "or", "xor")
# Integer-only operators: bool operands compute in int8 (NumPy's choice for bool << bool).
INT_ONLY = ("shl", "shr", "truncdiv", "truncmod")


def const(value, dtype=None) -> Const:
    """A literal of the given dtype (default from the Python value)."""
    dtype = dt.check(dtype) if dtype is not None else dt.scalar_dtype(value)
    if dt.is_bool(dtype):
        value = bool(value)
    elif dt.is_int(dtype):
        if isinstance(value, float) and not value.is_integer():
            raise TypeError(f"constant {value!r} is not an integer but dtype is {dtype}")
        value = int(value)
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise OverflowError(f"Python integer {value} out of bounds for {dtype}")
    else:
        value = float(value)
    return Const(value, dtype)


def as_expr(value) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, IterVar):
        return value.var
    if hasattr(value, "_as_expr"):
        return value._as_expr()
    return const(value)


def _is_scalar(v) -> bool:
    return isinstance(v, (bool, int, float)) and not isinstance(v, Expr)


def _coerce_pair(a, b, op):
    """Promote two operands to a common dtype (NumPy rules, weak scalars)."""
    if isinstance(a, IterVar) or hasattr(a, "_as_expr"):
        a = as_expr(a)
    if isinstance(b, IterVar) or hasattr(b, "_as_expr"):
        b = as_expr(b)
    if _is_scalar(a) and _is_scalar(b):
        a, b = const(a), const(b)
    if _is_scalar(b):
        return a, const(b, dt.promote_scalar(a.dtype, b)), a.dtype
    if _is_scalar(a):
        return const(a, dt.promote_scalar(b.dtype, a)), b, b.dtype
    if not isinstance(a, Expr) or not isinstance(b, Expr):
        bad = a if not isinstance(a, Expr) else b
        raise TypeError(f"operator {op}: cannot use {type(bad).__name__} {bad!r} in an expression")
    return a, b, None


def _unify(a: Expr, b: Expr, op: str):
    target = dt.promote(a.dtype, b.dtype)
    la, lb = dt.lanes(a.dtype), dt.lanes(b.dtype)
    if la != lb and la != 1 and lb != 1:
        raise TypeError(f"operator {op}: lane counts differ: {a.dtype} and {b.dtype}")
    n = max(la, lb)
    a = cast(a, dt.with_lanes(target, la))
    b = cast(b, dt.with_lanes(target, lb))
    if la < n:
        a = Broadcast(a, n, dt.with_lanes(target, n))
    if lb < n:
        b = Broadcast(b, n, dt.with_lanes(target, n))
    return a, b


def binary(op: str, a, b) -> Expr:
    a, b, _ = _coerce_pair(a, b, op)
    a, b = _unify(a, b, op)
    if op == "div" and not dt.is_float(a.dtype):
        a, b = cast(a, dt.with_lanes("float64", dt.lanes(a.dtype))), cast(b, dt.with_lanes("float64", dt.lanes(b.dtype)))
    if op in BITWISE + INT_ONLY and dt.is_float(a.dtype):
        raise _operand_error(f"operator {op} needs integer or bool operands, got {a.dtype}")
    if op == "sub" and dt.is_bool(a.dtype):
        raise TypeError("operator - is not defined for bool operands (NumPy refuses it too); use ^")
    if op in ("floordiv", "floormod") + INT_ONLY and dt.is_bool(a.dtype):
        a, b = cast(a, dt.with_lanes("int8", dt.lanes(a.dtype))), \
            cast(b, dt.with_lanes("int8", dt.lanes(b.dtype)))
    return Binary(op, a, b, a.dtype)


def compare(op: str, a, b) -> Compare:
    a, b, _ = _coerce_pair(a, b, op)
    a, b = _unify(a, b, op)
    return Compare(op, a, b, dt.with_lanes("bool", dt.lanes(a.dtype)))


def unary(op: str, a) -> Expr:
    a = as_expr(a)
    if op == "not" and dt.is_float(a.dtype):
        raise _operand_error(f"operator ~ needs an integer or bool operand, got {a.dtype}")
    if op == "neg" and dt.is_bool(a.dtype):
        raise TypeError("operator - is not defined for bool; use ~")
    return Unary(op, a, a.dtype)


def _operand_error(message: str) -> OperandTypeError:
    return OperandTypeError(message)


def popcount(a) -> Expr:
    """The number of set bits of each element, in its own dtype (two's complement
    for negative values; bool counts as int8)."""
    a = as_expr(a)
    if dt.is_float(a.dtype):
        raise _operand_error(f"popcount needs an integer operand, got {a.dtype}")
    if dt.is_bool(a.dtype):
        a = cast(a, dt.with_lanes("int8", dt.lanes(a.dtype)))
    return Call("popcount", (a,), a.dtype)


def cast(a, dtype: str) -> Expr:
    a = as_expr(a)
    if a.dtype == dtype:
        return a
    if dt.lanes(dtype) != dt.lanes(a.dtype):
        dtype = dt.with_lanes(dtype, dt.lanes(a.dtype))
        if a.dtype == dtype:
            return a
    if isinstance(a, Const) and dt.lanes(dtype) == 1:
        # NumPy's astype: truncation toward zero, wraparound for integers.
        with np.errstate(all="ignore"):
            return Const(np.asarray(a.value, dt.element(a.dtype)).astype(dtype).item(), dtype)
    return Cast(a, dtype)


def select(cond, a, b) -> Expr:
    cond = as_expr(cond)
    if not dt.is_bool(cond.dtype):
        raise TypeError(f"select: condition must be bool, got {cond.dtype} ({cond})")
    a, b, _ = _coerce_pair(a, b, "select")
    a, b = _unify(a, b, "select")
    return Select(cond, a, b, a.dtype)


def call(name: str, *args) -> Expr:
    """An elementwise math intrinsic; integer inputs to float math become float64 (NumPy)."""
    if name == "pow":
        return _power(args[0], args[1])
    a = as_expr(args[0])
    if name in FLOAT_ONLY and not dt.is_float(a.dtype):
        if name in ("floor", "ceil") and not dt.is_float(a.dtype):
            return a
        # NumPy's loop choice: the smallest float that holds the integer type.
        a = cast(a, dt.with_lanes(dt.promote(a.dtype, "float16"), dt.lanes(a.dtype)))
    if name == "abs" and dt.is_bool(a.dtype):
        return a
    return Call(name, (a,), a.dtype)


def _power(a, b) -> Expr:
    """a ** b in the promoted dtype, integers included (NumPy: int8 ** int8 is
    int8 and wraps; bool ** bool is int8).  NumPy refuses a negative integer
    exponent; a kernel cannot raise per element, so it gives the integer part
    of the exact value: 1 ** -n == 1, (-1) ** -n == +-1, and 0 for any other
    base (0 ** -n included)."""
    a, b, _ = _coerce_pair(a, b, "pow")
    a, b = _unify(a, b, "pow")
    if dt.is_bool(a.dtype):
        a, b = cast(a, dt.with_lanes("int8", dt.lanes(a.dtype))), \
            cast(b, dt.with_lanes("int8", dt.lanes(b.dtype)))
    return Call("pow", (a, b), a.dtype)


def minimum(a, b) -> Expr:
    return binary("min", a, b)


def maximum(a, b) -> Expr:
    return binary("max", a, b)


def logical_and(a, b) -> Expr:
    return binary("and", a, b)


def is_const(e, value=None) -> bool:
    return isinstance(e, Const) and (value is None or e.value == value)


def _defer_to_tensor(method):
    """Expr <op> Tensor: let the Tensor's reflected operator build a tensor (TVM's te
    tensor overloads, opcomp/tensor_arith.py)."""
    def deferring(self, other):
        if getattr(other, "_tensor_arith", False):
            return NotImplemented
        return method(self, other)
    deferring.__name__ = method.__name__
    return deferring


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__",
              "__rmod__"):
    if hasattr(Expr, _name):
        setattr(Expr, _name, _defer_to_tensor(getattr(Expr, _name)))


def _delegate(name):
    def method(self, *other):
        return getattr(self.var, name)(*other)
    method.__name__ = name
    return method


# An axis in arithmetic means its loop variable (k + 1, 2 * k, k < 4), as in TVM.
# == and != stay identity comparisons: axes are dict keys throughout schedules.
for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__",
              "__rmod__", "__neg__", "__lt__", "__le__", "__gt__", "__ge__", "astype",
              "__lshift__", "__rlshift__", "__rshift__", "__rrshift__", "__and__", "__rand__",
              "__or__", "__ror__", "__xor__", "__rxor__", "__invert__"):
    setattr(IterVar, _name, _delegate(_name))
IterVar.dtype = property(lambda self: self.var.dtype)


# ---------------------------------------------------------------------------
# escapes to other code: calls to C functions and pointers into buffers
# (extern stages and tensorize; see opcomp/extern.py)
# ---------------------------------------------------------------------------

HANDLE = "handle"      # the dtype of a pointer (never a tensor element type)


@dataclass(frozen=True, eq=False, repr=False)
class CallExtern(Expr):
    """func(args...) on a C symbol (TVM's call_extern).  Arguments are scalars
    or pointers (AddressOf); dtype is the C return type."""
    func: str
    args: tuple
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class AddressOf(Expr):
    """&buffer[offset]: a pointer to the element `offset` of a buffer, counted in
    storage (row-major) order; dtype is "handle"."""
    buffer: object
    offset: Expr
    dtype: str = HANDLE
