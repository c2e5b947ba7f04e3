"""Tensor compute ops (TVM's TensorComputeOp): a compute whose inner region is
one call of a tensor intrinsic.

    vadd = oc.decl_tensor_intrin(z.op, fintrin)          # z = x + y over 16 elements
    C = oc.compute((64, 16), lambda i: vadd(A[i, 0:16], B[i, 0:16]), name="C")

fcompute takes fewer index variables than the shape has dimensions: those are
the schedulable axes (split, reorder, compute_at into them as usual); the
remaining dimensions are the intrinsic output's, computed by one call.  Each
tensor argument is a slice, A[i, 0:16] (TVM's semantics: lo:hi is the range
[lo, hi), a plain index a range of one); the intrinsic's declared buffers are
bound to those regions, right-aligned (leading dimensions of extent 1 are
dropped), and a shape var of a declared buffer takes the region's extent.
Arguments that are not tensors are the intrinsic's scalar_params, in order.
With reduce_axis=k the call is a step of a reduction: the intrinsic's reset
runs where the accumulator starts, its update once per k.

    C = oc.compute((4, 16), lambda i: vadd(A[i, 0:16], B[i, 0:16]))
    ->
    for i in range(4):
      call_extern vadd(&A[i * 16], &B[i * 16], &C[i * 16])

Bound inference sees the op's body: a read at each region's first and last
element (what a producer computed at one of the op's loops must cover).
"""
from __future__ import annotations

import copy
import dataclasses

from . import te
from .ir import expr as E
from .ir import tir as T
from .ir.visit import rewrite, substitute, walk
from .tensor_slice import TensorSlice

__all__ = ["TensorComputeOp", "TensorIntrinCall", "cache_write_tensor_compute"]


class TensorIntrinCall:
    """intrin(slices..., scalars..., reduce_axis=k): what fcompute returns."""

    def __init__(self, intrin, tensors, regions, scalar_inputs, reduce_axis):
        self.intrin, self.tensors, self.regions = intrin, tensors, regions
        self.scalar_inputs, self.reduce_axis = scalar_inputs, reduce_axis

    def tensor_compute_op(self, name, tag, axis, shape) -> te.Tensor:
        """oc.compute's result for this call (te.compute asks for it by this name);
        axis: the schedulable axes, fcompute's index variables."""
        inner = tuple(E.IterVar(E.Var(f"ax{k}"), E.const(0), s, "data")
                      for k, s in enumerate(shape[len(axis):]))
        _check_fit(self.intrin, f"output {name}",
                   (E.const(1),) * len(axis) + tuple(shape[len(axis):]), self.intrin.out_buffer)
        return TensorComputeOp(name, tag, tuple(axis) + inner, len(axis), self).output()


def intrin_call(intrin, args, reduce_axis=None) -> TensorIntrinCall:
    """TensorIntrin.__call__: sort the arguments into tensor regions and scalars."""
    tensors, regions, scalars = [], [], []
    for a in args:
        if isinstance(a, TensorSlice):
            tensors.append(a.tensor)
            regions.append(a.region)
        elif isinstance(a, E.TensorRead):      # A[i, j]: a region of one element
            tensors.append(a.tensor)
            regions.append(tuple((i, E.const(1)) for i in a.indices))
        else:
            scalars.append(_scalar(intrin, a))
    axes = _reduce_axes(intrin, reduce_axis)
    _check_call(intrin, tensors, regions, scalars, axes)
    return TensorIntrinCall(intrin, tensors, regions, scalars, axes)


def _scalar(intrin, a) -> E.Expr:
    try:
        e = E.as_expr(a)
    except (TypeError, ValueError, OverflowError):
        e = None
    if e is None or isinstance(a, te.Tensor):
        raise te.TensorError(f"intrinsic {intrin.name}: argument {a!r} is neither a tensor "
                             "slice (A[i, 0:16]) nor a scalar expression")
    if any(isinstance(n, E.TensorRead) for n in _nodes(e)):
        raise te.TensorError(f"intrinsic {intrin.name}: scalar argument {e} reads a tensor; "
                             "pass the tensor as a slice argument instead")
    return e


def _nodes(e) -> list:
    out = []
    walk(e, out.append)
    return out


def _reduce_axes(intrin, reduce_axis) -> tuple:
    if reduce_axis is None:
        return ()
    axes = tuple(reduce_axis) if isinstance(reduce_axis, (list, tuple)) else (reduce_axis,)
    for a in axes:
        if not isinstance(a, E.IterVar) or a.kind != "reduce":
            raise te.TensorError(f"intrinsic {intrin.name}: reduce_axis= takes reduce axes "
                                 f"(oc.reduce_axis), got {a!r}")
    if axes and (intrin.reset is None or intrin.update is None):
        raise te.TensorError(f"intrinsic {intrin.name}: a call with reduce_axis= needs the "
                             "intrinsic's reset and update (fintrin returns (body, reset, "
                             "update))")
    return axes


def _check_call(intrin, tensors, regions, scalars, axes) -> None:
    if len(tensors) != len(intrin.inputs):
        raise te.TensorError(f"intrinsic {intrin.name}: called with {len(tensors)} tensor "
                             f"arguments, but it has {len(intrin.inputs)} inputs")
    if len(scalars) != len(intrin.scalar_params):
        raise te.TensorError(f"intrinsic {intrin.name}: called with {len(scalars)} scalar "
                             f"arguments, but it declares {len(intrin.scalar_params)} "
                             "scalar_params")
    for t, region, decl in zip(tensors, regions, intrin.in_buffers):
        if t.dtype != decl.dtype:
            raise te.TensorError(f"intrinsic {intrin.name}: tensor {t.name} is {t.dtype}, "
                                 f"but the intrinsic's input {decl.name} is {decl.dtype}")
        _check_fit(intrin, t.name, [ext for _, ext in region], decl)
    if intrin.body is None and not axes:
        raise te.TensorError(f"intrinsic {intrin.name} has no body (only reset and update); "
                             "call it with reduce_axis=")


def _check_fit(intrin, what, extents, decl) -> None:
    """The region's extents, right-aligned, against the declared buffer's shape:
    constants must agree; dimensions the buffer lacks must span 1."""
    if not _fits(list(extents), list(decl.shape)):
        raise te.TensorError(f"intrinsic {intrin.name}: the region of {what} has extents "
                             f"({', '.join(map(str, extents))}), which do not fit its buffer "
                             f"{decl.name} of shape ({', '.join(map(str, decl.shape))})")


def _fits(extents, shape) -> bool:
    extra = len(extents) - len(shape)
    if extra < 0:               # the buffer's extra leading dimensions must span 1
        return all(E.is_const(s, 1) for s in shape[:-extra]) and _fits(extents, shape[-extra:])
    if any(isinstance(e, E.Const) and e.value != 1 for e in extents[:extra]):
        return False
    return all(not (isinstance(e, E.Const) and isinstance(s, E.Const)) or e.value == s.value
               for e, s in zip(extents[extra:], shape))


class TensorComputeOp(te.Operation):
    """Loops over the schedulable axes (and reduce_axis), one intrinsic call inside."""

    def __init__(self, name, tag, axis, schedulable_ndim, call: TensorIntrinCall):
        self.name, self.tag, self.axis = name, tag, tuple(axis)
        self.schedulable_ndim = schedulable_ndim
        self.intrin, self.inputs = call.intrin, list(call.tensors)
        self.input_regions, self.scalar_inputs = list(call.regions), list(call.scalar_inputs)
        self.reduce_axis = tuple(call.reduce_axis)
        self.shape = tuple(iv.extent for iv in self.axis)
        self.dtype = self.intrin.out_buffer.dtype
        self.body = _corner_reads(self.inputs, self.input_regions, self.dtype)
        self._tensor = te.Tensor(self)

    @property
    def intrinsic_axes(self) -> tuple:
        """The output dimensions the intrinsic computes: no loops of their own."""
        return self.axis[self.schedulable_ndim:]

    @property
    def bodies(self) -> tuple:
        return (self.body,)

    @property
    def input_tensors(self) -> list:
        seen = []
        for t in self.inputs:
            if t not in seen:
                seen.append(t)
        return seen

    def with_inputs(self, old_ops, new_tensor) -> TensorComputeOp:
        """A copy reading new_tensor where it read an output of old_ops (cache_read)."""
        inputs = [new_tensor if t.op in old_ops else t for t in self.inputs]
        call = TensorIntrinCall(self.intrin, inputs, self.input_regions, self.scalar_inputs,
                                self.reduce_axis)
        return TensorComputeOp(self.name, self.tag, self.axis, self.schedulable_ndim, call)

    def cache_write_stage(self, sch, st, scope) -> te.Tensor:
        """s.cache_write(C, scope) of this op's stage (cache_stage.py calls it)."""
        return cache_write_tensor_compute(sch, st, scope)

    def cache_write_ops(self, name) -> tuple:
        """(the op writing a cache named name, with fresh axes; the op copying it out)."""
        fresh = tuple(E.IterVar(E.Var(iv.var.name + ".c"), iv.min, iv.extent, "data")
                      for iv in self.axis)
        to_fresh = {a.var: b.var for a, b in zip(self.axis, fresh)}
        regions = [tuple((substitute(lo, to_fresh), substitute(ext, to_fresh)) for lo, ext in r)
                   for r in self.input_regions]
        call = TensorIntrinCall(self.intrin, self.inputs, regions,
                                [substitute(e, to_fresh) for e in self.scalar_inputs],
                                self.reduce_axis)
        cache = TensorComputeOp(name, self.tag, fresh, self.schedulable_ndim, call)
        copy_body = cache.output()[tuple(iv.var for iv in self.axis)]
        return cache, te.ComputeOp(self.name, self.tag, self.axis, copy_body)

    def describe_for_key(self, describer) -> list:
        """The workload key's view: axes, the intrinsic, regions and scalars."""
        describer.axis_vars.update(iv.var for iv in self.axis + self.reduce_axis)
        return ["tensor_compute", [describer.expr(s) for s in self.shape], self.dtype,
                self.tag, [describer.itervar(iv) for iv in self.axis], self.schedulable_ndim,
                self.intrin.name, describer.expr(self.body),
                [[describer.expr(x) for r in region for x in r] for region in self.input_regions],
                [describer.expr(e) for e in self.scalar_inputs],
                [describer.itervar(iv) for iv in self.reduce_axis]]

    def lower_stage(self, st, ctx) -> T.Stmt:
        """The stage's loops with the bound intrinsic call inside (module docstring)."""
        return _lower(self, st, ctx)


def cache_write_tensor_compute(sch, st, scope) -> te.Tensor:
    """s.cache_write(C, scope) of a tensor compute stage: the intrinsic writes the
    cache, and C becomes a copy of it (schedule/cache_stage.py calls this)."""
    from .schedule.stage import Stage
    if st.relations or st.annotations or st.attach_type != "root" or \
            any(other.attach_stage is st for other in sch.stages):
        raise st._error("cache_write", "-", "cache_write of a tensor compute stage must come "
                        "before other primitives on it")
    cache_op, copy_op = st.op.cache_write_ops(f"{st.name}.{scope}")
    st.op = copy_op
    st.all_iter_vars = list(copy_op.axis)
    st.leaf_iter_vars = list(copy_op.axis)
    sch.stage_map[copy_op] = st
    stage = Stage(cache_op, sch)
    stage.scope = scope
    sch._add_stage(stage, cache_op, index=sch.stages.index(st))
    sch.trace.record("cache_write", st.name, {"scope": scope, "results": [stage.name]})
    return cache_op.output()


def _corner_reads(tensors, regions, dtype) -> E.Expr:
    """A read at each region's first and last element, as one expression that only
    bound inference and the workload key look at (lowering emits the call)."""
    from .arith.simplify import simplify_expr
    reads = []
    for t, region in zip(tensors, regions):
        reads.append(E.TensorRead(t, tuple(lo for lo, _ in region), t.dtype))
        last = tuple(simplify_expr(lo + ext - 1) for lo, ext in region)
        reads.append(E.TensorRead(t, last, t.dtype))
    return E.Call("tensor_intrinsic", tuple(reads), dtype)


def specialized_buffer(decl, mapping: dict):
    """decl with its shape and strides over mapping's values (a declared buffer
    whose shape vars take a region's extents); decl itself when nothing changes."""
    if not mapping:
        return decl
    new = copy.copy(decl)
    new.shape = tuple(substitute(s, mapping) for s in decl.shape)
    new.strides = tuple(substitute(s, mapping) for s in decl.strides)
    return new


def replace_buffers(body, replaced: dict):
    """body with accesses to each declared buffer old (by id) going to replaced[id(old)]."""
    def fn(n):
        if isinstance(n, (E.AddressOf, E.Load, T.Store)) and id(n.buffer) in replaced:
            return dataclasses.replace(n, buffer=replaced[id(n.buffer)])
        return None
    return rewrite(body, fn)


# ---------------------------------------------------------------------------
# lowering
# ---------------------------------------------------------------------------

def _lower(op, st, ctx) -> T.Stmt:
    """The loop nest: the call inside every loop; with reduce axes, the reset
    where the accumulator starts and the update inside the reduction loops."""
    from .lower import _guarded, _nest  # lower's loop builders (lower never imports us)
    _check_lowerable(op, st, ctx)
    b = ctx.bounds[st]
    outer = op.axis[:op.schedulable_ndim] + op.reduce_axis
    sub = {iv.var: b.root_min[iv] + b.root_value[iv] for iv in outer}
    binder = _Binder(op, st, ctx, sub)
    leaves = st.leaf_iter_vars
    # the intrinsic axes are whole (_check_lowerable): their domain guards hold
    inner = {iv.var for iv in op.intrinsic_axes}
    guards = [g for g in b.guards if not _mentions(g, inner)]
    if not op.reduce_axis:
        return _nest(leaves, _guarded(guards, binder.bind(op.intrin.body)), st, ctx)
    first_red = next(k for k, iv in enumerate(leaves) if iv.kind == "reduce")
    reduce_vars = {iv.var for iv in leaves if iv.kind == "reduce"}
    init_guards = [g for g in guards if not _mentions(g, reduce_vars)]
    data_mid = [iv for iv in leaves[first_red:] if iv.kind == "data"]
    reset = binder.bind(op.intrin.reset, outputs_only=True)
    init = _nest(data_mid, _guarded(init_guards, reset), st, ctx, attach=False)
    update = _nest(leaves[first_red:], _guarded(guards, binder.bind(op.intrin.update)),
                   st, ctx)
    return _nest(leaves[:first_red], T.seq(init, update), st, ctx)


def _mentions(e, vars_) -> bool:
    return any(isinstance(n, E.Var) and n in vars_ for n in _nodes(e))


def _check_lowerable(op, st, ctx) -> None:
    from .arith.simplify import simplify
    from .schedule.stage import ScheduleError
    if ctx.target is not None and ctx.target.is_gpu:
        raise ScheduleError(f"tensor compute: stage {st.name}: intrinsic {op.intrin.name} is a "
                            f"CPU call, but the target is {ctx.target}")
    for t in op.input_tensors:
        if ctx.sch[t].attach_type == "inline":
            raise ScheduleError(f"compute_inline: stage {ctx.sch[t].name}, axis -: intrinsic "
                                f"{op.intrin.name} of stage {st.name} reads it as a buffer, so "
                                f"it cannot be inlined there; loops of {ctx.sch[t].name}: "
                                f"{ctx.sch[t].loops_str()}")
    b = ctx.bounds[st]
    for iv in op.intrinsic_axes:
        if not E.is_const(simplify(b.root_extent[iv] - iv.extent), 0) or \
                not E.is_const(simplify(b.root_min[iv] - iv.min), 0):
            raise ScheduleError(f"compute_at: stage {st.name}, axis {iv.name}: intrinsic "
                                f"{op.intrin.name} writes the whole axis ({iv.extent}), but "
                                f"only {b.root_extent[iv]} of it is kept where the stage is "
                                f"computed; compute it at an outer loop; loops of {st.name}: "
                                f"{st.loops_str()}")


class _Binder:
    """Binds the intrinsic's declared buffers to the regions at the current
    iteration (sub: root var -> its value over the leaf loops), its shape vars to
    the regions' extents and its scalar_params to the call's scalars."""

    def __init__(self, op, st, ctx, sub):
        from .extern import block_view
        self.mapping = dict(zip(op.intrin.scalar_params,
                                (substitute(e, sub) for e in op.scalar_inputs)))
        regions = [(t, [(substitute(lo, sub), substitute(ext, sub)) for lo, ext in region])
                   for t, region in zip(op.inputs, op.input_regions)]
        regions.append((op.output(0), [(sub[iv.var], E.const(1))
                                       for iv in op.axis[:op.schedulable_ndim]] +
                        [(iv.min, iv.extent) for iv in op.intrinsic_axes]))
        decls = list(op.intrin.in_buffers) + [op.intrin.out_buffer]
        for decl, (_, region) in zip(decls, regions):
            self._bind_shape(decl, [ext for _, ext in region])
        self.replaced = {id(d): specialized_buffer(d, self.mapping) for d in decls}
        self.bindings = [(self.replaced[id(d)],) + block_view(ctx, t, [lo for lo, _ in r])
                         for d, (t, r) in zip(decls, regions)]
        self.where = f"tensor compute stage {st.name}"

    def _bind_shape(self, decl, extents) -> None:
        for s, ext in zip(reversed(decl.shape), reversed(extents)):
            if isinstance(s, E.Var) and s not in self.mapping:
                self.mapping[s] = E.cast(ext, s.dtype)

    def bind(self, stmt, outputs_only=False) -> T.Stmt:
        from .extern import bind_buffers
        body = replace_buffers(substitute(stmt, self.mapping), self.replaced)
        bindings = self.bindings[-1:] if outputs_only else self.bindings
        return bind_buffers(body, bindings, self.where)
