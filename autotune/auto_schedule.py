"""auto_schedule: tune a computation without writing a template.

    C = oc.compute(...)                                   # any tensor expression
    s, args = autotune.auto_schedule([C], target="llvm", trials=64, log="auto.jsonl")
    mod = oc.build(s, args)

The search space comes from the computation (autotune.sketch: inlining,
multi-level tiling with a register tile, cache_write, rfactor and row fusion,
vectorization at the target's width, a parallel outer loop, unroll knobs); the
search, the measurement and the records are tune()'s.  The computation is the
template "auto_schedule" with one argument, its workload key, so records are
keyed by workload key + target, and the best record replays the same
schedule: ``auto_schedule(outputs, trials=0, log=...)`` (or any trials the
log already holds) rebuilds it without measuring.

Worker processes find the computation by its key: it is registered in this
process and pickled to a directory (workload_dir(); $OPCOMP_AUTOSCHEDULE_DIR
overrides it) that build workers on this machine read.
"""
from __future__ import annotations

import os
import pickle
import tempfile

import opcomp as oc
from opcomp.te import ComputeOp, PlaceholderOp, Tensor, tensors_in_order

from . import records as rlog
from .sketch import Sketch
from .task import Task
from .template import TemplateError, get_config, template
from .tune import tune

TEMPLATE = "auto_schedule"
_WORKLOADS: dict = {}          # workload key -> (outputs, argument tensors)


def workload_dir() -> str:
    """Where registered computations are pickled for worker processes."""
    return os.environ.get("OPCOMP_AUTOSCHEDULE_DIR") or os.path.join(
        tempfile.gettempdir(), f"opcomp-autoschedule-{os.getuid()}")


def default_args(outputs) -> list:
    """The placeholders in graph order, then the outputs."""
    inputs = [t for t in tensors_in_order(outputs) if isinstance(t.op, PlaceholderOp)]
    return inputs + list(outputs)


def register_workload(outputs, args=None) -> str:
    """Register a computation for auto_schedule: returns its workload key."""
    outputs = _checked_outputs(outputs)
    args = default_args(outputs) if args is None else list(args)
    if not all(isinstance(a, Tensor) for a in args):
        raise TypeError("auto_schedule: args must be tensors (the kernel's parameters)")
    key = oc.workload_key(outputs)
    _WORKLOADS[key] = (tuple(outputs), tuple(args))
    folder = workload_dir()
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump(_WORKLOADS[key], f)
    os.replace(tmp, os.path.join(folder, key + ".pkl"))   # atomic: readers see a whole file
    return key


def lookup_workload(key: str) -> tuple:
    """(outputs, args) of a registered computation (this process, else workload_dir())."""
    if key not in _WORKLOADS:
        path = os.path.join(workload_dir(), f"{key}.pkl")
        if not os.path.exists(path):
            raise TemplateError(f"auto_schedule: no computation registered with workload key "
                                f"{key[:16]}... (call autotune.auto_schedule(outputs) or "
                                "register_workload(outputs) in this process first)")
        with open(path, "rb") as f:
            _WORKLOADS[key] = pickle.load(f)
    return _WORKLOADS[key]


def _checked_outputs(outputs) -> list:
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if not outputs or not all(isinstance(t, Tensor) for t in outputs):
        raise TypeError(f"auto_schedule: outputs must be a tensor or a list of tensors, got "
                        f"{outputs!r:.80}")
    for t in outputs:
        if not isinstance(t.op, ComputeOp):
            raise TypeError(f"auto_schedule: output {t.name} is a placeholder; give the "
                            "computed tensors")
    return outputs


@template(TEMPLATE)
def auto_template(workload: str, target="llvm"):
    """The derived template: the sketch rules applied to the registered computation."""
    outputs, args = lookup_workload(workload)
    s = oc.create_schedule(list(outputs))
    Sketch(s, get_config(), outputs).apply()
    return s, list(args)


def auto_task(outputs, target="llvm", args=None) -> Task:
    """The Task that auto_schedule tunes for these outputs (registers the computation)."""
    return Task(TEMPLATE, args=(register_workload(outputs, args),), target=target)


def auto_schedule(outputs, target="llvm", trials: int = 64, log=None, timeout: float = None,
                  args=None, **tune_options) -> tuple:
    """Search a schedule for `outputs` and return (schedule, args) of the best one.

    target: where it runs; trials: distinct configurations measured in all (those
    in the log count, so a second call resumes and replays); log: the JSON-lines
    records (None: in memory); timeout: a wall-clock budget in seconds; args: the
    kernel's parameters in order (default: placeholders, then outputs);
    tune_options: passed to tune() (tuner, options, progress, seed, ...).
    """
    task = auto_task(outputs, target, args)
    best = None
    if trials:
        result = tune(task, trials=trials, log=log, time_budget=timeout, **tune_options)
        best = result.best
    elif log is not None:
        best = best_record(task, rlog.load(log))
    return task.instantiate(None if best is None else best.config)


def best_record(task, records):
    """The task's best record among records (pooled medians), or None."""
    return rlog.best_records(records).get((task.name, task.args, task.kwargs, task.target))
