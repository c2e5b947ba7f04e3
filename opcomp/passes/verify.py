"""The IR verifier: structural rules every pass must keep.

- every Var used is defined: a size var, an enclosing loop or let;
- every buffer accessed is a parameter or allocated in an enclosing scope;
- index counts match buffer ranks (flattened: exactly one index);
- stored values have the buffer's element dtype; indices are integers;
- loop kinds are known, loop vars are integers, extents are scalar ints.
"""
from __future__ import annotations

from .. import dtype as dt
from ..ir import expr as E
from ..ir import tir as T
from ..ir.visit import walk


class VerifyError(AssertionError):
    """The IR broke a structural rule (an opcomp bug, never the user's)."""


def verify(func: T.PrimFunc, flattened: bool = False, after: str = "") -> T.PrimFunc:
    ctx = f" after {after}" if after else ""
    defined = set(func.size_vars)
    buffers = set(func.params)
    _check_stmt(func.body, defined, buffers, flattened, ctx)
    return func


def _fail(msg: str, ctx: str):
    raise VerifyError(f"IR verification failed{ctx}: {msg}")


def _check_expr(e, defined, buffers, flattened, ctx):
    def visit(n):
        if isinstance(n, E.Var) and n not in defined:
            _fail(f"variable {n.name} used outside its scope", ctx)
        if isinstance(n, E.Load):
            _check_access(n.buffer, n.indices, buffers, flattened, ctx)
        if isinstance(n, E.TensorRead):
            _fail(f"tensor read {n} survived lowering", ctx)
    walk(e, visit)


def _check_access(buf, indices, buffers, flattened, ctx):
    if buf not in buffers:
        _fail(f"buffer {buf.name} accessed outside its allocation", ctx)
    want = 1 if flattened else len(buf.shape)
    if len(indices) != want:
        _fail(f"buffer {buf.name} accessed with {len(indices)} indices, expected {want}", ctx)
    for i in indices:
        if not dt.is_int(i.dtype):
            _fail(f"index {i} of {buf.name} has dtype {i.dtype}", ctx)


def _check_stmt(s, defined, buffers, flattened, ctx):
    chk = lambda e, d=defined: _check_expr(e, d, buffers, flattened, ctx)  # noqa: E731
    if isinstance(s, T.For):
        if s.kind not in T.LOOP_KINDS:
            _fail(f"loop {s.var.name} has unknown kind {s.kind}", ctx)
        if not dt.is_int(s.extent.dtype) or dt.lanes(s.extent.dtype) != 1:
            _fail(f"loop {s.var.name} extent {s.extent} is not a scalar int", ctx)
        chk(s.min), chk(s.extent)
        _check_stmt(s.body, defined | {s.var}, buffers, flattened, ctx)
    elif isinstance(s, T.Store):
        _check_access(s.buffer, s.indices, buffers, flattened, ctx)
        for i in s.indices:
            chk(i)
        chk(s.value)
        if dt.element(s.value.dtype) != dt.element(s.buffer.dtype):
            _fail(f"store of {s.value.dtype} into {s.buffer.name}: {s.buffer.dtype}", ctx)
    elif isinstance(s, T.Allocate):
        for x in s.buffer.shape:
            chk(x)
        _check_stmt(s.body, defined, buffers | {s.buffer}, flattened, ctx)
    elif isinstance(s, T.LetStmt):
        chk(s.value)
        _check_stmt(s.body, defined | {s.var}, buffers, flattened, ctx)
    elif isinstance(s, T.IfThenElse):
        chk(s.cond)
        for b in (s.then_case, s.else_case):
            if b is not None:
                _check_stmt(b, defined, buffers, flattened, ctx)
    elif isinstance(s, T.Assert):
        chk(s.cond)
        _check_stmt(s.body, defined, buffers, flattened, ctx)
    elif isinstance(s, T.Seq):
        for x in s.stmts:
            _check_stmt(x, defined, buffers, flattened, ctx)
