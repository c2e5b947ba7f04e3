"""The loop IR (statements), what lowering produces and backends consume.

    Stmt := For(var, min, extent, kind, body, thread)
                kind: serial | parallel | vectorized | unrolled | thread
                thread: the bound thread axis name ("blockIdx.x") or None
          | Store(buffer, indices, value)      buffer[indices] = value
          | Seq(stmts)
          | IfThenElse(cond, then_case, else_case)
          | Allocate(buffer, body)             buffer lives for body's extent
          | LetStmt(var, value, body)
          | Assert(cond, message, body)        used by bounds checking
          | Barrier()                          __syncthreads on the GPU
          | Nop()

    Buffer(name, dtype, shape, scope)          identity; scope: global | local | shared
    PrimFunc(name, params, body, size_vars)    params: Buffers in call order

Before flattening, Store and Load carry one index per buffer dimension; after
the flatten pass every buffer is 1-D and carries one (possibly vector) index.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .expr import Expr, Node, Var

LOOP_KINDS = ("serial", "parallel", "vectorized", "unrolled", "thread")


class Stmt(Node):
    """Base of statements."""

    def __str__(self):
        from .printer import stmt_str
        return stmt_str(self)

    __repr__ = __str__


@dataclass(frozen=True, eq=False, repr=False)
class Buffer(Node):
    name: str
    dtype: str
    shape: tuple          # of Expr
    scope: str = "global"

    def __hash__(self):
        return id(self)

    def __post_init__(self):
        object.__setattr__(self, "_identity", True)

    def __str__(self):
        return self.name

    __repr__ = __str__


@dataclass(frozen=True, eq=False, repr=False)
class For(Stmt):
    var: Var
    min: Expr
    extent: Expr
    kind: str
    body: Stmt
    thread: Optional[str] = None
    # (key, value) pairs from s[T].pragma(...): hints a backend may read (the LLVM
    # backend turns "llvm.loop.*" keys and unroll_explicit=False into loop metadata)
    annotations: tuple = ()


@dataclass(frozen=True, eq=False, repr=False)
class Store(Stmt):
    buffer: Buffer
    indices: tuple
    value: Expr


@dataclass(frozen=True, eq=False, repr=False)
class Seq(Stmt):
    stmts: tuple


@dataclass(frozen=True, eq=False, repr=False)
class IfThenElse(Stmt):
    cond: Expr
    then_case: Stmt
    else_case: Optional[Stmt] = None


@dataclass(frozen=True, eq=False, repr=False)
class Allocate(Stmt):
    buffer: Buffer
    body: Stmt

    @property
    def extents(self) -> tuple:
        """The allocation's shape (TVM's Allocate.extents)."""
        return self.buffer.shape


@dataclass(frozen=True, eq=False, repr=False)
class LetStmt(Stmt):
    var: Var
    value: Expr
    body: Stmt


@dataclass(frozen=True, eq=False, repr=False)
class Assert(Stmt):
    cond: Expr
    message: str
    body: Stmt


@dataclass(frozen=True, eq=False, repr=False)
class Barrier(Stmt):
    pass


@dataclass(frozen=True, eq=False, repr=False)
class Nop(Stmt):
    pass


@dataclass(frozen=True, eq=False, repr=False)
class PrimFunc(Node):
    """A lowered kernel: buffers in argument order, then the symbolic sizes."""
    name: str
    params: tuple         # of Buffer
    body: Stmt
    size_vars: tuple = ()  # of Var, bound from the argument shapes
    attrs: tuple = ()      # (key, value) pairs, e.g. ("target", "llvm")

    def attr(self, key, default=None):
        return dict(self.attrs).get(key, default)

    # TVM's lower returns an IRModule: mod["main"] is the function.  A lowered
    # function answers that spelling as a module holding only itself.
    def __getitem__(self, name):
        if name != self.name:
            raise KeyError(f"lowered module has no function {name!r}; it holds one "
                           f"function, {self.name!r}")
        return self

    @property
    def functions(self) -> dict:
        """The module's functions by name (TVM's IRModule.functions): this one."""
        return {self.name: self}

    def keys(self) -> list:
        """The names of the module's functions: this function's."""
        return [self.name]

    def __str__(self):
        from .printer import func_str
        return func_str(self)

    __repr__ = __str__


def seq(*stmts) -> Stmt:
    """A sequence with Nops dropped and nested Seqs flattened."""
    flat = []
    for s in stmts:
        if isinstance(s, Seq):
            flat.extend(s.stmts)
        elif s is not None and not isinstance(s, Nop):
            flat.append(s)
    if not flat:
        return Nop()
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))


@dataclass(frozen=True, eq=False, repr=False)
class Evaluate(Stmt):
    """Evaluate an expression for its side effects (a call to a C function)."""
    value: Expr
