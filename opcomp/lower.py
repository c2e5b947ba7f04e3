"""Schedule -> loop IR: one loop nest per stage, producers placed where attached.

    C = compute((n,), lambda i: A[i] * 2.0); s[C].split(i, factor=4)
    ->
    for i.outer in range((n + 3) // 4):
      for i.inner in range(4):
        if i.outer * 4 + i.inner < n:
          C[i.outer * 4 + i.inner] = A[i.outer * 4 + i.inner] * 2.0f

A reduction's loops open outside its first reduction axis; inside, an init
nest over the remaining data axes writes the identity, then the update nest
accumulates.  The pass driver (passes/__init__.py) then simplifies, removes
the tail guards from main bodies, vectorizes, flattens and verifies.
"""
from __future__ import annotations

from .ir import expr as E
from .ir import tir as T
from .infer_bound import effective_bodies, infer_bounds
from .schedule.stage import Schedule, ScheduleError
from .te import PlaceholderOp, Tensor, combine, reduce_identity
from .ir.visit import rewrite, substitute, walk
from .passes import run_pipeline
from .target import Target


class LowerContext:
    """Per-lowering state: effective bodies, bounds, buffers."""

    def __init__(self, sch: Schedule, args: list, target):
        self.sch, self.target = sch, target
        self.bodies = effective_bodies(sch)
        self.bounds = infer_bounds(sch, self.bodies)
        _check_vector_extents(self.bounds)
        self.buffers = {}
        self.params = [self._param_buffer(t) for t in args]
        self.attached = {}
        for st in sch.stages:
            if st.attach_type == "scope":
                self.attached.setdefault(st.attach_ivar, []).append(st)

    def _param_buffer(self, t: Tensor) -> T.Buffer:
        st = self.sch[t]
        if st in self.buffers:
            raise ScheduleError(f"lower: tensor {t.name} appears twice in args")
        if st.attach_type != "root" and not st.is_placeholder:
            raise ScheduleError(f"lower: tensor {t.name} is an argument but its stage is "
                                f"{'inlined' if st.attach_type == 'inline' else 'computed at ' + st.attach_stage.name}; "
                                "an argument must be computed at root (s[T].compute_root())")
        buf = T.Buffer(t.name, t.dtype, tuple(t.shape), "global")
        self.buffers[st] = buf
        return buf

    def buffer(self, st) -> T.Buffer:
        if st not in self.buffers:
            if st.is_placeholder:
                raise ScheduleError(f"lower: tensor {st.name} is an input of the computation "
                                    "but is not in the argument list")
            b = self.bounds[st]
            shape = tuple(_alloc_extent(b.root_extent[iv]) for iv in st.op.axis)
            self.buffers[st] = T.Buffer(st.name, st.op.dtype, shape, st.scope)
        return self.buffers[st]

    def offset(self, st) -> list:
        if st.is_placeholder or st.attach_type != "scope":
            return [E.const(0)] * len(st.op.shape)
        b = self.bounds[st]
        return [b.root_min[iv] for iv in st.op.axis]


def _check_vector_extents(bounds) -> None:
    from .schedule.stage import check_vector_extent
    for st, b in bounds.items():
        for iv, (kind, _) in st.annotations.items():
            if kind == "vectorized":
                check_vector_extent(st, iv, b.leaf_extent[iv])


def _alloc_extent(ext: E.Expr) -> E.Expr:
    from .arith.interval import const_bound
    if isinstance(ext, E.Const):
        return ext
    _, hi = const_bound(ext)
    return E.const(hi) if hi is not None else ext


def _to_loads(e: E.Expr, ctx: LowerContext) -> E.Expr:
    def fn(n):
        if isinstance(n, E.TensorRead):
            st = ctx.sch.stage_map[n.tensor.op]
            idx = tuple(i - o for i, o in zip(n.indices, ctx.offset(st)))
            return E.Load(ctx.buffer(st), idx, n.dtype)
        return None
    return rewrite(e, fn)


def _loop(iv, extent, body, st) -> T.For:
    kind, thread = st.annotations.get(iv, ("serial", None))
    return T.For(iv.var, E.const(0, iv.var.dtype), extent, kind, body, thread)


def _guarded(conds, body: T.Stmt) -> T.Stmt:
    for c in reversed(conds):
        body = T.IfThenElse(c, body)
    return body


def _uses(e, vars_: set) -> bool:
    found = []
    walk(e, lambda n: found.append(n) if isinstance(n, E.Var) and n in vars_ else None)
    return bool(found)


def build_stage(st, ctx: LowerContext) -> T.Stmt:
    """The loop nest of one stage, attached producers included."""
    b = ctx.bounds[st]
    leaves = st.leaf_iter_vars
    first_red = next((k for k, iv in enumerate(leaves) if iv.kind == "reduce"), len(leaves))
    # Root vars in the body mean absolute positions: region start + leaf-based offset.
    sub = {iv.var: b.root_min[iv] + b.root_value[iv] for iv in b.root_min}
    buf = ctx.buffer(st)
    idx = tuple(sub[iv.var] - o for iv, o in zip(st.op.axis, ctx.offset(st)))
    body = ctx.bodies[st]
    if isinstance(body, E.Reduce):
        inner = _reduction(st, ctx, body, sub, buf, idx, leaves[first_red:])
    else:
        value = _to_loads(substitute(body, sub), ctx)
        inner = _nest(leaves[first_red:], _guarded(b.guards, T.Store(buf, idx, value)), st, ctx)
    return _nest(leaves[:first_red], inner, st, ctx)


def _reduction(st, ctx, red: E.Reduce, sub, buf, idx, inner_leaves) -> T.Stmt:
    b = ctx.bounds[st]
    reduce_vars = {iv.var for iv in st.leaf_iter_vars if iv.kind == "reduce"}
    init_guards = [g for g in b.guards if not _uses(g, reduce_vars)]
    init_store = T.Store(buf, idx, reduce_identity(red.combiner, red.dtype))
    data_leaves = [iv for iv in inner_leaves if iv.kind == "data"]
    init = _nest(data_leaves, _guarded(init_guards, init_store), st, ctx, attach=False)
    source = _to_loads(substitute(red.source, sub), ctx)
    update = T.Store(buf, idx, combine(red.combiner, E.Load(buf, idx, red.dtype), source))
    conds = list(b.guards)
    if red.condition is not None:
        conds.append(_to_loads(substitute(red.condition, sub), ctx))
    return T.seq(init, _nest(inner_leaves, _guarded(conds, update), st, ctx))


def _nest(leaves, body, st, ctx, attach=True) -> T.Stmt:
    b = ctx.bounds[st]
    for iv in reversed(leaves):
        if attach and iv in ctx.attached:
            body = _with_producers(ctx.attached[iv], body, ctx)
        body = _loop(iv, b.leaf_extent[iv], body, st)
    return body


def _with_producers(stages, body, ctx) -> T.Stmt:
    nests = [build_stage(p, ctx) for p in stages]
    stmt = T.seq(*nests, body)
    for p in reversed(stages):
        stmt = T.Allocate(ctx.buffer(p), stmt)
    return stmt


def schedule_to_stmt(sch: Schedule, args: list, target=None) -> tuple:
    """The whole computation as one statement, and the parameter buffers."""
    ctx = LowerContext(sch, args, target)
    roots = [st for st in sch.stages if not st.is_placeholder and st.attach_type == "root"]
    body = T.seq(*[build_stage(st, ctx) for st in roots])
    params = set(ctx.params)
    for st in reversed(roots):
        buf = ctx.buffer(st)
        if buf not in params:
            body = T.Allocate(buf, body)
    _check_outputs(sch, ctx)
    return body, ctx.params


def _check_outputs(sch, ctx) -> None:
    for t in sch.outputs:
        if ctx.buffers.get(sch[t]) not in ctx.params:
            raise ScheduleError(f"lower: output tensor {t.name} is not in the argument list")


def _size_vars(params) -> tuple:
    out = []
    for b in params:
        for s in b.shape:
            walk(s, lambda n: out.append(n) if isinstance(n, E.Var) and n not in out else None)
    return tuple(out)


def _check_args(args) -> list:
    if not isinstance(args, (list, tuple)) or not args:
        raise ScheduleError("lower: args must be a non-empty list of tensors (inputs and outputs)")
    for a in args:
        if not isinstance(a, Tensor):
            raise ScheduleError(f"lower: args must be tensors, got {a!r}")
    return list(args)


def _check_target(sch, target) -> None:
    if target.is_gpu:
        return
    for st in sch.stages:
        for iv, (kind, tag) in st.annotations.items():
            if kind == "thread":
                raise ScheduleError(f"bind: stage {st.name}, axis {iv.name}: binding {tag} needs "
                                    f"a GPU target, but the target is {target}; "
                                    f"loops of {st.name}: {st.loops_str()}")


def lower(sch: Schedule, args, name: str = "main", target=None, **options) -> T.PrimFunc:
    """The loop IR of a schedule for a target (default: this CPU), after the passes
    that target's pipeline lists (see passes.pipeline).

    options become function attributes: bounds_check=True asserts every access,
    fast_math=True lets the backend reassociate floating point.
    """
    if not isinstance(sch, Schedule):
        raise ScheduleError(f"lower: expected a schedule from oc.create_schedule, got {sch!r}")
    target = Target("llvm" if target is None else target)
    _check_target(sch, target)
    body, params = schedule_to_stmt(sch, _check_args(args), target)
    attrs = (("target", str(target)),) + tuple(sorted(options.items()))
    func = T.PrimFunc(name, tuple(params), body, _size_vars(params), attrs)
    return run_pipeline(func, target)


__all__ = ["lower", "schedule_to_stmt", "PlaceholderOp"]
