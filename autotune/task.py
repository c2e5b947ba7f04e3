"""A tuning task: a template, its arguments and a target.

    task = Task("matmul", args=(1024, 1024, 1024), target="llvm")
    task.space            # the ConfigSpace its knobs span
    task.fallback         # the target-derived default configuration
    s, args = task.instantiate(values)

The identity (name, canonical arguments, canonical target string) keys the
records; the workload key of the computation a configuration builds is checked
besides, so a record is never applied to another computation.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.te import ComputeOp, tensors_in_order

from .template import TemplateError, lookup, thaw

_COUNTED = ("add", "sub", "mul", "div", "truediv", "floordiv", "mod", "floormod",
            "max", "min", "pow")


@dataclass(frozen=True)
class Task:
    """A template instance to tune: template name, arguments, target.

    args and kwargs are canonicalized against the template's signature
    (defaults filled in), target to its canonical string: equal tasks compare
    equal and key the same records.
    """
    name: str
    args: tuple = ()
    kwargs: tuple = ()
    target: str = "llvm"

    def __post_init__(self):
        tmpl = lookup(self.name)
        kwargs = dict(self.kwargs.items() if isinstance(self.kwargs, dict) else self.kwargs)
        if "target" in kwargs:
            raise TemplateError(f"Task {self.name!r}: give the target as Task(..., target=...), "
                                "not among kwargs")
        args = tuple(self.args) if isinstance(self.args, (list, tuple)) else (self.args,)
        pos, kw, _ = tmpl.identify(args, kwargs)
        object.__setattr__(self, "args", pos)
        object.__setattr__(self, "kwargs", kw)
        object.__setattr__(self, "target", str(oc.Target(self.target)))

    def __repr__(self):
        kw = "".join(f", {k}={v!r}" for k, v in self.kwargs)
        brief = oc.Target(self.target).brief
        return f"Task({self.name!r}, args={self.args!r}{kw}, target={brief!r})"

    @property
    def template(self):
        return lookup(self.name)

    @property
    def key(self) -> dict:
        """The identity as JSON data (records carry it)."""
        return {"name": self.name, "args": thaw(self.args),
                "kwargs": {k: thaw(v) for k, v in self.kwargs}}

    def run(self, values=None, partial: bool = False) -> tuple:
        """Run the template with a configuration (None: fallback): (schedule, tensors, config)."""
        return self.template.run(self.args, self.kwargs, oc.Target(self.target), values, partial)

    def instantiate(self, values=None) -> tuple:
        """(schedule, tensors) for a configuration (None: the fallback configuration)."""
        sch, tensors, _ = self.run(values)
        return sch, tensors

    def computation(self, values=None) -> tuple:
        """A fresh schedule with no primitives of the computation a configuration
        builds, and the argument tensors: (schedule, tensors)."""
        sch, tensors, _ = self.run(values)
        return oc.create_schedule(sch.outputs), tensors

    @property
    def space(self):
        """The ConfigSpace the template's knobs span for these arguments and target."""
        return _describe(self)[0]

    @property
    def fallback(self) -> dict:
        """The fallback configuration (each knob's target-derived default)."""
        return dict(_describe(self)[1])

    @property
    def flop(self) -> float:
        """Floating-point operations per call (cfg.add_flop, else counted from the graph)."""
        return _describe(self)[2]


@functools.lru_cache(maxsize=64)
def _describe(task: Task) -> tuple:
    sch, _, cfg = task.run()
    flop = cfg.flop if cfg.flop else estimate_flop(sch.outputs)
    return cfg.space, tuple(cfg.values().items()), float(flop)


def estimate_flop(outputs) -> int:
    """Floating-point arithmetic of one evaluation: each compute stage's float
    operations per element (a reduction adds its combine) times its iterations."""
    total = 0
    for t in tensors_in_order(list(outputs)):
        op = t.op
        if not isinstance(op, ComputeOp):
            continue
        per = _float_ops(op.bodies[0])
        iters = _const_prod([iv.extent for iv in op.axis + op.reduce_axis])
        total += per * iters
    return total


def _float_ops(e) -> int:
    if isinstance(e, E.Reduce):
        inner = _float_ops(e.source)
        return inner + (1 if _is_float(e.dtype) else 0)
    n = 0
    if isinstance(e, E.Binary) and e.op in _COUNTED and _is_float(e.dtype):
        n = 1
    elif isinstance(e, (E.Unary, E.Call)) and _is_float(e.dtype):
        n = 1
    for f in E.field_names(e) if isinstance(e, E.Node) else ():
        v = getattr(e, f)
        for child in (v if isinstance(v, tuple) else (v,)):
            if isinstance(child, E.Expr) and not isinstance(child, E.TensorRead):
                n += _float_ops(child)
    return n


def _is_float(dtype: str) -> bool:
    return str(dtype).startswith(("float", "bfloat"))


def _const_prod(extents) -> int:
    vals = [getattr(x, "value", None) for x in extents]
    if any(not isinstance(v, int) for v in vals):
        raise TemplateError("estimate_flop: symbolic extents; call cfg.add_flop(n) in the "
                            "template")
    return math.prod(vals)
