"""Worker processes: results come back, exceptions are reported, a hung or dead worker
is killed and reaped within a second of its deadline, workers are recycled after
max_jobs jobs, and a worker's address space is limited."""
import os
import time

import pytest

from autotune.workers import Pool, context
from tests.autotune import helpers


@pytest.fixture(scope="module")
def pool():
    with Pool(size=2, max_jobs=3, memory_limit=256 << 20) as p:
        yield p


def test_results_come_back_in_order(pool):
    out = pool.map(helpers.sleep, [0.05, 0.0, 0.02], timeout=10)
    assert [o.status for o in out] == ["ok"] * 3
    assert [o.value for o in out] == [0.05, 0.0, 0.02]


def test_an_exception_is_reported_with_its_type(pool):
    (out,) = pool.map(helpers.fail, ["bad input 7"], timeout=10)
    assert out.status == "error"
    assert out.value[0] == "ValueError" and "bad input 7" in out.value[1]


def test_a_hung_job_is_killed_at_its_deadline_and_reaped(pool):
    t0 = time.monotonic()
    (out,) = pool.map(helpers.sleep, [60], timeout=0.5)
    assert out.status == "timeout"
    assert time.monotonic() - t0 < 0.5 + 1.0
    pid, reason, gone = pool.reaped[-1]
    assert (pid, reason) == (out.pid, "timeout") and gone < 1.0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_worker_that_dies_is_reported_with_its_signal(pool):
    out = pool.map(helpers.die, [None, None], timeout=10)
    assert [o.status for o in out] == ["died", "died"]
    assert out[0].value == "SIGKILL"
    assert pool.map(helpers.pid, [None], timeout=10)[0].status == "ok"   # the pool goes on


def test_workers_are_recycled_after_max_jobs(pool):
    before = pool.started
    pids = {o.value for o in pool.map(helpers.pid, [None] * 9, timeout=10)}
    assert len(pids) >= 3 and pool.started - before >= 3


def test_memory_beyond_the_limit_fails_inside_the_worker(pool):
    small, big = pool.map(helpers.allocate, [1 << 20, 1 << 30], timeout=20)
    assert small.status == "ok" and small.value == 1 << 20
    assert big.status == "error" and big.value[0] == "MemoryError"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="size and max_jobs"):
        Pool(size=0)
    with pytest.raises(ValueError, match="start_method"):
        context("spawn")
