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

from dataclasses import replace

from . import dtype as dt
from .ir import expr as E
from .ir import tir as T
from .infer_bound import effective_bodies, infer_bounds
from .schedule.stage import Schedule, ScheduleError, Split
from .schedule.storage import flat_layout, lower_pragmas
from .arith.simplify import simplify
from .te import PlaceholderOp, Tensor, combine_all, reduce_start
from .ir.visit import rewrite, substitute, walk
from .passes import run_pipeline
from .target import Target


class LowerContext:
    """Per-lowering state: effective bodies, bounds, buffers."""

    def __init__(self, sch: Schedule, args: list, target):
        self.sch, self.target = sch, target
        self.bodies = effective_bodies(sch)
        self.bounds = infer_bounds(sch, self.bodies)
        from .schedule.scan_group import scan_members
        self.scan_members = scan_members(sch)     # run inside a scan's loop (scan.py)
        self.buffers = {}
        self.layouts = {}               # stage -> flat_layout(...) (schedule/storage.py)
        self.warp_slice = {}            # warp-scope stage -> its slice index (warp_memory.py)
        self.params = [self._param_buffer(t) for t in args]
        for st in sch.stages:                   # a scan's state is the scan's own buffer
            if hasattr(st.op, "prepare_lowering"):
                st.op.prepare_lowering(st, self)
        self.attached = {}
        for st in sch.stages:
            if st.attach_type == "scope":
                self.attached.setdefault(st.attach_ivar, []).append(st)

    def _param_buffer(self, t: Tensor) -> T.Buffer:
        st = self.sch[t]
        key = st if t.value_index == 0 else (st, t.value_index)
        if key in self.buffers:
            raise ScheduleError(f"lower: tensor {t.name} appears twice in args")
        if st.attach_type != "root" and not st.is_placeholder:
            raise ScheduleError(f"lower: tensor {t.name} is an argument but its stage is "
                                f"{'inlined' if st.attach_type == 'inline' else 'computed at ' + st.attach_stage.name}; "
                                "an argument must be computed at root (s[T].compute_root())")
        buf = T.Buffer(t.name, t.dtype, tuple(t.shape), "global")
        self.buffers[key] = buf
        return buf

    def buffer_of(self, st, value_index: int) -> T.Buffer:
        """The buffer of output value_index of st (a tuple-returning compute has several,
        all of one shape and layout)."""
        if value_index == 0:
            return self.buffer(st)
        key = (st, value_index)
        if key not in self.buffers:
            shape = self.buffer(st).shape
            self.buffers[key] = T.Buffer(f"{st.name}.v{value_index}", st.op.dtypes[value_index],
                                         shape, st.scope)
        return self.buffers[key]

    def stage_buffers(self, st) -> list:
        """Every output buffer of st."""
        return [self.buffer_of(st, k) for k in range(st.op.num_outputs)]

    def buffer(self, st) -> T.Buffer:
        if st not in self.buffers:
            if st.is_placeholder:
                raise ScheduleError(f"lower: tensor {st.name} is an input of the computation "
                                    "but is not in the argument list")
            b = self.bounds[st]
            shape = tuple(_alloc_extent(b.root_extent[iv]) for iv in st.op.axis)
            layout = flat_layout(st, shape)
            if layout is not None:      # storage_align / double_buffer: explicit strides
                self.layouts[st] = layout
                shape = (simplify(layout[0] * layout[2]),)
            if st.scope == "warp":
                return self._warp_buffer(st, shape)
            self.buffers[st] = T.Buffer(st.name, st.op.dtype, shape, st.scope)
        return self.buffers[st]

    def _warp_buffer(self, st, shape) -> T.Buffer:
        """A warp-scope stage's buffer (warp_memory.py): one slice per warp on a GPU."""
        from .warp_memory import warp_buffer_scope, warp_slices
        scope = warp_buffer_scope(self.target)
        if scope == "shared":
            count, index = warp_slices(st, self.bounds)
            self.warp_slice[st] = index
            shape = (_alloc_extent(count),) + shape
        self.buffers[st] = T.Buffer(st.name, st.op.dtype, shape, scope)
        return self.buffers[st]

    def index(self, st, idx: tuple) -> tuple:
        """idx into st's buffer; one flat index where the stage has an explicit layout
        (double-buffered: the copy is the parity of the loop it is computed at)."""
        if st in self.warp_slice:
            return (self.warp_slice[st],) + tuple(idx)
        if st not in self.layouts:
            return idx
        size, strides, copies = self.layouts[st]
        total = self.buffers[st].shape[0]
        idt = "int32" if isinstance(total, E.Const) and total.value < 2**31 else "int64"
        flat = E.const(0, idt)
        for i, stride in zip(idx, strides):
            flat = flat + E.cast(i, idt) * E.cast(simplify(stride), idt)
        if copies == 2:
            flat = flat + E.cast(st.attach_ivar.var % 2, idt) * E.cast(simplify(size), idt)
        return (simplify(flat),)

    def offset(self, st) -> list:
        if st.is_placeholder or (st.attach_type != "scope" and st not in self.scan_members):
            return [E.const(0)] * len(st.op.shape)
        b = self.bounds[st]
        return [b.root_min[iv] for iv in st.op.axis]


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
            buf = ctx.buffer_of(st, n.tensor.value_index)
            return E.Load(buf, ctx.index(st, idx), n.dtype)
        return None
    return rewrite(e, fn)


def _loop(iv, extent, body, st) -> T.For:
    kind, thread = st.annotations.get(iv, ("serial", None))
    if kind == "vthread":       # virtual threads: iterations interleaved in one thread
        kind = "unrolled"
    loop = T.For(iv.var, E.const(0, iv.var.dtype), extent, kind, body, thread)
    return lower_pragmas(loop, st.pragmas[iv]) if iv in st.pragmas else loop


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
    if hasattr(st.op, "lower_stage"):        # extern and scan stages lower themselves
        return st.op.lower_stage(st, ctx)
    if getattr(st, "tensorized", None) is not None:
        from .passes.tensorize import build_tensorized
        return build_tensorized(st, ctx, _nest, _guarded)
    b = ctx.bounds[st]
    leaves = st.leaf_iter_vars
    first_red = next((k for k, iv in enumerate(leaves) if iv.kind == "reduce"), len(leaves))
    # Root vars in the body mean absolute positions: region start + leaf-based offset.
    sub = {iv.var: b.root_min[iv] + b.root_value[iv] for iv in b.root_min}
    buf = ctx.buffer(st)
    idx = ctx.index(st, tuple(sub[iv.var] - o for iv, o in zip(st.op.axis, ctx.offset(st))))
    body = ctx.bodies[st]
    if isinstance(body, tuple):              # a tuple-returning compute: one nest, every output
        inner = _tuple_outputs(st, ctx, body, sub, idx, leaves[first_red:])
        return _nest(leaves[:first_red], inner, st, ctx)
    if isinstance(body, E.Reduce):
        inner = _reduction(st, ctx, body, sub, buf, idx, leaves[first_red:])
    else:
        value = _to_loads(substitute(body, sub), ctx)
        inner = _nest(leaves[first_red:], _guarded(b.guards, T.Store(buf, idx, value)), st, ctx)
    return _nest(leaves[:first_red], inner, st, ctx)


def _reduction(st, ctx, red: E.Reduce, sub, buf, idx, inner_leaves) -> T.Stmt:
    b = ctx.bounds[st]
    reduce_vars, data_leaves = _init_loops(st, inner_leaves)
    init_guards = [g for g in b.guards if not _uses(g, reduce_vars)]
    init_store = T.Store(buf, idx, _to_loads(substitute(reduce_start(red), sub), ctx))
    init = _nest(data_leaves, _guarded(init_guards, init_store), st, ctx, attach=False)
    source = _to_loads(substitute(red.source, sub), ctx)
    update = _combine_stores(red.combiner, [buf], idx, (E.Load(buf, idx, red.dtype),), (source,))
    conds = list(b.guards)
    if red.condition is not None:
        conds.append(_to_loads(substitute(red.condition, sub), ctx))
    return T.seq(init, _nest(inner_leaves, _guarded(conds, update), st, ctx))


def _init_loops(st, inner_leaves) -> tuple:
    """(vars of the pure reduction loops, the loops the init nest runs over): the
    data loops, and reduction loops that fused a data axis in (TVM writes the
    start value once per iteration of those: redundant, but every element is set)."""
    from .schedule.relations import data_dependent
    data = data_dependent(st)
    pure = {iv.var for iv in st.leaf_iter_vars if iv.kind == "reduce" and iv not in data}
    return pure, [iv for iv in inner_leaves if iv.kind == "data" or iv in data]


def _tuple_outputs(st, ctx, bodies, sub, idx, inner_leaves) -> T.Stmt:
    """The loops of a tuple-returning compute inside its first reduction axis: every
    output stored in the same iteration.  A tuple reduction computes all new
    accumulator values (lets) before it stores any: each may read all old ones.

        C.v0[i] = A[i] + 1.0f; C.v1[i] = A[i] * 2.0f
        argmax: let x0 = select(...), x1 = max(...) in  C.v0[i] = x0; C.v1[i] = x1
    """
    b = ctx.bounds[st]
    bufs = ctx.stage_buffers(st)
    if not isinstance(bodies[0], E.Reduce):
        stores = [T.Store(buf, idx, _to_loads(substitute(e, sub), ctx))
                  for buf, e in zip(bufs, bodies)]
        return _nest(inner_leaves, _guarded(b.guards, T.seq(*stores)), st, ctx)
    red = bodies[0]
    reduce_vars, data_leaves = _init_loops(st, inner_leaves)
    init_guards = [g for g in b.guards if not _uses(g, reduce_vars)]
    inits = [T.Store(buf, idx, _to_loads(substitute(reduce_start(r), sub), ctx))
             for buf, r in zip(bufs, bodies)]
    init = _nest(data_leaves, _guarded(init_guards, T.seq(*inits)), st, ctx, attach=False)
    accs = tuple(E.Load(buf, idx, r.dtype) for buf, r in zip(bufs, bodies))
    values = tuple(_to_loads(substitute(r.source, sub), ctx) for r in bodies)
    update = _combine_stores(red.combiner, bufs, idx, accs, values)
    conds = list(b.guards)
    if red.condition is not None:
        conds.append(_to_loads(substitute(red.condition, sub), ctx))
    return T.seq(init, _nest(inner_leaves, _guarded(conds, update), st, ctx))


def _combine_stores(combiner, bufs, idx, accs, values) -> T.Stmt:
    """Stores of one tuple-reduction step; with one buffer, a plain store.  Results are
    stored in an order where none overwrites an accumulator a later one still reads
    (argmax: the index first, then the value), so the step stays plain stores and
    vectorizes; only a cycle of such reads needs temporaries (lets)."""
    new = combine_all(combiner, accs, values)
    if len(bufs) == 1:
        return T.Store(bufs[0], idx, new[0])
    order = _store_order(new, bufs)
    if order is not None:
        return T.seq(*[T.Store(bufs[k], idx, new[k]) for k in order])
    temps = [E.Var(f"{buf.name}.next", v.dtype) for buf, v in zip(bufs, new)]
    body = T.seq(*[T.Store(buf, idx, t) for buf, t in zip(bufs, temps)])
    for t, v in reversed(list(zip(temps, new))):
        body = T.LetStmt(t, v, body)
    return body


def _store_order(new, bufs):
    """Indices of new in a safe store order (see _combine_stores), or None."""
    reads = []
    for v in new:
        found = set()
        walk(v, lambda n: found.add(n.buffer) if isinstance(n, E.Load) else None)
        reads.append(found)
    order, left = [], list(range(len(new)))
    while left:
        ready = next((j for j in left if not any(bufs[j] in reads[r] for r in left if r != j)),
                     None)
        if ready is None:
            return None
        order.append(ready)
        left.remove(ready)
    return order


def _nest(leaves, body, st, ctx, attach=True) -> T.Stmt:
    b = ctx.bounds[st]
    for iv in reversed(leaves):
        here = ctx.attached.get(iv, []) if attach else []
        piped = [p for p in here if _prefetchable(p, st, iv, here, ctx)]
        if here:
            body = _with_producers([p for p in here if p not in piped], body, ctx)
        body = _loop(iv, b.leaf_extent[iv], body, st)
        if piped:
            body = _prefetching(body, piped, ctx)
    return body


def _prefetchable(p, st, iv, here, ctx) -> bool:
    """A double-buffered stage is prefetched (see _prefetching) at a loop that runs
    its iterations in order, when it reads nothing computed at the same loop (that
    would not exist yet for the next iteration) and its buffer's size depends on no
    loop (it is allocated outside the loop); otherwise its copies only alternate."""
    from .schedule.symbolic import size_vars
    kind, _ = st.annotations.get(iv, ("serial", None))
    if not p.double_buffered or kind not in ("serial", "unrolled", "vthread"):
        return False
    sizes = set(size_vars(st.schedule))
    if any(isinstance(n, E.Var) and n not in sizes for n in _vars(ctx.buffer(p).shape)):
        return False
    return not any(q is not p and st.schedule._reads(p, q) for q in here)


def _vars(e) -> list:
    found = []
    walk(e, lambda n: found.append(n) if isinstance(n, E.Var) else None)
    return found


def _prefetching(loop: T.For, stages, ctx) -> T.Stmt:
    """TVM's double buffering: the stages' tiles for iteration 0 are computed before
    the loop, and each iteration computes the next one's into the other copy while
    its consumers read the current one.

        for k in range(n):             A.tile[0] = tile(0)
          A.tile[k % 2] = tile(k)  ->  for k in range(n):
          use(A.tile[k % 2])             use(A.tile[k % 2])
                                         if k + 1 < n: A.tile[(k + 1) % 2] = tile(k + 1)
    """
    k = loop.var
    nests = T.seq(*[build_stage(p, ctx) for p in stages])
    first = substitute(nests, {k: loop.min})
    if not (isinstance(loop.extent, E.Const) and loop.extent.value > 0):
        first = T.IfThenElse(loop.extent > 0, first)
    following = T.IfThenElse(k + 1 < loop.min + loop.extent, substitute(nests, {k: k + 1}))
    stmt = T.seq(first, replace(loop, body=T.seq(loop.body, following)))
    for p in reversed(stages):
        for buf in reversed(ctx.stage_buffers(p)):
            stmt = T.Allocate(buf, stmt)
    return stmt


def _with_producers(stages, body, ctx) -> T.Stmt:
    nests = [build_stage(p, ctx) for p in stages]
    stmt = T.seq(*nests, body)
    for p in reversed(stages):
        for buf in reversed(ctx.stage_buffers(p)):
            stmt = T.Allocate(buf, stmt)
    return stmt


def schedule_to_stmt(sch: Schedule, args: list, target=None) -> tuple:
    """The whole computation as one statement, and the parameter buffers."""
    ctx = LowerContext(sch, args, target)
    roots = [st for st in sch.stages if not st.is_placeholder and st.attach_type == "root"
             and st not in ctx.scan_members]
    body = T.seq(*[build_stage(st, ctx) for st in roots])
    params = set(ctx.params)
    for st in reversed(roots):
        for buf in reversed(ctx.stage_buffers(st)):
            if buf not in params:
                body = T.Allocate(buf, body)
    _check_outputs(sch, ctx)
    return body, ctx.params


def _check_outputs(sch, ctx) -> None:
    for t in sch.outputs:
        if ctx.buffers.get(sch[t] if t.value_index == 0 else (sch[t], t.value_index)) \
                not in ctx.params:
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
        if isinstance(a, E.Var):
            if not dt.is_int(a.dtype):
                raise ScheduleError(f"lower: scalar argument {a.name} has dtype {a.dtype}; only "
                                    "integer scalars can be arguments (pass a float as a "
                                    "one-element tensor)")
        elif not isinstance(a, Tensor):
            raise ScheduleError(f"lower: args must be tensors or integer vars, got {a!r}")
    if not any(isinstance(a, Tensor) for a in args):
        raise ScheduleError("lower: args must include the tensors (inputs and outputs), "
                            "not only scalars")
    return list(args)


def _scalar_args(args) -> tuple:
    """(position in args, Var) of each scalar argument: its value comes from the call."""
    return tuple((k, a) for k, a in enumerate(args) if isinstance(a, E.Var))


def _assert_symbolic_factors(sch, body: T.Stmt) -> T.Stmt:
    """A split by an expression (factor=n // 4) needs it positive when the kernel runs:
    a runtime check before anything is written (0 would leave the output unwritten).

    body  ->  assert(n // 4 > 0, "split of stage C: factor n // 4 must be positive"); body
    """
    for st in reversed(sch.stages):
        for rel in st.relations:
            if not isinstance(rel, Split):
                continue
            what = "factor" if rel.factor is not None else "nparts"
            part = getattr(rel, what)
            if isinstance(part, E.Const):
                continue
            body = T.Assert(simplify(part > 0), f"split of stage {st.name}: {what} {part} "
                            "must be positive", body)
    return body


def _bind_factor_vars(sch, params, scalars) -> tuple:
    """A free var in a split factor (split(i, factor=s)) is the scalar argument s:
    the same var, or one of its name (a replayed trace makes its own var, which
    then takes that argument's place); returns the scalar arguments."""
    from .schedule.symbolic import factor_vars
    sizes = _size_vars(params)
    scalars = list(scalars)
    for v in factor_vars(sch):
        if v in sizes or any(v is a for _, a in scalars):
            continue
        slot = next((k for k, (_, a) in enumerate(scalars) if a.name == v.name), None)
        if slot is None:
            raise ScheduleError(f"lower: a split factor uses {v.name}, which is neither a size "
                                "var of the arguments' shapes nor a scalar argument; add it "
                                f"to the argument list (oc.build(s, [..., {v.name}]))")
        scalars[slot] = (scalars[slot][0], v)
    return tuple(scalars)


def _default_target(sch) -> str:
    """Without a target: cuda when a loop is bound to a GPU thread (TVM's lower takes
    no target; such a schedule only makes sense on a GPU), else this CPU."""
    bound = any(kind == "thread" for st in sch.stages for kind, _ in st.annotations.values())
    return "cuda" if bound else "llvm"


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
    """The loop IR of a schedule for a target (default: this CPU, or cuda when a loop
    is bound to a GPU thread), after the passes that target's pipeline lists (see
    passes.pipeline).

    options become function attributes: bounds_check=True asserts every access,
    fast_math=True lets the backend reassociate floating point.
    """
    if not isinstance(sch, Schedule):
        raise ScheduleError(f"lower: expected a schedule from oc.create_schedule, got {sch!r}")
    target = Target(_default_target(sch) if target is None else target)
    _check_target(sch, target)
    if target.is_gpu:       # a reduction axis bound to threadIdx: schedule/cross_thread.py
        from .schedule.cross_thread import legalize_cross_thread
        sch = legalize_cross_thread(sch)
    args = _check_args(args)
    scalars = _scalar_args(args)
    body, params = schedule_to_stmt(sch, [a for a in args if isinstance(a, Tensor)], target)
    body = _assert_symbolic_factors(sch, body)
    scalars = _bind_factor_vars(sch, params, scalars)
    attrs = (("target", str(target)),) + tuple(sorted(options.items()))
    if scalars:
        attrs += (("scalar_args", scalars),)
    size_vars = _size_vars(params)
    size_vars += tuple(v for _, v in scalars if v not in size_vars)
    func = T.PrimFunc(name, tuple(params), body, size_vars, attrs)
    return run_pipeline(func, target)


__all__ = ["lower", "schedule_to_stmt", "PlaceholderOp"]
