"""The C-like printer base: expressions and statements of the flattened loop IR as C.

Every C-family output (CUDA C today) subclasses ``CPrinter`` and adds what its
dialect needs: how buffers are allocated, what a barrier or a failed assertion
is, how functions are declared.  The base prints with NumPy's semantics, as
the LLVM backend computes:

    floordiv / floormod        opcomp_floordiv(a, b), opcomp_floormod(a, b)   (round to -inf;
                               x // 0 == 0 for integers)
    min / max on floats        opcomp_fmin(a, b), opcomp_fmax(a, b)           (NaN propagates)
    + * on bool                || &&
    exp, log, ... on float32   expf, logf, ...   (float64: exp, log, ...)

The helpers live in the dialect's prelude (codegen/cuda_headers.py for CUDA).
Names are made C identifiers once per printed file ("A.shared" -> A_shared,
a second "i.c" -> i_c_1), so the text is stable for golden tests.
"""
from __future__ import annotations

import math
import re

from opcomp import dtype as dt
from opcomp.ir import expr as E
from opcomp.ir.visit import Functor

C_TYPES = {"bool": "bool", "int8": "int8_t", "int16": "int16_t", "int32": "int",
           "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t",
           "uint32": "uint32_t", "uint64": "uint64_t", "float32": "float", "float64": "double",
           "float16": "half", "bfloat16": "__nv_bfloat16"}
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "and": "&", "or": "|", "xor": "^",
          "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_BOOL_OPS = {"and": "&&", "mul": "&&", "min": "&&", "or": "||", "add": "||", "max": "||",
             "xor": "!=", "sub": "!="}
# C precedence, higher binds tighter.
_PREC = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, "<=": 7, ">": 7,
         ">=": 7, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}
_UNARY_PREC = 11
_FLOAT_MATH = {"exp", "log", "sqrt", "tanh", "erf", "floor", "ceil"}
_RESERVED = {"int", "float", "double", "char", "bool", "for", "if", "else", "while", "do",
             "return", "break", "continue", "const", "static", "void", "long", "short",
             "unsigned", "signed", "struct", "union", "switch", "case", "default", "goto",
             "extern", "register", "volatile", "sizeof", "true", "false", "auto", "new",
             "delete", "class", "template", "this", "operator", "inline", "dim3"}


def c_type(dtype: str) -> str:
    """The C type of a scalar dtype."""
    if dt.lanes(dtype) != 1:
        raise NotImplementedError(f"C printer: vector dtype {dtype} (vectorized loops are "
                                  "printed as loops)")
    try:
        return C_TYPES[dtype]
    except KeyError:
        raise NotImplementedError(f"C printer: dtype {dtype} is not supported") from None


class Namer:
    """Stable, unique C identifiers for Vars and Buffers (by identity) in one file."""

    def __init__(self, reserved=()):
        self.names: dict = {}
        self.taken = set(_RESERVED) | set(reserved)

    def __call__(self, obj) -> str:
        key = id(obj)
        if key not in self.names:
            base = re.sub(r"\W", "_", obj.name) or "v"
            if base[0].isdigit():
                base = "v" + base
            name, k = base, 1
            while name in self.taken:
                name, k = f"{base}_{k}", k + 1
            self.taken.add(name)
            self.names[key] = (name, obj)       # keep obj alive: ids stay unique
        return self.names[key][0]


def c_const(c: E.Const) -> str:
    """A literal of the constant's dtype."""
    v, d = c.value, c.dtype
    if d == "bool":
        return "true" if v else "false"
    if dt.is_float(d):
        suffix = "f" if d == "float32" else ""
        if math.isnan(v):
            return f"(({c_type(d)})NAN)"
        if math.isinf(v):
            return f"(({c_type(d)}){'-' if v < 0 else ''}INFINITY)"
        text = repr(float(v))
        if d in ("float16", "bfloat16"):    # in float, then rounded (as NumPy/ml_dtypes)
            return f"(({c_type(d)}){text}f)"
        return f"{text}{suffix}" if not text.startswith("-") else f"({text}{suffix})"
    if d == "int32":
        return str(v) if v >= 0 else f"({v})"
    if d == "int64":
        return f"(int64_t){v}" if v != -2**63 else "(int64_t)(-9223372036854775807 - 1)"
    return f"({c_type(d)}){v}"


class CPrinter(Functor):
    """Expressions (``expr``) and statements (``stmt``) as C text.

    Subclasses implement visit_Allocate, visit_Barrier, visit_Assert and name
    their special variables through ``var_text``.
    """

    indent_unit = "  "

    def __init__(self, namer: Namer | None = None):
        self.name = namer or Namer()
        self.lines: list = []
        self.level = 0

    # -- output ---------------------------------------------------------------------
    def emit(self, text: str) -> None:
        self.lines.append(self.indent_unit * self.level + text)

    def block(self, header: str, body, footer: str = "}") -> None:
        """header {, the body statement one level in, footer."""
        self.emit(header + " {")
        self.level += 1
        self.stmt(body)
        self.level -= 1
        self.emit(footer)

    # -- expressions ----------------------------------------------------------------
    def expr(self, e, prec: int = 0) -> str:
        """e as C text, parenthesized when its precedence is below prec."""
        return self.visit(e, prec)

    def var_text(self, v: E.Var) -> str:
        return self.name(v)

    def visit_Var(self, e, prec):
        return self.var_text(e)

    def visit_Const(self, e, prec):
        return c_const(e)

    def visit_Binary(self, e, prec):
        d = e.dtype
        if dt.is_bool(d):
            return self.infix(_BOOL_OPS[e.op], e.a, e.b, prec)
        if e.op in ("floordiv", "floormod"):
            return f"opcomp_{e.op}({self.expr(e.a)}, {self.expr(e.b)})"
        if e.op in ("min", "max"):
            fn = f"opcomp_f{e.op}" if dt.is_float(d) else f"opcomp_{e.op}"
            return f"{fn}({self.expr(e.a)}, {self.expr(e.b)})"
        if e.op in ("shl", "shr", "truncdiv", "truncmod"):
            return self.integer_op(e.op, self.expr(e.a), self.expr(e.b), d)
        text = self.infix(_INFIX[e.op], e.a, e.b, prec if dt.bits(d) >= 32 else 0)
        # C computes int8/int16 in int: narrow the result back (NumPy wraps).
        return text if dt.bits(d) >= 32 or dt.is_float(d) else f"(({c_type(d)})({text}))"

    def integer_op(self, op: str, a: str, b: str, d: str) -> str:
        """Shifts and C division with NumPy's (LLVM backend's) answers where C has
        undefined behaviour: an amount outside [0, bits) gives 0 (>> of a negative
        value: -1), a zero divisor gives 0, INT_MIN / -1 wraps."""
        t, ut = c_type(d), c_type("u" + d if dt.is_signed(d) else d)
        bits = dt.bits(d)
        if op == "shl":
            return f"((uint64_t)({b}) < {bits} ? ({t})(({ut})({a}) << ({b})) : ({t})0)"
        if op == "shr":
            far = f"(({a}) < 0 ? ({t})-1 : ({t})0)" if dt.is_signed(d) else f"({t})0"
            return f"((uint64_t)({b}) < {bits} ? ({t})(({a}) >> ({b})) : {far})"
        q = f"({t})(({a}) / ({b}))" if op == "truncdiv" else f"({t})(({a}) % ({b}))"
        minus1 = (f"({t})(0 - ({ut})({a}))" if op == "truncdiv" else f"({t})0") \
            if dt.is_signed(d) else q
        return f"(({b}) == 0 ? ({t})0 : ({b}) == ({t})-1 ? {minus1} : {q})"

    def infix(self, op: str, a, b, prec: int) -> str:
        p = _PREC[op]
        text = f"{self.expr(a, p)} {op} {self.expr(b, p + 1)}"
        return f"({text})" if p < prec else text

    def visit_Compare(self, e, prec):
        # C's float comparisons are NumPy's: ordered, except != (true for NaN).
        return self.infix(_INFIX[e.op], e.a, e.b, prec)

    def visit_Unary(self, e, prec):
        if e.op == "not":
            op = "!" if dt.is_bool(e.dtype) else "~"
        else:
            op = "-"
        text = f"{op}{self.expr(e.a, _UNARY_PREC)}"
        if not dt.is_bool(e.dtype) and not dt.is_float(e.dtype) and dt.bits(e.dtype) < 32:
            return f"(({c_type(e.dtype)})({text}))"
        return f"({text})" if prec > _UNARY_PREC else text

    def visit_Select(self, e, prec):
        text = f"{self.expr(e.cond, 1)} ? {self.expr(e.a, 1)} : {self.expr(e.b, 1)}"
        return f"({text})"

    def visit_Cast(self, e, prec):
        src, dst = e.value.dtype, e.dtype
        inner = self.expr(e.value, _UNARY_PREC)
        if dt.is_float(src) and dt.is_int(dst) and dt.bits(dst) < 32:
            # Like C on x86 (what NumPy runs): convert to int, then wrap.
            return f"(({c_type(dst)})(int){inner})"
        return f"(({c_type(dst)}){inner})"

    def visit_Call(self, e, prec):
        args = [self.expr(a) for a in e.args]
        d = e.dtype
        if e.name in _FLOAT_MATH and dt.is_float(d):
            return f"{e.name}{'f' if d == 'float32' else ''}({args[0]})"
        if e.name == "abs":
            return f"{'fabs' + ('f' if d == 'float32' else '') if dt.is_float(d) else 'opcomp_abs'}" \
                   f"({args[0]})"
        if e.name == "shfl_down":           # value, lane offset, width (a whole warp)
            return f"__shfl_down_sync(0xffffffffu, {', '.join(args)})"
        if e.name in ("rsqrt", "sigmoid", "pow"):
            return f"opcomp_{e.name}({', '.join(args)})"
        if e.name in ("floor", "ceil"):
            return args[0]
        if e.name == "popcount":             # two's complement bits, in the operand's dtype
            ut = c_type("u" + d if dt.is_signed(d) else d)
            return f"(({c_type(d)})__builtin_popcountll((unsigned long long)({ut})({args[0]})))"
        raise NotImplementedError(f"C printer: no C form for {e.name}({', '.join(args)})")

    def visit_Load(self, e, prec):
        (index,) = e.indices
        return f"{self.name(e.buffer)}[{self.expr(index)}]"

    def default(self, node, *args):
        raise NotImplementedError(f"{type(self).__name__}: cannot print {type(node).__name__} "
                                  f"({node}); lower the function for this target first")

    # -- statements -----------------------------------------------------------------
    def stmt(self, s) -> None:
        self.visit(s)

    def visit_Seq(self, s):
        for x in s.stmts:
            self.stmt(x)

    def visit_Nop(self, s):
        pass

    def visit_Store(self, s):
        (index,) = s.indices
        self.emit(f"{self.name(s.buffer)}[{self.expr(index)}] = {self.expr(s.value)};")

    def visit_For(self, s):
        v = self.name(s.var)
        ty = c_type(s.var.dtype)
        lo = self.expr(s.min)
        end = self.expr(s.extent, 9) if E.is_const(s.min, 0) else \
            f"{self.expr(s.min, 9)} + {self.expr(s.extent, 10)}"
        if s.kind in ("unrolled", "vectorized"):
            self.emit("#pragma unroll")
        self.block(f"for ({ty} {v} = {lo}; {v} < {end}; ++{v})", s.body)

    def visit_IfThenElse(self, s):
        self.block(f"if ({self.expr(s.cond)})", s.then_case,
                   "}" if s.else_case is None else "} else {")
        if s.else_case is not None:
            self.level += 1
            self.stmt(s.else_case)
            self.level -= 1
            self.emit("}")

    def visit_LetStmt(self, s):
        self.emit(f"const {c_type(s.var.dtype)} {self.name(s.var)} = {self.expr(s.value)};")
        self.stmt(s.body)
