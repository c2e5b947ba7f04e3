"""Bound inference: the range of every stage's root axes, and leaf-to-root maps.

A stage at root covers its whole domain.  A stage P computed at loop `iv` of
stage C covers, per axis, the region C reads within one iteration of `iv`:
the loops of C inside `iv` are relaxed over their ranges, the loops outside
stay symbolic.  For C = A.local read as A.local[xo*8 + xi] with xi in [0, 8):

    region of A.local axis 0 = [xo*8, xo*8 + 8)

The region may reach past P's domain at a tail; lowering guards P's loops with
the domain so nothing out of bounds is computed.
"""
from __future__ import annotations

from dataclasses import dataclass

from .ir import expr as E
from .arith.interval import symbolic_bound
from .schedule.stage import Fuse, ScheduleError, Split
from .arith.simplify import simplify
from .ir.visit import substitute, walk


@dataclass
class StageBounds:
    """What lowering needs to emit one stage's loops."""
    root_min: dict        # root IterVar -> Expr (region start, absolute)
    root_extent: dict     # root IterVar -> Expr
    leaf_extent: dict     # IterVar (any) -> Expr
    root_value: dict      # root IterVar -> Expr over leaf vars (relative to root_min)
    guards: list          # conditions (Expr) the split tails need


def leaf_maps(stage, root_extent: dict) -> tuple:
    """Extents of all axes (pass down) and root values over leaf vars (pass up)."""
    extent = dict(root_extent)
    guards = []
    for rel in stage.relations:
        if isinstance(rel, Split):
            pe = extent[rel.parent]
            if rel.factor is not None:
                extent[rel.inner] = rel.factor
                extent[rel.outer] = simplify((pe + rel.factor - 1) // rel.factor)
            else:
                extent[rel.outer] = rel.nparts
                extent[rel.inner] = simplify((pe + rel.nparts - 1) // rel.nparts)
        else:
            extent[rel.fused] = simplify(extent[rel.outer] * extent[rel.inner])
    value = {iv: iv.var for iv in stage.leaf_iter_vars}
    for rel in reversed(stage.relations):
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


def _divides(factor, total, outer) -> bool:
    prod = simplify(factor * outer - total)
    return E.is_const(prod, 0)


def infer_bounds(sch, effective_bodies: dict) -> dict:
    """StageBounds for every stage that gets loops, consumers before producers."""
    result: dict = {}
    for st in reversed(sch.stages):
        if st.is_placeholder or st.attach_type == "inline":
            continue
        result[st] = _stage_bounds(sch, st, result, effective_bodies)
    return result


def _stage_bounds(sch, st, done: dict, bodies: dict) -> StageBounds:
    roots = tuple(st.op.axis) + tuple(st.op.reduce_axis)
    rmin = {iv: iv.min for iv in roots}
    rext = {iv: iv.extent for iv in roots}
    if st.attach_type == "scope":
        region = _region(sch, st, done, bodies)
        for iv, (lo, ext) in zip(st.op.axis, region):
            rmin[iv], rext[iv] = lo, ext
    extent, value, split_guards = leaf_maps(st, rext)
    guards = [simplify(v < extent[iv]) for iv, v in split_guards]
    for iv in roots:
        value.setdefault(iv, iv.var)
    guards += _domain_guards(st, rmin, rext, value, done)
    return StageBounds(rmin, rext, extent, value, guards)


def _domain_guards(st, rmin, rext, value, done) -> list:
    """An attached stage's region can pass its domain's edge at a tail: guard it."""
    if st.attach_type != "scope":
        return []
    ranges = _enclosing_ranges(st, done)
    out = []
    for iv in st.op.axis:
        absolute = rmin[iv] + value[iv]
        for cond in (absolute >= iv.min, absolute < iv.min + iv.extent):
            from .arith.interval import prove
            leaf_ranges = dict(ranges)
            leaf_ranges.update(_leaf_ranges(st, rext))
            if not prove(cond, leaf_ranges):
                out.append(simplify(cond))
    return out


def _leaf_ranges(st, rext) -> dict:
    extent, _, _ = leaf_maps(st, rext)
    return {iv.var: (E.const(0), extent[iv]) for iv in st.leaf_iter_vars}


def _enclosing_ranges(st, done) -> dict:
    """Ranges of the loop vars around an attached stage (all levels up)."""
    ranges = {}
    parent = st.attach_stage
    while parent is not None and parent in done:
        b = done[parent]
        for iv in parent.leaf_iter_vars:
            ranges[iv.var] = (E.const(0), b.leaf_extent[iv])
        parent = parent.attach_stage
    return ranges


def _region(sch, st, done, bodies) -> list:
    """(min, extent) per data axis of st: what its consumer reads inside the attach loop."""
    target, ivar = st.attach_stage, st.attach_ivar
    consumers = [c for c in done if _reads_directly(sch, bodies[c], st)]
    if consumers != [target]:
        names = ", ".join(c.name for c in consumers) or "none"
        raise ScheduleError(f"compute_at: stage {st.name}, axis {ivar.name}: stage {st.name} is "
                            f"read by {names}, but compute_at needs {target.name} to be its only "
                            f"consumer; loops of {st.name}: {st.loops_str()}")
    tb = done[target]
    inner = target.leaf_iter_vars[target.leaf_iter_vars.index(ivar) + 1:]
    relax = {iv.var: (E.const(0), tb.leaf_extent[iv]) for iv in inner}
    root_sub = {iv.var: tb.root_min[iv] + tb.root_value[iv] for iv in tb.root_value
                if iv in tb.root_min}
    reads = _reads_of(bodies[target], st)
    region = []
    for k, iv in enumerate(st.op.axis):
        los, his = [], []
        for idx in reads:
            e = simplify(substitute(idx[k], root_sub))
            lo, hi = symbolic_bound(e, relax)
            los.append(lo)
            his.append(hi)
        lo, hi = _union(los, his)
        region.append((lo, simplify(hi - lo + 1)))
    return region


def _union(los, his):
    lo, hi = los[0], his[0]
    for a, b in zip(los[1:], his[1:]):
        lo, hi = simplify(E.minimum(lo, a)), simplify(E.maximum(hi, b))
    return lo, hi


def _reads_of(body, st) -> list:
    out = []
    walk(body, lambda n: out.append(n.indices) if isinstance(n, E.TensorRead)
         and st.schedule.stage_map.get(n.tensor.op) is st else None)
    return out


def _reads_directly(sch, body, st) -> bool:
    return bool(_reads_of(body, st))
