"""Schedules: how each stage's loops are split, ordered, annotated and placed.

    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=32)
    s[C].vectorize(xi)

Every primitive checks its arguments at the call and raises ScheduleError with
one template (primitive, stage, axis, rule, the stage's current loops); on
error the schedule is unchanged.  Every successful primitive is appended to
``s.trace``, which serializes to JSON and replays onto a fresh schedule of the
same computation (see trace.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import OpcompError
from ..ir import expr as E
from .. import dtype as dt
from .. import te
from ..workload import workload_key
from .symbolic import size_vars, symbolic_factor, trace_factor  # noqa: F401 (size_vars: API)

THREAD_TAGS = tuple(f"{k}.{a}" for k in ("blockIdx", "threadIdx") for a in "xyz")
STORAGE_SCOPES = ("global", "shared", "local",
                  "wmma.matrix_a", "wmma.matrix_b", "wmma.accumulator")   # tensor-core fragments
STORAGE_SCOPES += ("warp",)       # TVM's warp memory (infer_bound: spans threadIdx.x)


class ScheduleError(OpcompError, ValueError):
    """An invalid schedule primitive call; names the stage, the axis and the rule."""


@dataclass(frozen=True)
class ThreadAxis:
    """A GPU thread or block index, or a virtual thread, for bind()."""
    tag: str
    name: str = ""
    extent: object = None     # int: the declared launch extent (thread_axis((0, 32), tag))


VIRTUAL_THREAD = "vthread"
# pragma keys that TVM treats as the loop-kind primitive of that name
_PRAGMA_PRIMITIVES = {"vectorize": "vectorize", "unroll": "unroll", "parallel": "parallel"}


def thread_axis(tag, name: str = "", *rest) -> ThreadAxis:
    """blockIdx.x/y/z, threadIdx.x/y/z, or "vthread" (a virtual thread: its
    iterations are interleaved into one thread's body, on any target).
    thread_axis((0, 32), "threadIdx.x"[, name]) (TVM's range-first form) also fixes
    the launch extent: every loop bound to it must have exactly that extent."""
    extent = None
    if isinstance(tag, (tuple, list)):
        from .thread_extent import declared_extent
        extent, tag, name = declared_extent(tag, name), name, (rest[0] if rest else "")
    if tag not in THREAD_TAGS + (VIRTUAL_THREAD,):
        raise ScheduleError(f"thread_axis: unknown tag {tag!r}; valid: "
                            f"{', '.join(THREAD_TAGS + (VIRTUAL_THREAD,))}")
    return ThreadAxis(tag, name or tag, extent)


@dataclass(frozen=True)
class Split:
    parent: E.IterVar
    outer: E.IterVar
    inner: E.IterVar
    factor: object        # Expr: the inner extent, or None when split by nparts
    nparts: object = None  # Expr: the outer extent, or None when split by factor


@dataclass(frozen=True)
class Fuse:
    outer: E.IterVar
    inner: E.IterVar
    fused: E.IterVar


@dataclass(frozen=True)
class Singleton:
    """A loop of one iteration that maps to no root axis (what fuse() of no axes makes)."""
    iv: E.IterVar

    @property
    def parent(self):      # read like a split's parent by code that filters relations
        return self.iv


def _ceildiv(a: E.Expr, b: E.Expr) -> E.Expr:
    if isinstance(a, E.Const) and isinstance(b, E.Const):
        return E.const(-(-a.value // b.value), a.dtype)
    return (a + b - 1) // b


def _at_most(part: E.Expr, extent: E.Expr) -> E.Expr:
    if isinstance(part, E.Const) and isinstance(extent, E.Const) and part.value > extent.value:
        return E.const(max(extent.value, 1), part.dtype)
    return part


class Stage:
    """One operation's loop nest under construction."""

    def __init__(self, op, schedule):
        self.op = op
        self.origin_op = op
        self.schedule = schedule
        self.name = op.name
        root = tuple(op.axis) + tuple(op.reduce_axis)
        self.all_iter_vars = list(root)
        # a tensor compute op's intrinsic axes are computed by one call: no loops
        inner = getattr(op, "intrinsic_axes", ())
        self.leaf_iter_vars = [iv for iv in root if iv not in inner]
        self.relations: list = []
        self.annotations: dict = {}       # IterVar -> ("vectorized"|..., thread tag or None)
        self.attach_type = "root"         # root | inline | scope
        self.attach_stage = None
        self.attach_ivar = None
        self.scope = "global"
        self.is_output = False
        self.is_placeholder = isinstance(op, te.PlaceholderOp)
        self.pragmas: dict = {}           # IterVar -> {key: value} (storage.py)
        self.storage_aligns: dict = {}    # dimension -> (factor, offset)
        self.double_buffered = False
        self.group = None                 # the Group (create_group) it belongs to

    # -- helpers ---------------------------------------------------------------
    def loops_str(self) -> str:
        return "[" + ", ".join(iv.name for iv in self.leaf_iter_vars) + "]"

    def _error(self, primitive: str, axis, rule: str) -> ScheduleError:
        name = axis.name if isinstance(axis, E.IterVar) else str(axis)
        return ScheduleError(f"{primitive}: stage {self.name}, axis {name}: {rule}; "
                             f"loops of {self.name}: {self.loops_str()}")

    def _leaf(self, primitive: str, iv) -> E.IterVar:
        if self.is_placeholder:
            raise self._error(primitive, iv, "an input placeholder has no loops to schedule")
        from .escapes import check_leaf      # extern, scan and tensorize rules
        check_leaf(self, primitive, iv)
        if not isinstance(iv, E.IterVar):
            raise self._error(primitive, iv, f"expected a loop axis (IterVar), got {type(iv).__name__}")
        if iv in self.leaf_iter_vars:
            return iv
        if iv in self.all_iter_vars:
            raise self._error(primitive, iv, "axis was already split or fused; use its new axes")
        owner = self.schedule._owner_of(iv)
        where = f"it belongs to stage {owner.name}" if owner else "it is not an axis of this stage"
        raise self._error(primitive, iv, f"axis is not a loop of this stage ({where})")

    def _fresh_name(self, base: str) -> str:
        names = {iv.name for iv in self.all_iter_vars}
        name, k = base, 1
        while name in names:
            name, k = f"{base}{k}", k + 1
        return name

    def _new_iv(self, base: str, extent: E.Expr, kind: str) -> E.IterVar:
        iv = E.IterVar(E.Var(self._fresh_name(base)), E.const(0), extent, kind)
        self.all_iter_vars.append(iv)
        return iv

    def _record(self, primitive: str, **args):
        self.schedule.trace.record(primitive, self.name, args)

    def axis_key(self, iv) -> str:
        """The axis's name in a trace: its name, or name#position when names repeat."""
        if sum(1 for x in self.all_iter_vars if x.name == iv.name) == 1:
            return iv.name
        return f"{iv.name}#{self.all_iter_vars.index(iv)}"

    def _not_annotated(self, primitive: str, iv):
        if iv in self.annotations:
            kind, _ = self.annotations[iv]
            raise self._error(primitive, iv, f"axis is already annotated {kind}")

    # -- loop transformations ---------------------------------------------------
    def split(self, parent, factor=None, nparts=None):
        """Split parent into (outer, inner); inner has `factor` iterations (or outer `nparts`).

        The factor may be symbolic (an expression over the computation's size
        vars): the tail gets guards like any non-divisible split.  A stage computed
        at parent moves to the inner loop (TVM's legalization of an attach point)."""
        parent = self._leaf("split", parent)
        if (factor is None) == (nparts is None):
            raise self._error("split", parent, "give exactly one of factor= or nparts=")
        factor, nparts = _int_factor(factor), _int_factor(nparts)
        value, what = (factor, "factor") if factor is not None else (nparts, "nparts")
        if isinstance(value, E.Expr) and not isinstance(value, E.Const):
            c = symbolic_factor(self, parent, value, what)
        else:
            c = self._const_factor(parent, value, what)
        self._not_annotated("split", parent)
        part = _at_most(c, parent.extent)      # a factor past the extent is clipped
        inner_ext = part if factor is not None else _ceildiv(parent.extent, c)
        outer_ext = _ceildiv(parent.extent, c) if factor is not None else part
        outer = self._new_iv(parent.name + ".outer", outer_ext, parent.kind)
        inner = self._new_iv(parent.name + ".inner", inner_ext, parent.kind)
        self.relations.append(Split(parent, outer, inner, c if factor is not None else None,
                                    c if nparts is not None else None))
        pos = self.leaf_iter_vars.index(parent)
        self.leaf_iter_vars[pos:pos + 1] = [outer, inner]
        self._move_attachments(parent, inner)
        factor_rec, nparts_rec = (trace_factor(factor), trace_factor(nparts))
        self._record("split", axis=self.axis_key(parent), factor=factor_rec, nparts=nparts_rec,
                     results=[outer.name, inner.name])
        return outer, inner

    def _const_factor(self, parent, value, what: str) -> E.Const:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._error("split", parent, f"{what} must be a positive int, got {value!r}")
        if value <= 0:
            raise self._error("split", parent, f"{what} must be a positive int, got {value}")
        if value > np.iinfo(parent.extent.dtype).max:
            raise self._error("split", parent, f"{what} {value} does not fit the axis's "
                              f"{parent.extent.dtype} loop counter")
        return E.const(value, parent.extent.dtype)

    def _move_attachments(self, old, new):
        """Stages computed at a loop that was split or fused now hang at `new`
        (TVM: the inner loop of a split, the fused loop of a fuse)."""
        for st in self.schedule.stages + self.schedule.groups:
            if st.attach_stage is self and st.attach_ivar is old:
                st.attach_ivar = new

    def tile(self, x, y, x_factor, y_factor):
        """Split x and y and order the loops (xo, yo, xi, yi)."""
        x, y = self._leaf("tile", x), self._leaf("tile", y)
        if x is y:
            raise self._error("tile", x, "tile needs two different axes")
        x_factor, y_factor = _int_factor(x_factor), _int_factor(y_factor)
        for iv, f in ((x, x_factor), (y, y_factor)):
            if isinstance(f, bool) or not isinstance(f, int) or f <= 0:
                raise self._error("tile", iv, f"factor must be a positive int, got {f!r}")
            self._not_annotated("tile", iv)
        xo, xi = self.split(x, factor=x_factor)
        yo, yi = self.split(y, factor=y_factor)
        self.reorder(xo, yo, xi, yi)
        return xo, yo, xi, yi

    def fuse(self, *ivs):
        """Fuse consecutive loops (outer first) into one.  With no axes, a new loop
        of one iteration at the outermost position (as TVM's fuse()).  A data loop
        fused with a reduction loop is a reduction loop (as TVM's)."""
        if len(ivs) == 1 and isinstance(ivs[0], (list, tuple)):
            ivs = tuple(ivs[0])
        if not ivs:
            return self._unit_loop()
        ivs = [self._leaf("fuse", iv) for iv in ivs]
        self._check_fusable(ivs)
        fused = ivs[0]
        for inner in ivs[1:]:
            fused = self._fuse_pair(fused, inner)
        for iv in ivs:
            self._move_attachments(iv, fused)
        self._record("fuse", axes=[self.axis_key(iv) for iv in ivs], results=[fused.name])
        return fused

    def _unit_loop(self):
        if self.is_placeholder:
            raise self._error("fuse", "-", "an input placeholder has no loops to schedule")
        unit = self._new_iv("unit", E.const(1), "data")
        self.relations.append(Singleton(unit))
        self.leaf_iter_vars.insert(0, unit)
        self._record("fuse", axes=[], results=[unit.name])
        return unit

    def _check_fusable(self, ivs):
        pos = [self.leaf_iter_vars.index(iv) for iv in ivs]
        for a, b, iv in zip(pos, pos[1:], ivs[1:]):
            if b != a + 1:
                raise self._error("fuse", iv, "axes to fuse must be adjacent loops, "
                                  "given outer to inner")
        for iv in ivs:
            self._not_annotated("fuse", iv)

    def _fuse_pair(self, outer, inner):
        oe, ie = outer.extent, inner.extent
        extent = E.const(oe.value * ie.value, oe.dtype) if isinstance(oe, E.Const) and \
            isinstance(ie, E.Const) else oe * ie
        # as TVM: a loop fusing a reduction axis in is a reduction loop
        kind = "reduce" if "reduce" in (outer.kind, inner.kind) else outer.kind
        fused = self._new_iv(f"{outer.name}.{inner.name}.fused", extent, kind)
        self.relations.append(Fuse(outer, inner, fused))
        pos = self.leaf_iter_vars.index(outer)
        self.leaf_iter_vars[pos:pos + 2] = [fused]
        return fused

    def reorder(self, *ivs):
        """Put the given loops in this order, in the positions they occupy now."""
        if len(ivs) == 1 and isinstance(ivs[0], (list, tuple)):
            ivs = tuple(ivs[0])
        ivs = [self._leaf("reorder", iv) for iv in ivs]
        for k, iv in enumerate(ivs):
            if iv in ivs[:k]:
                raise self._error("reorder", iv, "axis is listed twice")
        slots = sorted(self.leaf_iter_vars.index(iv) for iv in ivs)
        for slot, iv in zip(slots, ivs):
            self.leaf_iter_vars[slot] = iv
        self._record("reorder", axes=[self.axis_key(iv) for iv in ivs])

    # -- annotations --------------------------------------------------------------
    def _annotate(self, primitive: str, iv, kind: str, thread=None):
        iv = self._leaf(primitive, iv)
        if iv in self.annotations and self.annotations[iv] != (kind, thread):
            raise self._error(primitive, iv, f"axis is already annotated {self.annotations[iv][0]}")
        return iv

    def vectorize(self, iv):
        """Execute this loop as vector instructions.  Any extent: one longer than a
        few of the target's vectors, or symbolic, is lowered as full vectors of the
        target's width plus a tail (passes/vectorize.py)."""
        iv = self._annotate("vectorize", iv, "vectorized")
        if iv.kind == "reduce":
            raise self._error("vectorize", iv, "cannot vectorize a reduction axis "
                              "(lanes would race on the accumulator); vectorize a data axis")
        other = next((x for x, (k, _) in self.annotations.items()
                      if k == "vectorized" and x is not iv), None)
        if other is not None:
            raise self._error("vectorize", iv, f"axis {other.name} is already vectorized; "
                              "vectorize one axis per stage (fuse them first)")
        self.annotations[iv] = ("vectorized", None)
        self._record("vectorize", axis=self.axis_key(iv))

    def unroll(self, iv):
        """Replicate the loop body for each iteration."""
        iv = self._annotate("unroll", iv, "unrolled")
        self.annotations[iv] = ("unrolled", None)
        self._record("unroll", axis=self.axis_key(iv))

    def parallel(self, iv):
        """Run the iterations of this loop on the thread pool."""
        iv = self._annotate("parallel", iv, "parallel")
        if iv.kind == "reduce":
            raise self._error("parallel", iv, "cannot parallelize a reduction axis "
                              "(iterations would race on the output)")
        self.annotations[iv] = ("parallel", None)
        self._record("parallel", axis=self.axis_key(iv))

    def bind(self, iv, thread):
        """Map this loop to a GPU thread or block index (GPU targets only), or to a
        virtual thread (any target: the loop is unrolled into the thread's body)."""
        if not isinstance(thread, ThreadAxis):
            raise self._error("bind", iv, f"expected oc.thread_axis(...), got {thread!r}")
        if thread.tag == VIRTUAL_THREAD:
            return self._bind_virtual(iv)
        iv = self._annotate("bind", iv, "thread", thread.tag)
        if iv.kind == "reduce":          # a cross-thread reduction (cross_thread.py)
            from .cross_thread import check_reduce_bind
            check_reduce_bind(self, iv, thread)
        for other, (kind, tag) in self.annotations.items():
            if tag == thread.tag and other is not iv:
                raise self._error("bind", iv, f"{thread.tag} is already bound to axis {other.name}")
        if thread.extent is not None:
            from .thread_extent import check_bound_extent
            check_bound_extent(self, iv, thread)
        self.annotations[iv] = ("thread", thread.tag)
        self._record("bind", axis=self.axis_key(iv), thread=thread.tag)

    def _bind_virtual(self, iv):
        iv = self._annotate("bind", iv, "vthread")
        if iv.kind == "reduce":
            raise self._error("bind", iv, "cannot bind a reduction axis to a virtual thread "
                              "(TVM interleaves data loops only)")
        self.annotations[iv] = ("vthread", None)
        self._record("bind", axis=self.axis_key(iv), thread=VIRTUAL_THREAD)

    def pragma(self, iv, key, value=None):
        """Annotate a loop with a pragma (storage.KNOWN_PRAGMAS are lowered; others are
        kept in the schedule and ignored).  "vectorize", "unroll" and "parallel" act
        as those primitives, as in TVM."""
        if key in _PRAGMA_PRIMITIVES:
            return getattr(self, _PRAGMA_PRIMITIVES[key])(iv)
        from .storage import pragma
        pragma(self, iv, key, value)

    @property
    def iter_var_attrs(self) -> dict:
        """TVM's view of this stage's loop annotations: IterVar -> IterVarAttr
        (iter_type, bind_thread, pragma_keys, pragma_values, tensor_intrin)."""
        from .iter_var_attr import iter_var_attrs
        return iter_var_attrs(self)

    # -- storage (storage.py) --------------------------------------------------------
    def set_scope(self, scope: str):
        """Store this stage's buffer in `scope` (global, shared or local)."""
        from .storage import set_scope
        set_scope(self, scope)

    def storage_align(self, axis, factor: int, offset: int):
        """Pad the stride of dimension `axis` of this stage's buffer to factor*k + offset."""
        from .storage import storage_align
        storage_align(self, axis, factor, offset)

    def double_buffer(self):
        """Keep two copies of this stage's buffer, alternating per iteration of the
        loop it is computed at."""
        from .storage import double_buffer
        double_buffer(self)

    def tensorize(self, iv, intrin):
        """Replace the loops from iv inward by a call to a tensor intrinsic
        (oc.decl_tensor_intrin); the loop nest must compute what the intrinsic
        computes (see opcomp/tensor_intrin.py)."""
        from .tensorize import tensorize
        tensorize(self, iv, intrin)

    # -- placement ----------------------------------------------------------------
    def compute_at(self, parent: "Stage", iv):
        """Compute this stage inside loop iv of parent, only the region needed there.

        Several consumers are allowed when all of them run inside that loop (parent
        itself, or stages computed at iv or deeper): the region is the union of what
        they read, as in TVM.  A consumer that can never get there (one parent does
        not consume, or an output) is refused here; one still at root when the
        schedule is lowered is refused then (it may be computed at iv later)."""
        self._check_movable("compute_at")
        if not isinstance(parent, Stage):
            raise self._error("compute_at", iv, f"target must be a stage (s[T]), got {parent!r}")
        if parent is self:
            raise self._error("compute_at", iv, "cannot compute a stage at itself")
        iv = parent._leaf("compute_at", iv)
        if self.is_output:
            raise self._error("compute_at", iv, "an output tensor cannot be computed at another stage")
        if parent.attach_type == "inline":
            raise self._error("compute_at", iv, f"target stage {parent.name} is inlined")
        if not self.schedule._reads(parent, self):
            raise self._error("compute_at", iv, f"stage {parent.name} does not consume {self.name}")
        self._check_consumers_can_follow(parent, iv)
        self.attach_type, self.attach_stage, self.attach_ivar = "scope", parent, iv
        self._record("compute_at", target=parent.name, axis=parent.axis_key(iv))

    def _check_consumers_can_follow(self, parent: "Stage", iv):
        """Every consumer must run inside parent's loop iv (TVM's rule for several
        consumers).  Those that never can are refused here; one still at root that
        could be computed there later is checked when the schedule is lowered."""
        sch = self.schedule
        for q in sch.consumers(self):
            if q is parent:
                continue
            if not sch._reads(parent, q):
                raise self._error("compute_at", iv, f"{q.name} also reads {self.name} but can "
                                  f"never run inside loop {iv.name} of {parent.name} "
                                  f"({parent.name} does not consume {q.name}); every consumer "
                                  f"of {self.name} must run inside that loop")
            if q.is_output:
                raise self._error("compute_at", iv, f"{q.name} also reads {self.name} but is an "
                                  f"output, which stays at root, outside loop {iv.name} of "
                                  f"{parent.name}; every consumer of {self.name} must run "
                                  "inside that loop")

    def compute_inline(self):
        """Substitute this stage's expression into its consumers."""
        self._check_movable("compute_inline")
        # rfactor of a whole reduction axis leaves a reduction over no axes (fuzz seed 99)
        if self.op.reduce_axis or isinstance((getattr(self.op, "bodies", None) or (None,))[0], E.Reduce):
            raise self._error("compute_inline", "-", "cannot inline a reduction")
        if getattr(self.op, "num_outputs", 1) > 1:
            raise self._error("compute_inline", "-", "cannot inline a tuple-returning compute "
                              f"({self.op.num_outputs} outputs in one loop nest); "
                              "compute it at root or compute_at a consumer")
        if self.is_output:
            raise self._error("compute_inline", "-", "cannot inline an output tensor")
        for st in self.schedule.stages:
            if st.attach_stage is self:
                raise self._error("compute_inline", "-", f"stage {st.name} is computed at this stage")
        self.attach_type, self.attach_stage, self.attach_ivar = "inline", None, None
        self._record("compute_inline")

    def compute_root(self):
        """Compute this stage at the top level (undoes compute_at/compute_inline)."""
        self._check_movable("compute_root")
        self.attach_type, self.attach_stage, self.attach_ivar = "root", None, None
        self._record("compute_root")

    def _check_movable(self, primitive: str):
        if self.is_placeholder:
            raise self._error(primitive, "-", "an input placeholder is not computed")
        from .escapes import check_movable   # extern, scan and tensorize rules
        check_movable(self, primitive)

    def __repr__(self):
        return f"Stage({self.name}, loops={self.loops_str()})"


def _int_factor(value):
    """An integer Const expression (oc.const(3), as TVM code passes) as its int;
    anything else unchanged, for the callers' checks to judge."""
    if isinstance(value, E.Const) and dt.is_int(value.dtype) and dt.lanes(value.dtype) == 1:
        return value.value
    return value


class Schedule:
    """The stages of a computation, producers first, and the trace of primitives applied."""

    def __init__(self, outputs):
        from .trace import Trace
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if not outs:
            raise ScheduleError("create_schedule: needs at least one output tensor")
        # TVM passes operations (create_schedule(C.op)): take each op's outputs (all of a
        # tuple compute's or a multi-state scan's), each once
        outs = [o for t in outs for o in (_op_outputs(t) if isinstance(t, te.Operation) else [t])]
        outs = [t for k, t in enumerate(outs) if not any(_same_tensor(t, u) for u in outs[:k])]
        for t in outs:
            if not isinstance(t, te.Tensor):
                raise ScheduleError(f"create_schedule: outputs must be tensors or operations, "
                                    f"got {t!r}")
        self.outputs = outs
        self.trace = Trace(workload=workload_key(outs))
        self.stages: list = []
        self.stage_map: dict = {}
        self.groups: list = []            # create_group (group.py)
        for t in te.tensors_in_order(outs):
            self._add_stage(Stage(t.op, self), t.op)
        for t in outs:
            self.stage_map[t.op].is_output = True
        for st in self.stages:                  # a scan's update runs in its loop (scan.py)
            if hasattr(st.op, "attach_updates"):
                st.op.attach_updates(self, st)

    def _add_stage(self, stage, op, index=None):
        names = {s.name for s in self.stages}
        base, k = stage.name, 1
        while stage.name in names:
            stage.name, k = f"{base}_{k}", k + 1
        self.stages.insert(len(self.stages) if index is None else index, stage)
        self.stage_map[op] = stage

    def __getitem__(self, t) -> Stage:
        op = t.op if isinstance(t, te.Tensor) else t
        if op not in self.stage_map:
            name = getattr(t, "name", repr(t))
            raise ScheduleError(f"schedule: tensor {name} is not part of this schedule's computation")
        return self.stage_map[op]

    def stage_by_name(self, name: str) -> Stage:
        for st in self.stages:
            if st.name == name:
                return st
        raise ScheduleError(f"schedule: no stage named {name!r}; stages: {[s.name for s in self.stages]}")

    def _owner_of(self, iv):
        return next((st for st in self.stages if iv in st.all_iter_vars), None)

    def _reads(self, consumer: Stage, producer: Stage) -> bool:
        """Whether consumer reads producer, directly or through other stages."""
        todo, seen = [consumer.op], set()
        while todo:
            op = todo.pop()
            for t in op.input_tensors:
                st = self.stage_map.get(t.op)
                if st is producer:
                    return True
                if st is not None and st not in seen:
                    seen.add(st)
                    todo.append(st.op)
        return False

    def attach_path(self, stage: Stage, target: Stage):
        """How stage runs inside target's loops: (the stages from stage up to target,
        target excluded; the position in target's loops where that chain hangs),
        or None when stage does not run inside target's loops.  target itself is
        at position len(loops): inside all of them."""
        chain, pos = [], len(target.leaf_iter_vars)
        while stage is not target:
            if stage.attach_type != "scope":
                return None
            chain.append(stage)
            parent = stage.attach_stage
            stage, pos = parent, parent.leaf_iter_vars.index(stage.attach_ivar)
        return chain, pos

    def consumers(self, producer: Stage) -> list:
        """Stages whose body reads producer directly."""
        return [st for st in self.stages if not st.is_placeholder and
                any(self.stage_map.get(t.op) is producer for t in st.op.input_tensors)]

    # cache_read / cache_write (cache_stage.py) and rfactor (rfactor.py) rewrite the graph
    def normalize(self) -> "Schedule":
        """TVM's normalize (make every loop start at 0): opcomp's loops already do,
        so this changes nothing, records nothing in the trace, and returns self."""
        return self

    def cache_read(self, tensor, scope: str, readers):
        """A copy of tensor in `scope`, read by `readers` instead of tensor."""
        from .cache_stage import cache_read
        return cache_read(self, tensor, scope, readers)

    def cache_write(self, tensor, scope: str):
        """Compute tensor into a `scope` buffer first; tensor's stage becomes a copy.
        A tuple-returning compute is cached whole: pass the list of all its outputs
        (TVM's form); the list of cache tensors is returned."""
        from .cache_stage import cache_write, cache_write_outputs
        if isinstance(tensor, (list, tuple)):
            return cache_write_outputs(self, list(tensor), scope)
        op = getattr(tensor, "op", tensor)
        if getattr(op, "num_outputs", 1) > 1:
            raise self[tensor]._error("cache_write", "-", "cache_write of a tuple-returning "
                                      "compute takes the list of all its outputs "
                                      "(s.cache_write([C0, C1], scope))")
        return cache_write(self, tensor, scope)

    def create_group(self, outputs, inputs, include_inputs: bool = False):
        """The stages between inputs and outputs as one group that can be compute_at'ed
        (see group.py); inputs belong to it only with include_inputs=True."""
        from .group import create_group
        return create_group(self, outputs, inputs, include_inputs)

    def rfactor(self, tensor, axis, factor_axis: int = 0):
        """Factor reduction loop `axis` of tensor out into a new tensor T.rf (returned),
        where it is a data axis at position factor_axis; tensor's stage becomes the
        final reduction over it (see rfactor.py)."""
        from .rfactor import rfactor
        return rfactor(self, tensor, axis, factor_axis)


def _op_outputs(op) -> list:
    return [op.output(k) for k in range(op.num_outputs)]


def _same_tensor(a, b) -> bool:
    return isinstance(a, te.Tensor) and isinstance(b, te.Tensor) and a.op is b.op and \
        a.value_index == b.value_index


def create_schedule(outputs) -> Schedule:
    """A default schedule (every stage at root, loops in definition order)."""
    return Schedule(outputs)
