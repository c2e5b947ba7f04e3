"""Measuring configurations: parallel builds, then one isolated run per candidate.

    m = Measurer(task, MeasureOptions(run_timeout=10))
    records = m.measure([config, ...])      # autotune.Record per config, errors included

Builds run in `n_parallel` worker processes (recycled after
`builds_per_worker` builds).  Runs happen one at a time, each in a fresh
process, after the batch's builds are done, so the timed kernel has the
machine to itself.  A run loads the artifact, checks its first call against
the reference outputs (computed once per session by the untuned build of the
same computation, on the same inputs: random, non-zero, fixed seed; outputs
start as NaN), then times warm-up and repeats with oc.benchmark.  A candidate
whose warm second call is `cutoff` times slower than the best so far is timed
by that call alone: a hopeless candidate costs two calls, not a benchmark.

Every failure becomes a record with its own ErrorCode: the template raising
(INSTANTIATE_ERROR), lowering or codegen raising (COMPILE_ERROR), a build
past its timeout or a dead builder (BUILD_TIMEOUT, BUILD_CRASH), a hang, a
crash or an allocation failure in the run (RUN_TIMEOUT, RUN_CRASH,
RUN_MEMORY), a wrong first answer (WRONG_ANSWER), an exception from the call
(RUN_ERROR).  Killed workers are reaped at once (see workers.py).
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
from dataclasses import dataclass, replace

import numpy as np

import opcomp as oc

from . import gpu_screen, jobs
from .records import ErrorCode, Record
from .workers import Pool

GiB = 1 << 30


@dataclass(frozen=True)
class MeasureOptions:
    """How candidates are built and timed.

    n_parallel: build workers (default: the target's cores).  build_timeout,
    run_timeout: seconds per build, per run (load + check + timing).
    warmup, repeat, min_time: oc.benchmark's (seconds per repeat at least).
    rtol, atol: the first-run check (atol is relative to the largest reference
    value).  memory_limit: bytes a worker may allocate beyond what it had at
    start.  reference: "untuned" (the computation with no primitives),
    "fallback" (the fallback configuration) or "none" (no check).  hook: a
    picklable hook(artifact, config) -> artifact run in the builder.  cutoff: a
    candidate slower than `cutoff` times the best so far is timed by one call
    (None: every candidate gets the full benchmark).  start_method: how worker
    processes start (see workers.context).
    """
    n_parallel: int = None
    build_timeout: float = 60.0
    run_timeout: float = 10.0
    warmup: int = 1
    repeat: int = 10
    min_time: float = 0.02
    rtol: float = 1e-4
    atol: float = 1e-5
    memory_limit: int = 4 * GiB
    builds_per_worker: int = 64
    reference: str = "untuned"
    reference_timeout: float = 600.0
    hook: object = None
    seed: int = 0
    cutoff: float = 3.0
    start_method: str = "forkserver"

    def __post_init__(self):
        if self.reference not in ("untuned", "fallback", "none"):
            raise ValueError(f"MeasureOptions: reference must be 'untuned', 'fallback' or "
                             f"'none', got {self.reference!r}")
        for name in ("build_timeout", "run_timeout", "reference_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MeasureOptions: {name} must be > 0")
        if self.hook is not None:
            try:
                pickle.dumps(self.hook)
            except (pickle.PicklingError, TypeError, AttributeError) as e:
                raise ValueError(f"MeasureOptions: hook must be picklable (a module-level "
                                 f"function), got {self.hook!r}: {e}") from None


def random_arrays(tensors, outputs, seed: int) -> list:
    """Inputs: random non-zero values; outputs: NaN (floats) or a sentinel, to catch
    elements a kernel never writes."""
    rng = np.random.default_rng(seed)
    out = []
    for t in tensors:
        shape = tuple(int(getattr(s, "value", s)) for s in t.shape)
        dtype = np.dtype(t.dtype)
        if t.op in outputs:
            fill = np.nan if dtype.kind in "fc" else (np.iinfo(dtype).min if dtype.kind in "iu"
                                                      else False)
            out.append(np.full(shape, fill, dtype))
        elif dtype.kind in "fc":
            mag = rng.uniform(0.5, 1.5, shape)
            out.append((mag * rng.choice([-1.0, 1.0], shape)).astype(dtype))
        elif dtype.kind in "iu":
            out.append(rng.integers(1, 8, shape).astype(dtype))
        else:
            out.append(rng.integers(0, 2, shape).astype(dtype))
    return out


class Measurer:
    """Builds and runs configurations of one task (see the module docstring)."""

    def __init__(self, task, options: MeasureOptions = None, builders=None, runner=None):
        self.task, self.opt = task, options or MeasureOptions()
        self.module = task.template.module
        o = self.opt
        cores = getattr(oc.Target(task.target), "cores", None) or 1
        n = o.n_parallel or max(1, min(cores, os.cpu_count() or 1))
        # builders and runner: anything with map(fn, jobs, timeout) -> [Outcome] and
        # close(), so a cluster runner can stand in for the local processes.
        self.builders = builders or Pool(n, o.builds_per_worker, o.memory_limit,
                                         {"OPCOMP_CACHE_DIR": "off"}, o.start_method)
        self.runner = runner or Pool(1, 1, o.memory_limit, None, o.start_method)
        self.dir = tempfile.mkdtemp(prefix="autotune-")
        self.inputs, self.reference = (), {}
        self.prepared = False
        self.seconds = {"reference": 0.0, "build": 0.0, "run": 0.0, "features": 0.0}
        self.best_s = None                 # fastest median so far (for the cutoff)

    # -- set-up -----------------------------------------------------------------------
    def prepare(self) -> None:
        """Write the inputs and compute the reference outputs (once)."""
        if self.prepared:
            return
        t0 = time.monotonic()
        sch, tensors = self.task.instantiate()
        outputs = {t.op for t in sch.outputs}
        arrays = random_arrays(tensors, outputs, self.opt.seed)
        self.inputs = tuple(self._save(f"arg{k}", a) for k, a in enumerate(arrays))
        out_pos = [k for k, t in enumerate(tensors) if t.op in outputs]
        if self.opt.reference != "none":
            self.reference = {str(k): os.path.join(self.dir, f"ref{k}.npy") for k in out_pos}
            self._compute_reference()
        self.prepared = True
        self.seconds["reference"] += time.monotonic() - t0

    def _save(self, name: str, array) -> str:
        path = os.path.join(self.dir, name + ".npy")
        np.save(path, array)
        return path

    def _compute_reference(self) -> None:
        job = self._build_job(self.task.fallback, untuned=self.opt.reference == "untuned")
        if gpu_screen.needs_screening(self.task.target):      # no GPU to run it on
            job = replace(job, untuned=True, build_target="llvm")
        built = self.builders.map(jobs.build, [replace(job, hook=None)],
                                  self.opt.reference_timeout)[0]
        if built.status != "ok" or built.value.error != ErrorCode.OK:
            raise RuntimeError(f"autotune: the reference build of {self.task} failed: "
                               f"{_describe(built)}")
        run = jobs.RunJob(built.value.artifact, self.inputs, {}, save=self.reference)
        out = self.runner.map(jobs.run, [run], self.opt.reference_timeout)[0]
        if out.status != "ok":
            raise RuntimeError(f"autotune: the reference run of {self.task} failed: "
                               f"{_describe(out)}")

    def _build_job(self, config, untuned=False) -> jobs.BuildJob:
        t = self.task
        return jobs.BuildJob(t.name, self.module, t.args, t.kwargs, t.target, dict(config),
                             untuned, self.opt.hook)

    # -- measuring ----------------------------------------------------------------------
    def measure(self, configs) -> list:
        """A Record per configuration, in order (see the module docstring)."""
        return [rec for rec, _ in self.measure_with_features(configs)]

    def measure_with_features(self, configs, on_record=None) -> list:
        """(Record, loop-nest features or None) per configuration, in order.

        on_record(record) is called as soon as each record is complete (the
        tuner logs it then, so a kill loses at most the candidate being run)."""
        self.prepare()
        configs = [dict(c) for c in configs]
        t0 = time.monotonic()
        built = self.builders.map(jobs.build, [self._build_job(c) for c in configs],
                                  self.opt.build_timeout)
        t1 = time.monotonic()
        self.seconds["build"] += t1 - t0
        out = []
        for config, b in zip(configs, built):
            code, msg, res = _build_outcome(b)
            costs = ()
            if code == ErrorCode.OK:
                code, msg, costs = self._run(res.artifact)
            out.append((self._record(config, code, msg, costs, res),
                        getattr(res, "features", None)))
            if on_record is not None:
                on_record(out[-1][0])
        self.seconds["run"] += time.monotonic() - t1
        return out

    def _run(self, artifact) -> tuple:
        o = self.opt
        cutoff = o.cutoff * self.best_s if o.cutoff and self.best_s else None
        job = jobs.RunJob(artifact, self.inputs, self.reference, o.warmup, o.repeat,
                          o.min_time, o.rtol, o.atol, cutoff_s=cutoff)
        run_fn = gpu_screen.screen if gpu_screen.needs_screening(self.task.target) else jobs.run
        code, msg, costs = _run_outcome(self.runner.map(run_fn, [job], o.run_timeout)[0])
        if code == ErrorCode.OK and len(costs) > 1:
            med = sorted(costs)[len(costs) // 2]
            self.best_s = med if self.best_s is None else min(self.best_s, med)
        return code, msg, costs

    def _record(self, config, code, msg, costs, res) -> Record:
        t = self.task
        try:
            index = t.space.index(config)
        except ValueError:
            index = None
        return Record(t.name, t.args, t.kwargs, t.target, config, code, tuple(costs),
                      getattr(res, "workload", None), index, msg, t.flop,
                      dict(getattr(res, "times", None) or {}),
                      getattr(res, "trace", None), time.time())

    def features(self, configs, chunk: int = 8) -> list:
        """Feature vectors of configurations (None where one fails), scored in the
        build workers without compiling."""
        t = self.task
        configs = [dict(c) for c in configs]
        groups = [tuple(configs[k:k + chunk]) for k in range(0, len(configs), chunk)]
        jobs_ = [jobs.FeatureJob(t.name, self.module, t.args, t.kwargs, t.target, g)
                 for g in groups]
        t0, out = time.monotonic(), []
        for g, o in zip(groups, self.builders.map(jobs.score_features, jobs_,
                                                  self.opt.build_timeout)):
            out.extend(o.value if o.status == "ok" else [None] * len(g))
        self.seconds["features"] += time.monotonic() - t0
        return out

    def close(self) -> None:
        """Stop the workers and delete the session's data."""
        self.builders.close()
        self.runner.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _describe(outcome) -> str:
    if outcome.status == "ok":
        return getattr(outcome.value, "message", "") or str(outcome.value)
    if outcome.status == "error":
        return f"{outcome.value[0]}: {outcome.value[1]}"
    return f"{outcome.status} ({outcome.value})"


def _build_outcome(o) -> tuple:
    """(code, message, BuildResult or None) of a build outcome."""
    if o.status == "ok":
        return o.value.error, o.value.message, o.value
    if o.status == "timeout":
        return ErrorCode.BUILD_TIMEOUT, f"build ran past its timeout ({o.seconds:.1f} s)", None
    if o.status == "died":
        return ErrorCode.BUILD_CRASH, f"build worker died ({o.value})", None
    return ErrorCode.COMPILE_ERROR, f"{o.value[0]}: {o.value[1]}", None


def _run_outcome(o) -> tuple:
    """(code, message, costs) of a run outcome."""
    if o.status == "ok":
        return o.value.error, o.value.message, o.value.costs
    if o.status == "timeout":
        return ErrorCode.RUN_TIMEOUT, f"run ran past its timeout ({o.seconds:.1f} s)", ()
    if o.status == "died":
        if o.value == "SIGKILL":       # not ours (we report those as timeouts): the OOM killer
            return ErrorCode.RUN_MEMORY, "run process killed by SIGKILL (out of memory?)", ()
        return ErrorCode.RUN_CRASH, f"run process died ({o.value})", ()
    kind, msg = o.value[0], o.value[1]
    if kind == "MemoryError":
        return ErrorCode.RUN_MEMORY, f"MemoryError: {msg}", ()
    return ErrorCode.RUN_ERROR, f"{kind}: {msg}", ()
