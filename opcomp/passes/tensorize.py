"""Lowering a tensorized stage: the loops from the tensorized axis inward become
the intrinsic's call, with its declared buffers bound to the blocks.

    C: xo, yo, ko, xi, yi, ki; s[C].tensorize(xi, gemm8x8)      (gemm8x8: reset + update)
    ->
    for xo in range(5):
      for yo in range(7):
        call_extern gemm_reset(&C[xo * 448 + yo * 8], 56)
        for ko in range(3):
          call_extern gemm_update(&C[xo * 448 + yo * 8], &A[xo * 768 + ko * 32],
                                  &B[ko * 1792 + yo * 8], 96, 56, 56)

With no reduction loop outside the region, the intrinsic's body replaces it
instead.  Matching is redone here with the final bounds (schedule/tensorize.py), so
a schedule changed after tensorize (an inline that changes the body, a
compute_at that adds a tail) is checked again.  This runs inside lowering
(lower.build_stage), before the IR passes: its output is ordinary loop IR
with Evaluate(call) statements.

An intrinsic whose calls are WMMA calls (passes/gpu_wmma.py) is the one kind
allowed on a CUDA target (and only there): its fragment operands get tile
offsets, and every operand's scope is checked against its role.
"""
from __future__ import annotations

from ..extern import bind_buffers, block_view
from ..ir import expr as E
from ..ir import tir as T
from ..ir.visit import free_vars
from ..schedule.tensorize import match_region
from .gpu_wmma import (TILE, check_operands, check_target, fragment_offset, is_fragment,
                       is_wmma_intrinsic)


def build_tensorized(st, ctx, nest, guarded) -> T.Stmt:
    """The loop nest of a tensorized stage (see the module docstring); nest and
    guarded are lower.py's loop and guard builders (passed in: passes never
    import lower)."""
    iv, intrin = st.tensorized
    wmma = is_wmma_intrinsic(intrin)
    if wmma:
        check_target(st, iv, intrin, ctx.target)
    elif ctx.target is not None and ctx.target.is_gpu:
        raise st._error("tensorize", iv, f"intrinsic {intrin.name} is a CPU call; the target "
                        f"is {ctx.target}")
    b = ctx.bounds[st]
    value = {r: b.root_min[r] + b.root_value[r] for r in b.root_min}
    m = match_region(st, iv, intrin, b.leaf_extent, value, b.guards, ctx.bodies[st])
    leaves = st.leaf_iter_vars
    pos = leaves.index(iv)
    inner = {x.var for x in leaves[pos:]}
    outer_guards = [g for g in b.guards if not (free_vars(g) & inner)]
    bindings = _bindings(st, ctx, intrin, m)
    where = f"tensorize of stage {st.name}"
    reset = None if intrin.reset is None else bind_buffers(intrin.reset, bindings[-1:], where)
    if not m.outer_reduce:
        call = bind_buffers(intrin.body, bindings, where) if intrin.body is not None else \
            T.seq(reset, bind_buffers(intrin.update, bindings, where))
        if wmma:
            check_operands(st, iv, call)
        return nest(leaves[:pos], guarded(outer_guards, call), st, ctx)
    first_red = leaves.index(m.outer_reduce[0])
    reduce_vars = {x.var for x in m.outer_reduce}
    init_guards = [g for g in outer_guards if not (free_vars(g) & reduce_vars)]
    data_mid = [x for x in leaves[first_red:pos] if x.kind == "data"]
    init = nest(data_mid, guarded(init_guards, reset), st, ctx, attach=False)
    update = bind_buffers(intrin.update, bindings, where)
    if wmma:
        check_operands(st, iv, T.seq(reset, update) if reset is not None else update)
    update = nest(leaves[first_red:pos], guarded(outer_guards, update), st, ctx)
    return nest(leaves[:first_red], T.seq(init, update), st, ctx)


def _bindings(st, ctx, intrin, m) -> list:
    """(declared buffer, real buffer, flat start, strides) for the inputs, then the output."""
    out = []
    by_intrin = {v: k for k, v in m.tensor_of.items()}
    for t, decl in zip(intrin.inputs, intrin.in_buffers):
        mine = by_intrin[t]
        out.append((decl,) + _view(ctx, mine, m.start[mine]))
    out.append((intrin.out_buffer,) + _view(ctx, st.op.output(0), m.out_start))
    return out


def _view(ctx, tensor, start) -> tuple:
    """block_view, except that a WMMA fragment buffer is an array of 16x16 tiles
    (passes/gpu_wmma.py): the block's offset is 256 * its tile's index."""
    real, flat, strides = block_view(ctx, tensor, start)
    if not is_fragment(real):
        return real, flat, strides
    rel = tuple(i - o for i, o in zip(start, ctx.offset(ctx.sch[tensor])))
    tile_strides = tuple(E.const(TILE if k == len(rel) - 2 else 1)   # a tile is 16x16
                         for k in range(len(rel)))
    return real, fragment_offset(real.shape, rel), tile_strides


__all__ = ["build_tensorized"]
