"""auto_schedule against the library's schedules: W1 (matmul 1024^3), W4 (conv2d), W7 (softmax).

    python -m bench.auto_schedule                        # 64 trials each, 300 s budget each
    python -m bench.auto_schedule --trials 32 --budget 120 --only W1 W7 --small-w4

Each workload is written as a plain tensor expression (no schedule) and handed
to autotune.auto_schedule; the library's op is a template (schedules/), so it
is tuned too, with the same trial count and time budget (autotune.tune of
Task(op, sizes)).  Then the auto-scheduled best, the tuned template (the op
inside apply_history_best) and the untuned template (its default configuration,
the hand schedule) are timed side by side in this process, interleaved
rounds, same inputs and threads.  Acceptance: auto >= 0.8 x the tuned template
on each.  --no-tune-template skips the template's tuning: auto against the
default only.  The machine is shared: figures carry their spread ((max -
min) / median over the repeats), and a ratio is only meaningful within one
run.  --small-w4 uses C = K = 32, H = W = 28 (a shorter reference run and
tuning) and says so in its row.
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
    p.add_argument("--no-tune-template", action="store_true",
                   help="compare with the library's default schedule only (no template tuning)")
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
    """id -> (label, expression builder, library template (op, sizes, options), work, unit)."""
    c, hw = (32, 28) if small_w4 else (64, 56)
    return {
        "W1": ("W1 matmul 1024^3", lambda: matmul_expr(1024),
               ("matmul", (1024, 1024, 1024), {}), 2 * 1024 ** 3, "GFLOP/s"),
        "W4": (f"W4 conv2d C=K={c} {hw}x{hw} 3x3" + (" (small)" if small_w4 else ""),
               lambda: conv2d_expr(c, hw, hw, c),
               ("conv2d", (1, c, hw, hw, c, 3, 3), {"stride": 1, "padding": 1}),
               2 * c * c * 9 * hw * hw, "GFLOP/s"),
        "W7": ("W7 softmax 4096x1024", lambda: softmax_expr(4096, 1024),
               ("softmax", (4096, 1024), {}), 2 * 4096 * 1024 * 4, "GB/s"),
    }


def library_call(template):
    """The library op of (op, sizes, options), called as a user calls it."""
    import schedules
    op, sizes, options = template
    return schedules.get(op)(*sizes, **options)


def tune_template(key, template, args, log_dir):
    """Tune the library's template with the auto_schedule budget: (log, best config
    or None, whether it is the default configuration, seconds)."""
    import autotune
    op, sizes, options = template
    log = os.path.join(log_dir, f"{key}-template.jsonl")
    task = autotune.Task(op, sizes, options)
    t0 = time.perf_counter()
    result = autotune.tune(task, trials=args.trials, log=log, time_budget=args.budget)
    best = result.best.config if result.best else None
    return log, best, best == task.fallback, time.perf_counter() - t0


def _arrays(args, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    shapes = [[int(d.value) for d in t.shape] for t in args]
    ins = [rng.uniform(-1, 1, s).astype("float32") for s in shapes[:-1]]
    return ins + [np.empty(shapes[-1], "float32")]


def build_sides(key, spec, args, log_dir) -> dict:
    """side name -> (built module, its tensors): the default template, (unless
    --no-tune-template) the tuned template and auto; prints what tuning took."""
    import autotune
    label, expr, template, _, _ = spec
    log = os.path.join(log_dir, f"{key}.jsonl")
    t0 = time.perf_counter()
    s, params = autotune.auto_schedule(expr(), trials=args.trials, log=log,
                                       timeout=args.budget)
    print(f"\n{label}: auto_schedule {args.trials} trials in {time.perf_counter() - t0:.0f} s "
          f"(log {log})")
    mods = {"library default": _built(library_call(template), "lib")}
    if not args.no_tune_template:
        tlog, best, default, secs = tune_template(key, template, args, log_dir)
        same = " (= the default: the tuned and default sides differ by noise only)"
        print(f"{label}: template {template[0]} {args.trials} trials in {secs:.0f} s, best "
              f"{best}{same if default else ''} (log {tlog})")
        with autotune.apply_history_best(tlog):
            mods["library tuned"] = _built(library_call(template), "tuned")
    mods["opcomp"] = _built((s, params), "auto")
    return mods


def _built(schedule_and_params, name) -> tuple:
    import opcomp as oc
    s, params = schedule_and_params
    return oc.build(s, params, name=name), params


def run_one(key, spec, args):
    import numpy as np
    label, _, _, work, unit = spec
    mods = build_sides(key, spec, args, args.log_dir or tempfile.mkdtemp(prefix="auto-"))
    data = {side: _arrays(params, seed=0) for side, (_, params) in mods.items()}
    outs = []
    for side, (mod, _) in mods.items():
        mod(*data[side])
        outs.append(data[side][-1])
    for out in outs[1:]:                    # same inputs (seed 0): the same results
        np.testing.assert_allclose(out, outs[0], rtol=1e-3, atol=1e-3)
    sides = {side: [] for side in mods}
    for _ in range(args.rounds):            # interleaved: load changes hit every side
        for side, (mod, _) in mods.items():
            sides[side] += time_calls(lambda m=mod, d=data[side]: m(*d), repeat=5)
    row(label, unit, work, sides)
    return _ratios(sides)


def _ratios(sides) -> float:
    """Print auto against each library side; returns auto / (tuned, else default)."""
    auto = sides["opcomp"]
    ratio = None
    for side in [k for k in sides if k != "opcomp"]:
        by_median = summary(sides[side])[0] / summary(auto)[0]
        best = min(sides[side]) / min(auto)
        print(f"  auto / {side}: x{by_median:.2f} by medians, x{best:.2f} best against best "
              "(less sensitive to other jobs' load)")
        ratio = by_median
    accept = "library tuned" if "library tuned" in sides else "library default"
    print(f"  acceptance: auto >= 0.80 x {accept}")
    if "library tuned" in sides:
        tuned = summary(sides["library default"])[0] / summary(sides["library tuned"])[0]
        print(f"  tuned template / default: x{tuned:.2f} by medians")
    return ratio


def main(argv=None):
    fair_environment()
    args = _parse(argv)
    specs = workloads(args.small_w4)
    print("note: a shared machine (other engineers' jobs run beside this); read the spreads")
    ratios = {k: run_one(k, specs[k], args) for k in args.only}
    vs = "default" if args.no_tune_template else "tuned template"
    print(f"\nsummary (auto / {vs}): " + ", ".join(f"{k} x{r:.2f}" for k, r in ratios.items()))


if __name__ == "__main__":
    main()
