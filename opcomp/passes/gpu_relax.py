"""Bound inference on the GPU: a stage's region spans the threads that share its storage.

Bound inference (infer_bound.py) relaxes the loops *inside* a stage's attach
point.  On a GPU the loops *around* it that are bound to thread axes also vary
within one copy of a buffer, depending on where the buffer lives:

    scope    shared by                 relaxed over the bound loops around it
    local    one thread                nothing
    warp     the lanes of a warp       threadIdx.x
    shared   the threads of a block    threadIdx.*
    global   every thread              threadIdx.* and blockIdx.*

The classic GEMM stages A.shared at the reduction's outer loop, inside C's
block (64 rows) and thread (8 rows each) loops.  Relaxing threadIdx.y over its
8 values turns the one-thread region [by*64 + ty*8, +8) into the block's
[by*64, +64): the tile every thread of the block reads.

A stage left at the default scope ("global") but computed at a loop inside a
kernel gets the scope TVM infers: local under a threadIdx loop, else shared
under a blockIdx loop (gpu_storage.py gives its buffer that scope).

This module only reads stages (duck-typed: attach_stage, attach_ivar,
leaf_iter_vars, annotations, scope); infer_bound calls
``thread_relaxed_ranges`` for every consumer of an attached stage.
"""
from __future__ import annotations

from ..ir import expr as E

# The thread-axis kinds each storage scope spans (TVM: storage rank <= thread rank).
SPANS = {"local": (), "shared": ("threadIdx",), "global": ("blockIdx", "threadIdx"),
         "warp": ("threadIdx.x",)}     # TVM's warp memory: the lanes of one warp


def enclosing_bound_loops(stage) -> list:
    """(owner stage, IterVar, tag) of the thread-bound loops around stage's attach
    point, innermost stage first: the attach target's loops up to and including
    the attach loop, then the same for the target's own attach point, and so on."""
    out = []
    child = stage
    parent = stage.attach_stage if stage.attach_type == "scope" else None
    while parent is not None:
        pos = parent.leaf_iter_vars.index(child.attach_ivar)
        for iv in parent.leaf_iter_vars[:pos + 1]:
            kind, tag = parent.annotations.get(iv, (None, None))
            if kind == "thread":
                out.append((parent, iv, tag))
        child = parent
        parent = parent.attach_stage if parent.attach_type == "scope" else None
    return out


def effective_scope(stage) -> str:
    """The stage's storage scope; a default ("global") attached stage inside a
    kernel gets local under threadIdx, shared under blockIdx only (as TVM infers)."""
    if stage.scope != "global" or stage.attach_type != "scope":
        return stage.scope
    kinds = {tag.split(".")[0] for _, _, tag in enclosing_bound_loops(stage)}
    if "threadIdx" in kinds:
        return "local"
    return "shared" if "blockIdx" in kinds else "global"


def thread_relaxed_ranges(stage, done: dict) -> dict:
    """Var -> (0, extent) for the bound loops around stage that its scope spans.

    done: StageBounds of the stages already inferred (every enclosing one is)."""
    spans = SPANS.get(effective_scope(stage), ())
    out = {}
    for owner, iv, tag in enclosing_bound_loops(stage):
        if (tag in spans or tag.split(".")[0] in spans) and owner in done:
            out[iv.var] = (E.const(0, iv.var.dtype), done[owner].leaf_extent[iv])
    return out


def same_thread_aliases(stage, inner_loops) -> dict:
    """Var -> Var for thread-bound loops *inside* stage's attach point that its
    scope does not span (a local stage under a loop bound to threadIdx.x): such a
    loop runs on the same thread index as the enclosing loop bound to that tag, so
    it stands for that loop's var instead of being relaxed (TVM's NeedRelax).

    inner_loops: (owner stage, IterVar) of the loops inside the attach point."""
    spans = SPANS.get(effective_scope(stage), ())
    around = {tag: iv for _, iv, tag in reversed(enclosing_bound_loops(stage))}
    out = {}
    for owner, iv in inner_loops:
        kind, tag = owner.annotations.get(iv, (None, None))
        if kind != "thread" or tag in spans or tag.split(".")[0] in spans:
            continue
        if tag in around:
            out[iv.var] = around[tag].var
    return out
