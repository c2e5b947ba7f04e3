"""Scans: recurrences over a leading time axis (TVM's te.scan).

    m, n = 64, 32
    X = oc.placeholder((m, n), name="X")
    S = oc.placeholder((m, n), name="S")                  # the state: S[t] is step t
    init = oc.compute((1, n), lambda _, i: X[0, i], name="init")
    update = oc.compute((m, n), lambda t, i: S[t - 1, i] + X[t, i], name="update")
    C = oc.scan(init, update, S)                          # np.cumsum(X, axis=0)

The scan's output is the state's storage: steps [0, init.shape[0]) copy the
init, then a sequential loop over the remaining steps runs the update stage
for one step at a time, writing straight into the output; the update reads
the earlier steps there.  The update's other axes are scheduled as usual
(split, vectorize, parallel, unroll, compute_at into them); its time axis and
the scan stage itself have no loops to schedule:

    for t in range(1, 64):                 # the scan's loop
      parallel for i.outer in range(4):    # s[update]'s own schedule
        vectorized for i.inner in range(8):
          C[t, i] = C[t - 1, i] + X[t, i]

Several states (lists of init, update, state) advance together in one loop,
each update reading any state's earlier steps: one ScanOp with one output per
state (value_index k), so create_schedule(r0.op) schedules them all.
"""
from __future__ import annotations

from . import te
from .ir import expr as E
from .ir import tir as T
from .schedule.scan_group import scan_members

__all__ = ["scan", "ScanOp"]


class ScanOp(te.Operation):
    """A scan: one operation with one output per state (value_index k is state k),
    all advanced by one loop over time, as TVM's ScanOp."""

    opaque = ("a scan stage is the sequential loop over time; it has no loops to schedule "
              "and stays at root; schedule its update stage (s[update]) instead")

    def __init__(self, name, tag, inits, updates, states):
        self.name, self.tag = name, tag
        self.inits, self.updates, self.states = tuple(inits), tuple(updates), tuple(states)
        self.init, self.update, self.state = self.inits[0], self.updates[0], self.states[0]
        self.num_outputs = len(self.states)
        self.shape, self.dtype = self.state.shape, self.state.dtype
        self.axis = tuple(E.IterVar(E.Var(f"{name}.t" if k == 0 else f"{name}.ax{k}"),
                                    E.const(0), s, "data") for k, s in enumerate(self.shape))
        self.scan_axis = self.axis[0]
        # TVM's spatial_axis_: every state's axes after time, state by state (state 0's
        # are this op's own axes); ScanFixPointAnalysis answers per spatial axis.
        self.spatial_axis_ = self.axis[1:] + tuple(
            E.IterVar(E.Var(f"{name}.v{k}.ax{d}"), E.const(0), ext, "data")
            for k, st in enumerate(self.states) if k > 0
            for d, ext in enumerate(st.shape) if d > 0)
        self.body = T.Nop()
        self.bodies = (self.body,) * self.num_outputs
        self._tensor = te.Tensor(self)
        self._outputs = (self._tensor,) + tuple(te.Tensor(self, k)
                                                for k in range(1, self.num_outputs))

    @property
    def dtypes(self) -> tuple:
        return tuple(st.dtype for st in self.states)

    def output_shape(self, value_index: int) -> tuple:
        """The shape of output value_index: its state's."""
        return self.states[value_index].shape

    @property
    def input_tensors(self) -> list:
        # every state's init and update: the loop runs them all together
        return list(self.inits) + list(self.updates)

    def describe_for_key(self, describer) -> list:
        """The workload key's view: shapes, dtypes and the init/update/state ops."""
        return ["scan", [[describer.expr(d) for d in st.shape] for st in self.states],
                list(self.dtypes), self.tag,
                [[describer.ops[t.op] for t in trio]
                 for trio in zip(self.inits, self.updates, self.states)]]

    # -- scheduling and lowering hooks (schedule/stage.py, lower.py, infer_bound.py) --
    def attach_updates(self, sch, st) -> None:
        """At schedule creation: the update stages run inside this scan's loop."""
        for update in self.updates:
            upd = sch[update]
            upd.attach_type, upd.attach_stage, upd.attach_ivar = "scan", st, self.scan_axis

    def restrict_update(self, upd, rmin: dict, rext: dict) -> None:
        """Bound inference: an update computes one step, the scan's current t."""
        time = upd.op.axis[0]
        step = self.scan_axis.var
        rmin[time], rext[time] = E.cast(step, time.var.dtype), E.const(1, time.var.dtype)

    def prepare_lowering(self, st, ctx) -> None:
        """Each state placeholder and its update write and read output k's buffer.
        A state in the argument list names that buffer (TVM replaces the state by
        the scan's output), so it stands for the output there."""
        from .schedule.stage import ScheduleError
        for k, (state, update) in enumerate(zip(self.states, self.updates)):
            state_st = ctx.sch[state]
            out_key = st if k == 0 else (st, k)
            if state_st in ctx.buffers:
                if out_key in ctx.buffers:
                    raise ScheduleError(f"lower: tensor {state.name} is the state of scan "
                                        f"{st.name}, stored in the scan's output, which is an "
                                        "argument too; give one of them")
                ctx.buffers[out_key] = ctx.buffers[state_st]
            buf = ctx.buffer(st) if k == 0 else self._output_buffer(st, k, ctx)
            ctx.buffers[state_st] = buf
            ctx.buffers[ctx.sch[update]] = buf

    def _output_buffer(self, st, k, ctx):
        key = (st, k)
        if key not in ctx.buffers:      # not an argument: a temporary of its own shape
            ctx.buffers[key] = T.Buffer(f"{st.name}.v{k}", self.dtypes[k],
                                        tuple(self.states[k].shape), st.scope)
        return ctx.buffers[key]

    def lower_stage(self, st, ctx) -> T.Stmt:
        """The scan's loop: copy the inits, then every update once per step."""
        if ctx.target is not None and ctx.target.is_gpu:
            from .schedule.stage import ScheduleError
            raise ScheduleError(f"scan: stage {st.name}: scans are lowered for CPU targets "
                                f"(llvm) only; the target is {ctx.target}")
        _check_state_readers(ctx)
        from .lower import build_stage
        init_steps = self.init.shape[0]
        copies = [_copy_init(self, k, st, ctx) for k in range(self.num_outputs)]
        steps = E.Var(f"{self.scan_axis.name}.step", self.scan_axis.var.dtype)
        members = [m for m, owner in scan_members(ctx.sch).items() if owner is st]
        body = T.seq(*[build_stage(m, ctx) for m in members],
                     *[build_stage(ctx.sch[u], ctx) for u in self.updates])
        for m in reversed(members):
            for buf in reversed(ctx.stage_buffers(m)):
                body = T.Allocate(buf, body)
        body = T.LetStmt(self.scan_axis.var, steps + init_steps, body)
        loop = T.For(steps, E.const(0, steps.dtype), self.shape[0] - init_steps, "serial", body)
        return T.seq(*copies, loop)


def _copy_init(scan_op, k, st, ctx) -> T.Stmt:
    """out_k[t, ...] = init_k[t, ...] for the init steps."""
    init = scan_op.inits[k]
    src, dst = ctx.buffer(ctx.sch[init]), ctx.buffer_of(st, k)
    prefix = st.name if scan_op.num_outputs == 1 else f"{st.name}.v{k}"
    ivs = [E.Var(f"{prefix}.i{d}", s.dtype) for d, s in enumerate(init.shape)]
    body = T.Store(dst, tuple(ivs), E.Load(src, tuple(ivs), scan_op.dtypes[k]))
    for v, ext in reversed(list(zip(ivs, init.shape))):
        body = T.For(v, E.const(0, v.dtype), ext, "serial", body)
    return body


def _check_state_readers(ctx) -> None:
    """A stage at root that reads a state but feeds no update would see the state
    before the scan ran (the scan's own stages run in its loop: scan_members)."""
    from .schedule.stage import ScheduleError
    sch = ctx.sch
    states = {sch[state] for st in sch.stages if isinstance(st.op, ScanOp)
              for state in st.op.states}
    members = scan_members(sch)
    for st in sch.stages:
        if st.is_placeholder or st.attach_type != "root" or isinstance(st.op, ScanOp) or \
                st in members:
            continue
        for t in st.op.input_tensors:
            if sch.stage_map.get(t.op) in states:
                raise ScheduleError(f"scan: stage {st.name} reads the scan state {t.name} but "
                                    "is computed at root, outside the scan's loop, and no "
                                    "update of the scan reads it; compute_inline it or "
                                    "compute_at it into the update stage")


def _as_list(x):
    return (list(x), True) if isinstance(x, (list, tuple)) else ([x], False)


def scan(init, update, state_placeholder, inputs=None, name="scan", tag=""):
    """A recurrence over the first axis (TVM's te.scan): state[t] = init[t] for
    t < init.shape[0], then update[t], which may read state[t - 1] (or earlier).
    Lists of init/update/state make a multi-state scan (a list is returned).
    inputs is accepted for compatibility (the inputs are found from the update)."""
    inits, many = _as_list(init)
    updates, _ = _as_list(update)
    states, _ = _as_list(state_placeholder)
    if not (len(inits) == len(updates) == len(states)) or not inits:
        raise te.TensorError(f"scan {name}: init, update and state_placeholder must have the "
                             f"same number of tensors, got {len(inits)}, {len(updates)}, "
                             f"{len(states)}")
    for k, (i, u, s) in enumerate(zip(inits, updates, states)):
        _check_state(name, k, i, u, s, inits[0])
    op = ScanOp(name, tag, inits, updates, states)
    outs = [op.output(k) for k in range(op.num_outputs)]
    return outs if many else outs[0]


def _check_state(name, k, init, update, state, first_init) -> None:
    for what, t in (("init", init), ("update", update), ("state_placeholder", state)):
        if not isinstance(t, te.Tensor):
            raise te.TensorError(f"scan {name}: {what} must be a tensor, got {t!r}")
    if not isinstance(state.op, te.PlaceholderOp):
        raise te.TensorError(f"scan {name}: state_placeholder {state.name} must be an "
                             "oc.placeholder (the scan gives it its values)")
    if not isinstance(update.op, te.ComputeOp):
        raise te.TensorError(f"scan {name}: update {update.name} must be an oc.compute")
    if state.ndim < 1 or update.ndim != state.ndim or init.ndim != state.ndim:
        raise te.TensorError(f"scan {name}: init {init.name}, update {update.name} and state "
                             f"{state.name} must have the same rank (>= 1, time first)")
    for d in range(state.ndim):
        if not _same_extent(update.shape[d], state.shape[d]) or \
                (d > 0 and not _same_extent(init.shape[d], state.shape[d])):
            raise te.TensorError(f"scan {name}: state {k}: shapes differ in dimension {d}: "
                                 f"init {init.shape}, update {update.shape}, state "
                                 f"{state.shape}")
    if init.dtype != state.dtype or update.dtype != state.dtype:
        raise te.TensorError(f"scan {name}: state {k}: dtypes differ: init {init.dtype}, "
                             f"update {update.dtype}, state {state.dtype}")
    if not _same_extent(init.shape[0], first_init.shape[0]):
        raise te.TensorError(f"scan {name}: every init must cover the same number of steps")


def _same_extent(a, b) -> bool:
    from .arith.simplify import simplify
    return E.is_const(simplify(E.cast(a, "int64") - E.cast(b, "int64")), 0)
