"""TVM's schedule introspection and graph utilities, beside opcomp's own API.

    bounds = oc.InferBound(s)
    stmt = oc.ScheduleOps(s, bounds)          # the loop nest before the passes
    func = oc.SchedulePostProcToPrimFunc([A, C], stmt, None)

    g = oc.CreateReadGraph([C.op])            # op -> the tensors it reads
    order = oc.PostDFSOrder([C.op], g)        # producers before consumers
    body = oc.ScanGetBody(res.op)             # the ops inside a scan's recursion
    fix = oc.ScanFixPointAnalysis(res.op)     # spatial axis -> 1 when a fixed point
    path = oc.CreateAttachPath(s)             # op -> loops it runs in, innermost first
    oc.AutoInlineElemWise(s); oc.AutoInlineInjective(s)

The names and semantics are TVM's (python/tvm/te/schedule.py, src/te/schedule/
graph.cc, auto_inline_elem_wise.cc); the graph functions answer opcomp's read-only
Map keyed by operations.
"""
from __future__ import annotations

import weakref

from .convert import Map
from .ir import expr as E
from .ir import tir as T
from .ir.visit import walk
from .lower import _size_vars, schedule_to_stmt
from .scan import ScanOp
from .schedule.stage import Schedule, ScheduleError
from .te import ComputeOp, Operation, Tensor, TensorError

__all__ = [
    "AutoInlineElemWise",
    "AutoInlineInjective",
    "CreateAttachPath",
    "CreateReadGraph",
    "PostDFSOrder",
    "ScanFixPointAnalysis",
    "ScanGetBody",
    "ScheduleOps",
    "SchedulePostProcToPrimFunc",
]

# ScheduleOps' statement -> {(op, value_index): Buffer} of the tensors it made buffers
# for, so SchedulePostProcToPrimFunc binds the arguments to the very buffers the
# statement reads and writes (buffers compare by identity, not by name).
_BUFFERS_OF_STMT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# -- schedule -> statement -> PrimFunc ----------------------------------------------

def ScheduleOps(sch, bounds=None) -> T.Stmt:
    """The schedule's whole loop nest, before the lowering passes (TVM's ScheduleOps).

    bounds is what oc.InferBound(sch) returned (or None); opcomp infers the same
    bounds again, so it is only checked to belong to this schedule.  Every
    placeholder (but a scan's state, stored in the scan's output) and every output
    gets a global buffer, as lower's arguments would.
    """
    if not isinstance(sch, Schedule):
        raise ScheduleError(f"ScheduleOps: expected a schedule from oc.create_schedule, "
                            f"got {sch!r}")
    _check_bounds(sch, bounds)
    tensors = _buffer_tensors(sch)
    stmt, params = schedule_to_stmt(sch, tensors)
    known = {(t.op, t.value_index): b for t, b in zip(tensors, params)}
    _BUFFERS_OF_STMT[stmt] = {**_state_buffers(sch, known), **known}
    return stmt


def _state_buffers(sch, known: dict) -> dict:
    """A scan's state placeholder names the scan's output buffer (TVM binds it so)."""
    out = {}
    for st in sch.stages:
        if isinstance(st.op, ScanOp):
            for k, state in enumerate(st.op.states):
                if (st.op, k) in known:
                    out[(state.op, state.value_index)] = known[(st.op, k)]
    return out


def _check_bounds(sch, bounds) -> None:
    if bounds is None:
        return
    if not isinstance(bounds, dict):
        raise ScheduleError(f"ScheduleOps: bounds must be what oc.InferBound(s) returns "
                            f"(a Map) or None, got {type(bounds).__name__}")
    loops = {iv for st in sch.stages for iv in st.all_iter_vars}
    stranger = next((iv for iv in bounds if iv not in loops), None)
    if stranger is not None:
        raise ScheduleError(f"ScheduleOps: bounds are not of this schedule: loop "
                            f"{getattr(stranger, 'name', stranger)} is a loop of none of "
                            "its stages; pass oc.InferBound(s) of the same schedule")


def _buffer_tensors(sch) -> list:
    """Inputs (placeholders that are not scan states), then the outputs."""
    states = {id(s.op) for st in sch.stages if isinstance(st.op, ScanOp) for s in st.op.states}
    inputs = [st.op.output(0) for st in sch.stages
              if st.is_placeholder and id(st.op) not in states]
    return inputs + list(sch.outputs)


def SchedulePostProcToPrimFunc(args, stmt, binds=None) -> T.PrimFunc:
    """A PrimFunc named "main" over stmt whose parameters are the buffers of args, in
    order (TVM's SchedulePostProcToPrimFunc); binds maps a tensor to the Buffer it
    uses instead.  The function has had no lowering pass: oc.lower is the way to a
    compiled kernel."""
    if not isinstance(args, (list, tuple)) or not args:
        raise ScheduleError("SchedulePostProcToPrimFunc: args must be a non-empty list of "
                            "the tensors that become the function's parameters")
    if not isinstance(stmt, T.Stmt):
        raise ScheduleError(f"SchedulePostProcToPrimFunc: stmt must be a statement "
                            f"(oc.ScheduleOps(s, bounds)), got {type(stmt).__name__}")
    known = dict(_BUFFERS_OF_STMT.get(stmt, {}))
    known.update({(t.op, t.value_index): b for t, b in (binds or {}).items()})
    params = tuple(_param_buffer(a, known) for a in args)
    return T.PrimFunc("main", params, stmt, _size_vars(params))


def _param_buffer(arg, known: dict) -> T.Buffer:
    if not isinstance(arg, Tensor):
        raise ScheduleError(f"SchedulePostProcToPrimFunc: an argument must be a tensor, "
                            f"got {arg!r}")
    buf = known.get((arg.op, arg.value_index))
    if buf is None:        # not made by ScheduleOps (a tensor the statement never touches)
        buf = T.Buffer(arg.name, arg.dtype, tuple(arg.shape), "global")
    return buf


# -- automatic inlining -------------------------------------------------------------

def _is_scheduled(st) -> bool:
    """TVM's Stage.is_scheduled: anything done to its loops or its placement."""
    return bool(st.relations or st.annotations or st.pragmas) or st.attach_type != "root"


def _inlinable(st) -> bool:
    return isinstance(st.op, ComputeOp) and not st.is_output and not _is_scheduled(st) \
        and st.op.num_outputs == 1 and getattr(st, "tensorized", None) is None


def _is_elementwise(op: ComputeOp) -> bool:
    """Every read is at exactly the op's own index (T[i, j] in a compute over i, j)."""
    if op.reduce_axis or isinstance(op.bodies[0], E.Reduce):
        return False
    axis_vars = tuple(iv.var for iv in op.axis)
    reads = []
    walk(op.bodies, lambda n: reads.append(n) if isinstance(n, E.TensorRead) else None)
    return all(len(r.indices) == len(axis_vars) and
               all(i is v for i, v in zip(r.indices, axis_vars)) for r in reads)


def _is_injective(op: ComputeOp) -> bool:
    return not op.reduce_axis and not isinstance(op.bodies[0], E.Reduce)


def AutoInlineElemWise(sch) -> None:
    """compute_inline every elementwise stage nothing was scheduled on that is not an
    output (TVM's te.schedule.AutoInlineElemWise)."""
    _auto_inline(sch, "AutoInlineElemWise", _is_elementwise)


def AutoInlineInjective(sch) -> None:
    """compute_inline every stage without a reduction nothing was scheduled on that is
    not an output (TVM's te.schedule.AutoInlineInjective)."""
    _auto_inline(sch, "AutoInlineInjective", _is_injective)


def _auto_inline(sch, what: str, qualifies) -> None:
    if not isinstance(sch, Schedule):
        raise ScheduleError(f"{what}: expected a schedule from oc.create_schedule, got {sch!r}")
    for st in list(sch.stages):
        if _inlinable(st) and qualifies(st.op) and not _read_opaquely(sch, st):
            st.compute_inline()


def _read_opaquely(sch, st) -> bool:
    """Read as a whole buffer by an extern stage: there is no expression to inline into."""
    return any(getattr(q.op, "opaque", None) for q in sch.consumers(st))


# -- graph utilities ----------------------------------------------------------------

def _as_op(x, what: str) -> Operation:
    op = x.op if isinstance(x, Tensor) else x
    if not isinstance(op, Operation):
        raise TensorError(f"{what}: expected an operation (T.op) or a tensor, got {x!r}")
    return op


def _as_ops(roots, what: str) -> list:
    roots = list(roots) if isinstance(roots, (list, tuple)) else [roots]
    return [_as_op(r, what) for r in roots]


def CreateReadGraph(roots) -> Map:
    """Every op the roots depend on -> the list of tensors it reads (TVM's
    CreateReadGraph; a scan reads its inits and updates)."""
    graph, todo = {}, _as_ops(roots, "CreateReadGraph")
    while todo:
        op = todo.pop()
        if op in graph:
            continue
        graph[op] = list(op.input_tensors)
        todo.extend(t.op for t in graph[op] if t.op not in graph)
    return Map(graph)


def PostDFSOrder(roots, graph) -> list:
    """The ops of graph (CreateReadGraph's) reachable from roots, each after every op
    it reads: a topological order, producers first."""
    order, seen = [], set()

    def visit(op):
        if op in seen:
            return
        seen.add(op)
        if op not in graph:
            raise TensorError(f"PostDFSOrder: operation {op.name} is not in the read graph; "
                              "build it with oc.CreateReadGraph from these roots")
        for t in graph[op]:
            visit(t.op)
        order.append(op)
    for op in _as_ops(roots, "PostDFSOrder"):
        visit(op)
    return order


def _as_scan(scan_op, what: str) -> ScanOp:
    op = _as_op(scan_op, what)
    if not isinstance(op, ScanOp):
        raise TensorError(f"{what}: expected a scan operation (oc.scan(...).op), got "
                          f"{type(op).__name__} {op.name}")
    return op


def ScanGetBody(scan_op) -> list:
    """The ops inside the scan's recursion: those on a path from a state placeholder
    to an update, producers first, then the scan op itself (TVM's ScanGetBody; the
    scan op closes the loop, as TVM's original body listing had it)."""
    scan = _as_scan(scan_op, "ScanGetBody")
    boundary = {s.op for s in scan.states}
    reaches: dict = {}
    body: list = []

    def visit(op) -> bool:
        if op in reaches:
            return reaches[op]
        if op in boundary:
            reaches[op] = True
            return True
        reaches[op] = False                   # a cycle cannot form; this only marks op seen
        found = [visit(t.op) for t in op.input_tensors]
        reaches[op] = any(found)
        if reaches[op]:
            body.append(op)
        return reaches[op]
    for update in scan.updates:
        visit(update.op)
    return body + [scan]


def ScanFixPointAnalysis(scan_op) -> Map:
    """For each spatial axis of the scan (scan.spatial_axis_): 1 when step t's update
    reads the state at that axis only at the same index, through the body (exact
    reach: every read on the way indexes that dimension by the reader's own axis
    variable, and no other axis reaches it); else 0.  TVM's ScanFixPointAnalysis."""
    scan = _as_scan(scan_op, "ScanFixPointAnalysis")
    body = ScanGetBody(scan)
    reach, failed = _exact_reach(scan, body)
    out = {}
    for key, target, axis in _spatial_keys(scan):
        exact = axis not in failed and reach.get(key) is axis
        out[axis] = E.const(int(exact and _reaches_only(key, target, scan, body)), "int32")
    return Map(out)


def _spatial_keys(scan):
    """(update dim key, state dim key, spatial axis) for every state's dims after time."""
    axes = iter(scan.spatial_axis_)
    for state, update in zip(scan.states, scan.updates):
        for d in range(1, update.ndim):
            yield (update.op, update.value_index, d), (state.op, state.value_index, d), next(axes)


def _exact_reach(scan, body) -> tuple:
    """(tensor dim key -> the spatial axis that reaches it exactly, axes that failed)."""
    reach = {target: axis for _, target, axis in _spatial_keys(scan)}
    failed: set = set()

    def merge(dst, src):
        if src not in reach:
            return
        if dst not in reach:
            reach[dst] = reach[src]
        elif reach[dst] is not reach[src]:
            failed.update((reach[dst], reach[src]))
    for op in body:
        if isinstance(op, ScanOp):
            _merge_scan_outputs(op, merge)
        elif isinstance(op, ComputeOp):
            _merge_compute_reads(op, merge, reach, failed)
    return reach, failed


def _merge_scan_outputs(op, merge) -> None:
    for k, (init, update) in enumerate(zip(op.inits, op.updates)):
        for d in range(1, update.ndim):
            merge((op, k, d), (update.op, update.value_index, d))
            merge((op, k, d), (init.op, init.value_index, d))


def _merge_compute_reads(op, merge, reach, failed) -> None:
    position = {iv.var: d for d, iv in enumerate(op.axis)}
    for read in _reads(op):
        for d, index in enumerate(read.indices):
            src = (read.tensor.op, read.tensor.value_index, d)
            if isinstance(index, E.Var) and index in position:
                for k in range(op.num_outputs):
                    merge((op, k, position[index]), src)
            elif src in reach:          # that dimension is read at another index
                failed.add(reach[src])


def _reads(op) -> list:
    out = []
    walk(op.bodies, lambda n: out.append(n) if isinstance(n, E.TensorRead) else None)
    return out


def _reaches_only(key, target, scan, body) -> bool:
    """No dimension of another state (or another dimension of this one) is indexed by
    an expression of the variables that carry key (TVM's reach-graph check)."""
    graph = _reach_graph(body)
    states = {(s.op, s.value_index, d) for s in scan.states for d in range(s.ndim)}
    seen, todo = {key}, [key]
    while todo:
        k = todo.pop()
        if k != target and k in states:
            return False
        for nxt in graph.get(k, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return True


def _reach_graph(body) -> dict:
    """(op, 0, dim) -> the (tensor, dim) keys whose index uses that dim's variable,
    for reads of ops inside the body."""
    inside = set(body)
    graph: dict = {}
    for op in body:
        if isinstance(op, ScanOp):
            for k, (init, update) in enumerate(zip(op.inits, op.updates)):
                for d in range(1, update.ndim):
                    graph.setdefault((op, k, d), []).extend(
                        [(update.op, update.value_index, d), (init.op, init.value_index, d)])
        elif isinstance(op, ComputeOp):
            _compute_reach(op, inside, graph)
    return graph


def _compute_reach(op, inside, graph) -> None:
    position = {iv.var: d for d, iv in enumerate(op.axis)}
    for read in _reads(op):
        if read.tensor.op not in inside:
            continue
        for d, index in enumerate(read.indices):
            dst = (read.tensor.op, read.tensor.value_index, d)
            for v in _vars_of(index):
                if v in position:
                    graph.setdefault((op, 0, position[v]), []).append(dst)


def _vars_of(e) -> list:
    out = []
    walk(e, lambda n: out.append(n) if isinstance(n, E.Var) else None)
    return out


def CreateAttachPath(sch) -> Map:
    """Each stage's op -> the loops it runs inside, innermost first, across every
    compute_at level (a scan's update: inside the scan's time loop); () at root."""
    if not isinstance(sch, Schedule):
        raise ScheduleError(f"CreateAttachPath: expected a schedule from oc.create_schedule, "
                            f"got {sch!r}")
    out = {}
    for st in sch.stages:
        out.setdefault(st.op, tuple(_attach_path(st)))
    return Map(out)


def _attach_path(st) -> list:
    path = []
    while st.attach_type in ("scope", "scan"):
        parent, ivar = st.attach_stage, st.attach_ivar
        loops = parent.leaf_iter_vars
        at = loops.index(ivar) if ivar in loops else len(loops) - 1
        path.extend(reversed(loops[:at + 1]))
        st = parent
    return path
