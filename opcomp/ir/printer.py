"""Readable text for expressions, statements and functions.

The printed loop nest is what people debug with and what golden tests pin, so
it is stable: one statement per line, two-space indentation, loop kinds named.
"""
from __future__ import annotations

from . import expr as E
from . import tir as T
from .visit import Functor

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//",
          "floormod": "%", "and": "&&", "or": "||", "xor": "^",
          "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_PREC = {"or": 1, "and": 2, "xor": 2, "eq": 3, "ne": 3, "lt": 3, "le": 3, "gt": 3,
         "ge": 3, "add": 4, "sub": 4, "mul": 5, "div": 5, "floordiv": 5, "floormod": 5}


# Display names for one printed function: distinct Vars that share a name
# (two stages' "j.outer") get suffixes so the text stays unambiguous.
_names: dict = {}
_taken: set = set()
_in_func = [False]


def _var_name(v: E.Var) -> str:
    if not _in_func[0]:
        return v.name
    if v not in _names:
        name, k = v.name, 1
        while name in _taken:
            name, k = f"{v.name}_{k}", k + 1
        _names[v] = name
        _taken.add(name)
    return _names[v]


def _const_str(c: E.Const) -> str:
    if c.dtype == "bool":
        return "True" if c.value else "False"
    if c.dtype in ("int32", "float32"):
        return repr(c.value) if c.dtype == "int32" else f"{c.value!r}f"
    return f"{c.dtype}({c.value!r})"


def _indices(idx) -> str:
    return ", ".join(expr_str(i) for i in idx)


class ExprPrinter(Functor):
    """One expression as text; visit(e, parent_prec) parenthesizes only where needed."""

    def visit_Const(self, e, prec):
        return _const_str(e)

    def visit_Var(self, e, prec):
        return _var_name(e)

    def visit_Binary(self, e, prec):
        if e.op not in _INFIX:
            return f"{e.op}({expr_str(e.a)}, {expr_str(e.b)})"
        p = _PREC[e.op]
        s = f"{expr_str(e.a, p)} {_INFIX[e.op]} {expr_str(e.b, p + 1)}"
        return f"({s})" if p < prec else s

    visit_Compare = visit_Binary

    def visit_Unary(self, e, prec):
        return f"{'-' if e.op == 'neg' else '!'}{expr_str(e.a, 9)}"

    def visit_Select(self, e, prec):
        name = "if_then_else" if e.lazy else "select"
        return f"{name}({expr_str(e.cond)}, {expr_str(e.a)}, {expr_str(e.b)})"

    def visit_Cast(self, e, prec):
        return f"{e.dtype}({expr_str(e.value)})"

    def visit_Call(self, e, prec):
        return f"{e.name}({', '.join(expr_str(a) for a in e.args)})"

    def visit_CallExtern(self, e, prec):
        return f"call_extern {e.func}({', '.join(expr_str(a) for a in e.args)})"

    def visit_AddressOf(self, e, prec):
        return f"&{e.buffer.name}[{expr_str(e.offset)}]"

    def visit_TensorRead(self, e, prec):
        return f"{e.tensor.name}[{_indices(e.indices)}]"

    def visit_Load(self, e, prec):
        return f"{e.buffer.name}[{_indices(e.indices)}]"

    def visit_Reduce(self, e, prec):
        axes = ", ".join(str(a) for a in e.axes)
        where = f", where={expr_str(e.condition)}" if e.condition is not None else ""
        return f"{e.combiner}({expr_str(e.source)}, axis=[{axes}]{where})"

    def visit_Ramp(self, e, prec):
        return f"ramp({expr_str(e.base)}, {expr_str(e.stride)}, {e.lanes})"

    def visit_Broadcast(self, e, prec):
        return f"x{e.lanes}({expr_str(e.value)})"

    def default(self, e, prec):
        return f"<{type(e).__name__}>"


_EXPR = ExprPrinter()


def expr_str(e, parent_prec: int = 0) -> str:
    """One expression as text, parenthesized only where needed."""
    return _EXPR.visit(e, parent_prec)


def _loop_end(lo: E.Expr, extent: E.Expr) -> E.Expr:
    """lo + extent, folded when both are constants (the printer does not simplify:
    the IR prints as it is)."""
    if isinstance(lo, E.Const) and isinstance(extent, E.Const):
        return E.const(lo.value + extent.value, lo.dtype)
    if isinstance(extent, E.Binary) and extent.op == "sub" and extent.b == lo:
        return extent.a                  # range(lo, hi) stored as extent hi - lo
    return lo + extent


def _loop_header(s: T.For) -> str:
    kind = f"{s.kind} " if s.kind != "serial" else ""
    if s.kind == "thread":
        kind = f"thread {s.thread} "
    if E.is_const(s.min, 0):
        rng = f"range({expr_str(s.extent)})"
    else:
        rng = f"range({expr_str(s.min)}, {expr_str(_loop_end(s.min, s.extent))})"
    return f"{kind}for {_var_name(s.var)} in {rng}:"


class StmtPrinter(Functor):
    """Statements as lines: visit(s, indent, out) appends to out."""

    def visit_For(self, s, ind, out):
        out.append(ind + _loop_header(s))
        self.visit(s.body, ind + "  ", out)

    def visit_Store(self, s, ind, out):
        out.append(f"{ind}{s.buffer.name}[{_indices(s.indices)}] = {expr_str(s.value)}")

    def visit_Seq(self, s, ind, out):
        for x in s.stmts:
            self.visit(x, ind, out)

    def visit_IfThenElse(self, s, ind, out):
        out.append(f"{ind}if {expr_str(s.cond)}:")
        self.visit(s.then_case, ind + "  ", out)
        if s.else_case is not None:
            out.append(f"{ind}else:")
            self.visit(s.else_case, ind + "  ", out)

    def visit_Allocate(self, s, ind, out):
        b = s.buffer
        out.append(f"{ind}{b.name} = alloc {b.scope} {b.dtype}[{_indices(b.shape)}]")
        self.visit(s.body, ind, out)

    def visit_LetStmt(self, s, ind, out):
        out.append(f"{ind}{_var_name(s.var)} = {expr_str(s.value)}")
        self.visit(s.body, ind, out)

    def visit_Assert(self, s, ind, out):
        out.append(f"{ind}assert {expr_str(s.cond)}, {s.message!r}")
        self.visit(s.body, ind, out)

    def visit_Barrier(self, s, ind, out):
        out.append(f"{ind}barrier()")

    def visit_Evaluate(self, s, ind, out):
        out.append(f"{ind}{expr_str(s.value)}")

    def visit_Nop(self, s, ind, out):
        out.append(f"{ind}pass")

    def default(self, s, ind, out):
        out.append(f"{ind}<{type(s).__name__}>")


_STMT = StmtPrinter()


def stmt_str(s, indent: int = 0) -> str:
    out: list = []
    _STMT.visit(s, " " * indent, out)
    return "\n".join(out)


def func_str(f: T.PrimFunc) -> str:
    _names.clear()
    _taken.clear()
    _in_func[0] = True
    try:
        for v in f.size_vars:
            _var_name(v)
        params = ", ".join(f"{b.name}: {b.dtype}[{_indices(b.shape)}]" for b in f.params)
        return f"def {f.name}({params}):\n" + stmt_str(f.body, 2)
    finally:
        _in_func[0] = False
        _names.clear()
        _taken.clear()
