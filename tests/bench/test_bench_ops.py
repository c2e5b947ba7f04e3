"""bench.bench_ops: a memory-bound row is timed beside a copy of the same bytes, and its
table cell gives its share of that copy's bandwidth."""
import functools

import numpy as np
import pytest

from bench import bench_ops, common


@pytest.fixture(autouse=True)
def quick_timing(monkeypatch):
    """Short repeats and no settle: these tests check the bookkeeping, not a speed."""
    monkeypatch.setattr(common, "SETTLE_S", 0)
    monkeypatch.setattr(bench_ops, "time_calls",
                        functools.partial(common.time_calls, min_time=0.002, repeat=3))


def _tiny_workload(unit):
    a = np.random.default_rng(3).standard_normal(4096).astype(np.float32)
    out, ref = np.empty_like(a), np.empty_like(a)
    return bench_ops.Workload("T", "copy", "4096", unit, 2 * 4 * a.size, "NumPy", 1.0,
                              lambda: (lambda: np.copyto(out, a), lambda: np.copyto(ref, a),
                                       lambda: np.testing.assert_array_equal(out, a)))


def test_bandwidth_row_times_a_copy_of_its_bytes():
    pytest.importorskip("torch")
    row = bench_ops.measure(_tiny_workload(bench_ops.GB), rounds=1)
    assert row["copy_rate"] > 0 and len(row["copy_times"]) == len(row["opcomp_times"])
    share = row["opcomp_rate"] / row["copy_rate"] * 100
    assert f"{share:.0f}% of copy" in bench_ops.table([row])


def test_compute_row_has_no_copy_side():
    row = bench_ops.measure(_tiny_workload(bench_ops.GF), rounds=1)
    assert "copy_rate" not in row and "of copy" not in bench_ops.table([row])
