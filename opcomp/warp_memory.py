"""Lowering of warp-scope buffers (set_scope("warp"), TVM's warp memory).

A warp buffer is shared by the lanes of one warp: bound inference relaxes its
region over threadIdx.x only (passes/gpu_relax.py).  On CUDA it is stored in
shared memory with one slice per warp-sized group of the block, the slice
picked by the other thread indices around the stage; on the CPU, where no
loop is bound to a thread, it is a local buffer.

    s[A1].set_scope("warp"), computed inside A2's loops bound to threadIdx.y (2)
    and threadIdx.x (16):   A1: shared float32[2, 16], written and read at
    A1[threadIdx.y, threadIdx.x]
"""
from __future__ import annotations

from .arith.simplify import simplify
from .ir import expr as E
from .passes.gpu_relax import enclosing_bound_loops


def warp_slices(st, bounds: dict) -> tuple:
    """(slice count, slice index) of a warp-scope stage on a GPU: the thread-bound
    loops around it other than threadIdx.x (blocks have their own shared memory)."""
    count, index = E.const(1), E.const(0)
    for owner, iv, tag in enclosing_bound_loops(st):
        if not tag.startswith("threadIdx") or tag == "threadIdx.x":
            continue
        extent = bounds[owner].leaf_extent[iv]
        index = simplify(index * extent + iv.var)
        count = simplify(count * extent)
    return count, index


def warp_buffer_scope(target) -> str:
    """Where a warp-scope buffer lives on target."""
    return "shared" if target is not None and target.is_gpu else "local"
