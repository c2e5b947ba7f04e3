"""Argument checking for compiled kernels: arrays in, raw pointers and sizes out.

A kernel's ABI is ``int32 name(ptr buf0, ..., i64 size0, ...)``: one data pointer
per parameter buffer (C-contiguous, row-major), then one i64 per size variable.
A `Signature` turns the user's arrays into those raw values, or raises
`ArgumentError` naming the parameter, what was expected and what came.

Speed matters (a call on small arrays should cost a few microseconds), so the
signature generates, once, a straight-line Python function that accepts only
the common case (NumPy arrays of the right dtype, rank, shape, layout) and
returns None on anything else.  Only then does the slow path run: it reads
DLPack tensors directly (dlpack.py: pointer, shape, strides, dtype, device; no
NumPy round trip), diagnoses a problem precisely, and raises.  Both paths check
everything before the kernel runs, so a rejected call writes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dtype import SCALARS, numpy_dtype
from ..errors import OpcompError
from ..ir import expr as E
from .dlpack import DEVICE_NAMES, KDL_CPU, DLView, device_of

_INT_RANGE = {"int8": 2**7 - 1, "int16": 2**15 - 1, "int32": 2**31 - 1,
              "int64": 2**63 - 1, "uint8": 2**8 - 1, "uint16": 2**16 - 1,
              "uint32": 2**32 - 1, "uint64": 2**64 - 1}


def _int_limits(dtype: str) -> tuple:
    """(lowest, highest) value of an integer dtype (int64's for anything else)."""
    top = _INT_RANGE.get(dtype, 2**63 - 1)
    return (0 if dtype.startswith("uint") else -top - 1), top


_PY_BINARY = {"add": "({} + {})", "sub": "({} - {})", "mul": "({} * {})",
              "floordiv": "({} // {})", "floormod": "({} % {})",
              "min": "min({}, {})", "max": "max({}, {})"}


_FAST_CACHE: dict = {}      # (check source, dtypes) -> compiled check; signatures repeat


class ArgumentError(OpcompError, ValueError):
    """A wrong argument to a compiled kernel: count, rank, shape, dtype, strides, device."""


@dataclass(frozen=True)
class ParamSpec:
    """What one parameter accepts: dtype, shape (ints and size expressions), output or not."""
    name: str
    dtype: str
    shape: tuple          # of Expr
    is_output: bool

    @property
    def np_dtype(self):
        """Its NumPy dtype (bfloat16: ml_dtypes.bfloat16, imported when first needed)."""
        return numpy_dtype(self.dtype)

    def shape_str(self) -> str:
        return "(" + ", ".join(str(d) for d in self.shape) + ("," if len(self.shape) == 1 else "") + ")"


def _py_expr(e, names: dict) -> str:
    """Python source for a shape expression over size variables (a fixed whitelist)."""
    if isinstance(e, E.Const) and isinstance(e.value, int) and not isinstance(e.value, bool):
        return str(int(e.value))
    if isinstance(e, E.Var) and e in names:
        return names[e]
    if isinstance(e, E.Binary) and e.op in _PY_BINARY:
        return _PY_BINARY[e.op].format(_py_expr(e.a, names), _py_expr(e.b, names))
    if isinstance(e, E.Cast) and e.dtype in _INT_RANGE:
        return _py_expr(e.value, names)
    raise ValueError(f"shape expression {e} cannot be evaluated from argument shapes: only "
                     "integer constants, size variables, + - * // % min max are supported")


def _free_vars(e, size_vars) -> list:
    from ..ir.visit import walk
    out = []
    walk(e, lambda n: out.append(n) if isinstance(n, E.Var) and n in size_vars
         and n not in out else None)
    return out


@dataclass(frozen=True)
class Binding:
    """Where a size variable's value comes from: arg `param`, dimension `dim`.

    For a dimension that is exactly the variable, value = shape[dim].  For an
    affine dimension c*v + d (v its only variable) value = (shape[dim] - d) // c;
    the full shape comparison afterwards rejects a dimension that is not of that form.
    """
    var: E.Var
    param: int
    dim: int
    scale: int = 1
    offset: int = 0

    def source(self, shape_name: str) -> str:
        dim = f"{shape_name}[{self.dim}]"
        if self.scale == 1 and self.offset == 0:
            return dim
        return f"(({dim} - {self.offset}) // {self.scale})"


def _affine(e, v, names) -> tuple:
    """(scale, offset) when e == scale*v + offset for all v (checked at 0, 1, 2, 7); else None."""
    fn = eval(f"lambda x: {_py_expr(e, {v: 'x'})}", {"min": min, "max": max})  # noqa: S307 (whitelisted)
    d, c = fn(0), fn(1) - fn(0)
    if c <= 0 or any(fn(x) != c * x + d for x in (2, 7)):
        return None
    return c, d


def _bindings(params, size_vars, given=()) -> list:
    """One Binding per size var not given by value: its first plain occurrence, else a
    solvable affine one (a dimension that also uses a given scalar binds nothing)."""
    plain, affine = {}, {}
    for pi, p in enumerate(params):
        for d, e in enumerate(p.shape):
            if isinstance(e, E.Var) and e in size_vars:
                plain.setdefault(e, Binding(e, pi, d))
                continue
            free = _free_vars(e, tuple(size_vars) + tuple(given))
            if len(free) == 1 and free[0] in size_vars and free[0] not in affine:
                cd = _affine(e, free[0], {})
                if cd:
                    affine[free[0]] = Binding(free[0], pi, d, *cd)
    out = []
    for v in size_vars:
        if v not in plain and v not in affine:
            raise ValueError(f"size variable {v.name} cannot be bound from the argument shapes: "
                             f"no parameter dimension is {v.name} itself or an affine a*{v.name}+b")
        out.append(plain.get(v) or affine[v])
    return out


def _divisors(params, scalars) -> set:
    """The scalar arguments that some parameter dimension divides by (0 is refused)."""
    from ..ir.visit import walk
    out = set()

    def visit(n):
        if isinstance(n, E.Binary) and n.op in ("floordiv", "floormod"):
            out.update(v for v in _free_vars(n.b, tuple(scalars)))
    for p in params:
        for d in p.shape:
            walk(d, visit)
    return out


def _canonical(p: ParamSpec, a):
    """A plain ndarray with the canonical dtype object (the fast check tests identity)."""
    if type(a) is not np.ndarray:
        a = a.view(np.ndarray)          # subclasses (memmap, matrix): same memory
    if a.dtype == p.np_dtype and a.dtype is not p.np_dtype:
        a = a.view(p.np_dtype)
    return a


class Signature:
    """The parameters of a kernel and the compiled check that maps arrays to raw args."""

    def __init__(self, name: str, params, size_vars, target: str = "llvm", device: int = KDL_CPU,
                 scalars=()):
        self.name = name
        self.params = tuple(params)
        self.size_vars = tuple(size_vars)
        self.target = target
        self.device = device          # DLPack device type the kernel's arrays live on
        # scalars: (position among the call's arguments, size Var) of integer arguments
        # given by value (TVM's scalar Var arguments); the arrays fill the other positions
        self.scalars = tuple(scalars)
        for p in self.params:
            if p.dtype not in SCALARS:
                raise ValueError(f"parameter {p.name} has unsupported dtype {p.dtype}")
        given = {v for _, v in self.scalars}
        self.bindings = _bindings(self.params, [v for v in self.size_vars if v not in given],
                                  tuple(given))
        self._divisors = _divisors(self.params, given)
        self._names = {v: f"v{k}" for k, v in enumerate(self.size_vars)}
        self.fast = self._compile_fast()

    @property
    def arity(self) -> int:
        """How many arguments a call takes: the arrays and the scalars."""
        return len(self.params) + len(self.scalars)

    def _slots(self) -> list:
        """Each call position in order: ("array", param index) or ("scalar", scalar index)."""
        at = {pos: k for k, (pos, _) in enumerate(self.scalars)}
        out, arrays = [], iter(range(len(self.params)))
        for pos in range(self.arity):
            out.append(("scalar", at[pos]) if pos in at else ("array", next(arrays)))
        return out

    def split_args(self, args) -> tuple:
        """(the arrays, the scalar values) of a call's arguments, in their orders."""
        arrays = [args[pos] for pos, (kind, _) in enumerate(self._slots()) if kind == "array"]
        return arrays, [args[pos] for pos, _ in self.scalars]

    # -- the fast path -----------------------------------------------------------
    def _fast_source(self) -> list:
        n = len(self.params)
        a = [f"a{i}" for i in range(n)]
        s = [f"s{i}" for i in range(n)]
        lines = ["def fast(*args):", f"    if len(args) != {self.arity}: return None"]
        if self.scalars:
            slots = [a[i] if kind == "array" else f"x{i}" for kind, i in self._slots()]
            lines.append(f"    {', '.join(slots)}{',' if len(slots) == 1 else ''} = args")
            lines += self._fast_scalar_lines()
        if n:
            if not self.scalars:
                lines.append(f"    {', '.join(a)}{',' if n == 1 else ''} = args")
            host = "" if self.device == KDL_CPU else "True or "     # device memory: views only
            lines.append("    if " + " or ".join(f"(type({x}) is not DLView and ({host}type({x}) is "
                                                f"not ndarray))" for x in a) + ": return None")
            lines.append("    if " + " or ".join(f"{x}.dtype is not D{i}" for i, x in enumerate(a)) + ": return None")
            lines += [f"    {s[i]} = {a[i]}.shape" for i in range(n)]
            lines.append("    if " + " or ".join(f"len({s[i]}) != {len(p.shape)}"
                                                for i, p in enumerate(self.params)) + ": return None")
        lines += [f"    {self._names[b.var]} = {b.source(s[b.param])}" for b in self.bindings]
        lines += self._fast_value_checks(s, a)
        lines += [f"    p{i} = {a[i]}.ctypes.data" for i in range(n)]
        align = [f"p{i} % {p.np_dtype.itemsize}" for i, p in enumerate(self.params)
                 if p.np_dtype.itemsize > 1]
        if align:
            lines.append("    if " + " or ".join(align) + ": return None")
        lines += self._fast_overlap_checks(a)
        raw = [f"p{i}" for i in range(n)] + [self._names[v] for v in self.size_vars]
        lines.append(f"    return ({', '.join(raw)}{',' if len(raw) == 1 else ''})")
        return lines

    def _fast_scalar_lines(self) -> list:
        lines = []
        for k, (_, v) in enumerate(self.scalars):
            low, top = _int_limits(v.dtype)
            lines.append(f"    if type(x{k}) is not int or not {low} <= x{k} <= {top}: return None")
            if v in self._divisors:
                lines.append(f"    if x{k} == 0: return None")
            lines.append(f"    {self._names[v]} = x{k}")
        return lines

    def overlap_pairs(self) -> list:
        """(output, other) index pairs that must not share memory (kernels assume noalias)."""
        return [(o, j) for o, p in enumerate(self.params) if p.is_output
                for j in range(len(self.params)) if j != o and (j < o or not self.params[j].is_output)]

    def _fast_overlap_checks(self, a) -> list:
        pairs = self.overlap_pairs()
        used = sorted({i for pair in pairs for i in pair})
        lines = [f"    e{i} = p{i} + {a[i]}.nbytes" for i in used]
        lines += [f"    if p{o} < e{j} and p{j} < e{o}: return None" for o, j in pairs]
        return lines

    def _fast_value_checks(self, s, a) -> list:
        lines = []
        for b in self.bindings:
            vn, top = self._names[b.var], _INT_RANGE.get(b.var.dtype, 2**63 - 1)
            lines.append(f"    if {vn} < 0 or {vn} > {top}: return None")
        for i, p in enumerate(self.params):
            tup = ", ".join(_py_expr(d, self._names) for d in p.shape)
            lines.append(f"    if {s[i]} != ({tup}{',' if len(p.shape) == 1 else ''}): return None")
            flags = f"{a[i]}.flags"
            cond = f"not {flags}.c_contiguous" + (f" or not {flags}.writeable" if p.is_output else "")
            lines.append(f"    if {cond}: return None")
        return lines

    def _compile_fast(self):
        # The source is generated from whitelisted IR only (ints, v<k> names, operators).
        self.fast_source = "\n".join(self._fast_source())
        dtypes = tuple(p.np_dtype for p in self.params)
        key = (self.fast_source, dtypes)
        if key not in _FAST_CACHE:       # rebuilding a module (cache hits) skips compile()
            env = {"ndarray": np.ndarray, "DLView": DLView, "min": min, "max": max}
            env.update({f"D{i}": d for i, d in enumerate(dtypes)})
            exec(compile(self.fast_source, "<opcomp argument check>", "exec"), env)  # noqa: S102
            _FAST_CACHE[key] = env["fast"]
        return _FAST_CACHE[key]

    # -- the slow path: conversion and diagnosis --------------------------------
    def prepare(self, args):
        """(raw args for the kernel, arrays to keep alive during the call); raises ArgumentError."""
        raw = self.fast(*args)
        if raw is not None:
            return raw, args
        arrays = self.as_arrays(args)
        raw = self.fast(*arrays)
        if raw is not None:
            return raw, arrays
        self.diagnose(arrays)
        raise AssertionError(f"{self.name}: arguments rejected by the fast check but no "
                             f"problem found; please report (fast check:\n{self.fast_source})")

    def as_arrays(self, args) -> list:
        """Each argument as a NumPy array or a DLView of a DLPack tensor, sharing its memory
        (a scalar argument as a Python int)."""
        n = self.arity
        if len(args) != n:
            names = ", ".join(self._slot_name(slot) for slot in self._slots())
            raise ArgumentError(f"{self.name} expects {n} arguments ({names}), got {len(args)}: "
                                "pass one array per parameter, outputs included")
        out = []
        for (kind, i), a in zip(self._slots(), args):
            if kind == "scalar":
                out.append(self._scalar(self.scalars[i][1], a))
                continue
            p = self.params[i]
            out.append(_canonical(p, a) if isinstance(a, np.ndarray) and self.device == KDL_CPU
                       else self._from_dlpack(p, a))
        return out

    def _slot_name(self, slot) -> str:
        kind, i = slot
        return self.params[i].name if kind == "array" else self.scalars[i][1].name

    def _scalar(self, v: E.Var, x) -> int:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
            raise ArgumentError(f"{self.name}: argument {v.name} is an integer scalar "
                                f"({v.dtype}), got {type(x).__name__} {x!r}")
        low, top = _int_limits(v.dtype)
        if not low <= int(x) <= top:
            raise ArgumentError(f"{self.name}: argument {v.name} = {int(x)} does not fit its "
                                f"type {v.dtype}")
        if v in self._divisors and int(x) == 0:
            raise ArgumentError(f"{self.name}: argument {v.name} is 0, but parameter shapes "
                                f"divide by it")
        return int(x)

    def _from_dlpack(self, p: ParamSpec, x):
        if not hasattr(x, "__dlpack__"):
            raise ArgumentError(f"{self.name}: argument {p.name} must be a NumPy array or an "
                                f"object with __dlpack__ (a tensor), got {type(x).__name__}")
        self._check_device(p, x)
        try:
            return DLView.of(x)
        except (BufferError, TypeError, ValueError, RuntimeError) as exc:
            raise ArgumentError(f"{self.name}: argument {p.name} ({type(x).__name__}) cannot be "
                                f"shared zero-copy through DLPack: {exc}") from exc

    def _check_device(self, p: ParamSpec, x) -> None:
        kind, where = device_of(x)
        if kind == self.device:
            return
        if self.device == KDL_CPU:
            raise ArgumentError(f"{self.name}: argument {p.name} lives on {where}, but this module "
                                f"runs on the CPU (target {self.target}); move the tensor to the "
                                "CPU first (e.g. tensor.cpu())")
        raise ArgumentError(f"{self.name}: argument {p.name} lives on {where}, but this module "
                            f"runs on {DEVICE_NAMES[self.device]} (target {self.target}); move "
                            "the tensor to the GPU first (e.g. tensor.cuda())")

    def diagnose(self, arrays) -> None:
        """Raise the ArgumentError that explains why the fast check rejected these arrays."""
        arrays, scalar_values = self.split_args(arrays)
        for p, a in zip(self.params, arrays):
            self._check_dtype_rank(p, a)
        values = self._bind(arrays)
        values.update({v: (x, f"argument {v.name}") for (_, v), x in zip(self.scalars, scalar_values)})
        for p, a in zip(self.params, arrays):
            self._check_shape(p, a, values)
        for p, a in zip(self.params, arrays):
            self._check_layout(p, a)
        self._check_overlap(arrays)

    def _check_dtype_rank(self, p: ParamSpec, a) -> None:
        if a.dtype != p.np_dtype or not a.dtype.isnative:
            got = a.dtype.name if a.dtype.isnative else f"{a.dtype.str} (non-native byte order)"
            raise ArgumentError(f"{self.name}: argument {p.name} must have dtype {p.dtype}, "
                                f"got {got}; opcomp does not convert implicitly")
        if a.ndim != len(p.shape):
            raise ArgumentError(f"{self.name}: argument {p.name} must have rank {len(p.shape)} "
                                f"(shape {p.shape_str()}), got rank {a.ndim} with shape {a.shape}")

    def _bind(self, arrays) -> dict:
        """Size var -> (value, where it came from); inconsistent plain occurrences raise."""
        values = {}
        for b in self.bindings:
            dim = arrays[b.param].shape[b.dim]
            value = (dim - b.offset) // b.scale
            where = f"{self.params[b.param].name}.shape[{b.dim}]"
            top = _INT_RANGE.get(b.var.dtype, 2**63 - 1)
            if value > top:
                raise ArgumentError(f"{self.name}: size {b.var.name} = {value} (from {where}) "
                                    f"does not fit the variable's type {b.var.dtype}")
            if value < 0:
                raise ArgumentError(f"{self.name}: {where} is {dim}, which gives size "
                                    f"{b.var.name} = {value}; sizes cannot be negative "
                                    f"(shape of {self.params[b.param].name}: "
                                    f"{self.params[b.param].shape_str()})")
            values[b.var] = (value, where)
        return values

    def _check_shape(self, p: ParamSpec, a, values) -> None:
        env = {self._names[v]: val for v, (val, _) in values.items()}
        for d, (e, got) in enumerate(zip(p.shape, a.shape)):
            want = eval(_py_expr(e, self._names), {"min": min, "max": max}, env)  # noqa: S307
            if want == got:
                continue
            if isinstance(e, E.Const):
                raise ArgumentError(f"{self.name}: argument {p.name} has shape {a.shape}, "
                                    f"expected {p.shape_str()}: {p.name}.shape[{d}] must be "
                                    f"{want}, got {got}")
            if isinstance(e, E.Var):
                value, where = values[e]
                raise ArgumentError(f"{self.name}: {e.name} is {value} from {where} but {got} "
                                    f"from {p.name}.shape[{d}] (inconsistent sizes)")
            used = ", ".join(f"{v.name} = {values[v][0]} from {values[v][1]}"
                             for v in _free_vars(e, self.size_vars))
            raise ArgumentError(f"{self.name}: {p.name}.shape[{d}] is {got}, but its size {e} "
                                f"evaluates to {want} ({used}) (shape {p.shape_str()})")

    def _check_layout(self, p: ParamSpec, a) -> None:
        if not a.flags.c_contiguous:
            raise ArgumentError(f"{self.name}: argument {p.name} is not C-contiguous (shape "
                                f"{a.shape}, strides {a.strides}); opcomp does not copy "
                                "silently: pass np.ascontiguousarray(x) or tensor.contiguous()")
        if a.ctypes.data % a.dtype.itemsize:
            raise ArgumentError(f"{self.name}: argument {p.name} has a data pointer "
                                f"{a.ctypes.data:#x} not aligned to its {a.dtype.itemsize}-byte "
                                "elements; copy it into a fresh array")
        if p.is_output and not a.flags.writeable:
            raise ArgumentError(f"{self.name}: argument {p.name} is written by the kernel "
                                "but the array is read-only (writeable=False); pass a "
                                "writable array")

    def _check_overlap(self, arrays) -> None:
        for o, j in self.overlap_pairs():
            a, b = arrays[o], arrays[j]
            lo_a, lo_b = a.ctypes.data, b.ctypes.data
            if lo_a < lo_b + b.nbytes and lo_b < lo_a + a.nbytes:
                out, other = self.params[o].name, self.params[j].name
                raise ArgumentError(f"{self.name}: output {out} overlaps argument {other} in "
                                    "memory; kernels assume an output shares no memory with "
                                    "another argument: pass a separate output array")
