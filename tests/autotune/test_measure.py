"""Measurement: planted candidates that segfault, abort, hang, exhaust memory or compute a
wrong answer, and builds that fail, hang or crash, each become the right error record
while the batch goes on; killed workers are gone within the timeout plus a second."""
import os

import numpy as np
import pytest

from autotune import ErrorCode, MeasureOptions, Measurer, Task
from autotune.jobs import mismatch
from autotune.measure import random_arrays
from tests.autotune import templates  # noqa: F401  (registers the test templates)
from tests.autotune.faults import plant

RUN_TIMEOUT = 2.0
EXPECTED = {
    "segfault": ErrorCode.RUN_CRASH, "abort": ErrorCode.RUN_CRASH,
    "hang": ErrorCode.RUN_TIMEOUT, "memory": ErrorCode.RUN_MEMORY,
    "wrong": ErrorCode.WRONG_ANSWER, "bad_schedule": ErrorCode.INSTANTIATE_ERROR,
    "build_hang": ErrorCode.BUILD_TIMEOUT, "build_crash": ErrorCode.BUILD_CRASH,
}


@pytest.fixture(scope="module")
def measured():
    """One batch: a good candidate, every fault, then good candidates again."""
    task = Task("test/faulty", args=(16,))
    opt = MeasureOptions(repeat=2, min_time=0.001, run_timeout=RUN_TIMEOUT, build_timeout=3,
                         memory_limit=256 << 20, hook=plant, cutoff=None, builds_per_worker=3)
    configs = [{"fault": "none", "unroll": 0}]
    configs += [{"fault": f, "unroll": 0} for f in EXPECTED]
    configs += [{"fault": "none", "unroll": 1}]
    with Measurer(task, opt) as m:
        recs = {(r.config["fault"], r.config["unroll"]): r for r in m.measure(configs)}
        yield recs, m


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_each_fault_gets_its_error_code(measured, fault):
    rec = measured[0][(fault, 0)]
    assert rec.error == EXPECTED[fault], rec.message
    assert not rec.ok and rec.costs == () and rec.message


def test_good_candidates_before_and_after_the_faults_are_measured(measured):
    recs = measured[0]
    for key in (("none", 0), ("none", 1)):
        assert recs[key].ok and recs[key].median > 0 and recs[key].gflops > 0
        assert len(recs[key].costs) == 2 and recs[key].trace is not None and recs[key].workload


def test_error_messages_say_what_happened(measured):
    recs = measured[0]
    assert "SIGSEGV" in recs[("segfault", 0)].message
    assert "SIGABRT" in recs[("abort", 0)].message
    assert "element" in recs[("wrong", 0)].message and "(3,)" in recs[("wrong", 0)].message
    assert "ScheduleError" in recs[("bad_schedule", 0)].message


def test_killed_workers_are_gone_within_a_second(measured):
    m = measured[1]
    killed = m.runner.reaped + m.builders.reaped
    reasons = sorted(r for _, r, _ in killed)
    assert reasons.count("timeout") == 2              # the hung run and the hung build
    for pid, _, gone in killed:
        assert gone < 1.0
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_builders_are_recycled_and_each_run_gets_a_fresh_process(measured):
    m = measured[1]
    builds = 1 + len(EXPECTED) + 2                     # the reference, then the batch
    assert m.builders.started >= builds // 3 + 1       # a builder retires after 3 builds
    runs = 1 + 2 + 5                                   # reference, good ones, planted kernels
    assert m.runner.started == runs


def test_records_carry_build_times_and_no_trace_when_the_template_raised(measured):
    assert measured[0][("bad_schedule", 0)].trace is None      # the template itself raised
    assert measured[0][("none", 0)].build["codegen_s"] > 0


def test_inputs_are_random_nonzero_and_outputs_start_as_nan():
    task = Task("test/matmul", args=(4, 5, 3))
    sch, tensors = task.instantiate()
    a, b, c = random_arrays(tensors, {t.op for t in sch.outputs}, seed=3)
    assert a.shape == (4, 3) and b.shape == (3, 5) and np.all(a != 0) and np.all(b != 0)
    assert np.isnan(c).all()


def test_mismatch_uses_float_tolerance_and_names_the_first_wrong_element():
    want = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    assert mismatch(want + np.float32(1e-7), want, 1e-4, 1e-5) == ""
    bad = want.copy()
    bad[2, 1] += 0.01
    assert "(2, 1)" in mismatch(bad, want, 1e-4, 1e-5)
    assert "shape" in mismatch(want[:2], want, 1e-4, 1e-5)
    assert mismatch(np.arange(3), np.array([0, 1, 5]), 0, 0).startswith("1 elements differ")


def test_options_are_checked():
    with pytest.raises(ValueError, match="reference"):
        MeasureOptions(reference="numpy")
    with pytest.raises(ValueError, match="run_timeout"):
        MeasureOptions(run_timeout=0)
    with pytest.raises(ValueError, match="hook must be picklable"):
        MeasureOptions(hook=lambda artifact, config: artifact)
