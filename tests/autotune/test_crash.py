"""Crash safety: a tuner SIGKILLed at 20+ random points loses at most the candidate it
was measuring; every complete record loads, a torn tail is skipped with a warning,
and resuming measures no configuration twice and finishes the trials."""
import json
import subprocess
import sys
import warnings
from pathlib import Path

from autotune import RecordWarning, config_key, records

ROOT = Path(__file__).resolve().parents[2]
KILLS, MORE = 22, 5


def _helper(log, kills, trials, seed=7):
    out = subprocess.run([sys.executable, "-m", "tests.autotune.crash_helper", str(log),
                          str(kills), str(seed), str(trials)], cwd=ROOT, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1]) if kills else None


def _load(log):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = records.load(log)
    return recs, [w for w in caught if issubclass(w.category, RecordWarning)]


def test_killed_tuner_resumes_without_measuring_anything_twice(tmp_path):
    log = tmp_path / "tune.jsonl"
    report = _helper(log, KILLS, trials=10_000)      # never done: every life is killed
    assert report["hit"] >= 20, report                  # killed at 20+ random points
    recs, _ = _load(log)
    keys = [config_key(r.config) for r in recs]
    assert len(keys) == len(set(keys)), "a configuration was measured twice"
    assert len(recs) >= KILLS // 2                      # half the lives logged a record
    lines = log.read_bytes().split(b"\n")
    assert len([ln for ln in lines if ln.strip()]) >= len(recs)
    # A kill in the middle of a write leaves a torn line; plant one to be sure.
    with open(log, "ab") as f:
        f.write(log.read_bytes().splitlines()[-1][:57])
    recs_torn, warned = _load(log)
    assert len(recs_torn) == len(recs) and len(warned) == 1 and "torn" in str(warned[0].message)
    _helper(log, 0, trials=len(recs) + MORE)            # resume to the end, no kill
    final, warned = _load(log)
    keys = [config_key(r.config) for r in final]
    assert len(keys) == len(recs) + MORE == len(set(keys))
    assert keys[:len(recs)] == [config_key(r.config) for r in recs]
    assert all(r.ok for r in final) and len(warned) == 1    # only the planted torn line
