"""Building and measuring on a dask.distributed cluster (optional: pip install opcomp[dask]).

    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")
    result = autotune.tune(task, trials=64, pools=dask_pools(client, task.target))

Workers that measure declare the target as a Dask resource, one unit each:

    dask worker tcp://scheduler:8786 --nthreads 1 --resources "opcomp-target:llvm -mcpu=znver3=1"

(resource_name(target) spells the name).  Builds go to any worker; a
measurement asks for one unit of its target's resource, so it only lands on a
worker that has the device, and a device measures one candidate at a time
however many tuners share the cluster.  Inside a Dask worker each job still
runs in a local worker process with its timeout and memory limit
(autotune.workers.Pool: a fresh process per measurement), so a crashing or
hanging candidate costs a process, never the Dask worker.  Outcomes are the
local pools' (workers.Outcome); a job the cluster itself loses (a worker gone)
becomes a "died" outcome.

The measurer's inputs and reference outputs are .npy files in its temporary
directory: the workers must see the same file system (one machine, or a shared
directory as TMPDIR).  auto_schedule's computations are found the same way
(autotune.auto_schedule.workload_dir).
"""
from __future__ import annotations

import threading
import time

import opcomp as oc

from .workers import Outcome, Pool

RESOURCE_PREFIX = "opcomp-target:"
_LOCAL: dict = {}            # (thread id, role) -> the Pool of that Dask worker thread
_LOCK = threading.Lock()


def resource_name(target) -> str:
    """The Dask resource a worker declares to measure for `target`."""
    return RESOURCE_PREFIX + oc.Target(target).brief


def _local_pool(role: str, max_jobs: int, memory_limit) -> Pool:
    key = (threading.get_ident(), role)
    with _LOCK:
        if key not in _LOCAL:
            env = {"OPCOMP_CACHE_DIR": "off"} if role == "build" else None
            _LOCAL[key] = Pool(1, max_jobs, memory_limit, env)
        return _LOCAL[key]


def run_on_worker(fn, job, timeout: float, role: str, max_jobs: int, memory_limit) -> tuple:
    """(Outcome, worker address): fn(job) in this Dask worker's local process pool."""
    from distributed import get_worker
    outcome = _local_pool(role, max_jobs, memory_limit).map(fn, [job], timeout)[0]
    return outcome, get_worker().address


def close_local_pools() -> int:
    """Stop the local pools of this process's Dask worker threads; returns how many."""
    with _LOCK:
        pools = list(_LOCAL.values())
        _LOCAL.clear()
    for p in pools:
        p.close()
    return len(pools)


class DaskPool:
    """A builder or runner for autotune.Measurer on a Dask client.

    role "build": jobs go to any worker, a worker process is reused for up to
    max_jobs builds; role "run": jobs need one unit of resource_name(target),
    each in a fresh process.  placements: (job function name, worker address)
    for every job, in order.
    """

    def __init__(self, client, role: str = "build", target=None, max_jobs: int = 64,
                 memory_limit=None, slack: float = 30.0):
        if role not in ("build", "run"):
            raise ValueError(f"DaskPool: role must be 'build' or 'run', got {role!r}")
        if role == "run" and target is None:
            raise ValueError("DaskPool: a 'run' pool needs the target it measures on")
        self.client, self.role, self.slack = client, role, slack
        self.max_jobs = max_jobs if role == "build" else 1
        self.memory_limit = memory_limit
        self.resources = {resource_name(target): 1} if role == "run" else None
        self.placements: list = []

    def map(self, fn, jobs, timeout: float) -> list:
        """Outcomes of fn(job) for each job, in order (see workers.Outcome)."""
        jobs = list(jobs)
        futures = [self.client.submit(run_on_worker, fn, job, timeout, self.role,
                                      self.max_jobs, self.memory_limit, pure=False,
                                      resources=self.resources) for job in jobs]
        return [self._outcome(f, fn, timeout) for f in futures]

    def _outcome(self, future, fn, timeout) -> Outcome:
        t0 = time.monotonic()
        try:
            outcome, address = future.result(timeout=timeout + self.slack)
        except Exception as e:            # noqa: BLE001 (a lost worker, a cluster timeout)
            future.cancel()
            return Outcome("died", f"dask: {type(e).__name__}: {e}"[:500],
                           time.monotonic() - t0, 0)
        self.placements.append((getattr(fn, "__name__", str(fn)), address))
        return outcome

    def close(self) -> None:
        """Stop the local worker processes the Dask workers started for this client."""
        try:
            self.client.run(close_local_pools)
        except Exception:                 # noqa: BLE001 (the cluster may be gone already)
            pass


def dask_pools(client, target, builds_per_worker: int = 64, memory_limit=None) -> tuple:
    """(builders, runner) for Measurer(..., builders=, runner=) or tune(..., pools=)."""
    return (DaskPool(client, "build", target, builds_per_worker, memory_limit),
            DaskPool(client, "run", target, 1, memory_limit))
