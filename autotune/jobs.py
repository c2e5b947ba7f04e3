"""The jobs worker processes run: build a configuration, score features, run a kernel.

Each job is a frozen dataclass of plain data and each result too, so both
cross the pipe to a worker.  This module is what the fork server preloads
(NumPy, opcomp, the LLVM backend), so workers start warm.  Nothing here
imports the operator library: a job names its template and the module that
registers it, and the worker imports that module by name.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

import codegen.llvm  # noqa: F401  (preloaded by the fork server: workers start warm)
import opcomp as oc
from opcomp import compile_cache

from . import features
from .records import ErrorCode
from .template import lookup

OK = ErrorCode.OK


@dataclass(frozen=True)
class BuildJob:
    """Build one configuration of a template (or its untuned computation: untuned=True).

    hook: None, or a picklable function hook(artifact, config) -> artifact run
    after the build (instrumentation; the tests plant faulty kernels with it).
    """
    name: str
    module: str
    args: tuple
    kwargs: tuple
    target: str
    config: dict
    untuned: bool = False
    hook: object = None
    build_target: str = None      # lower/compile for this target instead (a cuda task's
                                  # reference is its untuned computation on the CPU)


@dataclass(frozen=True)
class BuildResult:
    error: ErrorCode
    message: str = ""
    artifact: object = None
    workload: str = None
    trace: tuple = None
    features: object = None
    times: dict = field(default_factory=dict)


def kernel_name(template_name: str) -> str:
    """A C identifier for a template's kernel."""
    name = re.sub(r"\W", "_", template_name)
    return name if name and not name[0].isdigit() else "k_" + name


def _instantiate(job: BuildJob) -> tuple:
    tmpl = lookup(job.name, job.module)
    target = oc.Target(job.target)
    sch, tensors, _ = tmpl.run(job.args, job.kwargs, target, job.config)
    if job.untuned:
        sch = oc.create_schedule(sch.outputs)
    return sch, tensors, target


def build(job: BuildJob) -> BuildResult:
    """Instantiate, lower and compile a configuration; errors are returned, not raised."""
    t0 = time.perf_counter()
    try:
        sch, tensors, target = _instantiate(job)
    except Exception as e:                 # noqa: BLE001 (any template failure is a result)
        return BuildResult(ErrorCode.INSTANTIATE_ERROR, _msg(e))
    t1 = time.perf_counter()
    if job.build_target is not None:
        target = oc.Target(job.build_target)
    trace = tuple(sch.trace.records)
    try:
        func = oc.lower(sch, tensors, name=kernel_name(job.name), target=target)
        t2 = time.perf_counter()
        artifact = oc.compile(func, target)
        t3 = time.perf_counter()
    except Exception as e:                 # noqa: BLE001
        return BuildResult(ErrorCode.COMPILE_ERROR, _msg(e), workload=sch.trace.workload,
                           trace=trace)
    finally:
        compile_cache.clear_memory_cache()   # a worker keeps nothing per distinct build
    feats = None if job.untuned else features.extract(sch, tensors, target)
    if job.hook is not None:
        artifact = job.hook(artifact, job.config)
    times = {"instantiate_s": t1 - t0, "lower_s": t2 - t1, "codegen_s": t3 - t2}
    return BuildResult(OK, "", artifact, sch.trace.workload, trace, feats, times)


def _msg(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:2000]


@dataclass(frozen=True)
class FeatureJob:
    """Feature vectors of several configurations (none is compiled)."""
    name: str
    module: str
    args: tuple
    kwargs: tuple
    target: str
    configs: tuple


def score_features(job: FeatureJob) -> list:
    """One feature vector per configuration; None where the template raises."""
    tmpl = lookup(job.name, job.module)
    target = oc.Target(job.target)
    out = []
    for config in job.configs:
        try:
            sch, tensors, _ = tmpl.run(job.args, job.kwargs, target, config)
            out.append(features.extract(sch, tensors, target))
        except Exception:                  # noqa: BLE001 (the builder will report it)
            out.append(None)
    return out


@dataclass(frozen=True)
class RunJob:
    """Load a kernel, check its first run, time it.

    inputs: .npy paths, one per kernel argument (outputs hold their initial
    contents: NaN for floats).  reference: .npy paths of the expected outputs by
    argument position ({} skips the check); save: write the outputs there
    instead (the reference run).  cutoff_s: a candidate whose warm second call
    is slower than this is timed by that call alone (one repeat): a clearly slow
    candidate costs two calls, not a full benchmark.
    """
    artifact: object
    inputs: tuple
    reference: dict
    warmup: int = 1
    repeat: int = 10
    min_time: float = 0.02
    rtol: float = 1e-4
    atol: float = 1e-5
    save: dict = None
    cutoff_s: float = None


@dataclass(frozen=True)
class RunResult:
    error: ErrorCode
    message: str = ""
    costs: tuple = ()
    first_s: float = 0.0


def run(job: RunJob) -> RunResult:
    """Measure one kernel (see RunJob).  MemoryError and other exceptions propagate:
    the measurer turns them into error codes."""
    mod = job.artifact.load()
    arrays = [np.load(p) for p in job.inputs]
    t0 = time.perf_counter()
    mod(*arrays)
    first = time.perf_counter() - t0
    if job.save:
        for k, path in job.save.items():
            np.save(path, arrays[int(k)])
        return RunResult(OK, "", (), first)
    for k, path in job.reference.items():
        bad = mismatch(arrays[int(k)], np.load(path), job.rtol, job.atol)
        if bad:
            return RunResult(ErrorCode.WRONG_ANSWER, f"output {k}: {bad}", (), first)
    if job.repeat == 0:
        return RunResult(OK, "", (first,), first)
    if job.cutoff_s is not None:
        t0 = time.perf_counter()
        mod(*arrays)
        second = time.perf_counter() - t0
        if second > job.cutoff_s:
            return RunResult(OK, f"timed once: {second:.3g} s > cutoff {job.cutoff_s:.3g} s",
                             (second,), first)
    stats = oc.benchmark(mod, *arrays, warmup=job.warmup, repeat=job.repeat,
                         min_time=job.min_time)
    return RunResult(OK, "", tuple(stats.runs), first)


def mismatch(got, want, rtol: float, atol: float) -> str:
    """'' if got matches want (float: |got - want| <= atol * max|want| + rtol * |want|,
    NaNs in the same places; others: equal), else what differs and where."""
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"shape/dtype {got.shape} {got.dtype}, expected {want.shape} {want.dtype}"
    if got.dtype.kind not in "fc":
        diff = np.argwhere(got != want)
        return "" if not len(diff) else f"{len(diff)} elements differ, first at {tuple(diff[0])}"
    w = want.astype(np.float64)
    g = got.astype(np.float64)
    finite = np.isfinite(w)
    scale = float(np.max(np.abs(w[finite]))) if finite.any() else 1.0
    tol = atol * max(scale, 1e-30) + rtol * np.abs(w)
    ok = (np.abs(g - w) <= tol) | (np.isnan(g) & np.isnan(w)) | (g == w)
    if ok.all():
        return ""
    where = tuple(int(i) for i in np.argwhere(~ok)[0])
    return (f"{int((~ok).sum())} of {ok.size} elements wrong, first at {where}: got "
            f"{g[where]!r}, expected {w[where]!r}")
