"""Arithmetic with NumPy's semantics, on LLVM scalars and vectors alike.

A mixin for the function emitter: it needs ``self.b`` (the IRBuilder),
``self.module`` and ``self.fp_flags`` (fast-math flags for fadd/fsub/fmul).
Every method takes and returns register values (bool is i1).
"""
from __future__ import annotations

import llvmlite.ir as ir

from opcomp import dtype as dt

from .llvm_types import I1, I32, const, intrinsic, lanes_of, reg_type, scalar_of

_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
TRANSCENDENTAL = ("exp", "log", "tanh", "erf", "sigmoid")
_LIBM = {"exp": "exp", "log": "log", "tanh": "tanh", "erf": "erf"}


def _float_math_impl():
    """codegen.llvm_math.emit_math when that module exists, else None (libm fallback)."""
    try:
        from . import llvm_math
    except ImportError:
        return None
    return getattr(llvm_math, "emit_math", None)


class OpsMixin:
    """Binary, compare, unary, cast and math-call emission."""

    # -- helpers ---------------------------------------------------------------
    def call_intrinsic(self, base, args, ret=None, overload=None):
        ret = ret if ret is not None else args[0].type
        fn = intrinsic(self.module, base, ret, [a.type for a in args], overload)
        return self.b.call(fn, list(args))

    def _fflags(self, exact=False):
        # exact: ops whose rounding NumPy pins (division) get no contraction.
        return ("fast",) if self.fast_math else (() if exact else ("contract",))

    # -- binary ----------------------------------------------------------------
    def binary(self, op, a, b, dtype, b_const=None):
        """a <op> b for Binary nodes; b_const: b's value when it is a known constant."""
        if dt.is_float(dtype):
            return self._float_binary(op, a, b, dtype)
        if dt.is_bool(dtype):
            return self._bool_binary(op, a, b)
        return self._int_binary(op, a, b, dtype, b_const)

    def _float_binary(self, op, a, b, dtype):
        bld = self.b
        if op in ("add", "sub", "mul"):
            return getattr(bld, "f" + op)(a, b, flags=self._fflags())
        if op == "div":
            return bld.fdiv(a, b, flags=self._fflags(exact=True))
        if op in ("min", "max"):
            # llvm.minimum/maximum propagate NaN like np.minimum/np.maximum.
            return self.call_intrinsic("llvm.minimum" if op == "min" else "llvm.maximum", [a, b])
        if op in ("floordiv", "floormod"):
            return self._float_divmod(op, a, b, dtype)
        raise TypeError(f"LLVM backend: operator {op} is not defined on {dtype}")

    def _bool_binary(self, op, a, b):
        # NumPy on bools: + is or, * is and, max is or, min is and.
        bld = self.b
        if op in ("and", "mul", "min"):
            return bld.and_(a, b)
        if op in ("or", "add", "max"):
            return bld.or_(a, b)
        if op in ("xor", "sub"):
            return bld.xor(a, b)
        raise TypeError(f"LLVM backend: operator {op} is not defined on bool")

    def _int_binary(self, op, a, b, dtype, b_const):
        bld = self.b
        simple = {"add": bld.add, "sub": bld.sub, "mul": bld.mul,
                  "and": bld.and_, "or": bld.or_, "xor": bld.xor}
        if op in simple:
            return simple[op](a, b)
        if op in ("min", "max"):
            kind = ("s" if dt.is_signed(dtype) else "u") + op
            return self.call_intrinsic(f"llvm.{kind}", [a, b])
        if op in ("floordiv", "floormod"):
            if dt.is_signed(dtype):
                return self._signed_divmod(op, a, b, b_const)
            return self._unsigned_divmod(op, a, b, b_const)
        if op in ("shl", "shr"):
            return self._shift(op, a, b, dtype)
        if op in ("truncdiv", "truncmod"):
            return self._truncdiv(op, a, b, dtype, b_const)
        raise TypeError(f"LLVM backend: operator {op} is not supported on {dtype} "
                        "(integer '/' is promoted to float64 by the frontend)")

    def _signed_divmod(self, op, a, b, c):
        """Python-style // and % (round toward -inf); x // 0 == x % 0 == 0 as in NumPy."""
        bld, t = self.b, a.type
        if c == -1:              # sdiv INT_MIN, -1 traps on x86; NumPy wraps
            return bld.sub(const(t, 0), a) if op == "floordiv" else const(t, 0)
        guarded = c is None or c == 0
        if guarded:
            is0 = bld.icmp_signed("==", b, const(t, 0))
            ism1 = bld.icmp_signed("==", b, const(t, -1))
            b = bld.select(bld.or_(is0, ism1), const(t, 1), b)
        q, r = bld.sdiv(a, b), bld.srem(a, b)
        # C division truncates; step down when the remainder's sign differs from b's.
        signs_differ = bld.icmp_signed("<", bld.xor(r, b), const(t, 0))
        adjust = bld.and_(bld.icmp_signed("!=", r, const(t, 0)), signs_differ)
        if op == "floormod":     # with the guard b is 1 there, so r is already 0
            return bld.add(r, bld.select(adjust, b, const(t, 0)))
        q = bld.sub(q, bld.zext(adjust, t))
        if guarded:
            q = bld.select(ism1, bld.sub(const(t, 0), a), q)
            q = bld.select(is0, const(t, 0), q)
        return q

    def _shift(self, op, a, b, dtype):
        """NumPy's << and >>: LLVM makes an amount >= the width poison, NumPy gives 0
        (>> of a negative signed value: -1, the sign bit shifted all the way)."""
        bld, t = self.b, a.type
        width = const(t, scalar_of(t).width)
        in_range = bld.icmp_unsigned("<", b, width)       # a negative amount is huge unsigned
        safe = bld.select(in_range, b, const(t, 0))
        if op == "shl":
            return bld.select(in_range, bld.shl(a, safe), const(t, 0))
        if not dt.is_signed(dtype):
            return bld.select(in_range, bld.lshr(a, safe), const(t, 0))
        sign = bld.ashr(a, const(t, scalar_of(t).width - 1))
        return bld.select(in_range, bld.ashr(a, safe), sign)

    def _truncdiv(self, op, a, b, dtype, c):
        """C's / and % (toward zero); a zero divisor gives 0, INT_MIN / -1 wraps."""
        bld, t = self.b, a.type
        if c is not None and c not in (0, -1):
            if op == "truncdiv":
                return bld.sdiv(a, b) if dt.is_signed(dtype) else bld.udiv(a, b)
            return bld.srem(a, b) if dt.is_signed(dtype) else bld.urem(a, b)
        is0 = bld.icmp_unsigned("==", b, const(t, 0))
        bad = is0
        if dt.is_signed(dtype):
            ism1 = bld.icmp_signed("==", b, const(t, -1))
            bad = bld.or_(is0, ism1)
        safe = bld.select(bad, const(t, 1), b)
        if op == "truncmod":
            r = bld.srem(a, safe) if dt.is_signed(dtype) else bld.urem(a, safe)
            return r                  # x % 1 == 0 is the answer for b in {0, -1}
        q = bld.sdiv(a, safe) if dt.is_signed(dtype) else bld.udiv(a, safe)
        if dt.is_signed(dtype):
            q = bld.select(ism1, bld.sub(const(t, 0), a), q)
        return bld.select(is0, const(t, 0), q)

    def _unsigned_divmod(self, op, a, b, c):
        bld, t = self.b, a.type
        guarded = c is None or c == 0
        if guarded:
            is0 = bld.icmp_unsigned("==", b, const(t, 0))
            b = bld.select(is0, const(t, 1), b)
        if op == "floormod":
            return bld.urem(a, b)
        q = bld.udiv(a, b)
        return bld.select(is0, const(t, 0), q) if guarded else q

    def _float_divmod(self, op, a, b, dtype):
        """np.floor_divide / np.remainder on floats, NumPy's npy_divmod step for step."""
        if dt.element(dtype) == "float16":    # NumPy computes half divmod in float32
            f32 = reg_type(dt.with_lanes("float32", lanes_of(a)))
            r = self._float_divmod(op, self.b.fpext(a, f32), self.b.fpext(b, f32), "float32")
            return self.b.fptrunc(r, a.type)
        bld, t = self.b, a.type
        zero, one = const(t, 0.0), const(t, 1.0)
        mod = bld.frem(a, b)                                  # C fmod
        b_is0 = bld.fcmp_ordered("==", b, zero)
        div = bld.fdiv(bld.fsub(a, mod), b)
        mod_nz = bld.fcmp_unordered("!=", mod, zero)          # NaN is truthy in C
        flip = bld.xor(bld.fcmp_ordered("<", b, zero), bld.fcmp_ordered("<", mod, zero))
        fix = bld.and_(mod_nz, flip)
        if op == "floormod":
            mod = bld.select(fix, bld.fadd(mod, b), mod)
            mod = bld.select(mod_nz, mod, self.call_intrinsic("llvm.copysign", [zero, b]))
            return bld.select(b_is0, bld.frem(a, b), mod)
        div = bld.select(fix, bld.fsub(div, one), div)
        floor = self.call_intrinsic("llvm.floor", [div])
        up = bld.fcmp_ordered(">", bld.fsub(div, floor), const(t, 0.5))
        floor = bld.select(up, bld.fadd(floor, one), floor)
        quot = bld.fdiv(a, b)
        signed_zero = self.call_intrinsic("llvm.copysign", [zero, quot])
        res = bld.select(bld.fcmp_unordered("!=", div, zero), floor, signed_zero)
        return bld.select(b_is0, quot, res)

    # -- compare / unary -------------------------------------------------------------
    def compare(self, op, a, b, operand_dtype):
        """NumPy comparisons: ordered on floats except != (NaN != NaN is True)."""
        sym = _CMP[op]
        if dt.is_float(operand_dtype):
            if op == "ne":
                return self.b.fcmp_unordered(sym, a, b)
            return self.b.fcmp_ordered(sym, a, b)
        if dt.is_signed(operand_dtype):
            return self.b.icmp_signed(sym, a, b)
        return self.b.icmp_unsigned(sym, a, b)        # uint8, and bool (False < True)

    def unary(self, op, a, dtype):
        if op == "neg":
            if dt.is_float(dtype):
                return self.b.fneg(a, flags=self._fflags(exact=True))
            return self.b.sub(const(a.type, 0), a)
        if op == "not":
            return self.b.xor(a, const(a.type, -1 if not dt.is_bool(dtype) else 1))
        raise TypeError(f"LLVM backend: unknown unary operator {op!r}")

    # -- casts -----------------------------------------------------------------------
    def cast(self, v, src, dst):
        """NumPy's astype from dtype src to dst (lane counts already equal)."""
        se, de = dt.element(src), dt.element(dst)
        t = reg_type(dt.with_lanes(de, lanes_of(v)))
        if se == de:
            return v
        if de == "bool":
            if dt.is_float(se):
                return self.b.fcmp_unordered("!=", v, const(v.type, 0.0))   # NaN -> True
            return self.b.icmp_unsigned("!=", v, const(v.type, 0))
        if dt.is_float(se):
            return self._cast_from_float(v, se, de, t)
        if dt.is_float(de):
            return self.b.sitofp(v, t) if dt.is_signed(se) else self.b.uitofp(v, t)
        return self._int_resize(v, se, t)

    def _cast_from_float(self, v, se, de, t):
        if dt.is_float(de):
            if dt.bits(de) > dt.bits(se):
                return self.b.fpext(v, t)
            if (se, de) == ("float64", "float16"):
                return self._double_to_half(v, t)
            return self.b.fptrunc(v, t)
        if dt.bits(de) < 32:
            # Like C on x86 (what NumPy runs): convert to int32, then wrap.
            wide = reg_type(dt.with_lanes("int32", lanes_of(v)))
            return self.b.trunc(self.b.fptosi(v, wide), t)
        if de == "uint32":
            # Like C on x86-64: through int64, so 2**31..2**32-1 convert exactly.
            wide = reg_type(dt.with_lanes("int64", lanes_of(v)))
            return self.b.trunc(self.b.fptosi(v, wide), t)
        if de == "uint64":
            return self.b.fptoui(v, t)     # fptosi would be poison from 2**63 up
        return self.b.fptosi(v, t)

    def _double_to_half(self, v, t):
        """fptrunc double -> half without the __truncdfhf2 libcall (absent from the JIT).

        Rounding to float with round-to-odd, then to half with round-to-nearest-even,
        rounds exactly like one direct conversion (float keeps more than 11 + 2 bits).
        """
        bld = self.b
        n = lanes_of(v)
        f32, i32 = reg_type(dt.with_lanes("float32", n)), reg_type(dt.with_lanes("int32", n))
        f = bld.fptrunc(v, f32)
        back = bld.fpext(f, v.type)
        bits = bld.bitcast(f, i32)
        # Round-to-nearest may have rounded away from zero: step the magnitude back.
        fabs = self.call_intrinsic("llvm.fabs", [back])
        too_big = bld.fcmp_ordered(">", fabs, self.call_intrinsic("llvm.fabs", [v]))
        bits = bld.sub(bits, bld.zext(too_big, i32))
        inexact = bld.fcmp_unordered("!=", back, v)
        bits = bld.or_(bits, bld.zext(inexact, i32))
        return bld.fptrunc(bld.bitcast(bits, f32), t)

    def _int_resize(self, v, se, t):
        src_bits, dst_bits = scalar_of(v.type).width, scalar_of(t).width
        if dst_bits == src_bits:
            return v                      # int8 <-> uint8: same bits
        if dst_bits < src_bits:
            return self.b.trunc(v, t)
        if dt.is_signed(se):
            return self.b.sext(v, t)
        return self.b.zext(v, t)          # uint8 and bool widen with zeros

    # -- math calls ------------------------------------------------------------------
    def math_call(self, name, args, dtype):
        """The elementwise intrinsics of expr.Call."""
        x = args[0]
        if name in TRANSCENDENTAL:
            return self._transcendental(name, x, dtype)
        if name == "pow":
            if dt.is_float(dtype):
                return self._float_pow(args[0], args[1], dtype)
            return self._int_pow(args[0], args[1], dtype)
        if name == "abs":
            return self._abs(x, dtype)
        if name == "popcount":
            if not dt.is_int(dtype):
                raise TypeError(f"LLVM backend: popcount needs an integer operand, got {dtype}")
            return self.call_intrinsic("llvm.ctpop", [x])
        if not dt.is_float(dtype):
            if name in ("floor", "ceil"):
                return x
            raise TypeError(f"LLVM backend: {name} needs a float operand, got {dtype}")
        if name in ("sqrt", "floor", "ceil"):
            return self.call_intrinsic(f"llvm.{name}", [x])
        if name == "rsqrt":
            root = self.call_intrinsic("llvm.sqrt", [x])
            return self.b.fdiv(const(x.type, 1.0), root, flags=self._fflags(exact=True))
        raise NotImplementedError(f"LLVM backend: unknown math function {name!r}")

    def _float_pow(self, a, b, dtype):
        # NumPy computes half pow in float32; LLVM's <N x half> lowering of
        # pow(2, x) -> ldexp gave 1.0 for every lane (found by the fuzzer).
        if dt.element(dtype) != "float16":
            return self.call_intrinsic("llvm.pow", [a, b])
        f32 = reg_type(dt.with_lanes("float32", lanes_of(a)))
        y = self.call_intrinsic("llvm.pow", [self.b.fpext(a, f32), self.b.fpext(b, f32)])
        return self.b.fptrunc(y, a.type)

    def _int_pow(self, a, e, dtype):
        """a ** e by square-and-multiply over every exponent bit: branch-free, so
        it vectorizes, and wrapping like NumPy's loop.  A negative exponent
        follows expr._power: 1, +-1 for a base of -1, else 0."""
        bld, t = self.b, a.type
        signed = dt.is_signed(dtype)
        one = const(t, 1)
        result, base, rest = one, a, e
        for _ in range(dt.bits(dtype) - signed):
            low = bld.icmp_unsigned("!=", bld.and_(rest, one), const(t, 0))
            result = bld.select(low, bld.mul(result, base), result)
            base = bld.mul(base, base)
            rest = bld.lshr(rest, one)
        if not signed:
            return result
        odd = bld.icmp_unsigned("!=", bld.and_(e, one), const(t, 0))
        minus_one = const(t, -1)
        of_minus_one = bld.select(odd, minus_one, one)
        small = bld.select(bld.icmp_signed("==", a, one), one,
                           bld.select(bld.icmp_signed("==", a, minus_one), of_minus_one,
                                      const(t, 0)))
        return bld.select(bld.icmp_signed("<", e, const(t, 0)), small, result)

    def _abs(self, x, dtype):
        if dt.is_float(dtype):
            return self.call_intrinsic("llvm.fabs", [x])
        if dt.is_signed(dtype):
            # i1 false: abs(INT_MIN) wraps to INT_MIN as in NumPy, not poison.
            return self.call_intrinsic("llvm.abs", [x, ir.Constant(I1, 0)])
        return x

    def _transcendental(self, name, x, dtype):
        if not dt.is_float(dtype):
            raise TypeError(f"LLVM backend: {name} needs a float operand, got {dtype}")
        if dt.element(dtype) == "float16":       # NumPy evaluates half math in float32
            f32 = reg_type(dt.with_lanes("float32", lanes_of(x)))
            y = self._transcendental(name, self.b.fpext(x, f32), "float32")
            return self.b.fptrunc(y, x.type)
        emit = _float_math_impl()
        if emit is not None:
            return emit(self.b, name, x)
        return self._libm_math(name, x, dtype)

    def _libm_math(self, name, x, dtype):
        """Fallback while codegen/llvm_math.py is missing: libm per lane."""
        if name == "sigmoid":
            e = self._libm_math("exp", self.b.fneg(x), dtype)
            one = const(x.type, 1.0)
            return self.b.fdiv(one, self.b.fadd(one, e))
        scalar_t = scalar_of(x.type)
        fname = _LIBM[name] + ("f" if dt.element(dtype) == "float32" else "")
        fn = self.declare(fname, scalar_t, [scalar_t])
        if lanes_of(x) == 1:
            return self.b.call(fn, [x])
        out = ir.Constant(x.type, ir.Undefined)
        for i in range(lanes_of(x)):
            lane = self.b.extract_element(x, ir.Constant(I32, i))
            out = self.b.insert_element(out, self.b.call(fn, [lane]), ir.Constant(I32, i))
        return out
