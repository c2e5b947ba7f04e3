"""The Dask runner: on a two-worker in-process cluster (one worker carries the target
as a resource), a tune() builds anywhere, measures only on the device worker, one
candidate at a time, and its records match a local run's: every candidate checked
against the reference and timed."""
import dataclasses

import pytest

from autotune import MeasureOptions, Measurer, Task, tune
from autotune.dask_runner import DaskPool, dask_pools, resource_name
from tests.autotune import templates  # noqa: F401  (registers test/matmul, test/faulty)
from tests.autotune.faults import plant

distributed = pytest.importorskip("distributed")      # the optional extra opcomp[dask]

FAST = MeasureOptions(repeat=2, min_time=0.001, run_timeout=5)


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, Scheduler, SpecCluster, Worker
    target = Task("test/matmul", args=(16, 16, 16)).target
    spec = {"cls": Scheduler, "options": {"dashboard_address": None, "host": "127.0.0.1"}}
    workers = {
        "device": {"cls": Worker, "options": {"nthreads": 1, "host": "127.0.0.1",
                                              "resources": {resource_name(target): 1}}},
        "cpu": {"cls": Worker, "options": {"nthreads": 1, "host": "127.0.0.1"}},
    }
    with SpecCluster(scheduler=spec, workers=workers) as c, Client(c) as client:
        device = next(addr for addr, w in client.scheduler_info()["workers"].items()
                      if w["resources"])
        yield client, device


def test_tuning_measures_only_on_the_device_worker(cluster, tmp_path):
    client, device = cluster
    task = Task("test/matmul", args=(16, 16, 16))
    builders, runner = dask_pools(client, task.target)
    result = tune(task, trials=4, log=tmp_path / "d.jsonl", tuner="random", options=FAST,
                  progress=False, validate=0, pools=(builders, runner))
    assert len(result.records) == 4 and all(r.ok for r in result.records)
    assert result.best is not None and result.best.gflops > 0
    runs = [addr for fn, addr in runner.placements if fn == "run"]
    assert len(runs) == 5 and set(runs) == {device}       # the reference run + 4 candidates
    assert {fn for fn, _ in builders.placements} >= {"build"}


def test_a_crashing_candidate_costs_a_process_not_the_dask_worker(cluster):
    client, device = cluster
    task = Task("test/faulty", args=(16,))
    _, runner = dask_pools(client, task.target)
    builders = DaskPool(client, "build", task.target)
    planted = dataclasses.replace(FAST, hook=plant)
    with Measurer(task, planted, builders=builders, runner=runner) as m:
        recs = m.measure([{"fault": "segfault", "unroll": 0}, {"fault": "none", "unroll": 1}])
    assert [r.error.name for r in recs] == ["RUN_CRASH", "OK"]
    assert len(client.scheduler_info()["workers"]) == 2


def test_a_run_pool_needs_its_target(cluster):
    with pytest.raises(ValueError, match="a 'run' pool needs the target"):
        DaskPool(cluster[0], "run")
