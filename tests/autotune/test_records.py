"""Records: JSON lines that round-trip, malformed and torn lines skipped with one
warning, appends that survive a torn tail, the best record applied only to its own
task, target and computation, and to_python code that rebuilds the record's trace."""
import json
import warnings

import numpy as np
import pytest

import opcomp as oc
from autotune import (ErrorCode, Record, RecordWarning, Task, apply_history_best, records,
                      to_python)
from autotune.template import DispatchWarning
from tests.autotune import templates

HASWELL = "llvm -mcpu=haswell"


def record_of(task, config, costs=(1e-3, 1.1e-3), error=ErrorCode.OK):
    """A record as the measurer writes it, without measuring."""
    s, _ = task.instantiate(config)
    return Record(task.name, task.args, task.kwargs, task.target, dict(config), error,
                  tuple(costs) if error == ErrorCode.OK else (), s.trace.workload,
                  task.space.index(config), "" if error == ErrorCode.OK else "boom",
                  task.flop, {"lower_s": 0.01, "codegen_s": 0.1}, tuple(s.trace.records), 1.0)


@pytest.fixture(scope="module")
def task():
    return Task("test/matmul", args=(16, 16, 16))


def config(tile_i=8, tile_j=8, order="ijk", vec="none"):
    return {"tile_i": [-1, tile_i], "tile_j": [-1, tile_j], "order": order, "vec": [vec]}


def test_a_record_round_trips_through_json(task):
    rec = record_of(task, config(4, 16, "ikj", "vec"), costs=(2e-3, 1e-3, 3e-3))
    line = records.encode(rec)
    assert "\n" not in line and json.loads(line)["result"]["median"] == 2e-3
    back = records.decode(line)
    assert back == rec
    assert back.median == 2e-3 and back.spread == pytest.approx(1.0)
    assert back.gflops == pytest.approx(2 * 16 ** 3 / 2e-3 / 1e9)
    err = records.decode(records.encode(record_of(task, config(), error=ErrorCode.RUN_CRASH)))
    assert not err.ok and err.median == float("inf") and err.gflops == 0


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d.update(version=99), "version 99"),
    (lambda d: d["task"].update(args="x"), "task.args"),
    (lambda d: d.update(target=3), "target"),
    (lambda d: d["result"].update(error="ODD"), "result.error"),
    (lambda d: d["result"].update(costs=[-1.0]), "result.costs"),
    (lambda d: d["trace"].append({"primitive": "explode", "stage": "C", "args": {}}), "trace"),
    (lambda d: d["task"].update(args=[{"a": 1}]), "JSON values"),
])
def test_malformed_fields_are_named(task, mutate, message):
    data = json.loads(records.encode(record_of(task, config())))
    mutate(data)
    with pytest.raises(ValueError, match=message):
        records.decode(json.dumps(data))


def test_bad_lines_are_skipped_with_one_warning_and_appends_start_a_fresh_line(task, tmp_path):
    log = tmp_path / "log.jsonl"
    good = [record_of(task, config(t)) for t in (1, 2, 4)]
    for rec in good[:2]:
        records.append(log, rec)
    with open(log, "a") as f:
        f.write("not json\n" + records.encode(good[2])[:40])      # a torn last line
    with pytest.warns(RecordWarning, match=r"skipped 2 torn or malformed line\(s\) \(line 3, 4"):
        assert records.load(log) == good[:2]
    records.append(log, good[2])                 # must not be glued to the torn fragment
    with pytest.warns(RecordWarning, match="skipped 2"):
        assert records.load(log) == good
    assert records.load(tmp_path / "missing.jsonl") == []


def test_the_best_record_applies_only_to_its_own_task_target_and_computation(task, tmp_path):
    slow, fast = config(2, 2), config(4, 16, "ikj", "vec")
    log = tmp_path / "log.jsonl"
    for rec in (record_of(task, slow, (5e-3,)), record_of(task, fast, (1e-3,)),
                record_of(task, config(8, 1), error=ErrorCode.WRONG_ANSWER)):
        records.append(log, rec)
    best = record_of(task, fast, (1e-3,))
    with apply_history_best(log):
        s, _ = templates.small_matmul(16, 16, 16)
        other_args, _ = templates.small_matmul(16, 16, 8)
    assert s.trace.records == list(best.trace)
    fallback = task.instantiate()[0].trace.records
    assert other_args.trace.records != list(best.trace)
    with apply_history_best(log, target=HASWELL):          # another CPU: never applied
        s, _ = templates.small_matmul(16, 16, 16)
    assert s.trace.records == fallback


def test_a_record_for_another_computation_is_refused(task):
    forged = record_of(task, config(4, 16), (1e-3,))
    forged = Record(**{**forged.__dict__, "workload": "0" * 64})
    with apply_history_best([forged]):
        with pytest.warns(DispatchWarning, match="made for workload 000000000000"):
            s, _ = templates.small_matmul(16, 16, 16)
    assert s.trace.records == task.instantiate()[0].trace.records


def _rebuild(code: str):
    ns = {}
    exec(compile(code, "<to_python>", "exec"), ns)     # noqa: S102 (the code under test)
    return ns


def test_to_python_rebuilds_an_identical_trace(task):
    rec = record_of(task, config(4, 8, "ikj", "vec"))
    code = to_python(rec)
    assert "C.split(i, factor=4)" in code and "C.vectorize(j_inner)" in code
    ns = _rebuild(code)
    assert ns["s"].trace.records == list(rec.trace)
    assert ns["s"].trace.workload == rec.workload


def test_to_python_of_the_library_gemm_builds_and_computes_right(rng):
    import schedules  # noqa: F401  (registers the "matmul" template)
    gemm = Task("matmul", args=(37, 53, 29), target="llvm")
    cfg = dict(gemm.fallback, tile="5x16", row_block=2, order=[0, 1, 2], fuse=1, unroll_k=0)
    rec = record_of(gemm, cfg)
    code = to_python(rec)
    assert "compute_at" in code and "cache_write" in code and "fuse" in code
    ns = _rebuild(code)
    assert ns["s"].trace.records == list(rec.trace)
    a = rng.standard_normal((37, 29)).astype(np.float32)
    b = rng.standard_normal((29, 53)).astype(np.float32)
    c = np.full((37, 53), np.nan, np.float32)
    oc.build(ns["s"], ns["args"], target=ns["TARGET"])(a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_to_python_refuses_records_without_a_schedule(task):
    failed = Record(task.name, task.args, task.kwargs, task.target, config(),
                    ErrorCode.INSTANTIATE_ERROR, message="ScheduleError: ...")
    with pytest.raises(ValueError, match="has no trace"):
        to_python(failed)
    with pytest.raises(TypeError, match="Record"):
        to_python({"trace": []})


def test_load_warns_once_per_file_even_for_many_bad_lines(tmp_path):
    log = tmp_path / "bad.jsonl"
    log.write_text("{}\n" * 20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert records.load(log) == []
    assert len(caught) == 1 and "skipped 20" in str(caught[0].message)
