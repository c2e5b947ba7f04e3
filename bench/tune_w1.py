"""Tune W1 (matmul 1024^3 float32) from scratch and compare with OpenBLAS in the same run.

    python -m bench.tune_w1                      # 64 trials, 180 s budget, fresh log
    python -m bench.tune_w1 --trials 32 --budget 90 --log w1.jsonl --tuner random

Prints the tuning summary (candidates per minute, compile time per
candidate, errors), then times NumPy/OpenBLAS, the untuned library schedule
(the template's fallback) and the tuned best side by side in this process,
same inputs, same threads (bench.common's fair environment: 2 threads,
OpenBLAS with its kernels for this CPU), and the schedule of the best record.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench.common import fair_environment, row, summary, time_calls

N = 1024


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--budget", type=float, default=180.0, help="tuning wall-clock seconds")
    p.add_argument("--log", default=None, help="records file (default: a fresh temporary one)")
    p.add_argument("--tuner", default="model", choices=("model", "random", "grid"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=3, help="comparison rounds after tuning")
    p.add_argument("--plot", default=None, help="PNG path for the tuning curve")
    return p.parse_args(argv)


def _tune(args):
    import autotune
    import schedules  # noqa: F401  (registers the "matmul" template)
    task = autotune.Task("matmul", args=(N, N, N), target="llvm")
    log = args.log or os.path.join(tempfile.mkdtemp(prefix="tune-w1-"), "w1.jsonl")
    print(f"tuning {task}: space of {len(task.space)} configurations; log {log}", flush=True)
    result = autotune.tune(task, trials=args.trials, log=log, tuner=args.tuner,
                           time_budget=args.budget, seed=args.seed, plot=args.plot)
    print(result.summary())
    quality = ", ".join(f"{q:.2f}" for q in result.model_quality)
    print(f"  model rank quality per batch (Spearman): {quality or 'n/a'}")
    print(f"  curve (best GFLOP/s after each trial): "
          f"{' '.join(f'{g:.0f}' for g in result.curve)}")
    return task, result, log


def _compare(task, result, log, rounds: int):
    import numpy as np
    import autotune
    import opcomp as oc
    import schedules
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((N, N), dtype=np.float32) for _ in range(2))
    c, ref = np.empty((N, N), np.float32), np.empty((N, N), np.float32)
    untuned = oc.build(*schedules.get("matmul")(N, N, N), name="matmul")
    with autotune.apply_history_best(log):
        tuned = oc.build(*schedules.get("matmul")(N, N, N), name="matmul")
    for mod in (untuned, tuned):
        mod(a, b, c)
        np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
    sides = {"NumPy/OpenBLAS": [], "opcomp untuned": [], "opcomp tuned": []}
    calls = {"NumPy/OpenBLAS": lambda: np.matmul(a, b, out=ref),
             "opcomp untuned": lambda: untuned(a, b, c), "opcomp tuned": lambda: tuned(a, b, c)}
    for _ in range(rounds):                  # interleaved, so load changes hit every side
        for name, fn in calls.items():
            sides[name] += time_calls(fn)
    print(f"\nW1 in this process after tuning, {oc.runtime_threads()} threads, {rounds} "
          "interleaved rounds:")
    row("W1 matmul 1024^3", "GFLOP/s", 2 * N ** 3, sides)
    blas, tuned_s = summary(sides["NumPy/OpenBLAS"])[0], summary(sides["opcomp tuned"])[0]
    print(f"tuned / OpenBLAS: x{blas / tuned_s:.2f} (target >= 1.15)")
    if result.best is not None:
        print("\nbest record's schedule:\n" + autotune.to_python(result.best))


def main(argv=None):
    fair_environment()
    args = _parse(argv)
    t0 = time.perf_counter()
    task, result, log = _tune(args)
    print(f"tuning wall time {time.perf_counter() - t0:.1f} s")
    _compare(task, result, log, args.rounds)


if __name__ == "__main__":
    main()
