"""Cross-thread reductions: a reduction axis bound to threadIdx (TVM's spelling).

    ko, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    BF = s.rfactor(B, ki)                                   # optional
    s[B].bind(xo, oc.thread_axis("blockIdx.x")); s[B].bind(xi, oc.thread_axis("threadIdx.y"))
    s[B].bind(s[B].op.reduce_axis[0], oc.thread_axis("threadIdx.x"))
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])

Each thread of the bound axis reduces its own slice serially, then the
threads' partial results are combined, and each output element is written
once.  ``bind`` accepts the reduction axis for the built-in reducers
(sum/prod/min/max: reassociating them is what rfactor already does) and a
threadIdx tag; the CPU target refuses any thread binding at lowering.

Lowering for a GPU target legalizes a copy of the schedule (the caller's is
not touched) into the form passes/gpu_reduce.py turns into a tree:

    B.rf[i, t] = reduce over the other reduction loops       (rfactor, automatic
                                                              when not written)
    B.rf: shared, computed at B's innermost data loop, its factored axis bound to
          the reduction's thread, its data axes split and bound as B's are
    B[i] = reduce over t of B.rf[i, t]                        (serial, thread 0;
                                                              gpu_reduce: a tree)

Without a written rfactor, the bound axis is factored out with the partial
axis innermost (factor_axis = ndim), so neighbouring threads hold neighbouring
partials.
"""
from __future__ import annotations

from ..ir import expr as E
from .relations import data_dependent
from .stage import Fuse, Split


def check_reduce_bind(stage, iv, thread) -> None:
    """bind(reduce axis, thread): the rules a cross-thread reduction needs."""
    if not thread.tag.startswith("threadIdx"):
        raise stage._error("bind", iv, f"cannot bind a reduction axis to {thread.tag}: blocks "
                           "cannot combine their partial results; bind it to a threadIdx "
                           "axis (a cross-thread reduction)")
    _check_reducer(stage, iv)
    if iv in data_dependent(stage):
        raise stage._error("bind", iv, "this reduction loop fuses a data axis in; bind a "
                           "loop of the reduction axes alone to a thread")
    other = thread_bound_reduction(stage)
    if other is not None and other[0] is not iv:
        raise stage._error("bind", iv, f"reduction axis {other[0].name} is already bound to "
                           f"{other[1]}; a stage binds one reduction axis to a thread")


def _check_reducer(stage, iv) -> None:
    """Only the built-in reducers: their partials combine in any order (a user's
    comm_reducer, or a tuple reduction, would need its own identity per thread)."""
    red = (getattr(stage.op, "bodies", None) or (None,))[0]
    if getattr(stage.op, "num_outputs", 1) > 1 or not isinstance(red, E.Reduce) or \
            isinstance(red.combiner, E.CommReducer):
        name = getattr(getattr(red, "combiner", None), "name", "this reduction")
        raise stage._error("bind", iv, f"a cross-thread reduction needs a built-in reducer "
                           f"(oc.sum/prod/min/max), not {name}; reduce it serially")


def thread_bound_reduction(stage):
    """(the reduction leaf bound to a threadIdx axis, its tag), or None."""
    for iv, (kind, tag) in stage.annotations.items():
        if kind == "thread" and iv.kind == "reduce":
            return iv, tag
    return None


def legalize_cross_thread(sch):
    """sch itself when no reduction axis is bound to a thread; otherwise a replica
    of sch (its trace replayed) in the rfactor + shared partials form above."""
    if not any(thread_bound_reduction(st) for st in sch.stages):
        return sch
    from .trace import _replica
    copy = _replica(sch)
    for st in list(copy.stages):
        found = thread_bound_reduction(st)
        if found is not None:
            _legalize_stage(copy, st, *found)
    return copy


def _legalize_stage(sch, st, r, tag) -> None:
    """st's reduction over r (bound to tag) as shared partials and a final loop."""
    if not any(iv.kind == "data" for iv in st.leaf_iter_vars):
        raise st._error("bind", r, "a cross-thread reduction needs a data loop to compute "
                        "the partials at (the output has no axes)")
    partial = _written_partial(sch, st, r)
    if partial is None:
        rf, factored = _auto_rfactor(sch, st, r)
    else:
        rf, factored = partial
        del st.annotations[r]
        rf.bind(factored, _thread(tag))
    if st.leaf_iter_vars[-1].kind != "reduce":      # (after an automatic rfactor it is)
        raise st._error("bind", r, "the thread-bound reduction loop must be the innermost "
                        f"loop of {st.name} (reorder it last)")
    data_leaves = [iv for iv in st.leaf_iter_vars if iv.kind == "data"]
    rf.compute_at(st, data_leaves[-1])
    rf.set_scope("shared")          # every thread's partial visible to the final loop
    _mirror_data_loops(st, rf, factored)


def _thread(tag):
    from .stage import thread_axis
    return thread_axis(tag)


def _written_partial(sch, st, r):
    """(T.rf's stage, its factored axis) when st already reduces a written rfactor's
    partials over r alone (TVM's form), else None."""
    red = st.op.bodies[0]
    src = red.source
    if len(red.axes) != 1 or red.axes[0] is not r or red.condition is not None or \
            not isinstance(src, E.TensorRead) or r not in st.leaf_iter_vars:
        return None
    rf = sch.stage_map.get(src.tensor.op)
    if rf is None or rf.is_placeholder or sch.consumers(rf) != [st]:
        return None
    hits = [k for k, i in enumerate(src.indices) if i is r.var]
    rest = [i for k, i in enumerate(src.indices) if k not in hits]
    if len(hits) != 1 or len(rest) != len(st.op.axis) or \
            any(a is not iv.var for a, iv in zip(rest, st.op.axis)):
        return None
    if rf.relations or rf.annotations:
        raise st._error("bind", r, f"the partials stage {rf.name} must keep its data loops "
                        "as rfactor made them (they are split and bound like "
                        f"{st.name}'s); schedule only its reduction loops")
    return rf, rf.op.axis[hits[0]]


def _auto_rfactor(sch, st, r) -> tuple:
    """rfactor st over r (its thread binding moves to T.rf's factored axis)."""
    for other in sch.stages:
        if other.attach_stage is st and other.attach_ivar.kind == "reduce":
            raise st._error("bind", r, f"stage {other.name} is computed at reduction loop "
                            f"{other.attach_ivar.name}; a cross-thread reduction moves those "
                            "loops into the per-thread partials: compute it at a data loop")
    tensor = sch.rfactor(st.op.output(), r, len(st.op.axis))
    rf = sch[tensor]
    return rf, rf.op.axis[-1]


def _mirror_data_loops(st, rf, factored) -> None:
    """Split and fuse rf's data axes as st's, and bind the threadIdx loops alike,
    so each thread computes its own partials (the shared buffer spans the block)."""
    same = dict(zip(st.op.axis, [iv for iv in rf.op.axis if iv is not factored]))
    for rel in st.relations:
        if not all(iv in same for iv in _inputs(rel)):
            continue                # a loop of no data axis (fuse() of nothing)
        if isinstance(rel, Split):
            same[rel.outer], same[rel.inner] = rf.split(same[rel.parent], factor=rel.factor,
                                                        nparts=rel.nparts)
        elif isinstance(rel, Fuse):
            same[rel.fused] = rf.fuse(same[rel.outer], same[rel.inner])
    for iv, (kind, tag) in st.annotations.items():
        if kind == "thread" and tag.startswith("threadIdx") and iv in same:
            rf.bind(same[iv], _thread(tag))


def _inputs(rel) -> tuple:
    return (rel.outer, rel.inner) if isinstance(rel, Fuse) else (rel.parent,)
