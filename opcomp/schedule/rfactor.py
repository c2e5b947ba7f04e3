"""rfactor: factor a reduction in two (TVM's semantics).

    T[i] = sum(X[i, k]);  ko, ki = s[T].split(k, factor=8);  TF = s.rfactor(T, ki, factor_axis=1)
    ->
    TF[i, ki] = sum over ko of X[i, ko*8 + ki]     (T.rf: ki is a data axis now)
    T[i]      = sum over ki.v of TF[i, ki.v]       (T's stage: the final reduction)

The factored axis becomes a data axis of the new tensor, at position
factor_axis of its shape, so it can be vectorized or parallelized: partial
results no longer race.  The other reduction loops of T become T.rf's
reduction axes, with T's splits and fuses folded into the indices (and, for a
split that does not divide, into the reduction's where= condition).  T keeps
its data axes (and what was done to them) and gets one reduction axis,
`<axis>.v`.  Reassociating the reduction is the point: the float result
changes within rounding.
"""
from __future__ import annotations

from .. import te
from ..ir import expr as E
from ..ir.visit import substitute
from .relations import leaf_maps
from .stage import Fuse, Schedule, Stage


def rfactor(sch: Schedule, tensor, axis, factor_axis: int = 0) -> te.Tensor:
    """See the module docstring; returns the factored tensor T.rf."""
    st = sch[tensor]
    k = _check(st, axis, factor_axis)
    key = st.axis_key(k)
    old = st.op
    extent, value, guards = leaf_maps(st, {iv: iv.extent for iv in old.axis + old.reduce_axis})
    rf_op, moved = _factored_op(st, k, factor_axis, extent, value, guards)
    rv = E.IterVar(E.Var(k.name + ".v", k.var.dtype), E.const(0, k.var.dtype), extent[k],
                   "reduce")
    index = [iv.var for iv in old.axis]
    index.insert(factor_axis, rv.var)
    body = E.Reduce(old.bodies[0].combiner, rf_op.output()[tuple(index)], (rv,), None, old.bodies[0].dtype,
                    init=old.bodies[0].init)
    _rewrite_stage(sch, st, te.ComputeOp(old.name, old.tag, old.axis, body), rv)
    rf = Stage(rf_op, sch)
    rf.annotations = {moved[iv]: a for iv, a in st.annotations.items() if iv in moved}
    st.annotations = {iv: a for iv, a in st.annotations.items() if iv not in moved}
    sch._add_stage(rf, rf_op, index=sch.stages.index(st))
    sch.trace.record("rfactor", st.name, {"axis": key, "factor_axis": factor_axis,
                                           "results": [rf.name]})
    return rf_op.output()


def _check(st: Stage, axis, factor_axis) -> E.IterVar:
    """The factored axis; raises ScheduleError for each rule rfactor needs."""
    if not st.is_placeholder and not isinstance(st.op.bodies[0], E.Reduce):
        raise st._error("rfactor", axis, f"{st.name} is not a reduction; rfactor splits "
                        "a reduction (a body of oc.sum/max/min/prod)")
    k = st._leaf("rfactor", axis)
    _check_plain_reduction(st, k)
    for rel in st.relations:
        if isinstance(rel, Fuse) and rel.outer.kind != rel.inner.kind:
            raise st._error("rfactor", k, f"loop {rel.fused.name} fuses a data axis with a "
                            "reduction axis; rfactor needs the reduction loops apart from "
                            "the data loops (rfactor before such a fuse)")
    if k.kind != "reduce":
        raise st._error("rfactor", k, "a data axis cannot be factored; give a reduction "
                        "axis (or an axis split from one)")
    ndim = len(st.op.axis)
    if isinstance(factor_axis, bool) or not isinstance(factor_axis, int):
        raise st._error("rfactor", k, f"factor_axis must be an int in [0, {ndim}], "
                        f"got {factor_axis!r}")
    if not 0 <= factor_axis <= ndim:
        raise st._error("rfactor", k, f"factor_axis {factor_axis} is out of range: "
                        f"the factored tensor has {ndim + 1} axes, so it must be in [0, {ndim}]")
    for other in st.schedule.stages:
        if other.attach_stage is st and other.attach_ivar.kind == "reduce":
            raise st._error("rfactor", k, f"stage {other.name} is computed at reduction loop "
                            f"{other.attach_ivar.name}, which rfactor moves to {st.name}.rf; "
                            "rfactor before compute_at")
    return k


def _check_plain_reduction(st: Stage, k) -> None:
    """rfactor reassociates a built-in reduction; a user reducer or several outputs
    it refuses (T.rf's partial results would need their own identity).  An init=
    start value is counted once: T.rf starts from the identity, T from init."""
    if getattr(st.op, "num_outputs", 1) > 1:
        raise st._error("rfactor", k, "rfactor of a tuple-returning compute is not supported")
    red = st.op.bodies[0]
    if isinstance(red.combiner, E.CommReducer):
        raise st._error("rfactor", k, f"rfactor of a user-defined reducer ({red.combiner.name}, "
                        "from comm_reducer) is not supported; use oc.sum/max/min/prod")


def _factored_op(st, k, factor_axis, extent, value, guards) -> tuple:
    """T.rf's operation, and a map from T's reduction leaves to T.rf's axes."""
    old = st.op
    data = [E.IterVar(E.Var(iv.var.name, iv.var.dtype), iv.min, iv.extent, "data")
            for iv in old.axis]
    factored = E.IterVar(E.Var(k.name, k.var.dtype), E.const(0, k.var.dtype), extent[k], "data")
    rest = [iv for iv in st.leaf_iter_vars if iv.kind == "reduce" and iv is not k]
    reduce = [E.IterVar(E.Var(iv.name, iv.var.dtype), E.const(0, iv.var.dtype), extent[iv],
                        "reduce") for iv in rest]
    moved = dict(zip([k] + rest, [factored] + reduce))
    leaf_sub = {a.var: b.var for a, b in moved.items()}
    # T's root vars in terms of T.rf's axes: data axes one to one, reduction axes
    # through the splits and fuses of T (absolute: the axis's min plus its offset).
    root_sub = {a.var: b.var for a, b in zip(old.axis, data)}
    root_sub.update({r.var: r.min + substitute(value[r], leaf_sub) for r in old.reduce_axis})
    red = old.bodies[0]
    conds = [substitute(v < extent[parent], leaf_sub) for parent, v in guards
             if parent.kind == "reduce"]
    source = substitute(red.source, root_sub)
    cond = None
    for c in conds:
        cond = c if cond is None else E.logical_and(cond, c)
    if red.condition is not None:
        # The user's condition may read the input at the reduction index: evaluate it
        # only inside the tail guards (a select, lazy where its arm may read out of range)
        where = substitute(red.condition, root_sub)
        cond = where if cond is None else E.select(cond, where, E.const(False, "bool"))
    # With every reduction loop factored out and no condition, T.rf is elementwise;
    # a condition keeps the (axis-less) Reduce, whose update lowering guards, so a
    # read the condition excludes is never made (a select would make it).
    body = source if not reduce and cond is None else \
        E.Reduce(red.combiner, source, tuple(reduce), cond, red.dtype)
    axes = data[:factor_axis] + [factored] + data[factor_axis:]
    return te.ComputeOp(f"{st.name}.rf", old.tag, axes, body), moved


def _rewrite_stage(sch, st, new_op, rv) -> None:
    """T's stage computes the final reduction: its data loops stay as scheduled
    (splits, fuses, order, annotations), its reduction loops become rv."""
    st.op = new_op
    sch.stage_map[new_op] = st
    st.relations = [r for r in st.relations
                    if (r.outer if isinstance(r, Fuse) else r.parent).kind == "data"]
    # Splits and fuses keep an axis's kind (_check refuses a fuse that mixes them),
    # so the data side of the stage is exactly its data axes.
    st.leaf_iter_vars = [iv for iv in st.leaf_iter_vars if iv.kind == "data"] + [rv]
    st.all_iter_vars = [iv for iv in st.all_iter_vars if iv.kind == "data"] + [rv]
