"""auto_schedule: the sketch rules classify stages and derive a space whose points
compute the right answer (matmul with tails, a fused epilogue, convolution with
padding, softmax, an elementwise pipeline), and a short search returns the best
record's schedule, replayed from the log without measuring."""
import importlib

import numpy as np
import pytest

import opcomp as oc
from autotune import MeasureOptions, auto_schedule, records
from autotune.auto_schedule import auto_task, lookup_workload

# the module (the package exports the function under the same name)
auto_mod = importlib.import_module("autotune.auto_schedule")
from autotune.sketch import analyze
from tests.autotune.templates import matmul_compute

FAST = MeasureOptions(repeat=2, min_time=0.001)


def matmul(M, N, K):
    return [matmul_compute(M, N, K)[2]]


def matmul_bias_relu(M, N, K):
    _, _, C = matmul_compute(M, N, K)
    b = oc.placeholder((N,), name="bias")
    return [oc.compute((M, N), lambda i, j: oc.maximum(C[i, j] + b[j], oc.const(0.0)),
                       name="D")]


def softmax(R, L):
    X = oc.placeholder((R, L), name="X")
    k1 = oc.reduce_axis(L, "k1")
    M = oc.compute((R,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E = oc.compute((R, L), lambda i, j: oc.exp(X[i, j] - M[i]), name="E")
    k2 = oc.reduce_axis(L, "k2")
    S = oc.compute((R,), lambda i: oc.sum(E[i, k2], axis=k2), name="S")
    inv = oc.compute((R,), lambda i: oc.const(1.0) / S[i], name="inv")
    return [oc.compute((R, L), lambda i, j: E[i, j] * inv[i], name="Y")]


def conv2d(C, H, W, K, pad=1):
    D = oc.placeholder((1, C, H, W), name="data")
    Wt = oc.placeholder((K, C, 3, 3), name="weight")
    inside = lambda h, w: (h >= pad) & (h < H + pad) & (w >= pad) & (w < W + pad)  # noqa: E731
    P = oc.compute((1, C, H + 2 * pad, W + 2 * pad), lambda n, c, h, w: oc.select(
        inside(h, w), D[n, c, oc.minimum(oc.maximum(h - pad, 0), H - 1),
                        oc.minimum(oc.maximum(w - pad, 0), W - 1)], oc.const(0.0)), name="pad")
    rc, ry, rx = oc.reduce_axis(C, "rc"), oc.reduce_axis(3, "ry"), oc.reduce_axis(3, "rx")
    OH, OW = H + 2 * pad - 2, W + 2 * pad - 2
    return [oc.compute((1, K, OH, OW), lambda n, k, y, x: oc.sum(
        P[n, rc, y + ry, x + rx] * Wt[k, rc, ry, rx], axis=[rc, ry, rx]), name="conv")]


def relu_add(n):
    a = oc.placeholder((n,), name="a")
    b = oc.placeholder((n,), name="b")
    return [oc.compute((n,), lambda i: oc.maximum(a[i] + b[i], oc.const(0.0)), name="r")]


def reference(name, ins):
    x = [a.astype(np.float64) for a in ins]
    if name == "matmul":
        return x[0] @ x[1]
    if name == "matmul_bias_relu":
        return np.maximum(x[0] @ x[1] + x[2], 0)
    if name == "softmax":
        e = np.exp(x[0] - x[0].max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "relu_add":
        return np.maximum(x[0] + x[1], 0)
    d, w = x
    p = np.pad(d, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((1, w.shape[0], d.shape[2], d.shape[3]))
    for r in range(3):
        for s in range(3):
            win = p[:, :, r:r + d.shape[2], s:s + d.shape[3]]
            out += np.einsum("nchw,kc->nkhw", win, w[:, :, r, s])
    return out


CASES = {
    "matmul": lambda: matmul(37, 45, 29),           # no size divides a tile: tails
    "matmul_bias_relu": lambda: matmul_bias_relu(20, 33, 17),
    "softmax": lambda: softmax(7, 100),
    "conv2d": lambda: conv2d(8, 10, 10, 16),
    "relu_add": lambda: relu_add(1000),
}


def run(s, args, rng):
    ins = [rng.uniform(0.5, 1.5, [int(d.value) for d in t.shape]).astype("float32")
           * rng.choice([-1.0, 1.0], [int(d.value) for d in t.shape]).astype("float32")
           for t in args[:-1]]
    out = np.full([int(d.value) for d in args[-1].shape], np.nan, "float32")
    oc.build(s, args)(*ins, out)
    return ins, out


def test_stage_kinds():
    kinds = {g.name: g.kind for g in analyze(softmax(4, 16))}
    assert kinds == {"Y": "injective", "inv": "injective", "S": "row", "E": "injective",
                     "M": "row"}
    assert [g.kind for g in analyze(matmul(8, 8, 8))] == ["tiled"]
    conv = {g.name: (g.kind, g.has_select) for g in analyze(conv2d(2, 4, 4, 2))}
    assert conv == {"conv": ("tiled", False), "pad": ("injective", True)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fallback_and_random_points_match_numpy(name):
    task = auto_task(CASES[name]())
    space = task.space
    rng = np.random.default_rng(len(name))
    points = [None, space.values(int(rng.integers(len(space))))]
    for values in points:
        s, args = task.instantiate(values)
        ins, out = run(s, args, rng)
        np.testing.assert_allclose(out, reference(name, ins), rtol=2e-5, atol=2e-5,
                                   err_msg=f"{name} at {values}")


def test_the_space_has_the_sketch_knobs():
    knobs = set(auto_task(matmul(64, 64, 64)).space.values(0))
    assert {"C.regtile", "C.i", "C.j", "C.r0", "C.unroll_k", "C.cache_B"} <= knobs
    assert {"M.rfactor", "S.rfactor", "E.at", "inv.at", "Y.vec"} <= set(
        auto_task(softmax(8, 64)).space.values(0))
    fallback = auto_task(softmax(8, 64)).fallback
    assert fallback["E.at"] == "row" and fallback["M.rfactor"] == 32   # 4 vectors of 8 lanes
    assert auto_task(conv2d(4, 8, 8, 8)).fallback["pad.at"] == "root"


def test_auto_schedule_tunes_then_replays_the_best_record(tmp_path):
    log = tmp_path / "auto.jsonl"
    outs = matmul(24, 40, 16)
    s, args = auto_schedule(outs, trials=3, log=log, options=FAST, progress=False,
                            tuner="random", validate=0)
    rng = np.random.default_rng(3)
    ins, out = run(s, args, rng)
    np.testing.assert_allclose(out, reference("matmul", ins), rtol=2e-5, atol=2e-5)
    task = auto_task(outs)
    recs = records.load(log)
    assert len(recs) == 3 and all(r.name == "auto_schedule" and r.args == (task.args[0],)
                                  for r in recs)
    best = auto_mod.best_record(task, recs)
    assert tuple(s.trace.records) == best.trace      # the returned schedule is the best's
    again, _ = auto_schedule(outs, trials=0, log=log)
    assert tuple(again.trace.records) == best.trace and records.load(log) == recs


def test_workers_find_the_computation_in_the_workload_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPCOMP_AUTOSCHEDULE_DIR", str(tmp_path))
    key = auto_task(relu_add(64)).args[0]
    monkeypatch.delitem(auto_mod._WORKLOADS, key)        # as a fresh worker process
    outputs, args = lookup_workload(key)
    assert oc.workload_key(list(outputs)) == key and [a.name for a in args] == ["a", "b", "r"]
    with pytest.raises(ValueError, match="no computation registered with workload key"):
        lookup_workload("0" * 64)


def test_placeholders_are_not_outputs():
    with pytest.raises(TypeError, match="is a placeholder; give the computed tensors"):
        auto_task([oc.placeholder((4,), name="x")])
