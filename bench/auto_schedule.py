"""auto_schedule against the library's schedules: W1 (matmul 1024^3), W4 (conv2d), W7 (softmax).

    python -m bench.auto_schedule                        # 64 trials each, 300 s budget each
    python -m bench.auto_schedule --trials 32 --budget 120 --only W1 W7 --small-w4

Each workload is written as a plain tensor expression (no schedule) and handed
to autotune.auto_schedule; then the library's schedule (schedules.get(op) at
its default configuration, the hand schedule) and the auto-scheduled best are
timed side by side in this process, interleaved rounds, same inputs and threads.
Acceptance: auto >= 0.8 x library on each.  The machine is shared: figures
carry their spread ((max - min) / median over the repeats), and a ratio is only
meaningful within one run.  --small-w4 uses C = K = 32, H = W = 28 (a shorter
reference run and tuning) and says so in its row.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench.common import fair_environment, row, summary, time_calls


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--budget", type=float, default=300.0, help="tuning seconds per workload")
    p.add_argument("--only", nargs="*", default=["W1", "W4", "W7"])
    p.add_argument("--small-w4", action="store_true")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--log-dir", default=None)
    return p.parse_args(argv)


def matmul_expr(n):
    import opcomp as oc
    A, B = oc.placeholder((n, n), name="A"), oc.placeholder((n, n), name="B")
    k = oc.reduce_axis(n, "k")
    return [oc.compute((n, n), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")]


def conv2d_expr(C, H, W, K, pad=1):
    import opcomp as oc
    D, Wt = oc.placeholder((1, C, H, W), name="data"), oc.placeholder((K, C, 3, 3), name="w")

    def padded(n, c, h, w):
        inside = (h >= pad) & (h < H + pad) & (w >= pad) & (w < W + pad)
        hh = oc.minimum(oc.maximum(h - pad, 0), H - 1)
        ww = oc.minimum(oc.maximum(w - pad, 0), W - 1)
        return oc.select(inside, D[n, c, hh, ww], oc.const(0.0))
    P = oc.compute((1, C, H + 2 * pad, W + 2 * pad), padded, name="pad")
    rc, ry, rx = oc.reduce_axis(C, "rc"), oc.reduce_axis(3, "ry"), oc.reduce_axis(3, "rx")
    return [oc.compute((1, K, H, W), lambda n, k, y, x: oc.sum(
        P[n, rc, y + ry, x + rx] * Wt[k, rc, ry, rx], axis=[rc, ry, rx]), name="conv")]


def softmax_expr(R, L):
    import opcomp as oc
    X = oc.placeholder((R, L), name="X")
    k1, k2 = oc.reduce_axis(L, "k1"), oc.reduce_axis(L, "k2")
    M = oc.compute((R,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E = oc.compute((R, L), lambda i, j: oc.exp(X[i, j] - M[i]), name="E")
    S = oc.compute((R,), lambda i: oc.sum(E[i, k2], axis=k2), name="S")
    inv = oc.compute((R,), lambda i: oc.const(1.0) / S[i], name="inv")
    return [oc.compute((R, L), lambda i, j: E[i, j] * inv[i], name="Y")]


def workloads(small_w4: bool) -> dict:
    """id -> (label, expression builder, library call, work, unit)."""
    import schedules
    c, hw = (32, 28) if small_w4 else (64, 56)
    return {
        "W1": ("W1 matmul 1024^3", lambda: matmul_expr(1024),
               lambda: schedules.get("matmul")(1024, 1024, 1024), 2 * 1024 ** 3, "GFLOP/s"),
        "W4": (f"W4 conv2d C=K={c} {hw}x{hw} 3x3" + (" (small)" if small_w4 else ""),
               lambda: conv2d_expr(c, hw, hw, c),
               lambda: schedules.get("conv2d")(1, c, hw, hw, c, 3, 3, stride=1, padding=1),
               2 * c * c * 9 * hw * hw, "GFLOP/s"),
        "W7": ("W7 softmax 4096x1024", lambda: softmax_expr(4096, 1024),
               lambda: schedules.get("softmax")(4096, 1024), 2 * 4096 * 1024 * 4, "GB/s"),
    }


def _arrays(args, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    shapes = [[int(d.value) for d in t.shape] for t in args]
    ins = [rng.uniform(-1, 1, s).astype("float32") for s in shapes[:-1]]
    return ins + [np.empty(shapes[-1], "float32")]


def run_one(key, spec, args):
    import numpy as np
    import autotune
    import opcomp as oc
    label, expr, library, work, unit = spec
    log = os.path.join(args.log_dir or tempfile.mkdtemp(prefix="auto-"), f"{key}.jsonl")
    t0 = time.perf_counter()
    s, params = autotune.auto_schedule(expr(), trials=args.trials, log=log,
                                       timeout=args.budget)
    tuned_s = time.perf_counter() - t0
    auto = oc.build(s, params, name="auto")
    lib_s, lib_params = library()
    lib = oc.build(lib_s, lib_params, name="lib")
    xs, ys = _arrays(params), _arrays(lib_params)
    auto(*xs)
    lib(*ys)
    np.testing.assert_allclose(xs[-1], ys[-1], rtol=1e-3, atol=1e-3)
    sides = {"library schedule": [], "opcomp": []}
    for _ in range(args.rounds):            # interleaved: load changes hit both sides
        sides["library schedule"] += time_calls(lambda: lib(*ys), repeat=5)
        sides["opcomp"] += time_calls(lambda: auto(*xs), repeat=5)
    print(f"\n{label}: auto_schedule {args.trials} trials in {tuned_s:.0f} s (log {log})")
    row(label, unit, work, sides)
    ratio = summary(sides["library schedule"])[0] / summary(sides["opcomp"])[0]
    best = min(sides["library schedule"]) / min(sides["opcomp"])
    print(f"  auto / library: x{ratio:.2f} by medians, x{best:.2f} best against best "
          "(less sensitive to other jobs' load) (acceptance >= 0.80)")
    return ratio


def main(argv=None):
    fair_environment()
    args = _parse(argv)
    specs = workloads(args.small_w4)
    print("note: a shared machine (other engineers' jobs run beside this); read the spreads")
    ratios = {k: run_one(k, specs[k], args) for k in args.only}
    print("\nsummary: " + ", ".join(f"{k} x{r:.2f}" for k, r in ratios.items()))


if __name__ == "__main__":
    main()
