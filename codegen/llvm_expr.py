"""Expressions -> LLVM values: leaves, vectors and memory reads.

A mixin for the function emitter; it needs ``self.b``, ``self.env`` (Var ->
value), ``self.bufs`` (Buffer -> pointer) and the OpsMixin arithmetic.
"""
from __future__ import annotations

import llvmlite.ir as ir

from opcomp import dtype as dt
from opcomp.abi import EXTERN_META
from opcomp.ir import expr as E

from .llvm_types import (I1, I32, I64, PTR, const, lanes_of, mem_type, reg_type, scalar_of,
                         with_lanes)


def const_value(e):
    """The Python value of a constant expression (a Const or a broadcast one), else None."""
    if isinstance(e, E.Broadcast):
        e = e.value
    return e.value if isinstance(e, E.Const) else None


def is_contiguous(index) -> bool:
    """A Ramp of stride 1: the lanes are consecutive elements (one vector access)."""
    return isinstance(index, E.Ramp) and const_value(index.stride) == 1


class ExprMixin:
    """expr(e) -> LLVM value, dispatched on the node class."""

    def expr(self, e):
        method = _DISPATCH.get(type(e))
        if method is None:
            raise NotImplementedError(f"LLVM backend: cannot compile {type(e).__name__} "
                                      f"expressions ({e}); lower the function first")
        return method(self, e)

    def _const(self, e):
        value = int(e.value) if dt.is_bool(e.dtype) else e.value
        return const(reg_type(e.dtype), value)

    def _var(self, e):
        try:
            return self.env[e]
        except KeyError:
            raise ValueError(f"LLVM backend: variable {e.name} ({e.dtype}) is used where "
                             "no loop, let or size parameter defines it") from None

    def _binary(self, e):
        a, b = self.same_lanes(self.expr(e.a), self.expr(e.b))
        return self.binary(e.op, a, b, e.dtype, const_value(e.b))

    def _compare(self, e):
        a, b = self.same_lanes(self.expr(e.a), self.expr(e.b))
        return self.compare(e.op, a, b, e.a.dtype)

    def _unary(self, e):
        return self.unary(e.op, self.expr(e.a), e.dtype)

    def _select(self, e):
        # lazy: the CPU tail's mark_lazy_selects (passes/bounds_check.py) marked an arm
        # that may read out of bounds; it must run only where it is taken
        if e.lazy:
            return self._lazy_select(e)
        cond, a, b = self.same_lanes(self.expr(e.cond), self.expr(e.a), self.expr(e.b))
        return self.b.select(cond, a, b)

    # -- lazy selects: an arm that may read out of bounds runs only where taken ---------

    def _lazy_select(self, e):
        lanes = dt.lanes(e.dtype)
        cond = self.expr(e.cond)
        if lanes_of(cond) > 1:
            return self._masked_select(cond, e, lanes)
        results = []
        with self.b.if_else(cond) as (then, otherwise):
            for arm, block in ((e.a, then), (e.b, otherwise)):
                with block:
                    results.append((self.broadcast(self.expr(arm), lanes), self.b.block))
        phi = self.b.phi(results[0][0].type)
        for value, block in results:
            phi.add_incoming(value, block)
        return phi

    def _masked_select(self, cond, e, lanes):
        """Vector select: each arm's loads read only the lanes that take that arm
        (llvm.masked.load / masked.gather), then a lane-wise select."""
        outer = self._load_mask()
        taken = cond if outer is None else self.b.and_(outer, cond)
        not_taken = self.b.xor(cond, const(cond.type, 1))
        if outer is not None:
            not_taken = self.b.and_(outer, not_taken)
        a = self._under_mask(taken, e.a, lanes)
        b = self._under_mask(not_taken, e.b, lanes)
        return self.b.select(cond, a, b)

    def _load_mask(self):
        masks = self.__dict__.get("_masks")
        return masks[-1] if masks else None

    def _under_mask(self, mask, arm, lanes):
        masks = self.__dict__.setdefault("_masks", [])
        masks.append(mask)
        try:
            return self.broadcast(self.expr(arm), lanes)
        finally:
            masks.pop()

    def _cast(self, e):
        return self.cast(self.expr(e.value), e.value.dtype, e.dtype)

    def _call(self, e):
        return self.math_call(e.name, [self.expr(a) for a in e.args], e.dtype)

    def _ramp(self, e):
        base = self.broadcast(self.expr(e.base), e.lanes)
        t = base.type
        stride = const_value(e.stride)
        if stride is not None:
            steps = ir.Constant(t, [stride * k for k in range(e.lanes)])
        else:
            iota = ir.Constant(t, list(range(e.lanes)))
            steps = self.b.mul(self.broadcast(self.expr(e.stride), e.lanes), iota)
        return self.b.add(base, steps)

    def _broadcast(self, e):
        return self.broadcast(self.expr(e.value), e.lanes)

    def same_lanes(self, *values):
        """Operands with a common lane count (scalars splatted; IR from the smart
        constructors already agrees, hand-built IR may not)."""
        n = max(lanes_of(v) for v in values)
        return [self.broadcast(v, n) for v in values]

    def broadcast(self, v, lanes):
        """A scalar value splatted to `lanes` lanes (insertelement + shufflevector)."""
        if lanes_of(v) == lanes:
            return v
        if lanes_of(v) != 1:
            raise ValueError(f"LLVM backend: cannot broadcast a {lanes_of(v)}-lane value "
                             f"to {lanes} lanes")
        vt = ir.VectorType(v.type, lanes)
        one = self.b.insert_element(ir.Constant(vt, ir.Undefined), v, ir.Constant(I32, 0))
        mask = ir.Constant(ir.VectorType(I32, lanes), [0] * lanes)
        return self.b.shuffle_vector(one, ir.Constant(vt, ir.Undefined), mask)

    # -- memory ----------------------------------------------------------------------
    def index64(self, index_expr, value=None):
        """An index (scalar or vector) widened to i64 for address arithmetic."""
        v = self.expr(index_expr) if value is None else value
        t = with_lanes(I64, lanes_of(v))
        if scalar_of(v.type).width == 64:
            return v
        if dt.is_signed(index_expr.dtype):
            return self.b.sext(v, t)
        return self.b.zext(v, t)

    def buffer_ptr(self, buf):
        try:
            return self.bufs[buf]
        except KeyError:
            raise ValueError(f"LLVM backend: buffer {buf.name} is accessed outside the "
                             "function's parameters and allocations") from None

    def element_ptr(self, buf, index_expr):
        """Address of buf[index] (a vector of addresses for a vector index)."""
        idx = self.index64(index_expr)
        gep = self.b.gep(self.buffer_ptr(buf), [idx], source_etype=mem_type(buf.dtype))
        if lanes_of(idx) > 1:
            # llvmlite types a GEP by its pointer operand; a vector GEP yields <N x ptr>.
            gep.type = ir.VectorType(PTR, lanes_of(idx))
        return gep

    def contiguous_ptr(self, buf, ramp):
        """Address of the first lane of a stride-1 ramp access."""
        idx = self.index64(ramp.base)
        return self.b.gep(self.buffer_ptr(buf), [idx], source_etype=mem_type(buf.dtype))

    def _load(self, e):
        mask = self._load_mask()
        if mask is not None:
            return self._masked_load(e, mask)
        return self._plain_load(e)

    def _masked_load(self, e, mask):
        """A load under a vector select arm: only the lanes in mask touch memory."""
        buf, (index,) = e.buffer, e.indices
        lanes = dt.lanes(e.dtype)
        elem = mem_type(buf.dtype)
        align = dt.itemsize(buf.dtype)
        if lanes == 1:                # a lane-invariant load: made when any lane needs it
            anyone = self.call_intrinsic("llvm.vector.reduce.or", [mask], ret=I1,
                                         overload=(mask.type,))
            with self.b.if_else(anyone) as (then, otherwise):
                with then:
                    value, then_block = self._plain_load(e), self.b.block
                with otherwise:
                    other_block = self.b.block
            phi = self.b.phi(value.type)
            phi.add_incoming(value, then_block)
            phi.add_incoming(ir.Constant(value.type, None), other_block)
            return phi
        vt = ir.VectorType(elem, lanes)
        zero = ir.Constant(vt, None)
        if is_contiguous(index):
            ptr = self.contiguous_ptr(buf, index)
            raw = self.call_intrinsic("llvm.masked.load", [ptr, ir.Constant(I32, align), mask, zero],
                                      ret=vt, overload=(vt, PTR))
        else:
            ptrs = self.element_ptr(buf, index)
            raw = self.call_intrinsic("llvm.masked.gather", [ptrs, ir.Constant(I32, align), mask,
                                                             zero], ret=vt, overload=(vt, ptrs.type))
        if dt.is_bool(buf.dtype):
            return self.b.icmp_unsigned("!=", raw, const(raw.type, 0))
        return raw

    def _plain_load(self, e):
        buf, (index,) = e.buffer, e.indices
        lanes = dt.lanes(e.dtype)
        elem = mem_type(buf.dtype)
        align = dt.itemsize(buf.dtype)
        if lanes == 1:
            raw = self.b.load(self.element_ptr(buf, index), typ=elem, align=align)
        elif is_contiguous(index):
            vt = ir.VectorType(elem, lanes)
            raw = self.b.load(self.contiguous_ptr(buf, index), typ=vt, align=align)
        else:
            raw = self.gather(self.element_ptr(buf, index), elem, lanes, align)
        if dt.is_bool(buf.dtype):
            return self.b.icmp_unsigned("!=", raw, const(raw.type, 0))
        return raw

    def gather(self, ptrs, elem, lanes, align):
        vt = ir.VectorType(elem, lanes)
        mask = const(ir.VectorType(I1, lanes), 1)
        args = [ptrs, ir.Constant(I32, align), mask, ir.Constant(vt, ir.Undefined)]
        return self.call_intrinsic("llvm.masked.gather", args, ret=vt, overload=(vt, ptrs.type))

    def scatter(self, value, ptrs, align):
        mask = const(ir.VectorType(I1, lanes_of(value)), 1)
        args = [value, ptrs, ir.Constant(I32, align), mask]
        return self.call_intrinsic("llvm.masked.scatter", args, ret=ir.VoidType(),
                                   overload=(value.type, ptrs.type))


def _call_extern(self, e):
    """A call to a C symbol; the symbol is named in module metadata so that loading
    can check it resolves (MCJIT would bind a missing one to address 0)."""
    args = [self.expr(a) for a in e.args]
    ret = ir.IntType(32) if e.dtype == E.HANDLE else reg_type(e.dtype)
    fnty = ir.FunctionType(ret, [a.type for a in args])
    fn = self.module.globals.get(e.func)
    if fn is None:
        fn = ir.Function(self.module, fnty, e.func)
        self.module.add_named_metadata(EXTERN_META + e.func,
                                       [ir.MetaDataString(self.module, e.func)])
    elif fn.function_type != fnty:
        raise ValueError(f"LLVM backend: extern function {e.func} is called with argument "
                         f"types ({', '.join(map(str, fnty.args))}) here and "
                         f"({', '.join(map(str, fn.function_type.args))}) elsewhere")
    return self.b.call(fn, args)


def _address_of(self, e):
    """&buffer[offset] (a pointer for an extern call)."""
    return self.b.gep(self.buffer_ptr(e.buffer), [self.index64(e.offset)],
                      source_etype=mem_type(e.buffer.dtype))


_DISPATCH = {
    E.CallExtern: _call_extern, E.AddressOf: _address_of,
    E.Const: ExprMixin._const, E.Var: ExprMixin._var, E.Binary: ExprMixin._binary,
    E.Compare: ExprMixin._compare, E.Unary: ExprMixin._unary, E.Select: ExprMixin._select,
    E.Cast: ExprMixin._cast, E.Call: ExprMixin._call, E.Load: ExprMixin._load,
    E.Ramp: ExprMixin._ramp, E.Broadcast: ExprMixin._broadcast,
}
