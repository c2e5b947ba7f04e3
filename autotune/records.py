"""Tuning records: an append-only log of JSON lines, one measured configuration each.

    {"format": "opcomp-tune", "version": 1,
     "task": {"name": "matmul", "args": [1024, 1024, 1024, "float32"], "kwargs": {}},
     "target": "<canonical target string>", "workload": "<oc.workload_key>",
     "config": {"tile": "6x16", "tile_k": [-1, 4], ...}, "index": 1234, "flop": 2147483648,
     "result": {"error": "OK", "message": "", "costs": [0.0101, ...], "median": 0.0101,
                "spread": 0.02, "gflops": 212.6},
     "build": {"instantiate_s": 0.01, "lower_s": 0.06, "codegen_s": 0.5},
     "trace": [{"primitive": "split", ...}, ...], "time": 1796000000.0}

A record is keyed by its task (template name and canonical arguments), its
canonical target and the workload key of the computation it scheduled.  A
configuration measured again at the end of a run (tune's validation, marked
"validation": true) has several records; its time is the median of them all.  Each
record is written with one write() and fsync'ed, so a killed tuner leaves at
most one torn last line; loading skips torn or malformed lines with one
warning per file, and the next append starts on a fresh line.  Files are
untrusted input: every field is type-checked, nothing is executed.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import opcomp as oc
from opcomp.schedule.trace import check_record

from .space import config_key
from .template import _freeze, dispatch_scope

FORMAT, VERSION = "opcomp-tune", 1
MAX_LINE = 16 << 20           # a trace of thousands of primitives is far below this


class ErrorCode(enum.IntEnum):
    """Why a configuration has no time: each failure mode has its own code."""
    OK = 0
    INSTANTIATE_ERROR = 1     # the template raised for this configuration (invalid schedule)
    COMPILE_ERROR = 2         # lowering or code generation raised
    BUILD_TIMEOUT = 3         # the build worker ran past the build timeout (killed)
    BUILD_CRASH = 4           # the build worker died (signal, out of memory)
    RUN_TIMEOUT = 5           # the kernel hung past the run timeout (killed)
    RUN_CRASH = 6             # the run process died: segfault, abort, other signal
    RUN_MEMORY = 7            # out of memory while running (allocation refused)
    WRONG_ANSWER = 8          # the first run differs from the reference build
    RUN_ERROR = 9             # the kernel or its call raised (assertion, bad argument)
    UNKNOWN = 10


class RecordWarning(UserWarning):
    """Lines of a tuning log were skipped (torn by a kill, or malformed)."""


@dataclass(frozen=True)
class Record:
    """One measured configuration (see the module docstring for the JSON form)."""
    name: str
    args: tuple
    kwargs: tuple
    target: str
    config: dict
    error: ErrorCode = ErrorCode.OK
    costs: tuple = ()
    workload: str = None
    index: int = None
    message: str = ""
    flop: float = 0.0
    build: dict = field(default_factory=dict)
    trace: tuple = None
    time: float = 0.0
    validation: bool = False

    @property
    def ok(self) -> bool:
        return self.error == ErrorCode.OK and bool(self.costs)

    @property
    def median(self) -> float:
        """Median seconds per call over the repeats (inf for an error record)."""
        return statistics.median(self.costs) if self.ok else math.inf

    @property
    def spread(self) -> float:
        """(max - min) / median of the repeats."""
        return (max(self.costs) - min(self.costs)) / self.median if self.ok else math.inf

    @property
    def gflops(self) -> float:
        return self.flop / self.median / 1e9 if self.ok and self.flop else 0.0

    @property
    def task_key(self) -> tuple:
        """(name, args, kwargs, target): what a template call is matched on."""
        return self.name, self.args, self.kwargs, self.target

    def to_trace(self) -> oc.Trace:
        """The schedule this record measured, as an opcomp Trace (with its header)."""
        if self.trace is None:
            raise ValueError(f"record of {self.name!r} ({self.error.name}) has no trace")
        return oc.Trace([dict(r) for r in self.trace], self.workload, self.target)


# -- encoding ---------------------------------------------------------------------------
def encode(rec: Record) -> str:
    """The record as one JSON line (without the newline)."""
    result = {"error": rec.error.name, "message": rec.message, "costs": list(rec.costs)}
    if rec.ok:
        result.update(median=rec.median, spread=rec.spread, gflops=rec.gflops)
    data = {"format": FORMAT, "version": VERSION,
            "task": {"name": rec.name, "args": _thaw(rec.args),
                     "kwargs": {k: _thaw(v) for k, v in rec.kwargs}},
            "target": rec.target, "workload": rec.workload, "config": rec.config,
            "index": rec.index, "flop": rec.flop, "result": result, "build": rec.build,
            "trace": None if rec.trace is None else list(rec.trace), "time": rec.time}
    if rec.validation:
        data["validation"] = True
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def _thaw(v):
    return [_thaw(x) for x in v] if isinstance(v, tuple) else v


class _Bad(ValueError):
    pass


def _need(cond, what: str) -> None:
    if not cond:
        raise _Bad(what)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def decode(line: str) -> Record:
    """A Record from one JSON line; ValueError naming the first field that is wrong."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise _Bad(f"not JSON ({type(e).__name__})") from None
    _need(isinstance(data, dict), "not a JSON object")
    _need(data.get("format") == FORMAT, f"format is not {FORMAT!r}")
    _need(data.get("version") == VERSION, f"version {str(data.get('version'))[:10]} (this "
          f"autotune reads version {VERSION})")
    task, result, build = data.get("task"), data.get("result"), data.get("build", {})
    _check_identity(data, task)
    _check_result(result)
    _need(isinstance(build, dict) and all(isinstance(k, str) and _num(v)
                                          for k, v in build.items()), "build")
    trace = _checked_trace(data.get("trace"))
    try:
        args = _freeze(task["args"], "task.args")
        kwargs = tuple(sorted((k, _freeze(v, "task.kwargs")) for k, v in task["kwargs"].items()))
    except ValueError as e:
        raise _Bad(str(e)) from None
    _need(isinstance(data.get("validation", False), bool), "validation")
    return Record(task["name"], args, kwargs, data["target"], data["config"],
                  ErrorCode[result["error"]], tuple(float(c) for c in result["costs"]),
                  data["workload"], data["index"], result.get("message", ""),
                  float(data.get("flop", 0)), dict(build), trace, float(data.get("time", 0)),
                  data.get("validation", False))


def _check_identity(data: dict, task) -> None:
    _need(isinstance(task, dict) and isinstance(task.get("name"), str), "task.name")
    _need(isinstance(task.get("args"), list) and isinstance(task.get("kwargs"), dict),
          "task.args / task.kwargs")
    _need(isinstance(data.get("target"), str), "target")
    _need(data.get("workload") is None or isinstance(data["workload"], str), "workload")
    _need(isinstance(data.get("config"), dict), "config")
    index = data.get("index")
    _need(index is None or (isinstance(index, int) and not isinstance(index, bool)), "index")
    _need(_num(data.get("flop", 0)) and _num(data.get("time", 0)), "flop / time")


def _check_result(result) -> None:
    _need(isinstance(result, dict) and result.get("error") in ErrorCode.__members__,
          "result.error")
    costs = result.get("costs")
    _need(isinstance(costs, list) and all(_num(c) and c > 0 for c in costs), "result.costs")
    _need(isinstance(result.get("message", ""), str), "result.message")


def _checked_trace(trace):
    if trace is None:
        return None
    _need(isinstance(trace, list), "trace")
    for number, rec in enumerate(trace):
        try:
            check_record(rec, number)
        except ValueError as e:
            raise _Bad(f"trace: {e}") from None
    return tuple(trace)


# -- files --------------------------------------------------------------------------------
def load(path) -> list:
    """Every complete, well-formed record of a log (or of several: a list of paths).

    Torn or malformed lines are skipped with one RecordWarning per file; a
    missing file is an empty log.
    """
    if isinstance(path, (list, tuple)):
        return [r for p in path for r in load(p)]
    path = Path(path)
    if not path.exists():
        return []
    out, bad = [], []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                _need(len(raw) <= MAX_LINE, f"longer than {MAX_LINE} bytes")
                out.append(decode(raw.decode("utf-8")))
            except (_Bad, UnicodeDecodeError) as e:
                if raw.strip():
                    bad.append((number, str(e)))
    if bad:
        lines = ", ".join(str(n) for n, _ in bad[:8]) + (", ..." if len(bad) > 8 else "")
        warnings.warn(f"{path}: skipped {len(bad)} torn or malformed line(s) (line {lines}; "
                      f"first: {bad[0][1][:120]})", RecordWarning, stacklevel=2)
    return out


def append(path, rec: Record) -> None:
    """Append one record: a single write of the whole line, then fsync.

    A log whose last line was torn (no newline) gets one first, so the new
    record starts a line of its own.
    """
    line = (encode(rec) + "\n").encode()
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and _last_byte(path, size) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_byte(path, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1)


# -- best records and dispatch ------------------------------------------------------------
def pool(group) -> Record:
    """One record for several measurements of the same configuration: the latest,
    with every measurement's costs (so a lucky or unlucky run is outvoted), or the
    latest failure if any measurement failed (a configuration that crashed once
    is not trusted)."""
    group = list(group)
    failed = [r for r in group if not r.ok]
    if failed:
        return failed[-1]
    return dataclasses.replace(group[-1], costs=tuple(c for r in group for c in r.costs))


def pooled(records) -> dict:
    """{(task_key, config key): pooled Record} (see pool), in first-seen order."""
    groups: dict = {}
    for rec in records:
        groups.setdefault((rec.task_key, config_key(rec.config)), []).append(rec)
    return {key: pool(group) for key, group in groups.items()}


def best_records(records) -> dict:
    """The fastest configuration per (name, args, kwargs, target), by the pooled
    median of all its measurements; a configuration that ever failed never wins."""
    best = {}
    for (task_key, _), rec in pooled(records).items():
        if rec.ok and (task_key not in best or rec.median < best[task_key].median):
            best[task_key] = rec
    return best


class ApplyHistoryBest:
    """Dispatch context: a template call takes the best record of its own task on its
    own target, if the workload key of what it builds is the record's."""

    def __init__(self, records, target=None):
        self.best = best_records(records)
        self.target = None if target is None else str(oc.Target(target))

    def choose(self, name, args, kwargs, target):
        rec = self.best.get((name, args, kwargs, target))
        return None if rec is None else (rec.config, False, rec.workload)

    def query(self, task) -> Record:
        """The best record for a Task, or None."""
        return self.best.get((task.name, task.args, task.kwargs, task.target))


def apply_history_best(log, target=None):
    """Context manager: template calls inside use the best records of `log` (a path,
    a list of paths, or Records).  A record made for another target, other
    arguments or another computation (workload key) is never applied; those calls
    run their fallback configuration.  target: for templates without a target
    parameter (default: this host)."""
    records = log if _are_records(log) else load(log)
    return dispatch_scope(ApplyHistoryBest(records, target))


def _are_records(log) -> bool:
    return isinstance(log, (list, tuple)) and bool(log) and all(isinstance(r, Record) for r in log)
