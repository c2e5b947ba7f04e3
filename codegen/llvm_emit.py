"""A lowered PrimFunc -> an (unoptimized) llvmlite IR module.

The kernel's ABI, which the runtime and the exported C header rely on:

    define i32 @<name>(ptr noalias captures(none) %buf0, ..., i64 %size0, ...)

one pointer per parameter buffer (contiguous row-major data), then one i64
per size variable; it returns 0, or k when the k-th Assert (program order)
failed.
"""
from __future__ import annotations

import llvmlite.ir as ir

from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.ir.visit import walk

from .llvm_expr import ExprMixin
from .llvm_ops import OpsMixin
from .llvm_parallel import ParallelMixin
from .llvm_stmt import StmtMixin, entry_alloca
from .llvm_types import I32, I64, PTR, declare, mark_noalias, set_function_attrs


class ModuleContext:
    """What all functions of one kernel module share."""

    def __init__(self, func: T.PrimFunc, fn_attrs=()):
        self.func = func
        self.module = ir.Module(name=func.name)
        self.fast_math = bool(func.attr("fast_math", False))
        self.fn_attrs = tuple(fn_attrs)
        self._codes = _assert_codes(func.body)
        self._names = 0

    def assert_code(self, s: T.Assert) -> int:
        return self._codes[id(s)]

    def fresh_name(self, prefix: str) -> str:
        name = f"{prefix}{self._names}"
        self._names += 1
        return name

    def new_function(self, name, fnty, internal, extra_attrs=()) -> ir.Function:
        """A function carrying the target attributes (cpu, features, vector width)."""
        fn = ir.Function(self.module, fnty, name)
        if internal:
            fn.linkage = "internal"
        set_function_attrs(fn, ("nounwind",) + self.fn_attrs + tuple(extra_attrs))
        return fn


def _assert_codes(body) -> dict:
    """Assert -> 1 + its index in pre-order (the numbering runtime messages use)."""
    codes = {}

    def visit(n):
        if isinstance(n, T.Assert) and id(n) not in codes:
            codes[id(n)] = len(codes) + 1
    walk(body, visit)
    return codes


class FunctionEmitter(ExprMixin, OpsMixin, StmtMixin, ParallelMixin):
    """Emits statements into one LLVM function.

    fail(emitter, code) ends the function after a failed Assert: the kernel
    returns the code, an outlined parallel task records it and returns.
    """

    def __init__(self, ctx: ModuleContext, fn: ir.Function, in_parallel: bool, fail):
        self.ctx = ctx
        self.module = ctx.module
        self.fast_math = ctx.fast_math
        self.fn = fn
        # The entry block holds only stack slots (see entry_alloca); code starts after it.
        entry = fn.append_basic_block("entry")
        start = fn.append_basic_block("start")
        ir.IRBuilder(entry).branch(start)
        self.b = ir.IRBuilder(start)
        self.env = {}
        self.bufs = {}
        self.heap = []
        self.in_parallel = in_parallel
        self._fail = fail

    def fail(self, code):
        """Early exit at the builder's position (frees the live heap temporaries first)."""
        for ptr in reversed(self.heap):
            self.free(ptr)
        self._fail(self, code)

    def alloca(self, t, name=""):
        return entry_alloca(self.fn, t, name)

    def declare(self, name, ret, args):
        return declare(self.module, name, ret, args)


def _return_code(em, code):
    em.b.ret(code)


def emit_module(func: T.PrimFunc, fn_attrs=(), triple=None, data_layout=None) -> ir.Module:
    """The kernel as an llvmlite module (outlined parallel bodies included)."""
    _check_flat(func)
    ctx = ModuleContext(func, fn_attrs)
    if triple:
        ctx.module.triple = triple
    if data_layout:
        ctx.module.data_layout = data_layout
    fnty = ir.FunctionType(I32, [PTR] * len(func.params) + [I64] * len(func.size_vars))
    fn = ctx.new_function(func.name, fnty, internal=False)
    em = FunctionEmitter(ctx, fn, in_parallel=False, fail=_return_code)
    _bind_params(em, func, fn.args)
    em.stmt(func.body)
    em.b.ret(ir.Constant(I32, 0))
    return ctx.module


def _bind_params(em, func, args):
    for buf, arg in zip(func.params, args):
        arg.name = buf.name
        mark_noalias(arg)
        em.bufs[buf] = arg
    for var, arg in zip(func.size_vars, args[len(func.params):]):
        arg.name = var.name
        em.env[var] = em.cast(arg, "int64", var.dtype)


def _check_flat(func):
    """The backend consumes flattened IR: one index per access."""
    def visit(n):
        if isinstance(n, (T.Store, E.Load)):
            if len(n.indices) != 1:
                raise ValueError(f"LLVM backend: access to {n.buffer.name} has "
                                 f"{len(n.indices)} indices; flatten the function first")
    walk(func.body, visit)
