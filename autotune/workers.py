"""Worker processes with timeouts: a candidate that crashes, hangs or eats memory
takes down only its worker, never the tuner.

Workers are forked from a fork server that has imported NumPy, opcomp and the
LLVM backend once (multiprocessing's "forkserver"), so a fresh worker costs
milliseconds, not the second a cold interpreter needs.  That makes a process
per measurement affordable (the runner), and lets builders be recycled after
`max_jobs` builds so a process that keeps memory per distinct build (LLVM and
the compile cache do) never grows without bound.  (Measured 2026-12-01, llvmlite
0.50, a small kernel: ~75 KB per distinct build, none of it from lowering;
~58 KB of it is codegen/llvm.optimize, where each call's
PassBuilder.getModulePassManager() keeps ~32 KB and running the O3 pipeline
~27 KB more, not returned by closing the manager, builder or options: memory
inside LLVM/llvmlite, so recycling the worker is the remedy.  Sharing one pass
builder across modules would avoid it but risks stale analyses keyed by a freed
module's address.)

Each job has a deadline; a worker past it is SIGKILLed and reaped at once
(gone within the timeout plus a second).  A worker limits its own address
space (RLIMIT_AS) to what it had at start plus `memory_limit` bytes, so a
runaway allocation fails inside the worker instead of exhausting the machine.
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import resource
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait

# What the fork server imports once.  (Each worker still imports the main module
# itself, as multiprocessing does: that is how templates defined there resolve.)
PRELOAD = ["autotune.jobs"]
KILL_GRACE_S = 1.0
PR_SET_PDEATHSIG = 1


def context(start_method: str = "forkserver"):
    """The multiprocessing context workers come from.

    "forkserver" (default): a clean, preloaded server forks them.  "fork": they
    are forked from this process, which saves the server's start (a second)
    but is only safe while this process has not run kernels itself (a forked
    child inherits a broken copy of a running thread pool).
    """
    if start_method not in ("forkserver", "fork"):
        raise ValueError(f"workers: start_method must be 'forkserver' or 'fork', "
                         f"got {start_method!r}")
    ctx = mp.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _die_with_parent() -> None:
    """SIGKILL this worker when its parent dies (Linux), so a killed tuner leaves no
    candidate running (a forkserver's children: the server exits with the tuner)."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent == 1 or os.getppid() != parent:   # the parent died before prctl took effect
        os._exit(1)


@dataclass(frozen=True)
class Outcome:
    """What became of one job.

    status: "ok" (value is the result), "error" (value is (exception type name,
    message)), "timeout" (killed at the deadline) or "died" (value is the
    signal name or exit code).  seconds: wall time of the job; pid: the worker.
    """
    status: str
    value: object
    seconds: float
    pid: int


def _limit_memory(extra_bytes) -> None:
    if not extra_bytes:
        return
    with open("/proc/self/statm") as f:
        vsize = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vsize + int(extra_bytes)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _serve(conn, memory_limit, env) -> None:
    """A worker's loop: receive (function, job), send back ("ok", result) or ("error", ...)."""
    _die_with_parent()
    os.environ.update(env or {})
    _limit_memory(memory_limit)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, job = msg
        try:
            reply = ("ok", fn(job))
        except BaseException as e:           # noqa: BLE001 (report, never die silently)
            tb = traceback.format_exc(limit=6)
            reply = ("error", (type(e).__name__, f"{e}"[:2000], tb[-3000:]))
        try:
            conn.send(reply)
        except Exception as e:                # noqa: BLE001 (unpicklable or too large)
            conn.send(("error", (type(e).__name__, f"the result could not be sent: {e}"[:2000],
                                 "")))


START_HINT = ("exit code 1 (a worker that exits at start usually re-ran a tuning script "
              "without `if __name__ == \"__main__\":` around its work)")


def _signal_name(code) -> str:
    if code is None:
        return "unknown"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return START_HINT if code == 1 else f"exit code {code}"


@contextlib.contextmanager
def _unimportable_main_hidden():
    """Hide a main module that is no file (python - < script, python -c) while a worker
    starts: multiprocessing would try to re-run it in the worker and fail."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or os.path.exists(path):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


class _Worker:
    def __init__(self, ctx, memory_limit, env):
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, memory_limit, env), daemon=True)
        with _unimportable_main_hidden():
            self.proc.start()
        child.close()
        self.conn = parent
        self.jobs = 0
        self.job = None            # (index, started, deadline) while busy

    def stop(self) -> float:
        """Kill and reap; returns the seconds reaping took."""
        t0 = time.monotonic()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(KILL_GRACE_S)
        self.conn.close()
        return time.monotonic() - t0

    def retire(self) -> None:
        try:
            self.conn.send(None)
            self.proc.join(KILL_GRACE_S)
        except (OSError, ValueError):
            pass
        self.stop()


class Pool:
    """`size` worker processes; map(fn, jobs, timeout) runs each job in one of them.

    max_jobs: a worker is replaced after this many jobs (1: a fresh process
    per job).  memory_limit: bytes a worker may add to its address space.
    env: environment variables set in each worker.  start_method: see context().
    reaped: (pid, reason, seconds from the deadline or death until the process
    was gone) for every worker that was killed or died; started: worker
    processes started so far.
    """

    def __init__(self, size: int = 1, max_jobs: int = 64, memory_limit=None, env=None,
                 start_method: str = "forkserver"):
        if size < 1 or max_jobs < 1:
            raise ValueError(f"Pool: size and max_jobs must be >= 1, got {size}, {max_jobs}")
        self.size, self.max_jobs = size, max_jobs
        self.memory_limit, self.env = memory_limit, dict(env or {})
        self.workers: list = []
        self.reaped: list = []
        self.started = 0
        self._ctx = context(start_method)

    def map(self, fn, jobs, timeout: float) -> list:
        """Outcomes of fn(job) for each job, in order (see Outcome)."""
        jobs = list(jobs)
        out = [None] * len(jobs)
        todo = list(range(len(jobs)))[::-1]
        while todo or any(w.job for w in self.workers):
            self._dispatch(fn, jobs, todo, timeout)
            self._collect(out)
        return out

    def _dispatch(self, fn, jobs, todo, timeout) -> None:
        while todo:
            idle = next((w for w in self.workers if w.job is None), None)
            if idle is None and len(self.workers) < self.size:
                idle = _Worker(self._ctx, self.memory_limit, self.env)
                self.workers.append(idle)
                self.started += 1
            if idle is None:
                return
            k = todo.pop()
            now = time.monotonic()
            try:
                idle.conn.send((fn, jobs[k]))
            except (OSError, ValueError):          # died while idle: replace, retry the job
                self._drop(idle, "died idle")
                todo.append(k)
                continue
            idle.job = (k, now, now + timeout)

    def _collect(self, out) -> None:
        busy = [w for w in self.workers if w.job]
        if not busy:
            return
        first = min(w.job[2] for w in busy)
        handles = [w.conn for w in busy] + [w.proc.sentinel for w in busy]
        wait(handles, max(0.0, first - time.monotonic()))
        for w in busy:
            self._check(w, out)

    def _check(self, w: _Worker, out) -> None:
        k, started, deadline = w.job
        now = time.monotonic()
        if w.conn.poll():
            try:
                status, value = w.conn.recv()
            except (EOFError, OSError):
                status, value = None, None
            if status is not None:
                out[k] = Outcome(status, value, now - started, w.proc.pid)
                w.job, w.jobs = None, w.jobs + 1
                if w.jobs >= self.max_jobs:
                    w.retire()
                    self.workers.remove(w)
                return
        if not w.proc.is_alive() or w.conn.closed or _eof(w):
            w.proc.join(KILL_GRACE_S)
            out[k] = Outcome("died", _signal_name(w.proc.exitcode), now - started, w.proc.pid)
            self._drop(w, out[k].value, since=now)
        elif now >= deadline:
            out[k] = Outcome("timeout", None, now - started, w.proc.pid)
            self._drop(w, "timeout", since=deadline)

    def _drop(self, w: _Worker, reason: str, since: float = None) -> None:
        w.stop()
        gone = time.monotonic() - (since if since is not None else time.monotonic())
        self.reaped.append((w.proc.pid, reason, gone))
        if w in self.workers:
            self.workers.remove(w)

    def close(self) -> None:
        """Stop every worker."""
        for w in self.workers:
            w.retire()
        self.workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _eof(w: _Worker) -> bool:
    """The worker's process has exited (its sentinel is ready)."""
    return bool(wait([w.proc.sentinel], 0))
