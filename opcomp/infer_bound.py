"""Bound inference: the range of every stage's root axes, and leaf-to-root maps.

A stage at root covers its whole domain.  A stage P computed at loop `iv` of
stage C covers, per axis, the region C reads within one iteration of `iv`:
the loops of C inside `iv` are relaxed over their ranges, the loops outside
stay symbolic.  For C = A.local read as A.local[xo*8 + xi] with xi in [0, 8):

    region of A.local axis 0 = [xo*8, xo*8 + 8)

P may have several consumers when all of them run inside `iv` (C itself, or
stages computed at `iv` or deeper, as TVM allows): its region is the union of
what each reads there.  In a softmax with E = exp(X - M) read by S = sum(E)
and Y = E / S, E and S both computed at Y's row loop i:

    region of E = [i, i + 1) x [0, L)      (Y reads row i, S reads row i)

The region is cut back to P's domain where that is provable (a consumer's
guarded reads past the edge, as a factored reduction's tail makes); where it may
still reach past the domain at a tail, lowering guards P's loops with the
domain so nothing out of bounds is computed.

infer_bound(s) gives every loop's range in TVM's spelling (a Range with .min
and .extent per IterVar).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import dtype as dt
from .convert import Map
from .ir import expr as E
from .arith.interval import prove, symbolic_bound
from .schedule.relations import leaf_maps
from .schedule.stage import ScheduleError
from .arith.simplify import simplify
from .ir.visit import rewrite, substitute, walk


@dataclass
class StageBounds:
    """What lowering needs to emit one stage's loops."""
    root_min: dict        # root IterVar -> Expr (region start, absolute)
    root_extent: dict     # root IterVar -> Expr
    leaf_extent: dict     # IterVar (any) -> Expr
    root_value: dict      # root IterVar -> Expr over leaf vars (relative to root_min)
    guards: list          # conditions (Expr) the split tails need


Range = E.Range     # a loop's range [min, min + extent), as TVM's infer_bound gives it


def infer_bound(sch) -> "Map":
    """Every loop variable of every stage that gets loops -> its Range (TVM's spelling).

    Root axes of a stage computed at another get the region its consumers read
    there (min may depend on the enclosing loops); split and fused axes start at 0."""
    out = {}
    for st, b in infer_bounds(sch, effective_bodies(sch)).items():
        for iv in st.all_iter_vars:
            if iv in b.root_min:
                out[iv] = Range(b.root_min[iv], b.root_extent[iv])
            elif iv in b.leaf_extent:
                out[iv] = Range(E.const(0, iv.var.dtype), b.leaf_extent[iv])
        if hasattr(st.op, "scan_axis"):     # the scan's loop runs the steps after the init
            first = st.op.init.shape[0]
            out[st.op.scan_axis] = Range(first, simplify(st.op.shape[0] - first))
    return Map(out)


def effective_bodies(sch) -> dict:
    """Each stage that gets loops -> its body with inlined producers substituted in."""
    return {st: _effective_body(sch, st) for st in sch.stages
            if not st.is_placeholder and st.attach_type != "inline"}


def _effective_body(sch, st) -> E.Expr:
    def fn(n):
        if isinstance(n, E.TensorRead):
            src = sch.stage_map.get(n.tensor.op)
            if src is not None and src.attach_type == "inline":
                inner = _effective_body(sch, src)
                return substitute(inner, {iv.var: i for iv, i in zip(src.op.axis, n.indices)})
        return None
    if getattr(st.op, "num_outputs", 1) > 1:       # a tuple-returning compute: every body
        return tuple(rewrite(b, fn) for b in st.op.bodies)
    return rewrite(st.op.bodies[0], fn)


def infer_bounds(sch, effective_bodies: dict) -> dict:
    """StageBounds for every stage that gets loops, consumers before producers."""
    from .schedule.scan_group import scan_members
    members = scan_members(sch)
    result: dict = {}
    for st in reversed(sch.stages):
        if st.is_placeholder or st.attach_type == "inline":
            continue
        result[st] = _stage_bounds(sch, st, result, effective_bodies, st in members)
    return result


def _stage_bounds(sch, st, done: dict, bodies: dict, in_scan=False) -> StageBounds:
    roots = tuple(st.op.axis) + tuple(st.op.reduce_axis)
    rmin = {iv: iv.min for iv in roots}
    rext = {iv: iv.extent for iv in roots}
    if st.attach_type == "scope" or in_scan:
        region = _scan_step_region(sch, st, done, bodies) if in_scan else \
            _region(sch, st, done, bodies)
        for iv, (lo, ext) in zip(st.op.axis, region):
            rmin[iv], rext[iv] = lo, ext
    if st.attach_type == "scan":          # one step of a scan's update (scan.py)
        st.attach_stage.op.restrict_update(st, rmin, rext)
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
    """(min, extent) per data axis of st: the union of what its consumers read
    within one iteration of the attach loop.

    Every consumer must run inside that loop (the target itself, or a stage
    attached under it); a consumer's loops inside the attach loop, and those of
    the stages it hangs from there, are relaxed over their ranges."""
    consumers = [c for c in done if _reads_directly(sch, bodies[c], st)]
    _check_init_reads(st, bodies)
    los, his = [[] for _ in st.op.axis], [[] for _ in st.op.axis]
    for c in consumers:
        relax, same_thread = _inside_attach_loop(sch, st, c, done)
        b = done[c]
        root_sub = {iv.var: b.root_min[iv] + b.root_value[iv] for iv in b.root_value
                    if iv in b.root_min}
        _bound_reads(bodies[c], st, (root_sub, same_thread), relax, los, his)
    outer = _enclosing_ranges(st, done)
    region = []
    for iv, lo_k, hi_k in zip(st.op.axis, los, his):
        lo, hi = _clip(iv, *_union(lo_k, hi_k), outer)
        region.append((lo, simplify(hi - lo + 1)))
    return region


def _bound_reads(body, st, subs: tuple, relax: dict, los: list, his: list) -> None:
    """Append to los[k]/his[k] the bounds of axis k of every read of st in body,
    after each substitution of subs in turn, with the vars of relax relaxed."""
    for idx in _reads_of(body, st):
        for k in range(len(st.op.axis)):
            at = idx[k]
            for sub in subs:
                at = substitute(at, sub)
            at = simplify(at)
            positive = _positive_divisors(at, relax)
            lo, hi = symbolic_bound(at, {**relax, **positive}, keep=frozenset(positive))
            los[k].append(lo)
            his[k].append(hi)


def _positive_divisors(e, relax) -> dict:
    """Var -> a positive range, for the vars of e's symbolic divisors that are not
    relaxed (l in fused // l): an index's divisor is a loop extent or a split factor
    (checked positive at run time), so dividing by it is monotone (arith.symbolic)."""
    found = []

    def visit(n):
        if isinstance(n, E.Binary) and n.op in ("floordiv", "floormod") and \
                not isinstance(n.b, E.Const):
            walk(n.b, lambda v: found.append(v) if isinstance(v, E.Var) else None)
    walk(e, visit)
    return {v: (E.const(1, v.dtype), E.const(2**31 - 2, v.dtype)) for v in found
            if v not in relax and dt.is_int(v.dtype)}


def _check_init_reads(st, bodies) -> None:
    """A reduction's init= is stored before its reduction loops open: a stage it
    reads cannot be computed at or inside one of them (not computed yet there)."""
    target, ivar = st.attach_stage, st.attach_ivar
    body = bodies.get(target)
    if not isinstance(body, E.Reduce) or body.init is None or not _reads_of(body.init, st):
        return
    leaves = target.leaf_iter_vars
    first_red = next((k for k, iv in enumerate(leaves) if iv.kind == "reduce"), len(leaves))
    if leaves.index(ivar) >= first_red:
        raise ScheduleError(f"compute_at: stage {st.name}, axis {ivar.name}: the init= of "
                            f"{target.name}'s reduction reads {st.name} before the reduction "
                            f"loops run, where {st.name} is not computed yet; compute it at a "
                            f"loop of {target.name} outside the reduction loops; "
                            f"loops of {st.name}: {st.loops_str()}")


def _scan_step_region(sch, st, done, bodies) -> list:
    """(min, extent) per data axis of a stage run once per step of a scan
    (schedule/scan_group.py): what its consumers read in one step, every loop of
    theirs relaxed, the scan's time var kept symbolic."""
    los, his = [[] for _ in st.op.axis], [[] for _ in st.op.axis]
    for c in [c for c in done if _reads_directly(sch, bodies[c], st)]:
        relax, b = {}, done[c]
        for stage in [c] + _attach_chain(c):
            relax.update({iv.var: (E.const(0), done[stage].leaf_extent[iv])
                          for iv in stage.leaf_iter_vars})
        root_sub = {iv.var: b.root_min[iv] + b.root_value[iv] for iv in b.root_value
                    if iv in b.root_min}
        _bound_reads(bodies[c], st, (root_sub,), relax, los, his)
    region = []
    for iv, lo_k, hi_k in zip(st.op.axis, los, his):
        lo, hi = _clip(iv, *_union(lo_k, hi_k), {})
        region.append((lo, simplify(hi - lo + 1)))
    return region


def _attach_chain(stage) -> list:
    """The stages stage hangs from by compute_at, innermost first."""
    out = []
    while stage.attach_type == "scope":
        stage = stage.attach_stage
        out.append(stage)
    return out


def _clip(iv, lo, hi, ranges) -> tuple:
    """The region within the axis's domain where that is provable: a consumer's
    reads past the edge are guarded (a split tail, a where= condition), so
    computing and storing them would be wasted."""
    first, last = iv.min, simplify(iv.min + iv.extent - 1)
    if _unbounded(lo) or (not E.is_const(simplify(lo - first), 0) and
                          prove(lo <= first, ranges)):
        lo = first
    if _unbounded(hi) or (not E.is_const(simplify(hi - last), 0) and
                          prove(hi >= last, ranges)):
        hi = last
    return lo, hi


def _unbounded(e) -> bool:
    """symbolic_bound's answer where it found no bound: the dtype's own limit (the
    whole domain is then the region; hi - lo + 1 would overflow)."""
    if not isinstance(e, E.Const) or not dt.is_int(e.dtype):
        return False
    info = np.iinfo(e.dtype)
    return e.value in (info.min, info.max)


def _inside_attach_loop(sch, st, consumer, done) -> tuple:
    """Ranges of the loop vars that vary within one iteration of st's attach loop,
    on the way from consumer up to it, and the thread-bound ones among them that
    stand for an enclosing loop's var; raises if consumer runs outside that loop."""
    target, ivar = st.attach_stage, st.attach_ivar
    path = sch.attach_path(consumer, target)
    pos = target.leaf_iter_vars.index(ivar)
    if path is None or path[1] < pos:
        raise ScheduleError(f"compute_at: stage {st.name}, axis {ivar.name}: its consumer "
                            f"{consumer.name} {_placement(consumer)}, outside loop {ivar.name} "
                            f"of {target.name}; compute {consumer.name} at or inside that loop "
                            f"too; loops of {st.name}: {st.loops_str()}")
    inner = [(stage, iv) for stage in path[0] for iv in stage.leaf_iter_vars]
    inner += [(target, iv) for iv in target.leaf_iter_vars[pos + 1:]]
    relax = {iv.var: (E.const(0), done[stage].leaf_extent[iv]) for stage, iv in inner}
    # GPU: shared/global storage spans the thread-bound loops around it; a loop inside
    # bound to a thread the scope does not span is that thread's own index (gpu_relax.py).
    from .passes.gpu_relax import same_thread_aliases, thread_relaxed_ranges
    relax.update(thread_relaxed_ranges(st, done))
    same_thread = same_thread_aliases(st, inner)
    for v in same_thread:
        relax.pop(v, None)
    return relax, same_thread


def _placement(stage) -> str:
    if stage.attach_type == "scope":
        return f"is computed at loop {stage.attach_ivar.name} of {stage.attach_stage.name}"
    return "is computed at root"


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
