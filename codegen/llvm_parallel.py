"""Parallel loops: outline the body, hand it to the runtime's thread pool.

    parallel for i in [lo, lo + n): body
->
    closure = {i32 err, captured values..., lo}     (caller's stack)
    opcomp_parallel_for(@f_par<k>, &closure, n)
    if closure.err: return closure.err

``@f_par<k>(i64 task, ptr closure)`` loads the captured values and calls
``@f_par<k>_body(i64 task, ptr err, ...)``, which takes the buffers as
``noalias`` arguments: once LLVM inlines it (it is alwaysinline), that turns
into alias metadata, so the body optimizes as well as the outer function does.
"""
from __future__ import annotations

import llvmlite.ir as ir

from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.abi import PARALLEL_FOR
from opcomp.ir.visit import walk

from .llvm_types import I32, I64, PTR, VOID, mark_noalias

RUNTIME_PARALLEL_FOR = PARALLEL_FOR


class ParallelMixin:
    """parallel_loop(for_stmt) for the function emitter."""

    def parallel_loop(self, s):
        lo = self.loop_bound(s.min, s.var)
        n = self.index64(s.extent, self.expr(s.extent))
        captured = self._captures(s)
        values = [self._captured_value(k) for k in captured] + [lo]
        closure_t = ir.LiteralStructType([I32] + [v.type for v in values])
        closure = self.alloca(closure_t, f"{s.var.name}.closure")
        self.b.store(ir.Constant(I32, 0), self._field(closure, 0))
        for k, v in enumerate(values, start=1):
            self.b.store(v, self._field(closure, k))
        task_fn = self._outline(s, captured, values, closure_t)
        n = self.call_intrinsic("llvm.smax", [n, ir.Constant(I64, 0)])
        runtime = self.declare(RUNTIME_PARALLEL_FOR, VOID, [PTR, PTR, I64])
        self.b.call(runtime, [task_fn, closure, n])
        err = self.b.load(self._field(closure, 0), typ=I32)
        with self.b.if_then(self.b.icmp_signed("!=", err, ir.Constant(I32, 0)), likely=False):
            self.fail(err)

    def _field(self, closure, k):
        zero = ir.Constant(I32, 0)
        return self.b.gep(closure, [zero, ir.Constant(I32, k)], source_etype=closure.allocated_type)

    def _captures(self, s):
        """Vars and buffers the loop body uses that are defined outside it, in first-use order.

        Vars bound to constants (unrolled loop copies) are not captured: the
        outlined body gets the constant itself.
        """
        found = {}

        def visit(n):
            if isinstance(n, E.Var) and n is not s.var and n in self.env:
                if not isinstance(self.env[n], ir.Constant):
                    found[n] = None
            elif isinstance(n, (E.Load, T.Store, E.AddressOf)) and n.buffer in self.bufs:
                found[n.buffer] = None
            if isinstance(n, T.Allocate):       # symbolic sizes of inner temporaries
                walk(n.buffer.shape, visit)
        walk(s.body, visit)
        return list(found)

    def _captured_value(self, key):
        return self.bufs[key] if isinstance(key, T.Buffer) else self.env[key]

    def _outline(self, s, captured, values, closure_t):
        ctx = self.ctx
        name = ctx.fresh_name(f"{ctx.func.name}_par")
        body_fn = self._outline_body(s, captured, values, f"{name}_body")
        task_fn = ctx.new_function(name, ir.FunctionType(VOID, [I64, PTR]), internal=True)
        task, closure = task_fn.args
        b = ir.IRBuilder(task_fn.append_basic_block("entry"))
        field = [b.gep(closure, [ir.Constant(I32, 0), ir.Constant(I32, k)], source_etype=closure_t)
                 for k in range(len(values) + 1)]
        args = [task, field[0]] + [b.load(p, typ=v.type) for p, v in zip(field[1:], values)]
        b.call(body_fn, args)
        b.ret_void()
        return task_fn

    def _outline_body(self, s, captured, values, name):
        """The loop body as a function of (task, err slot, captured..., lo)."""
        from .llvm_emit import FunctionEmitter
        ctx = self.ctx
        fnty = ir.FunctionType(VOID, [I64, PTR] + [v.type for v in values])
        fn = ctx.new_function(name, fnty, internal=True, extra_attrs=("alwaysinline",))
        task, err = fn.args[:2]
        em = FunctionEmitter(ctx, fn, in_parallel=True, fail=_store_error(err))
        for key, arg in zip(captured, fn.args[2:]):
            arg.name = key.name
            if isinstance(key, T.Buffer):
                mark_noalias(arg)
                em.bufs[key] = arg
            else:
                em.env[key] = arg
        em.env.update({k: v for k, v in self.env.items() if isinstance(v, ir.Constant)})
        lo = fn.args[-1]
        i = em.b.add(lo, em.b.trunc(task, lo.type) if lo.type.width < 64 else task,
                     name=s.var.name)
        em.env[s.var] = i
        em.stmt(s.body)
        em.b.ret_void()
        return fn


def _store_error(err_slot):
    """A failed assert in a task: record its code for the caller and end the task."""
    def fail(em, code):
        # Tasks may fail concurrently: an atomic write keeps that race defined.
        em.b.atomic_rmw("xchg", err_slot, code, "monotonic")
        em.b.ret_void()
    return fail

