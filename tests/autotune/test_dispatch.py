"""Shape ranges: tune_range cuts the range at powers of two, tunes each piece at its
largest size, and builds one module whose if/else chain on the size runs each piece's
own configuration; results match NumPy at every boundary."""
import numpy as np
import pytest

from autotune import MeasureOptions, Task, records
from autotune.dispatch import split_range, tune_range
from autotune.template import TemplateError
from tests.autotune import range_templates  # noqa: F401  (registers test/rows_matmul)

FAST = MeasureOptions(repeat=2, min_time=0.001)


def test_split_range_cuts_at_powers_of_two():
    assert split_range(1, 4096) == [(1, 7), (8, 63), (64, 1023), (1024, 4096)]
    assert split_range(1, 40, 3) == [(1, 3), (4, 15), (16, 40)]
    assert split_range(5, 5) == [(5, 5)]
    assert split_range(1, 3, 4) == [(1, 1), (2, 3)]
    with pytest.raises(ValueError, match="need integers 1 <= lo <= hi"):
        split_range(8, 2)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    log = tmp_path_factory.mktemp("range") / "range.jsonl"
    rm = tune_range("test/rows_matmul", dim="M", lo=1, hi=40, parts=3, trials=3, log=log,
                    probe=True, tuner="random", options=FAST, progress=False, validate=0)
    return rm, records.load(log)


def test_each_branch_is_its_ranges_best_record(tuned):
    rm, recs = tuned
    assert [(b.lo, b.hi, b.representative) for b in rm.branches] == \
        [(1, 3, 3), (4, 15, 15), (16, 40, 40)]
    best = records.best_records(recs)
    for branch, trace in zip(rm.branches, rm.traces):
        task = Task("test/rows_matmul", kwargs={"M": branch.representative})
        rec = best[(task.name, task.args, task.kwargs, task.target)]
        assert branch.config == rec.config
        assert trace == rec.trace          # built with the symbolic size: the same schedule
    assert [t["config"] for t in rm.table] == [b.config for b in rm.branches]


@pytest.mark.parametrize("M", [1, 3, 4, 15, 16, 40])
def test_the_module_dispatches_and_matches_numpy_at_the_boundaries(tuned, M):
    rm, _ = tuned
    rng = np.random.default_rng(M)
    a = rng.uniform(-1, 1, (M, 16)).astype(np.float32)
    b = rng.uniform(-1, 1, (16, 24)).astype(np.float32)
    c = np.full((M, 24), np.nan, np.float32)
    branch = np.full(1, -1, np.int32)
    rm(a, b, c, branch)
    assert branch[0] == rm.branch_for(M) == [0, 0, 1, 1, 2, 2][[1, 3, 4, 15, 16, 40].index(M)]
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_an_unknown_dimension_is_refused():
    with pytest.raises(TemplateError, match="has no parameter 'Q'"):
        tune_range("test/rows_matmul", dim="Q", lo=1, hi=8, trials=0)


def test_without_a_log_the_branch_takes_this_runs_best():
    rm = tune_range("test/rows_matmul", dim="M", lo=8, hi=8, trials=2, tuner="grid",
                    options=FAST, progress=False, validate=0)
    (branch,) = rm.branches
    assert branch.gflops > 0                   # measured here, not the unmeasured fallback
    rng = np.random.default_rng(5)
    a = rng.uniform(-1, 1, (5, 16)).astype(np.float32)
    b = rng.uniform(-1, 1, (16, 24)).astype(np.float32)
    c = np.full((5, 24), np.nan, np.float32)
    rm(a, b, c)                                # a size outside [lo, hi]: the last branch
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("M", [2, 3, 4, 9])
def test_a_temporary_sized_by_the_range_dimension_is_shared_by_every_branch(M):
    rm = tune_range("test/rows_two_stage", dim="M", lo=2, hi=9, parts=2, trials=0)
    assert len(rm.branches) == 2
    a = np.random.default_rng(M).uniform(-1, 1, (M, 16)).astype(np.float32)
    c = np.full((M, 16), np.nan, np.float32)
    rm(a, c)
    np.testing.assert_allclose(c, np.maximum(a.astype(np.float64), 0) * 2, rtol=1e-6)
