"""tune(): measure configurations of a task until a budget runs out; log every one.

    result = tune(task, trials=64, log="tune.jsonl", time_budget=180)
    result.best.gflops, result.best.config
    result.plot("curve.png")              # with matplotlib installed

Budgets: `trials` counts the task's distinct configurations in the log, those
of earlier (killed or finished) runs included, so running the same call again
resumes and measures only what is missing, never a configuration twice;
`time_budget` is wall-clock seconds for this call (a batch is shrunk to what
the remaining time allows, judged by the seconds per candidate so far);
`early_stopping` ends the search after that many measurements without a new
best.  The fallback configuration is measured first, so the tuning curve
starts at the untuned-library baseline.

Validation: on a shared machine one measurement can be off by tens of percent,
and the search would crown a lucky one.  When the search ends, the `validate`
best configurations and the fallback are measured once more (records marked
"validation") and the best is chosen by the pooled median of all of a
configuration's measurements (records.pool); apply_history_best does the same.
This is the only deliberate second measurement: it happens once per call that
measured something new, within the time budget.

Progress: a tqdm bar with the best GFLOP/s so far when tqdm is installed,
else one line per batch on stderr (progress=False: silent).

Worker processes import the main module (as multiprocessing's do, so a template
defined there resolves in them): a script that calls tune() must keep its work
under ``if __name__ == "__main__":``.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from . import gpu_screen
from . import records as rlog
from .measure import Measurer, MeasureOptions
from .progress import Progress, plot_curve
from .space import config_key
from .tuner import make_tuner


@dataclass(frozen=True)
class TuneResult:
    """What a tune() call did.

    best: the fastest configuration of the task in the log (earlier runs
    included), a Record with the pooled costs of all its measurements;
    records: this call's records (validation ones marked); prior: records the
    log had before; wall_s; stopped: why the search ended ("trials", "time
    budget", "early stopping", "space exhausted"); curve: the best GFLOP/s
    after each of this call's records; model_quality: the cost model's rank
    correlation on each batch it ranked; seconds: time spent on the reference,
    builds, runs and features.
    """
    task: object
    best: object
    records: tuple
    prior: int
    wall_s: float
    stopped: str
    curve: tuple = ()
    model_quality: tuple = field(default=())
    seconds: dict = field(default_factory=dict)

    @property
    def best_config(self) -> dict:
        return None if self.best is None else dict(self.best.config)

    @property
    def best_gflops(self) -> float:
        return 0.0 if self.best is None else self.best.gflops

    @property
    def candidates_per_minute(self) -> float:
        """Candidates measured (errors included) per minute of this call."""
        return 60.0 * len(self.records) / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def compile_seconds(self) -> float:
        """Median seconds to lower and generate code for one candidate."""
        times = [r.build["lower_s"] + r.build["codegen_s"] for r in self.records
                 if "lower_s" in r.build and "codegen_s" in r.build]
        return statistics.median(times) if times else math.nan

    @property
    def errors(self) -> dict:
        """Count of this call's failed records by error code name."""
        return dict(Counter(r.error.name for r in self.records if not r.ok))

    def summary(self) -> str:
        """A few lines for people."""
        best = f"{self.best_gflops:.1f} GFLOP/s" if self.best else "none"
        return (f"{self.task}: best {best}; {len(self.records)} measured this run "
                f"(+{self.prior} before) in {self.wall_s:.1f} s, "
                f"{self.candidates_per_minute:.1f} candidates/min, compile (lower + codegen) "
                f"{self.compile_seconds:.2f} s median per candidate; errors {self.errors or 0}; "
                f"stopped: {self.stopped}; seconds "
                + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))

    def plot(self, path) -> str:
        """Write the tuning curve (best GFLOP/s against trials) as a PNG; returns the path,
        or None when matplotlib is not installed."""
        return plot_curve(self, path)


def tune(task, trials: int = 64, log=None, tuner="model", time_budget: float = None,
         early_stopping: int = None, batch_size: int = 8, options: MeasureOptions = None,
         progress=None, plot=None, seed: int = 0, validate: int = 3,
         pools=None) -> TuneResult:
    """Tune a Task: measure up to `trials` configurations (see the module docstring).

    log: the JSON-lines record file (appended, resumable; None keeps records in
    memory only); tuner: "model", "random", "grid", a Tuner, or a factory
    f(task, featurize); options: how candidates are built and measured; plot: a
    PNG path for the tuning curve; validate: how many of the best configurations
    (and the fallback) are measured once more at the end (0: none); pools: a
    (builders, runner) pair to build and measure with instead of local processes
    (autotune.dask_runner.dask_pools: a Dask cluster).
    """
    _check_budget(trials, time_budget, early_stopping, batch_size, validate)
    gpu_screen.announce(task)        # a cuda task without a GPU: screened, never timed
    t0 = time.monotonic()
    prior = [r for r in rlog.load(log) if _same_task(r, task)] if log else []
    session = _Session(task, trials, log, prior, early_stopping)
    with Measurer(task, options, *(pools or ())) as measurer:
        measurer.best_s = session.best.median if session.best else None
        search = make_tuner(tuner, task, measurer.features, seed)
        if prior and hasattr(search, "featurize"):
            teach = _worth_teaching(prior)
            search.update(teach, measurer.features([r.config for r in teach]))
        bar = Progress(progress, max(0, trials - len(session.groups)), task.name)
        try:
            stopped = session.loop(search, measurer, t0, (time_budget, validate), batch_size,
                                   bar)
            if validate and session.records:
                session.validate(measurer, validate)
        finally:
            bar.close()
    result = session.result(time.monotonic() - t0, stopped, getattr(search, "quality", ()),
                            dict(measurer.seconds))
    if plot is not None:
        result.plot(plot)
    return result


def _check_budget(trials, time_budget, early_stopping, batch_size, validate) -> None:
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 0:
        raise ValueError(f"tune: trials must be an int >= 0, got {trials!r}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"tune: time_budget must be > 0 seconds, got {time_budget!r}")
    if early_stopping is not None and early_stopping < 1:
        raise ValueError(f"tune: early_stopping must be >= 1, got {early_stopping!r}")
    if batch_size < 1:
        raise ValueError(f"tune: batch_size must be >= 1, got {batch_size!r}")
    if validate < 0:
        raise ValueError(f"tune: validate must be >= 0, got {validate!r}")


def _worth_teaching(prior, each: int = 256) -> list:
    """The records of a resumed log the model relearns: the fastest and the latest
    (featurizing ten thousand old candidates would cost minutes)."""
    fastest = sorted((r for r in prior if r.ok), key=lambda r: r.median)[:each]
    keep = {id(r) for r in fastest} | {id(r) for r in prior[-each:]}
    return [r for r in prior if id(r) in keep]


def _same_task(rec, task) -> bool:
    return rec.task_key == (task.name, task.args, task.kwargs, task.target)


class _Session:
    """The bookkeeping of one tune() call: every measurement by configuration, the
    best by pooled median (see records.pool), the curve."""

    def __init__(self, task, trials, log, prior, early_stopping):
        self.task, self.trials, self.log, self.prior = task, trials, log, prior
        self.early_stopping = early_stopping
        self.records: list = []
        self.curve: list = []
        self.groups: dict = {}           # config key -> its records, prior runs included
        for rec in prior:
            self.groups.setdefault(config_key(rec.config), []).append(rec)
        self.best = self._rescan()
        self.since_best = 0

    def loop(self, search, measurer, t0, budget, batch_size, bar) -> str:
        fallback = self.task.fallback
        first = [fallback] if config_key(fallback) not in self.groups else []
        while True:
            left = self.trials - len(self.groups)
            if left <= 0:
                return "trials"
            n = self._fit_time(min(batch_size, left), t0, *budget)
            if n <= 0:
                return "time budget"
            visited = set(self.groups) | {config_key(c) for c in first}
            configs = (first + search.propose(n - len(first), visited))[:n]
            first = []
            if not configs:
                return "space exhausted"
            pairs = measurer.measure_with_features(configs, self._take)
            bar.update(len(pairs), len(self.groups), self.trials,
                       self.curve[-1] if self.curve else 0.0)
            search.update([r for r, _ in pairs], [f for _, f in pairs])
            if self.early_stopping and self.since_best >= self.early_stopping:
                return "early stopping"

    def validate(self, measurer, k: int) -> None:
        """Measure the k best configurations and the fallback once more, so the best
        is not one lucky measurement on a noisy machine."""
        ranked = sorted((rlog.pool(g) for g in self.groups.values()), key=lambda r: r.median)
        picks = [r.config for r in ranked[:k] if r.ok]
        fallback = self.groups.get(config_key(self.task.fallback))
        if fallback and rlog.pool(fallback).ok and self.task.fallback not in picks:
            picks.append(self.task.fallback)
        measurer.measure_with_features(
            picks, lambda rec: self._take(dataclasses.replace(rec, validation=True)))

    def _fit_time(self, n: int, t0: float, budget, validate: int) -> int:
        """n, or fewer when the time budget would not fit the batch and the validation."""
        if budget is None:
            return n
        spent = time.monotonic() - t0
        if spent >= budget:
            return 0
        if not self.records:
            return n
        per = spent / len(self.records)
        return min(n, max(0, int((budget - spent) / per) - (validate + 1 if validate else 0)))

    def _take(self, rec) -> None:
        """Log one record the moment it is measured; update the best."""
        if self.log is not None:
            rlog.append(self.log, rec)
        self.records.append(rec)
        key = config_key(rec.config)
        self.groups.setdefault(key, []).append(rec)
        old = self.best
        here = rlog.pool(self.groups[key])
        if old is not None and config_key(old.config) == key:
            self.best = self._rescan()            # the best itself was measured again
        elif here.ok and (old is None or here.median < old.median):
            self.best = here
        improved = self.best is not None and (old is None or self.best.median < old.median)
        self.since_best = 0 if improved else self.since_best + 1
        self.curve.append(self.best.gflops if self.best else 0.0)

    def _rescan(self):
        pooled = [rlog.pool(g) for g in self.groups.values()]
        return min((r for r in pooled if r.ok), key=lambda r: r.median, default=None)

    def result(self, wall_s, stopped, quality, seconds) -> TuneResult:
        return TuneResult(self.task, self.best, tuple(self.records), len(self.prior), wall_s,
                          stopped, tuple(self.curve), tuple(quality), seconds)
