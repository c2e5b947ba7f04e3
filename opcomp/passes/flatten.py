"""Storage flattening: multi-dimensional accesses become one row-major index.

    A[i, j]  with A: float32[64, 32]   ->   A[i * 32 + j]

Allocated buffers become 1-D; parameter buffers keep their logical shape (the
runtime checks arguments against it) but are accessed with one index.  The
index is int64 when the buffer can hold 2^31 elements or more (symbolic
shapes included), int32 otherwise.
"""
from __future__ import annotations

from dataclasses import replace

from ..ir import expr as E
from ..ir import tir as T
from ..arith.interval import const_bound
from ..arith.simplify import simplify
from ..ir.visit import Mutator

INT32_LIMIT = 2**31 - 1


def index_dtype(buf: T.Buffer) -> str:
    """int32 when every element offset provably fits, else int64."""
    size = E.const(1, "int64")
    for s in buf.shape:
        size = size * E.cast(s, "int64")
    _, hi = const_bound(simplify(size))
    return "int32" if hi is not None and hi <= INT32_LIMIT else "int64"


def flat_index(buf: T.Buffer, indices) -> E.Expr:
    if len(indices) == 1 and len(buf.shape) == 1:
        return E.cast(indices[0], index_dtype(buf))
    idt = index_dtype(buf)
    flat = E.const(0, idt)
    for k, i in enumerate(indices):
        stride = E.const(1, idt)
        for s in buf.shape[k + 1:]:
            stride = stride * E.cast(s, idt)
        flat = flat + E.cast(i, idt) * stride
    return simplify(flat)


def _flat_buffer(buf: T.Buffer) -> T.Buffer:
    size = E.const(1, index_dtype(buf))
    for s in buf.shape:
        size = size * E.cast(s, size.dtype)
    return T.Buffer(buf.name, buf.dtype, (simplify(size),), buf.scope)


def flatten_storage(func: T.PrimFunc) -> T.PrimFunc:
    """Every access gets one row-major index; allocations become 1-D (see above)."""
    return replace(func, body=Flattener().visit(func.body))


class Flattener(Mutator):
    def __init__(self):
        self.allocs: dict = {}          # allocated buffer -> its 1-D form

    def visit_Allocate(self, s):
        self.allocs[s.buffer] = _flat_buffer(s.buffer)
        return T.Allocate(self.allocs[s.buffer], self.visit(s.body))

    def visit_Store(self, s):
        idx = (flat_index(s.buffer, tuple(self.visit(i) for i in s.indices)),)
        return T.Store(self.allocs.get(s.buffer, s.buffer), idx, self.visit(s.value))

    def visit_Load(self, e):
        idx = (flat_index(e.buffer, tuple(self.visit(i) for i in e.indices)),)
        return E.Load(self.allocs.get(e.buffer, e.buffer), idx, e.dtype)

    def visit_AddressOf(self, e):
        # the offset is already in storage order; only an allocation's buffer changes
        offset = E.cast(self.visit(e.offset), "int64")
        return E.AddressOf(self.allocs.get(e.buffer, e.buffer), offset)
