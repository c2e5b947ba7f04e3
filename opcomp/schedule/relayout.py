"""cache_write of a stage whose loops were already split, fused or reordered
(TVM's CacheWriteWithReLayout): the cache stage takes the stage's data loops,
in their current order, as its own axes, so its buffer is laid out like the
loop nest; the original stage becomes a plain copy over its root axes again.

    C[i, j] = A[i, j] * B[i, j];  split i by 4 -> (io, ii); reorder (io, j, ii)
    cache_write(C, "local"):
        C.local[io.c, j.c, ii.c] = A[io.c*4 + ii.c, j.c] * B[io.c*4 + ii.c, j.c]
        C[i, j] = C.local[i // 4, j, i % 4]

A non-divisible split pads the cache buffer; the padding is computed as zero
(a reduction there reduces nothing), as in TVM.  Reduction loops stay the
cache stage's reduction (their splits are dropped: the fresh stage starts over).
"""
from __future__ import annotations

import dataclasses

from ..arith.simplify import simplify
from ..ir import expr as E
from ..ir.visit import substitute
from .relations import leaf_maps
from .stage import Fuse, Singleton, Split


def relayout_axes(stage):
    """(new data axes of the cache stage, root var -> value over them, guards)."""
    op = stage.op
    roots = tuple(op.axis) + tuple(op.reduce_axis)
    extent, value, guards = leaf_maps(stage, {iv: iv.extent for iv in roots})
    new_axes, to_new = [], {}
    for iv in stage.leaf_iter_vars:
        if iv.kind == "reduce":
            continue
        new = E.IterVar(E.Var(iv.var.name + ".c", iv.var.dtype), E.const(0, iv.var.dtype),
                        extent[iv], "data")
        new_axes.append(new)
        to_new[iv.var] = new.var
    root_value = {iv.var: simplify(iv.min + substitute(value[iv], to_new)) for iv in op.axis}
    # a reduction's own split tails are guarded by its condition already (leaf_maps);
    # mixed data/reduction fuses are refused, so a split keeps its parent's kind
    conds = [simplify(substitute(v, to_new)) < extent[parent] for parent, v in guards
             if parent.kind == "data"]
    return new_axes, root_value, conds


def leaf_index(stage) -> tuple:
    """The stage's data leaf loops' values over its root axis vars (TVM's pass down):
    where the copy reads the relaid-out cache."""
    op = stage.op
    extent, _, _ = leaf_maps(stage, {r: r.extent for r in tuple(op.axis) + tuple(op.reduce_axis)})
    value = {iv: simplify(iv.var - iv.min) for iv in op.axis}
    for rel in stage.relations:
        if isinstance(rel, Singleton):
            value[rel.iv] = E.const(0, rel.iv.var.dtype)
        elif isinstance(rel, Split) and rel.parent in value:
            value[rel.outer] = simplify(value[rel.parent] // extent[rel.inner])
            value[rel.inner] = simplify(value[rel.parent] % extent[rel.inner])
        elif isinstance(rel, Fuse) and rel.outer in value and rel.inner in value:
            value[rel.fused] = simplify(value[rel.outer] * extent[rel.inner] + value[rel.inner])
    return tuple(value[iv] for iv in stage.leaf_iter_vars if iv.kind != "reduce")


def guarded_body(body, conds: list):
    """body where conds hold, else zero (a reduction: nothing reduced there)."""
    if not conds:
        return body
    cond = conds[0]
    for c in conds[1:]:
        cond = E.logical_and(cond, c)
    if isinstance(body, E.Reduce):
        both = cond if body.condition is None else E.logical_and(cond, body.condition)
        return dataclasses.replace(body, condition=both)
    return E.select(cond, body, E.const(0, body.dtype))


def needs_relayout(stage) -> bool:
    """Whether the stage's loops are no longer its root axes in definition order."""
    return bool(stage.relations) or \
        list(stage.leaf_iter_vars) != list(stage.op.axis) + list(stage.op.reduce_axis)
