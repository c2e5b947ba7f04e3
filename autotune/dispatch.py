"""Shape ranges: tune a template over a range of one size, build one module for all of it.

    rm = tune_range("matmul", dim="M", lo=1, hi=4096, sizes={"N": 512, "K": 512},
                    trials=16, log="range.jsonl")
    rm(a, b, c)            # any M in [lo, hi] (the module takes M from the arrays)
    rm.table               # [{"lo", "hi", "representative", "config", "gflops"}, ...]

The range is cut at powers of two (split_range: at most `parts` sub-ranges of
about equal width in log scale); each sub-range is tuned at a representative
size, its largest (a configuration tuned where the work is largest costs
least where it is smaller), as an ordinary Task, so the log is resumable.
Then the template is run once per sub-range with the size as a symbolic
variable and that sub-range's best configuration; the lowered functions share
one parameter list (buffers and size variables identified by position and
name), and one function dispatches on the size at call time:

    if M < 4:  <branch 0>  else if M < 64: <branch 1>  else: <branch 2>

Every branch is correct for every size (it is the template's schedule with a
symbolic size), so a size outside [lo, hi] is still computed right: by the
first or the last branch.  probe=True adds a last parameter, an int32 array of
one element, where the module writes the branch it ran (the tests check the
dispatch with it).  The template must accept a symbolic value for `dim` (its
knobs must not depend on that size).
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.ir.visit import rewrite, substitute

from . import records as rlog
from .task import Task
from .template import TemplateError, lookup
from .tune import tune


@dataclass(frozen=True)
class Branch:
    """One sub-range [lo, hi] and the configuration tuned at its representative size."""
    lo: int
    hi: int
    representative: int
    config: dict
    gflops: float
    trace: tuple


class RangeModule:
    """One compiled kernel for a range of sizes (see the module docstring)."""

    def __init__(self, name, dim, branches, func, module, probe, traces=()):
        self.name, self.dim, self.branches = name, dim, tuple(branches)
        self.func, self.module, self.probe = func, module, probe
        self.traces = tuple(traces)    # each branch's schedule as built (symbolic size)

    def __call__(self, *arrays):
        return self.module(*arrays)

    def branch_for(self, size: int) -> int:
        """The branch the module runs for a size (the same test as its if/else chain)."""
        for k, b in enumerate(self.branches[:-1]):
            if size <= b.hi:
                return k
        return len(self.branches) - 1

    @property
    def table(self) -> list:
        """The dispatch table: one dict per branch."""
        return [{"lo": b.lo, "hi": b.hi, "representative": b.representative,
                 "config": dict(b.config), "gflops": b.gflops} for b in self.branches]


def split_range(lo: int, hi: int, parts: int = 4) -> list:
    """[(lo_k, hi_k)]: [lo, hi] cut at powers of two, at most `parts` pieces of about
    equal width in log scale."""
    if isinstance(lo, bool) or not isinstance(lo, int) or not isinstance(hi, int) or \
            not 1 <= lo <= hi:
        raise ValueError(f"tune_range: need integers 1 <= lo <= hi, got lo={lo!r}, hi={hi!r}")
    if parts < 1:
        raise ValueError(f"tune_range: parts must be >= 1, got {parts!r}")
    cuts = [1 << p for p in range(lo.bit_length(), hi.bit_length()) if lo < 1 << p <= hi]
    spots = {round((k + 1) * (len(cuts) + 1) / parts) - 1 for k in range(parts - 1)}
    picked = [cuts[i] for i in sorted(spots) if 0 <= i < len(cuts)]
    bounds = [lo] + picked + [hi + 1]
    return [(a, b - 1) for a, b in zip(bounds, bounds[1:])]


def tune_range(template, dim: str, lo: int, hi: int, sizes: dict = None, target="llvm",
               trials: int = 16, log=None, parts: int = 4, probe: bool = False,
               **tune_options) -> RangeModule:
    """Tune `template` (a name or a @template function) over dim in [lo, hi] and build one
    dispatching module (see the module docstring).  sizes: the template's other
    arguments by name; tune_options: passed to tune() (tuner, options, progress...)."""
    name = getattr(getattr(template, "template", None), "name", template)
    tmpl = lookup(name)
    _check_dim(tmpl, dim)
    sizes = dict(sizes or {})
    branches = []
    for a, b in split_range(lo, hi, parts):
        task = Task(name, kwargs={**sizes, dim: b}, target=target)
        measured = tune(task, trials=trials, log=log, **tune_options).records if trials else ()
        branches.append(_branch(task, a, b, rlog.load(log) if log else measured))
    func, traces = _dispatcher(tmpl, dim, sizes, target, branches, probe)
    module = oc.compile(func, target).load()
    return RangeModule(name, dim, branches, func, module, probe, traces)


def _check_dim(tmpl, dim) -> None:
    params = inspect.signature(tmpl.func).parameters
    if dim not in params:
        raise TemplateError(f"tune_range: template {tmpl.name!r} has no parameter {dim!r} "
                            f"(parameters: {', '.join(params)})")


def _branch(task, lo, hi, records) -> Branch:
    best = rlog.best_records(records).get((task.name, task.args, task.kwargs, task.target))
    if best is None:                       # nothing measured: the fallback configuration
        sch, _ = task.instantiate()
        return Branch(lo, hi, hi, task.fallback, 0.0, tuple(sch.trace.records))
    return Branch(lo, hi, hi, dict(best.config), best.gflops, best.trace)


def _symbolic_run(tmpl, dim, sizes, target, config):
    """The template's schedule for a configuration with dim a symbolic variable."""
    size = oc.var(dim)
    probe_args, probe_kw, _ = tmpl.identify((), {**sizes, dim: 1})
    names = [p.name for p in inspect.signature(tmpl.func).parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    args = list(probe_args)
    kwargs = dict(probe_kw)
    if dim in kwargs:
        kwargs[dim] = size
    else:
        args[names.index(dim)] = size
    sch, tensors, _ = tmpl.run(tuple(args), tuple(kwargs.items()), oc.Target(target), config)
    return sch, tensors


def _dispatcher(tmpl, dim, sizes, target, branches, probe) -> tuple:
    """(the dispatching PrimFunc, each branch's trace)."""
    funcs, traces = [], []
    for k, br in enumerate(branches):
        sch, tensors = _symbolic_run(tmpl, dim, sizes, target, br.config)
        traces.append(tuple(sch.trace.records))
        funcs.append(oc.lower(sch, tensors, name=f"range_{k}", target=target))
    head = funcs[0]
    size = next((v for v in head.size_vars if v.name == dim), None)
    if size is None:
        raise TemplateError(f"tune_range: {dim!r} is not a size of the kernel's arguments")
    params = head.params
    flag = T.Buffer("branch", "int32", (E.const(1),)) if probe else None
    bodies = [_shared_params(f, head) for f in funcs]
    if probe:
        bodies = [T.seq(T.Store(flag, (E.const(0),), E.const(k, "int32")), body)
                  for k, body in enumerate(bodies)]
    stmt = bodies[-1]
    for br, body in zip(reversed(branches[:-1]), reversed(bodies[:-1])):
        stmt = T.IfThenElse(size <= br.hi, body, stmt)
    name = f"{tmpl.name.replace('/', '_')}_{dim}_range"
    func = dataclasses.replace(head, name=name, params=params + ((flag,) if probe else ()),
                               body=stmt)
    return func, traces


def _shared_params(func, head) -> T.Stmt:
    """func's body over head's parameter buffers and size variables."""
    by_name = {v.name: v for v in head.size_vars}
    sizes = {v: by_name[v.name] for v in func.size_vars}
    body = substitute(func.body, sizes)
    buffers = dict(zip(func.params, head.params))

    def swap(node):
        buf = getattr(node, "buffer", None)
        if not isinstance(buf, T.Buffer):
            return None
        if buf not in buffers:             # a temporary: its shape may use the size
            shape = tuple(substitute(d, sizes) for d in buf.shape)
            same = all(a is b for a, b in zip(shape, buf.shape))
            buffers[buf] = buf if same else dataclasses.replace(buf, shape=shape)
        return None if buffers[buf] is buf else dataclasses.replace(node, buffer=buffers[buf])
    return rewrite(body, swap)
