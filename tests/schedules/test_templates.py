"""The library's CPU ops as autotune templates: each op's space is non-trivial, random
configurations build and match float64 NumPy, a tuned record applies through
schedules.get(op) inside apply_history_best, and `opcomp tune` tunes them."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import opcomp as oc
import schedules
from autotune import MeasureOptions, Task, apply_config, apply_history_best, records, tune
from autotune.template import registered
from tests.schedules.test_conv2d import reference as conv_reference
from tests.schedules.test_depthwise import reference as depthwise_reference
from tests.schedules.test_pool import windows

ROOT = Path(__file__).resolve().parents[2]
AVX2 = "llvm -mcpu=haswell"


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_log_softmax(x):
    y = x - x.max(axis=-1, keepdims=True)
    return y - np.log(np.exp(y).sum(axis=-1, keepdims=True))


def np_layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps) * g + b


def np_rms_norm(x, g, eps=1e-6):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * g


def np_conv(x, w, layout="NCHW", padding=0):
    """Stride 1, no dilation, one group; NHWC: data (N, H, W, C), weight (R, S, C, K)."""
    if layout == "NHWC":
        out = conv_reference(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), (1, 1),
                             (padding,) * 2, (1, 1), 1)
        return out.transpose(0, 2, 3, 1)
    return conv_reference(x, w, (1, 1), (padding,) * 2, (1, 1), 1)


def np_max_pool(x):           # 2x2 windows, stride 2
    return windows(x, 2, 2, (2, 2), (0, 0), -np.inf).max(axis=(-2, -1))


def np_avg_pool(x):           # 3x3 windows, stride 1, padding 1, zeros counted
    return windows(x, 3, 3, (1, 1), (1, 1), 0.0).mean(axis=(-2, -1))


# op, sizes, options, the float64 reference of the inputs, knobs that must offer choices
CASES = {
    "softmax": ("softmax", (6, 70), {}, np_softmax, ("width", "row_block")),
    "log_softmax": ("log_softmax", (6, 70), {}, np_log_softmax, ("width", "row_block")),
    "layer_norm": ("layer_norm", (6, 70), {}, np_layer_norm, ("width", "row_block")),
    "rms_norm": ("rms_norm", (6, 70), {}, np_rms_norm, ("width", "row_block")),
    "conv2d_rows": ("conv2d", (1, 4, 9, 16, 12, 3, 3), {"padding": 1},
                    lambda x, w: np_conv(x, w, padding=1), ("tile", "outer")),
    "conv2d_flat": ("conv2d", (1, 8, 10, 10, 12, 3, 3), {"padding": 1},
                    lambda x, w: np_conv(x, w, padding=1), ("tile", "outer", "cblock")),
    "conv2d_nhwc": ("conv2d", (1, 4, 7, 7, 20, 3, 3), {"padding": 1, "layout": "NHWC"},
                    lambda x, w: np_conv(x, w, "NHWC", padding=1), ("tile",)),
    "dense": ("dense", (10, 40, 16), {"bias": True}, lambda a, b, c: a @ b + c,
              ("tile", "bk")),
    "batch_matmul": ("batch_matmul", (3, 10, 24, 16), {}, lambda a, b: a @ b, ("tile", "bk")),
    "depthwise": ("depthwise_conv2d", (1, 4, 12, 20, 3, 3), {"padding": 1},
                  lambda x, w: depthwise_reference(x, w, (1, 1), (1, 1), (1, 1), 1), ("tile",)),
    "max_pool": ("max_pool2d", (1, 3, 12, 40, 2, 2), {}, np_max_pool,
                 ("width", "unroll_window")),
    "avg_pool": ("avg_pool2d", (1, 3, 9, 20, 3, 3), {"padding": 1, "stride": 1}, np_avg_pool,
                 ("width", "unroll_window")),
    "sum_last": ("sum", ((6, 75),), {"axis": 1}, lambda x: x.sum(axis=1), ("unroll",)),
    "mean_rows": ("mean", ((5, 3, 70),), {"axis": (0, 1)}, lambda x: x.mean(axis=(0, 1)),
                  ("unroll",)),
    "max_all": ("max", ((4, 90),), {}, lambda x: x.max(), ("unroll",)),
}


def inputs_of(tensors, rng):
    """Fresh random float32 inputs (never zeros) for every argument but the last."""
    return [rng.uniform(0.25, 1.0, [int(d.value) for d in t.shape]).astype("float32")
            * rng.choice([-1, 1], [int(d.value) for d in t.shape]).astype("float32")
            for t in tensors[:-1]]


def check_numerics(case: str, sch, tensors, rng):
    ref = CASES[case][3]
    ins = inputs_of(tensors, rng)
    out = np.full([int(d.value) for d in tensors[-1].shape], np.nan, "float32")
    oc.build(sch, tensors, bounds_check=True)(*ins, out)
    expect = ref(*[x.astype(np.float64) for x in ins])
    np.testing.assert_allclose(out, expect, rtol=2e-5, atol=2e-5)


def task_of(case: str, target: str = "llvm") -> Task:
    op, sizes, opts, _, _ = CASES[case]
    return Task(op, sizes, opts, target=target)


@pytest.mark.parametrize("case", sorted(CASES))
def test_space_offers_choices_on_every_tuned_knob(case):
    space = task_of(case, AVX2).space
    for knob in CASES[case][4]:
        assert len(space.knobs[knob]) > 1, (case, knob, space)


@pytest.mark.parametrize("case", sorted(CASES))
def test_random_configs_build_and_match_numpy(case, rng):
    task = task_of(case)
    space, fallback = task.space, task.fallback
    picks = {int(i) for i in rng.choice(len(space), size=min(2, len(space)), replace=False)}
    for index in sorted(picks):
        values = space.values(index)
        op, sizes, opts, _, _ = CASES[case]
        with apply_config(values, partial=False):     # through the op's public function
            sch, tensors = schedules.get(op)(*sizes, **opts)
        assert sch.trace.records == task.instantiate(values)[0].trace.records
        check_numerics(case, sch, tensors, rng)
    assert task.instantiate(None)[0].trace.records == task.instantiate(fallback)[0].trace.records


def test_explicit_tile_is_the_only_choice():
    task = Task("conv2d", (1, 4, 9, 16, 12, 3, 3), {"padding": 1, "tile": [1, 2, 3]})
    assert [e.value for e in task.space.knobs["tile"].entities] == ["1x2x3"]
    dense_task = Task("dense", (10, 40, 16), {"bm": 3, "bk": 2})
    assert task_of("dense").fallback["bk"] == 4
    assert dense_task.fallback == {"tile": f"3x{dense_task.fallback['tile'].split('x')[1]}",
                                   "bk": 2}
    assert len(dense_task.space) == 1


def test_symbolic_sizes_use_the_fallback(rng):
    R = oc.size_var("R")
    sch, tensors = schedules.get("softmax")(R, 70)
    x = rng.standard_normal((5, 70)).astype("float32")
    out = np.empty_like(x)
    oc.build(sch, tensors)(x, out)
    np.testing.assert_allclose(out, np_softmax(x.astype(np.float64)), rtol=2e-5, atol=1e-6)


FAST = MeasureOptions(repeat=2, min_time=0.001)


@pytest.mark.parametrize("case", ["conv2d_flat", "softmax", "dense", "mean_rows"])
def test_tuning_writes_records_that_apply_history_best_applies(case, tmp_path, rng):
    task = task_of(case)
    log = tmp_path / f"{case}.jsonl"
    result = tune(task, trials=4, log=log, tuner="random", options=FAST, progress=False,
                  validate=0, seed=int(rng.integers(1 << 30)))
    assert len(result.records) == 4 and result.best is not None
    assert len(log.read_text().splitlines()) >= 4
    op, sizes, opts, _, _ = CASES[case]
    with apply_history_best(log):
        sch, tensors = schedules.get(op)(*sizes, **opts)
    assert sch.trace.records == task.instantiate(result.best.config)[0].trace.records
    check_numerics(case, sch, tensors, rng)
    # a log whose only record is not the fallback: what it applies is that record
    other = next(r for r in result.records if r.ok and r.config != task.fallback)
    (tmp_path / "one.jsonl").write_text(records.encode(other) + "\n")
    with apply_history_best(tmp_path / "one.jsonl"):
        sch, _ = schedules.get(op)(*sizes, **opts)
    assert sch.trace.records == task.instantiate(other.config)[0].trace.records
    assert sch.trace.records != task.instantiate()[0].trace.records


def test_opcomp_tune_tunes_a_library_template(tmp_path):
    log = tmp_path / "sm.jsonl"
    res = subprocess.run([sys.executable, "-m", "schedules.cli", "tune", "softmax", "8", "64",
                          "--trials", "3", "--tuner", "random", "--validate", "0",
                          "--log", str(log)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 3
    assert "softmax" in res.stdout


def test_the_library_registers_its_cpu_templates():
    names = set(registered())
    assert {"conv2d", "softmax", "log_softmax", "layer_norm", "rms_norm", "dense",
            "batch_matmul", "matmul", "depthwise_conv2d", "max_pool2d", "avg_pool2d", "sum",
            "mean", "max", "min", "prod"} <= names
