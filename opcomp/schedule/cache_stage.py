"""cache_read and cache_write: insert a copy stage between producer and consumers.

cache_read(A, "shared", [C]):            cache_write(C, "local"):
    before: C reads A                        before: C = sum(A*B)
    after:  A.shared[i] = A[i]               after:  C.local = sum(A*B)
            C reads A.shared                         C[i] = C.local[i]
"""
from __future__ import annotations

import dataclasses

from ..ir import expr as E
from .. import te
from . import relayout
from .stage import STORAGE_SCOPES, Fuse, Schedule, ScheduleError, Stage
from ..ir.visit import rewrite, substitute


def _check_scope(primitive: str, stage, scope) -> None:
    if scope not in STORAGE_SCOPES:
        raise ScheduleError(f"{primitive}: stage {stage.name}, axis -: unknown scope {scope!r} "
                            f"(valid: {', '.join(STORAGE_SCOPES)}); "
                            f"loops of {stage.name}: {stage.loops_str()}")


def _replace_reads(body, old_ops: set, new_tensor):
    def fn(n):
        if isinstance(n, E.TensorRead) and n.tensor.op in old_ops:
            return E.TensorRead(new_tensor, n.indices, n.dtype)
        return None
    return rewrite(body, fn)


def _copy_op(name: str, tensor) -> te.ComputeOp:
    axis = tuple(E.IterVar(E.Var(iv.var.name), iv.min, iv.extent, "data")
                 for iv in (tensor.op.axis or _fake_axes(tensor)))
    return te.ComputeOp(name, "", axis, tensor[tuple(iv.var for iv in axis)])


def _fake_axes(tensor):
    return tuple(E.IterVar(E.Var(f"ax{k}"), E.const(0), s, "data")
                 for k, s in enumerate(tensor.shape))


def cache_read(sch: Schedule, tensor, scope: str, readers) -> te.Tensor:
    """See module docstring; returns the cache tensor."""
    src = sch[tensor]
    _check_scope("cache_read", src, scope)
    readers = list(readers) if isinstance(readers, (list, tuple)) else [readers]
    if not readers:
        raise ScheduleError(f"cache_read: stage {src.name}, axis -: needs at least one reader; "
                            f"loops of {src.name}: {src.loops_str()}")
    stages = [sch[r] for r in readers]
    for st in stages:                   # opaque code reads whole buffers (extern.py)
        if getattr(st.op, "opaque", None):
            raise ScheduleError(f"cache_read: stage {src.name}, axis -: reader {st.name} is "
                                f"opaque code ({type(st.op).__name__}) whose reads cannot be "
                                f"redirected; loops of {src.name}: {src.loops_str()}")
    for st in stages:
        if st not in sch.consumers(src):
            raise ScheduleError(f"cache_read: stage {src.name}, axis -: reader {st.name} does not "
                                f"read {src.name} directly; loops of {src.name}: {src.loops_str()}")
    cache_op = _copy_op(f"{src.name}.{scope}", tensor)
    cache = cache_op.output()
    for st in stages:
        bodies = tuple(_replace_reads(b, _ops_of(sch, src), cache) for b in st.op.bodies)
        new_op = te.ComputeOp(st.op.name, st.op.tag, st.op.axis, _one_or_tuple(bodies),
                              st.op.attrs)
        if hasattr(st.op, "with_inputs"):   # a tensor compute op: same intrinsic, new input
            new_op = st.op.with_inputs(_ops_of(sch, src), cache)
        st.op = new_op
        sch.stage_map[new_op] = st
    stage = Stage(cache_op, sch)
    stage.scope = scope
    sch._add_stage(stage, cache_op, index=sch.stages.index(src) + 1)
    sch.trace.record("cache_read", src.name, {"scope": scope, "readers": [s.name for s in stages],
                                                "results": [stage.name]})
    return cache


def _ops_of(sch: Schedule, stage: Stage) -> set:
    return {op for op, st in sch.stage_map.items() if st is stage}


def cache_write(sch: Schedule, tensor, scope: str) -> te.Tensor:
    """See module docstring; returns the tensor that now holds the computation."""
    st = sch[tensor]
    _check_scope("cache_write", st, scope)
    if hasattr(st.op, "cache_write_stage"):   # a tensor compute op (opcomp/tensor_compute.py)
        return st.op.cache_write_stage(sch, st, scope)
    if st.is_placeholder:
        raise ScheduleError(f"cache_write: stage {st.name}, axis -: an input placeholder is "
                            f"not computed; loops of {st.name}: {st.loops_str()}")
    if getattr(st.op, "opaque", None) or st.attach_type == "scan":
        raise ScheduleError(f"cache_write: stage {st.name}, axis -: an extern, scan or scan "
                            f"update stage writes its buffer in place; loops of {st.name}: "
                            f"{st.loops_str()}")
    if getattr(st, "tensorized", None) is not None:
        raise ScheduleError(f"cache_write: stage {st.name}, axis -: the stage is tensorized; "
                            f"cache_write must come before tensorize; loops of {st.name}: "
                            f"{st.loops_str()}")
    if st.annotations or st.attach_type != "root" or \
            any(other.attach_stage is st for other in sch.stages + sch.groups):
        raise ScheduleError(f"cache_write: stage {st.name}, axis -: cache_write must come before "
                            f"other primitives on this stage; loops of {st.name}: {st.loops_str()}")
    _check_relayout(st)
    old = st.op
    if relayout.needs_relayout(st):       # split/fuse/reorder before: TVM's relayout
        fresh, mapping, conds = relayout.relayout_axes(st)
        index = relayout.leaf_index(st)
    else:
        fresh = tuple(E.IterVar(E.Var(iv.var.name + ".c"), iv.min, iv.extent, "data")
                      for iv in old.axis)
        mapping, conds = {a.var: b.var for a, b in zip(old.axis, fresh)}, []
        index = tuple(iv.var for iv in old.axis)
    axes, renamed = _fresh_reduce_axes(old.reduce_axis, mapping)
    bodies = tuple(relayout.guarded_body(_rebind(substitute(b, mapping), axes, renamed), conds)
                   for b in old.bodies)
    cache_op = te.ComputeOp(f"{st.name}.{scope}", old.tag, tuple(fresh), _one_or_tuple(bodies))
    copies = tuple(cache_op.output(k)[index] for k in range(cache_op.num_outputs))
    copy_op = te.ComputeOp(old.name, old.tag, old.axis, _one_or_tuple(copies), old.attrs)
    cache = [cache_op.output(k) for k in range(cache_op.num_outputs)]
    st.op = copy_op
    st.all_iter_vars = list(old.axis)
    st.leaf_iter_vars = list(old.axis)
    st.relations = []
    sch.stage_map[copy_op] = st
    stage = Stage(cache_op, sch)
    stage.scope = scope
    sch._add_stage(stage, cache_op, index=sch.stages.index(st))
    sch.trace.record("cache_write", st.name, {"scope": scope, "results": [stage.name]})
    return cache if len(cache) > 1 else cache[0]


def _check_relayout(st) -> None:
    """The cache's axes are the stage's data loops: none may mix data and reduction."""
    for rel in st.relations:
        if isinstance(rel, Fuse) and rel.outer.kind != rel.inner.kind:
            raise ScheduleError(f"cache_write: stage {st.name}, axis {rel.fused.name}: a loop "
                                "fusing a data axis with a reduction axis cannot become an axis "
                                f"of the cache; loops of {st.name}: {st.loops_str()}")


def _fresh_reduce_axes(reduce_axes, mapping: dict) -> tuple:
    """Reduce axes whose range uses a data axis (reduce_axis((0, i))) get a copy over
    the cache stage's own axis vars (substitute leaves an IterVar's range alone);
    returns (the axes, old reduce var -> new var)."""
    axes, renamed = [], {}
    for rv in reduce_axes:
        lo, ext = substitute(rv.min, mapping), substitute(rv.extent, mapping)
        if lo is rv.min and ext is rv.extent:
            axes.append(rv)
            continue
        new = E.IterVar(E.Var(rv.var.name, rv.var.dtype), lo, ext, "reduce")
        te._REDUCE_VARS.add(new.var)
        renamed[rv.var] = new.var
        axes.append(new)
    return tuple(axes), renamed


def _rebind(body, axes: tuple, renamed: dict):
    if not renamed or not isinstance(body, E.Reduce):
        return body
    return dataclasses.replace(substitute(body, renamed), axes=axes)


def _one_or_tuple(values: tuple):
    return values if len(values) > 1 else values[0]


def cache_write_outputs(sch: Schedule, tensors: list, scope: str) -> list:
    """cache_write of every output of one tuple-returning compute (TVM's list form):
    one cache stage computing all of them; returns the cache tensors in that order."""
    ops = {getattr(t, "op", None) for t in tensors}
    if not tensors or len(ops) != 1 or not all(isinstance(t, te.Tensor) for t in tensors):
        raise ScheduleError("cache_write: a list of tensors must be the outputs of one "
                            f"operation, got {tensors!r}")
    op = tensors[0].op
    if sorted(t.value_index for t in tensors) != list(range(op.num_outputs)):
        st = sch[tensors[0]]
        raise st._error("cache_write", "-", f"the list must hold every output of {op.name} "
                        f"once ({op.num_outputs} outputs share one loop nest)")
    cache = cache_write(sch, op.output(0), scope)
    cache = cache if isinstance(cache, list) else [cache]
    return [cache[t.value_index] for t in tensors]
