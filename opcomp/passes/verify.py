"""The IR verifier: structural rules every pass must keep.

- every Var used is defined: a size var, an enclosing loop or let;
- every buffer accessed is a parameter or allocated in an enclosing scope;
- index counts match buffer ranks (flattened: exactly one index);
- stored values have the buffer's element dtype; indices are integers;
- loop kinds are known, loop vars are integers, extents are scalar ints.
"""
from __future__ import annotations

from .. import dtype as dt
from ..ir import tir as T
from ..ir.visit import Visitor


class VerifyError(AssertionError):
    """The IR broke a structural rule (an opcomp bug, never the user's)."""


def verify(func: T.PrimFunc, flattened: bool = False, after: str = "") -> T.PrimFunc:
    """Raise VerifyError if func breaks a rule above; return func unchanged."""
    Verifier(flattened, f" after {after}" if after else "").check(func)
    return func


class Verifier(Visitor):
    """Walks a function keeping the variables and buffers in scope."""

    def __init__(self, flattened: bool, ctx: str):
        self.flattened, self.ctx = flattened, ctx
        self.defined, self.buffers = set(), set()

    def check(self, func: T.PrimFunc) -> None:
        self.defined, self.buffers = set(func.size_vars), set(func.params)
        self.visit(func.body)

    def fail(self, msg: str):
        raise VerifyError(f"IR verification failed{self.ctx}: {msg}")

    def scoped(self, body, var=None, buffer=None) -> None:
        """Visit body with var / buffer in scope."""
        saved = self.defined, self.buffers
        self.defined = self.defined | ({var} if var is not None else set())
        self.buffers = self.buffers | ({buffer} if buffer is not None else set())
        try:
            self.visit(body)
        finally:
            self.defined, self.buffers = saved

    # -- expressions -----------------------------------------------------------------
    def visit_Var(self, v):
        if v not in self.defined:
            self.fail(f"variable {v.name} used outside its scope")

    def visit_Load(self, e):
        self.access(e.buffer, e.indices)
        self.default(e)

    def visit_AddressOf(self, e):
        if e.buffer not in self.buffers:
            self.fail(f"pointer into buffer {e.buffer.name} outside its allocation")
        self.visit(e.offset)

    def visit_TensorRead(self, e):
        self.fail(f"tensor read {e} survived lowering")

    def access(self, buf, indices) -> None:
        if buf not in self.buffers:
            self.fail(f"buffer {buf.name} accessed outside its allocation")
        want = 1 if self.flattened else len(buf.shape)
        if len(indices) != want:
            self.fail(f"buffer {buf.name} accessed with {len(indices)} indices, expected {want}")
        for i in indices:
            if not dt.is_int(i.dtype):
                self.fail(f"index {i} of {buf.name} has dtype {i.dtype}")

    # -- statements ------------------------------------------------------------------
    def visit_For(self, s):
        if s.kind not in T.LOOP_KINDS:
            self.fail(f"loop {s.var.name} has unknown kind {s.kind}")
        if not dt.is_int(s.extent.dtype) or dt.lanes(s.extent.dtype) != 1:
            self.fail(f"loop {s.var.name} extent {s.extent} is not a scalar int")
        self.visit(s.min)
        self.visit(s.extent)
        self.scoped(s.body, var=s.var)

    def visit_Store(self, s):
        self.access(s.buffer, s.indices)
        self.default(s)
        if dt.element(s.value.dtype) != dt.element(s.buffer.dtype):
            self.fail(f"store of {s.value.dtype} into {s.buffer.name}: {s.buffer.dtype}")

    def visit_Allocate(self, s):
        for x in s.buffer.shape:
            self.visit(x)
        self.scoped(s.body, buffer=s.buffer)

    def visit_LetStmt(self, s):
        self.visit(s.value)
        self.scoped(s.body, var=s.var)
