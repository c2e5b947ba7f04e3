"""tune(): trials and time budgets, resuming a log without re-measuring, random / grid /
model search without duplicates, early stopping, progress and the tuning curve, and
the tuned best applied by apply_history_best."""
import math
import sys
import types

import pytest

from autotune import (ErrorCode, MeasureOptions, ModelTuner, Record, Task, TuneResult,
                      apply_history_best, config_key, records, tune)
from autotune.progress import Progress
from autotune.tune import _Session
from tests.autotune import templates

FAST = MeasureOptions(repeat=2, min_time=0.001)


@pytest.fixture(scope="module")
def task():
    return Task("test/matmul", args=(16, 16, 16))


def keys(recs):
    return [config_key(r.config) for r in recs]


def test_random_tuning_logs_each_trial_and_resumes(task, tmp_path):
    log = tmp_path / "t.jsonl"
    first = tune(task, trials=5, log=log, tuner="random", options=FAST, progress=False,
                 validate=0)
    assert len(first.records) == 5 and first.stopped == "trials" and first.prior == 0
    assert first.records[0].config == task.fallback          # the baseline comes first
    assert all(r.ok for r in first.records) and first.best.gflops == max(
        r.gflops for r in first.records)
    assert first.candidates_per_minute > 0 and first.compile_seconds > 0
    assert len(first.curve) == 5 and list(first.curve) == sorted(first.curve)
    again = tune(task, trials=8, log=log, tuner="random", options=FAST, progress=False,
                 validate=0)
    assert again.prior == 5 and len(again.records) == 3
    logged = records.load(log)
    assert len(logged) == 8 == len(set(keys(logged)))
    done = tune(task, trials=8, log=log, options=FAST, progress=False)
    assert done.records == () and done.stopped == "trials" and done.best == again.best
    with apply_history_best(log):
        s, _ = templates.small_matmul(16, 16, 16)
    assert s.trace.records == list(again.best.trace)


def test_validation_measures_the_best_and_the_fallback_again(task, tmp_path):
    log = tmp_path / "v.jsonl"
    res = tune(task, trials=5, log=log, tuner="random", options=FAST, progress=False,
               validate=2)
    search = [r for r in res.records if not r.validation]
    again = [r for r in res.records if r.validation]
    assert len(search) == 5 == len(set(keys(search)))
    assert 2 <= len(again) <= 3 and set(keys(again)) <= set(keys(search))
    assert config_key(task.fallback) in keys(again)
    best_runs = [r for r in res.records if r.config == res.best.config]
    assert res.best.costs == tuple(c for r in best_runs for c in r.costs)
    logged = records.load(log)
    assert sum(r.validation for r in logged) == len(again)
    assert records.best_records(logged)[res.best.task_key].config == res.best.config
    more = tune(task, trials=5, log=log, options=FAST, progress=False)
    assert more.records == ()                     # nothing new: no second validation


def test_a_best_measured_again_slower_gives_way(task):
    session = _Session(task, trials=100, log=None, prior=[], early_stopping=None)
    a, b = _fake(task, 1.0), _fake(task, 2.0)
    b = Record(**{**b.__dict__, "config": {"g": "b"}})
    session._take(a)
    session._take(b)
    assert session.best.config == {"g": "b"}
    session._take(Record(**{**_fake(task, 0.5).__dict__, "config": {"g": "b"},
                            "validation": True}))
    assert session.best.config == {"g": 1.0}        # b pooled: 0.8 GFLOP/s
    assert session.curve == pytest.approx([1.0, 2.0, 1.0])


def test_grid_tuning_walks_the_space_in_order(task):
    res = tune(task, trials=4, tuner="grid", options=FAST, progress=False, validate=0)
    space = task.space
    assert [r.config for r in res.records[1:]] == [space.values(i) for i in range(3)]


def test_model_tuning_proposes_new_configurations_only(task):
    res = tune(task, trials=14, batch_size=4, options=FAST, progress=False, validate=0,
               tuner=lambda t, feats: ModelTuner(t, feats, warmup=4, population=12))
    assert len(res.records) == 14 == len(set(keys(res.records)))
    assert res.model_quality and all(-1 <= q <= 1 for q in res.model_quality if q == q)


def test_a_time_budget_stops_the_run(task):
    res = tune(task, trials=500, time_budget=2.5, tuner="random", batch_size=2, options=FAST,
               progress=False)
    assert res.stopped == "time budget" and 0 < len(res.records) < 500
    assert res.wall_s < 2.5 + 3.0          # a batch of two tiny candidates at most past it


def test_bad_budgets_are_refused(task):
    for kwargs, message in ((dict(trials=-1), "trials"), (dict(time_budget=0), "time_budget"),
                            (dict(early_stopping=0), "early_stopping"),
                            (dict(batch_size=0), "batch_size"), (dict(validate=-1), "validate"),
                            (dict(tuner="annealing"), "unknown tuner")):
        with pytest.raises(ValueError, match=message):
            tune(task, **{"trials": 1, "progress": False, "options": FAST, **kwargs})


def _fake(task, gflops, error=ErrorCode.OK):
    cost = task.flop / gflops / 1e9 if gflops else 0
    return Record(task.name, task.args, task.kwargs, task.target, {"g": gflops}, error,
                  (cost,) if error == ErrorCode.OK else (), flop=task.flop)


def test_early_stopping_counts_trials_without_a_new_best(task):
    session = _Session(task, trials=100, log=None, prior=[], early_stopping=3)
    for g in (1.0, 2.0, 1.5, None, 1.9):
        session._take(_fake(task, g, ErrorCode.OK if g else ErrorCode.RUN_CRASH))
    assert session.since_best == 3 and session.best.gflops == pytest.approx(2.0)
    assert session.curve == pytest.approx([1.0, 2.0, 2.0, 2.0, 2.0])


def test_progress_bar_shows_the_best_rate(monkeypatch):
    shown = []

    class FakeTqdm:
        def __init__(self, total, desc, unit):
            shown.append(("total", total, desc))

        def update(self, n):
            shown.append(("update", n))

        def set_postfix_str(self, text):
            shown.append(("postfix", text))

        def close(self):
            shown.append(("close",))
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    bar = Progress(None, 10, "test/matmul")
    bar.update(4, 4, 10, 12.345)
    bar.close()
    assert shown == [("total", 10, "test/matmul"), ("update", 4),
                     ("postfix", "best 12.3 GFLOP/s"), ("close",)]


def test_progress_without_tqdm_prints_a_line_per_batch(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)          # import tqdm fails
    bar = Progress(None, 10, "x")
    bar.update(2, 2, 10, 3.0)
    assert "2/10 trials, best 3.0 GFLOP/s" in capsys.readouterr().err
    Progress(False, 10, "x").update(2, 2, 10, 3.0)
    assert capsys.readouterr().err == ""


def test_the_tuning_curve_is_plotted_when_matplotlib_is_installed(task, tmp_path, monkeypatch):
    result = TuneResult(task, None, (), 0, 1.0, "trials", curve=(1.0, 2.0, 2.0))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert result.plot(tmp_path / "none.png") is None
    monkeypatch.undo()
    pytest.importorskip("matplotlib")
    path = result.plot(tmp_path / "curve.png")
    assert path and (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_summary_reports_rates_and_errors(task):
    recs = (_fake(task, 4.0), _fake(task, None, ErrorCode.RUN_TIMEOUT))
    res = TuneResult(task, recs[0], recs, 3, 30.0, "trials", curve=(4.0, 4.0))
    assert res.candidates_per_minute == pytest.approx(4.0)
    assert res.errors == {"RUN_TIMEOUT": 1} and math.isnan(res.compile_seconds)
    assert "4.0 GFLOP/s" in res.summary() and "(+3 before)" in res.summary()
