"""Statements -> LLVM control flow: loops, branches, stores, temporaries, asserts.

A mixin for the function emitter.  Besides the expression mixins it needs
``self.fn`` (the LLVM function), ``self.heap`` (heap temporaries live at the
current point, freed on an early return), ``self.fail(code)`` (emit the
early return for a failed assert), ``self.alloca(type)`` (entry-block
stack slot) and ``self.parallel_loop(for_stmt)``.
"""
from __future__ import annotations

from contextlib import contextmanager

import llvmlite.ir as ir

from opcomp import dtype as dt
from opcomp.ir import tir as T
from opcomp.abi import OUT_OF_MEMORY

from .llvm_expr import const_value, is_contiguous
from .llvm_types import I32, I64, PTR, VOID, const, lanes_of, mem_type

MAX_UNROLL = 64
MAX_STACK_BYTES = 64 * 1024
ALIGN = 64
_MISSING = object()


@contextmanager
def bound(mapping, key, value):
    """mapping[key] = value for the duration of a with-block (scopes nest)."""
    old = mapping.get(key, _MISSING)
    mapping[key] = value
    try:
        yield
    finally:
        if old is _MISSING:
            del mapping[key]
        else:
            mapping[key] = old


class StmtMixin:
    """stmt(s): emit one statement at the builder's position."""

    def stmt(self, s):
        method = _DISPATCH.get(type(s))
        if method is None:
            raise NotImplementedError(f"LLVM backend: cannot compile {type(s).__name__} statements")
        method(self, s)

    def _seq(self, s):
        for child in s.stmts:
            self.stmt(child)

    def _nop(self, s):
        pass

    def _barrier(self, s):
        raise NotImplementedError("LLVM backend: Barrier (__syncthreads) exists only on GPU "
                                  "targets; build this schedule for 'cuda'")

    def _let(self, s):
        with bound(self.env, s.var, self.expr(s.value)):
            self.stmt(s.body)

    def _if(self, s):
        cond = self.expr(s.cond)
        if s.else_case is None:
            with self.b.if_then(cond):
                self.stmt(s.then_case)
            return
        with self.b.if_else(cond) as (then, otherwise):
            with then:
                self.stmt(s.then_case)
            with otherwise:
                self.stmt(s.else_case)

    def _assert(self, s):
        cond = self.expr(s.cond)
        if lanes_of(cond) > 1:
            cond = self.call_intrinsic("llvm.vector.reduce.and", [cond], ret=cond.type.element,
                                       overload=(cond.type,))
        fail = self.fn.append_basic_block("assert_fail")
        ok = self.fn.append_basic_block("assert_ok")
        self.b.cbranch(cond, ok, fail)
        self.b.position_at_end(fail)
        self.fail(ir.Constant(I32, self.ctx.assert_code(s)))
        self.b.position_at_end(ok)
        self.stmt(s.body)

    # -- stores ----------------------------------------------------------------------
    def _store(self, s):
        buf, (index,) = s.buffer, s.indices
        value = self.expr(s.value)
        lanes = dt.lanes(index.dtype)
        if lanes_of(value) != lanes:
            if lanes_of(value) != 1:
                raise ValueError(f"LLVM backend: store of a {lanes_of(value)}-lane value to "
                                 f"{buf.name} at a {lanes}-lane index")
            value = self.broadcast(value, lanes)
        if dt.is_bool(buf.dtype):
            value = self.b.zext(value, ir.VectorType(mem_type(buf.dtype), lanes) if lanes > 1
                                else mem_type(buf.dtype))
        align = dt.itemsize(buf.dtype)
        if lanes == 1:
            self.b.store(value, self.element_ptr(buf, index), align=align)
        elif is_contiguous(index):
            self.b.store(value, self.contiguous_ptr(buf, index), align=align)
        else:
            self.scatter(value, self.element_ptr(buf, index), align)

    # -- loops -----------------------------------------------------------------------
    def _for(self, s):
        if s.kind == "thread":
            raise NotImplementedError(
                f"LLVM backend: loop {s.var.name} is bound to GPU thread axis {s.thread!r}; "
                "thread-bound loops need a GPU target ('cuda')")
        if s.kind == "parallel" and not self.in_parallel:
            return self.parallel_loop(s)
        extent = const_value(s.extent)
        if s.kind == "unrolled" and extent is not None and extent <= MAX_UNROLL:
            return self._unrolled(s, extent)
        # serial, vectorized (left over), unrolled with a large or symbolic extent,
        # and parallel loops nested in a parallel body run as plain loops.
        return self.serial_loop(s.var, self.loop_bound(s.min, s.var),
                                self.loop_bound(s.extent, s.var), s.body,
                                metadata=self.loop_metadata(getattr(s, "annotations", ())))

    def loop_metadata(self, annotations):
        """llvm.loop metadata for a loop's pragma annotations (see schedule/storage.py):
        "llvm.loop.*" keys pass through, unroll_explicit=False asks LLVM to unroll;
        other keys are ignored.  None when nothing applies."""
        items = []
        for key, value in annotations:
            if key == "unroll_explicit" and value is False:
                key, value = "llvm.loop.unroll.enable", None
            if not key.startswith("llvm.loop."):
                continue
            ops = [ir.MetaDataString(self.module, key)]
            if isinstance(value, bool):
                ops.append(ir.Constant(ir.IntType(1), int(value)))
            elif isinstance(value, int):
                ops.append(ir.Constant(I32, value))
            elif isinstance(value, str):
                ops.append(ir.MetaDataString(self.module, value))
            items.append(self.module.add_metadata(ops))
        if not items:
            return None
        loop_id = self.module.add_metadata([None] + items)
        loop_id.operands = (loop_id,) + tuple(items)       # a loop ID names itself
        return loop_id

    def loop_bound(self, e, var):
        """A loop min/extent as a value of the loop variable's type."""
        return self.cast(self.expr(e), e.dtype, var.dtype)

    def _unrolled(self, s, extent):
        lo = self.loop_bound(s.min, s.var)
        for k in range(extent):
            if isinstance(lo, ir.Constant):       # keep copies' indices literal
                value = const(lo.type, lo.constant + k)
            else:
                value = self.b.add(lo, const(lo.type, k)) if k else lo
            with bound(self.env, s.var, value):
                self.stmt(s.body)

    def serial_loop(self, var, lo, extent, body, name=None, metadata=None):
        """for var in [lo, lo + extent): body  (a counted loop with a phi); metadata:
        the llvm.loop node for its back edge, or None."""
        name = name or var.name
        hi = self.b.add(lo, extent)
        pre = self.b.block
        head = self.fn.append_basic_block(f"{name}.head")
        loop = self.fn.append_basic_block(f"{name}.body")
        done = self.fn.append_basic_block(f"{name}.end")
        self.b.branch(head)
        self.b.position_at_end(head)
        i = self.b.phi(lo.type, name=name)
        i.add_incoming(lo, pre)
        self.b.cbranch(self.b.icmp_signed("<", i, hi), loop, done)
        self.b.position_at_end(loop)
        with bound(self.env, var, i):
            self.stmt(body)
        # nsw: i < hi, so i + 1 cannot wrap; lets LLVM widen the index to i64.
        nxt = self.b.add(i, const(i.type, 1), flags=("nsw",))
        i.add_incoming(nxt, self.b.block)
        latch = self.b.branch(head)
        if metadata is not None:
            latch.set_metadata("llvm.loop", metadata)
        self.b.position_at_end(done)

    # -- temporaries -----------------------------------------------------------------
    def _allocate(self, s):
        buf = s.buffer
        elem = mem_type(buf.dtype)
        sizes = [const_value(d) for d in buf.shape]
        if all(isinstance(n, int) for n in sizes):
            count = 1
            for n in sizes:
                count *= n
            if count * dt.itemsize(buf.dtype) <= MAX_STACK_BYTES:
                ptr = self.alloca(ir.ArrayType(elem, max(count, 1)), buf.name)
                with bound(self.bufs, buf, ptr):
                    self.stmt(s.body)
                return
        self._heap_allocate(s)

    def _heap_allocate(self, s):
        buf = s.buffer
        nbytes = const(I64, dt.itemsize(buf.dtype))
        for d in buf.shape:
            nbytes = self.b.mul(nbytes, self.index64(d))
        # aligned_alloc wants a size that is a multiple of the alignment.
        nbytes = self.b.and_(self.b.add(nbytes, const(I64, ALIGN - 1)), const(I64, -ALIGN))
        alloc = self.declare("aligned_alloc", PTR, [I64, I64])
        ptr = self.b.call(alloc, [const(I64, ALIGN), nbytes], name=buf.name)
        self._fail_if_null(ptr)
        self.heap.append(ptr)
        with bound(self.bufs, buf, ptr):
            self.stmt(s.body)
        self.heap.pop()
        self.free(ptr)

    def _fail_if_null(self, ptr):
        """Out of memory is an error the caller sees (OUT_OF_MEMORY), not a crash."""
        fail = self.fn.append_basic_block("alloc_fail")
        ok = self.fn.append_basic_block("alloc_ok")
        is_null = self.b.icmp_unsigned("==", ptr, ir.Constant(PTR, None))
        self.b.cbranch(is_null, fail, ok)
        self.b.position_at_end(fail)
        self.fail(ir.Constant(I32, OUT_OF_MEMORY))
        self.b.position_at_end(ok)

    def free(self, ptr):
        self.b.call(self.declare("free", VOID, [PTR]), [ptr])


def entry_alloca(fn: ir.Function, t: ir.Type, name: str):
    """A 64-byte aligned stack slot in fn's entry block (outside every loop).

    The entry block holds only allocas and a branch, so inserting here never
    shifts the position of the builder that emits the code.
    """
    b = ir.IRBuilder()
    b.position_before(fn.entry_basic_block.terminator)
    slot = b.alloca(t, name=name)
    slot.align = ALIGN
    slot.type = PTR          # llvmlite types allocas as typed pointers; kernels use opaque ones
    return slot


_DISPATCH = {
    T.Seq: StmtMixin._seq, T.Nop: StmtMixin._nop, T.Barrier: StmtMixin._barrier,
    T.LetStmt: StmtMixin._let, T.IfThenElse: StmtMixin._if, T.Assert: StmtMixin._assert,
    T.Store: StmtMixin._store, T.For: StmtMixin._for, T.Allocate: StmtMixin._allocate,
    T.Evaluate: lambda self, s: self.expr(s.value),      # a call for its side effects
}
