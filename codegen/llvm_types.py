"""Dtype strings -> LLVM types, constants and intrinsic declarations.

Registers hold bool as i1; memory holds it as one byte (NumPy's layout), so
every dtype has a register type and a memory type.
"""
from __future__ import annotations

import llvmlite.ir as ir

from opcomp import dtype as dt

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
VOID = ir.VoidType()

_SCALAR = {
    "bool": I1, "int8": I8, "uint8": I8, "int16": ir.IntType(16), "int32": I32,
    "int64": I64, "uint16": ir.IntType(16), "uint32": I32, "uint64": I64,
    "float16": ir.HalfType(), "float32": ir.FloatType(),
    "float64": ir.DoubleType(),
}


def with_lanes(scalar: ir.Type, lanes: int) -> ir.Type:
    """The scalar type, or a vector of it when lanes > 1."""
    return scalar if lanes == 1 else ir.VectorType(scalar, lanes)


def reg_type(dtype: str) -> ir.Type:
    """The type a value of this dtype has in registers ('float32x16' -> <16 x float>)."""
    try:
        scalar = _SCALAR[dt.element(dtype)]
    except KeyError:
        hint = " (bfloat16 runs on cuda only)" if dt.element(dtype) == "bfloat16" else ""
        raise TypeError(f"LLVM backend: unsupported dtype {dtype!r}{hint}") from None
    return with_lanes(scalar, dt.lanes(dtype))


def mem_type(dtype: str) -> ir.Type:
    """The type one element of this dtype has in memory (bool is a byte)."""
    return I8 if dt.is_bool(dtype) else reg_type(dt.element(dtype))


def lanes_of(value) -> int:
    """The lane count of an LLVM value (1 for scalars)."""
    t = value.type
    return t.count if isinstance(t, ir.VectorType) else 1


def scalar_of(t: ir.Type) -> ir.Type:
    return t.element if isinstance(t, ir.VectorType) else t


def const(t: ir.Type, value) -> ir.Constant:
    """A constant of type t; a vector type gets value in every lane."""
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [value] * t.count)
    return ir.Constant(t, value)


def type_suffix(t: ir.Type) -> str:
    """The overload suffix LLVM intrinsics use: f32, i64, v16f32, v8p0."""
    if isinstance(t, ir.VectorType):
        return f"v{t.count}{type_suffix(t.element)}"
    if isinstance(t, ir.PointerType):
        return "p0"
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    return {ir.HalfType: "f16", ir.FloatType: "f32", ir.DoubleType: "f64"}[type(t)]


def declare(module: ir.Module, name: str, ret: ir.Type, args) -> ir.Function:
    """The function `name` in module, declared on first use."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, list(args)), name)
    return fn


def intrinsic(module: ir.Module, base: str, ret: ir.Type, args, overload=None) -> ir.Function:
    """An overloaded LLVM intrinsic, e.g. base 'llvm.sqrt' on <16 x float>.

    overload: the types named in the mangled suffix (default: the return type).
    """
    types = overload if overload is not None else (ret,)
    name = ".".join([base] + [type_suffix(t) for t in types])
    return declare(module, name, ret, args)


class _OpenAttrs:
    """Attribute sets that also accept LLVM attributes llvmlite does not know.

    llvmlite validates names against a fixed list that lacks string attributes
    ("target-cpu"="znver5") and captures(none) (LLVM 21's nocapture).
    """

    def add(self, name):
        set.add(self, name)


class FunctionAttrs(_OpenAttrs, ir.values.FunctionAttributes):
    pass


class ArgAttrs(_OpenAttrs, ir.values.ArgumentAttributes):
    pass


def set_function_attrs(fn: ir.Function, attrs) -> None:
    """Replace fn's attributes with these (plain names or "key"="value" strings)."""
    fn.attributes = FunctionAttrs()
    for a in attrs:
        fn.attributes.add(a)


def mark_noalias(arg: ir.Argument) -> None:
    """A buffer pointer argument: no other argument aliases it, the callee keeps no copy."""
    arg.attributes = ArgAttrs()
    arg.attributes.add("noalias")
    arg.attributes.add("captures(none)")
