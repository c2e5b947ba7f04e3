"""A stage's loop relations, read both ways: the extent of every axis (passed
down from the roots through splits and fuses) and each root's value over the
leaf loop vars (passed up), with the guards that non-divisible splits need.

    split i (extent 10) by 4 -> i.outer: 3, i.inner: 4;  i = i.outer*4 + i.inner,
                                guard i.outer*4 + i.inner < 10

A factor (or nparts) larger than its parent's constant extent is clipped to
it: split(factor=32) of an 8-long axis has an inner loop of 8, nparts=32 an
outer loop of 8, so neither allocates nor iterates past the axis.

Bound inference uses it to emit loops; rfactor uses it to rewrite a
reduction's body over the loops it factors out.
"""
from __future__ import annotations

from ..arith.simplify import simplify
from ..ir import expr as E
from .stage import Fuse, Singleton, Split


def leaf_maps(stage, root_extent: dict) -> tuple:
    """Extents of all axes (pass down) and root values over leaf vars (pass up)."""
    extent = dict(root_extent)
    guards = []
    for rel in stage.relations:
        if isinstance(rel, Split):
            pe = extent[rel.parent]
            if rel.factor is not None:
                extent[rel.inner] = _clipped(rel.factor, pe)
                extent[rel.outer] = simplify((pe + rel.factor - 1) // rel.factor)
            else:
                extent[rel.outer] = _clipped(rel.nparts, pe)
                extent[rel.inner] = simplify((pe + rel.nparts - 1) // rel.nparts)
        elif isinstance(rel, Singleton):
            extent[rel.iv] = E.const(1, rel.iv.var.dtype)
        else:
            extent[rel.fused] = simplify(extent[rel.outer] * extent[rel.inner])
    value = {iv: iv.var for iv in stage.leaf_iter_vars}
    for rel in reversed(stage.relations):
        if isinstance(rel, Singleton):
            continue
        if isinstance(rel, Split):
            v = value[rel.outer] * extent[rel.inner] + value[rel.inner]
            value[rel.parent] = v
            if not _divides(extent[rel.inner], extent[rel.parent], extent[rel.outer]):
                guards.append((rel.parent, v))
        else:
            ie = extent[rel.inner]
            value[rel.outer] = value[rel.fused] // ie
            value[rel.inner] = value[rel.fused] % ie
    return extent, value, guards


def _clipped(part, parent_extent):
    """A split's factor or nparts, at most the parent's extent when both are constants."""
    if isinstance(part, E.Const) and isinstance(parent_extent, E.Const) and \
            part.value > parent_extent.value:
        return E.const(max(parent_extent.value, 1), part.dtype)
    return part


def _divides(factor, total, outer) -> bool:
    prod = simplify(factor * outer - total)
    return E.is_const(prod, 0)


def data_dependent(stage) -> set:
    """The stage's axes whose value depends on a data root axis: the data axes, and
    reduction loops that fused a data axis in (fuse(i, k), as TVM allows).  A
    reduction's init runs over these loops."""
    out = {iv for iv in stage.op.axis}
    for rel in stage.relations:
        if isinstance(rel, Split) and rel.parent in out:
            out |= {rel.outer, rel.inner}
        elif isinstance(rel, Fuse) and (rel.outer in out or rel.inner in out):
            out.add(rel.fused)
    return out
