"""Workload identity: a stable structural hash of a tensor-expression graph.

    oc.workload_key([C])  ->  "3f0a..."  (64 hex digits)

Two graphs get the same key when they compute the same thing: the same
operations in the same producer order, shapes, dtypes, tags and expressions.
Tensors and variables are numbered by first appearance, so the key does not
depend on Python object ids or on the process; size variables keep their
names (they are the names arrays bind at call time), tensors and loop axes
do not (renaming A to X changes no code).  Tuning records and traces carry
the key, so a record is never applied to another computation.
"""
from __future__ import annotations

import hashlib
import json

from .ir import expr as E
from .te import ComputeOp, PlaceholderOp, Tensor, tensors_in_order

KEY_VERSION = 1


def workload_key(outputs) -> str:
    """The hex sha256 of the graph that computes `outputs` (a tensor or a list)."""
    outs = _as_tensors(outputs)
    text = json.dumps([KEY_VERSION, _Describer().graph(outs)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _as_tensors(outputs) -> list:
    items = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    out = []
    for t in items:
        t = t.output(0) if not isinstance(t, Tensor) and hasattr(t, "output") else t
        if not isinstance(t, Tensor):
            raise TypeError(f"workload_key: expected tensors (or their operations), got {t!r}")
        out.append(t)
    return out


class _Describer:
    """JSON-able structure of a graph, identities numbered in order of appearance."""

    def __init__(self):
        self.ops: dict = {}
        self.vars: dict = {}
        self.axis_vars: set = set()

    def graph(self, outputs) -> list:
        ops = [self.op(t.op) for t in tensors_in_order(outputs)]
        return [ops, [self.ops[t.op] for t in outputs]]

    def op(self, op) -> list:
        self.ops[op] = len(self.ops)
        shape = [self.expr(s) for s in op.shape]
        if isinstance(op, PlaceholderOp):
            return ["placeholder", shape, op.dtype]
        if isinstance(op, ComputeOp):
            self.axis_vars.update(iv.var for iv in op.axis + tuple(op.reduce_axis))
            axes = [self.itervar(iv) for iv in op.axis]
            if op.num_outputs > 1:          # a tuple-returning compute: every body
                return ["compute", shape, op.dtype, op.tag, axes,
                        [self.expr(b) for b in op.bodies]]
            return ["compute", shape, op.dtype, op.tag, axes, self.expr(op.bodies[0])]
        if hasattr(op, "describe_for_key"):      # extern and scan operations
            return op.describe_for_key(self)
        raise TypeError(f"workload_key: unknown operation {op!r}")

    def itervar(self, iv) -> list:
        return ["iv", self.var(iv.var), self.expr(iv.min), self.expr(iv.extent), iv.kind]

    def var(self, v: E.Var) -> str:
        if v not in self.vars:
            self.vars[v] = f"v{len(self.vars)}"
        return self.vars[v]

    def expr(self, e):
        if isinstance(e, E.Var):          # a size variable keeps its name, an axis does not
            name = None if e in self.axis_vars else e.name
            return ["var", self.var(e), name, e.dtype]
        if isinstance(e, E.Const):
            return ["const", repr(e.value), e.dtype]
        if isinstance(e, E.TensorRead):
            read = ["read", self.ops[e.tensor.op], [self.expr(i) for i in e.indices], e.dtype]
            return read + [e.tensor.value_index] if e.tensor.value_index else read
        if isinstance(e, E.IterVar):
            return self.itervar(e)
        if isinstance(e, E.Node):
            names = E.field_names(e)
            if isinstance(e, E.Reduce) and e.init is None and e.value_index == 0:
                names = names[:5]       # keys made before init= and tuple reducers stay valid
            return [type(e).__name__] + [self.field(getattr(e, f)) for f in names]
        return self.field(e)

    def field(self, v):
        if isinstance(v, (E.Node, E.Var)):
            return self.expr(v)
        if isinstance(v, (tuple, list)):
            return [self.field(x) for x in v]
        if v is None or isinstance(v, (bool, int, float, str)):
            return v if not isinstance(v, float) else repr(v)
        raise TypeError(f"workload_key: cannot describe {v!r}")
