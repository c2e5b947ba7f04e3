"""The operator library against what a user would pick instead, side by side.

    python -m bench.bench_ops                 # every workload, markdown table + bench_ops.json
    python -m bench.bench_ops W4 W6           # some of them
    python -m bench.bench_ops --rounds 5 --json out.json
    BENCH_THREADS=1 python -m bench.bench_ops --cycles   # work per call, robust to sharing

Each workload builds the library op with its default (untuned) schedule for
this CPU, checks it against the reference on the same inputs, then times
both sides in this one process: `rounds` rounds, each timing the reference
and then opcomp (bench.common.time_calls: settle, warm-up, 7 repeats), so
slow drifts of a shared machine hit both sides alike.  A side's figure is
the median over all its repeats; the ratio is the median of the per-round
ratios (reference time / opcomp time), and the spread is (max - min) /
median of the per-round ratios.  References write into preallocated outputs
where they allow it (out=); NumPy/OpenBLAS runs the kernels it picks for
this CPU (fair_environment unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE);
torch and opcomp use the same thread count (BENCH_THREADS, default 2).
A target is met when the ratio, as printed (two decimals), reaches it.

--cycles counts the user-mode cycles of the calling thread instead of wall
time (single-threaded runs): time another process holds the core does not
count, so on a shared machine it compares the work of the two kernels per
call; each round alternates the sides 7 times (3 calls each) and the ratio
is the median over all those pairs.  Cache and SMT sharing still show.

--tuned LOG adds a "tuned" column: each workload is built a second time inside
autotune.apply_history_best(LOG) (the library's ops are templates) and timed
in the same rounds; --tune N first tunes the templates each workload builds,
N trials each (--tune-budget seconds at most), into LOG (resumable).

    python -m bench.bench_ops W2 W7 --tuned tuned.jsonl --tune 64 --tune-budget 300
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

from bench.common import THREADS, fair_environment, time_calls


class Workload:
    """One row: build() returns (opcomp_fn, reference_fn, check_fn) on shared inputs."""

    def __init__(self, key, op, shape, unit, work, ref_name, target, build):
        self.key, self.op, self.shape, self.unit, self.work = key, op, shape, unit, work
        self.ref_name, self.target, self.build = ref_name, target, build


def _rng():
    import numpy as np
    return np.random.default_rng(7)


_CALLS = None      # while collect_tasks runs: the (op, sizes, options) that builds ask for


def _module(op, *sizes, **options):
    import opcomp as oc
    import schedules
    if _CALLS is not None:
        _CALLS.append((op, sizes, options))
    s, args = schedules.get(op)(*sizes, **options)
    return oc.build(s, args, name=op)


def _close(got, want, rtol=1e-4, atol=1e-3):
    import numpy as np
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def w2_dense():
    import numpy as np
    M, N, K = 128, 3072, 768
    rng = _rng()
    a, b = rng.standard_normal((M, K), np.float32), rng.standard_normal((K, N), np.float32)
    c, ref = np.empty((M, N), np.float32), np.empty((M, N), np.float32)
    mod = _module("dense", M, N, K)
    return (lambda: mod(a, b, c), lambda: np.matmul(a, b, out=ref),
            lambda: _close(c, a.astype(np.float64) @ b))


def w3_batch_matmul():
    import numpy as np
    import torch
    B, M, N, K = 12, 128, 128, 64
    rng = _rng()
    a, b = rng.standard_normal((B, M, K), np.float32), rng.standard_normal((B, K, N), np.float32)
    c = np.empty((B, M, N), np.float32)
    ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty(B, M, N)
    mod = _module("batch_matmul", B, M, N, K)
    return (lambda: mod(a, b, c), lambda: torch.bmm(ta, tb, out=tc),
            lambda: _close(c, a.astype(np.float64) @ b))


def _conv(N, C, H, W, K, R, S, pad, layout="NCHW"):
    import numpy as np
    import torch
    rng = _rng()
    x = rng.standard_normal((N, C, H, W), np.float32)
    w = rng.standard_normal((K, C, R, S), np.float32)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    ty = torch.empty(N, K, H + 2 * pad - R + 1, W + 2 * pad - S + 1)
    ref = torch.nn.functional.conv2d(tx.double(), tw.double(), padding=pad).numpy()
    mod = _module("conv2d", N, C, H, W, K, R, S, padding=pad, layout=layout)
    if layout == "NHWC":
        x, w = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(
            w.transpose(2, 3, 1, 0))
        ref = ref.transpose(0, 2, 3, 1)
    out = np.empty(ref.shape, np.float32)
    reference = _faster(lambda: torch.nn.functional.conv2d(tx, tw, padding=pad),
                        lambda: torch.ops.aten.convolution.out(
                            tx, tw, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, out=ty))
    return (lambda: mod(x, w, out), reference, lambda: _close(out, ref, 1e-3, 1e-3))


def _faster(*fns):
    """The fastest of equivalent reference calls (allocating or out=), to be fair to it."""
    best = min(fns, key=lambda f: statistics.median(time_calls(f, min_time=0.1, repeat=3)))
    return best


def w6_depthwise():
    import numpy as np
    import torch
    N, C, H, W = 1, 128, 56, 56
    rng = _rng()
    x, w = rng.standard_normal((N, C, H, W), np.float32), rng.standard_normal((C, 1, 3, 3),
                                                                              np.float32)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    out = np.empty((N, C, H, W), np.float32)
    ref = torch.nn.functional.conv2d(tx.double(), tw.double(), padding=1, groups=C).numpy()
    mod = _module("depthwise_conv2d", N, C, H, W, 3, 3, padding=1)
    ty = torch.empty(N, C, H, W)
    reference = _faster(lambda: torch.nn.functional.conv2d(tx, tw, padding=1, groups=C),
                        lambda: torch.ops.aten.convolution.out(
                            tx, tw, None, [1, 1], [1, 1], [1, 1], False, [0, 0], C, out=ty))
    return (lambda: mod(x, w, out), reference, lambda: _close(out, ref, 1e-4, 1e-4))


def w9_dense_gelu():
    import numpy as np
    import torch
    M, N, K = 128, 3072, 768
    rng = _rng()
    a, b = rng.standard_normal((M, K), np.float32), rng.standard_normal((K, N), np.float32)
    bias = rng.standard_normal(N, np.float32)
    out = np.empty((M, N), np.float32)
    ta, tb, tbias = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(bias)
    t, ty = torch.empty(M, N), torch.empty(M, N)

    def eager():                       # three ops, as a user writes them, into buffers
        torch.matmul(ta, tb, out=t)
        t.add_(tbias)
        torch.ops.aten.gelu.out(t, approximate="tanh", out=ty)
    ref = torch.nn.functional.gelu(ta.double() @ tb.double() + tbias.double(),
                                   approximate="tanh").numpy()
    mod = _module("dense", M, N, K, bias=True, activation="gelu_tanh")
    return (lambda: mod(a, b, bias, out), eager, lambda: _close(out, ref))


def w10_relu_add():
    import numpy as np
    n = 16 * 2 ** 20
    rng = _rng()
    a, b = rng.standard_normal(n, np.float32), rng.standard_normal(n, np.float32)
    c, ref = np.empty(n, np.float32), np.empty(n, np.float32)
    mod = _module("relu_add", (n,), (n,))

    def numpy_out():
        np.add(a, b, out=ref)
        np.maximum(ref, 0, out=ref)
    return (lambda: mod(a, b, c), numpy_out,
            lambda: np.testing.assert_array_equal(c, np.maximum(a + b, 0)))


def _gemv(M, N):
    import numpy as np
    rng = _rng()
    a, x = rng.standard_normal((M, N), np.float32), rng.standard_normal(N, np.float32)
    y, ref = np.empty(M, np.float32), np.empty(M, np.float32)
    mod = _module("matvec", M, N)
    return (lambda: mod(a, x, y), lambda: np.matmul(a, x, out=ref),
            lambda: _close(y, a.astype(np.float64) @ x, 1e-4, 1e-3))


def max_pool():
    import numpy as np
    import torch
    N, C, H, W = 1, 64, 112, 112
    rng = _rng()
    x = rng.standard_normal((N, C, H, W), np.float32)
    tx = torch.from_numpy(x)
    ref = torch.nn.functional.max_pool2d(tx, 3, 2, 1).numpy()
    out = np.empty(ref.shape, np.float32)
    mod = _module("max_pool2d", N, C, H, W, 3, 3, stride=2, padding=1)
    return (lambda: mod(x, out), lambda: torch.nn.functional.max_pool2d(tx, 3, 2, 1),
            lambda: np.testing.assert_array_equal(out, ref))


def row_sum():
    import numpy as np
    R, L = 4096, 1024
    rng = _rng()
    x = rng.standard_normal((R, L), np.float32)
    out, ref = np.empty(R, np.float32), np.empty(R, np.float32)
    mod = _module("sum", (R, L), axis=-1)
    return (lambda: mod(x, out), lambda: np.sum(x, axis=-1, out=ref),
            lambda: _close(out, x.astype(np.float64).sum(-1), 1e-4, 1e-3))


GF, GB = "GFLOP/s", "GB/s"
WORKLOADS = [
    Workload("W2", "dense", "(128x768)@(768x3072)", GF, 2 * 128 * 768 * 3072,
             "NumPy/OpenBLAS", 1.0, w2_dense),
    Workload("W3", "batch_matmul", "12x(128x64)@(64x128)", GF, 2 * 12 * 128 * 64 * 128,
             "torch.bmm", 1.3, w3_batch_matmul),
    Workload("W4", "conv2d NCHW", "1x64x56x56, K=64 3x3 p1", GF, 2 * 64 * 64 * 9 * 56 * 56,
             "torch F.conv2d", 0.8, lambda: _conv(1, 64, 56, 56, 64, 3, 3, 1)),
    Workload("W5", "conv2d NCHW", "1x256x14x14, K=256 3x3 p1", GF,
             2 * 256 * 256 * 9 * 14 * 14, "torch F.conv2d", 0.8,
             lambda: _conv(1, 256, 14, 14, 256, 3, 3, 1)),
    Workload("W5-NHWC", "conv2d NHWC", "1x14x14x256, K=256 3x3 p1", GF,
             2 * 256 * 256 * 9 * 14 * 14, "torch F.conv2d (NCHW)", None,
             lambda: _conv(1, 256, 14, 14, 256, 3, 3, 1, "NHWC")),
    Workload("W6", "depthwise_conv2d", "1x128x56x56 3x3 p1", GB, 4 * (2 * 128 * 56 * 56 + 1152),
             "torch F.conv2d(groups=C)", 1.5, w6_depthwise),
    Workload("W9", "dense+bias+gelu(tanh)", "(128x768)@(768x3072)", GF, 2 * 128 * 768 * 3072,
             "torch eager (3 ops)", 1.3, w9_dense_gelu),
    Workload("W10", "relu_add", "16M float32", GB, 3 * 4 * 16 * 2 ** 20,
             "NumPy (out=)", 2.0, w10_relu_add),
    Workload("GEMV", "matvec", "4096x4096 @ 4096", GB, 4 * (4096 * 4096 + 2 * 4096),
             "OpenBLAS sgemv", 1.0, lambda: _gemv(4096, 4096)),
    Workload("GEMV-L3", "matvec", "1024x1024 @ 1024", GB, 4 * (1024 * 1024 + 2 * 1024),
             "OpenBLAS sgemv", 1.0, lambda: _gemv(1024, 1024)),
    Workload("pool", "max_pool2d", "1x64x112x112 3x3 s2 p1", GB,
             4 * 64 * (112 * 112 + 56 * 56), "torch max_pool2d", None, max_pool),
    Workload("sum", "sum (last axis)", "4096x1024", GB, 4 * (4096 * 1024 + 4096),
             "NumPy sum (out=)", None, row_sum),
]


class ThreadCycles:
    """User-mode CPU cycles of the calling thread (Linux perf_event_open).

    On a shared machine wall time counts the time other processes hold the
    core; cycles of the thread do not, so with BENCH_THREADS=1 they compare
    the two kernels' work per call (cache and SMT sharing still show)."""

    def __init__(self):
        import ctypes
        import os
        attr = (ctypes.c_uint64 * 16)()            # struct perf_event_attr, zeroed
        attr[0] = 0 | (128 << 32)                  # type PERF_TYPE_HARDWARE, size 128
        attr[1] = 0                                # config PERF_COUNT_HW_CPU_CYCLES
        attr[5] = 1 << 5                           # flags: exclude_kernel
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.syscall(298, ctypes.byref(attr), 0, -1, -1, 0)   # x86-64 number
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "perf_event_open (see perf_event_paranoid)")
        self._os = os

    def read(self) -> int:
        return int.from_bytes(self._os.read(self.fd, 8), "little")


def cycles_per_call(fn, counter, calls: int = 3) -> float:
    c0 = counter.read()
    for _ in range(calls):
        fn()
    return (counter.read() - c0) / calls


def collect_tasks(w: Workload) -> list:
    """The autotune Tasks of the library templates that w's build calls."""
    global _CALLS
    from autotune import Task
    from autotune.template import registered
    _CALLS = []
    try:
        w.build()
    finally:
        calls, _CALLS = _CALLS, None
    return [Task(op, sizes, options) for op, sizes, options in calls if op in registered()]


def tune_workload(w: Workload, trials: int, budget, log) -> None:
    """Tune the templates w builds (trials each, budget seconds each at most) into log."""
    from autotune import tune
    for task in collect_tasks(w):
        result = tune(task, trials=trials, time_budget=budget, log=log)
        print(f"  {w.key}: {result.summary()}", file=sys.stderr, flush=True)


def tuned_build(w: Workload, log):
    """w's opcomp side built with the tuned records of log applied (checked)."""
    from autotune import apply_history_best
    with apply_history_best(log):
        ours, _, check = w.build()
    ours()
    check()
    return ours


def measure_tuned(w: Workload, rounds: int, log) -> dict:
    """measure() with a third side, the tuned build: its rate and its ratio to the
    reference (median of the per-round ratios) join the row."""
    tuned = tuned_build(w, log)
    row = measure(w, rounds, extra=tuned)
    times = row.pop("extra_times")
    row["tuned_rate"] = w.work / statistics.median(times) / 1e9
    ratios = row.pop("extra_ratios")
    row["tuned_ratio"] = statistics.median(ratios)
    row["tuned_times"] = times
    return row


def copy_side(nbytes: int):
    """torch's multi-threaded copy_ moving nbytes in all (half read, half written):
    the bandwidth a memory-bound row is held to, at the same footprint."""
    import torch
    src, dst = torch.randn(nbytes // 8), torch.empty(nbytes // 8)
    return lambda: dst.copy_(src)


def measure(w: Workload, rounds: int, counter=None, extra=None) -> dict:
    """Build, check, then `rounds` rounds of (reference, opcomp) timings; with a cycle
    counter each round alternates the sides 7 times and every pair gives a ratio.
    A GB/s row (wall time) also times a copy of the same bytes each round."""
    ours, ref, check = w.build()
    ours()
    check()
    copy = copy_side(w.work) if w.unit == GB and counter is None else None
    copy_times = []
    ref_times, our_times, ratios = [], [], []
    extra_times, extra_ratios = [], []
    for _ in range(rounds):
        if counter is None:
            r, o = time_calls(ref), time_calls(ours)
            ratios.append(statistics.median(r) / statistics.median(o))
            if extra is not None:          # the same round: a third side (tuned)
                e = time_calls(extra)
                extra_times += e
                extra_ratios.append(statistics.median(r) / statistics.median(e))
            if copy is not None:
                copy_times += time_calls(copy)
        else:
            ref()
            r, o = [], []
            for _ in range(7):
                r.append(cycles_per_call(ref, counter))
                o.append(cycles_per_call(ours, counter))
                ratios.append(r[-1] / o[-1])
        ref_times += r
        our_times += o
    ratio = statistics.median(ratios)
    if counter is not None:
        unit = "FLOP/cycle" if w.unit == GF else "B/cycle"
        return {"key": w.key, "op": w.op, "shape": w.shape, "unit": unit,
                "reference": w.ref_name, "target": w.target,
                "opcomp_rate": w.work / statistics.median(our_times),
                "reference_rate": w.work / statistics.median(ref_times),
                "ratio": ratio, "ratio_rounds": ratios,
                "ratio_spread": (max(ratios) - min(ratios)) / ratio,
                "opcomp_cycles": our_times, "reference_cycles": ref_times}
    return {"key": w.key, "op": w.op, "shape": w.shape, "unit": w.unit,
            "reference": w.ref_name, "target": w.target,
            "opcomp_rate": w.work / statistics.median(our_times) / 1e9,
            "reference_rate": w.work / statistics.median(ref_times) / 1e9,
            "ratio": ratio, "ratio_rounds": ratios,
            "ratio_spread": (max(ratios) - min(ratios)) / ratio,
            "opcomp_times": our_times, "reference_times": ref_times,
            **({"copy_rate": w.work / statistics.median(copy_times) / 1e9,
                "copy_times": copy_times} if copy_times else {}),
            **({"extra_times": extra_times, "extra_ratios": extra_ratios} if extra else {})}


def table(results: list) -> str:
    tuned = any("tuned_rate" in r for r in results)
    more = (" tuned |", " --- |") if tuned else ("", "")
    lines = ["| op | shape | opcomp | reference | ratio | untuned |" + more[0],
             "| --- | --- | --- | --- | --- | --- |" + more[1]]
    for r in results:
        if r["target"] is None:
            verdict = "no target"
        else:
            met = "met" if round(r["ratio"], 2) >= r["target"] else "MISSED"
            verdict = f"target >= {r['target']:.1f}x: {met}"
        lines.append(
            f"| {r['key']} {r['op']} | {r['shape']} | {r['opcomp_rate']:.1f} {r['unit']}"
            f"{_copy_share(r, 'opcomp_rate')} | "
            f"{r['reference_rate']:.1f} {r['unit']} ({r['reference']}) | "
            f"{r['ratio']:.2f}x (spread {r['ratio_spread'] * 100:.0f}%) | {verdict} |"
            + (_tuned_cell(r) if tuned else ""))
    return "\n".join(lines)


def _copy_share(r: dict, key: str) -> str:
    """', 71% of copy' for a row that timed a copy of its bytes."""
    if "copy_rate" not in r:
        return ""
    return f", {r[key] / r['copy_rate'] * 100:.0f}% of copy"


def _tuned_cell(r: dict) -> str:
    if "tuned_rate" not in r:
        return " - |"
    return (f" {r['tuned_rate']:.1f} {r['unit']} ({r['tuned_ratio']:.2f}x"
            f"{_copy_share(r, 'tuned_rate')}) |")


def main(argv) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workloads", nargs="*", help="keys (W2, W4, ...); default: all")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", default="bench_ops.json")
    p.add_argument("--cycles", action="store_true",
                   help="count the calling thread's cycles instead of wall time (use with "
                        "BENCH_THREADS=1 on a shared machine)")
    p.add_argument("--tuned", default=None, metavar="LOG",
                   help="add a tuned column: the ops built with LOG's tuning records")
    p.add_argument("--tune", type=int, default=0, metavar="N",
                   help="first tune each workload's templates N trials into --tuned LOG")
    p.add_argument("--tune-budget", type=float, default=None, metavar="S",
                   help="seconds of tuning per template, at most")
    args = p.parse_args(argv)
    if args.tune and not args.tuned:
        raise SystemExit("--tune N writes its records to --tuned LOG: give both")
    if args.tuned and args.cycles:
        raise SystemExit("--tuned times wall-clock rounds: it does not combine with --cycles")
    fair_environment()
    if args.cycles and THREADS != 1:
        raise SystemExit("--cycles counts one thread: run with BENCH_THREADS=1")
    counter = ThreadCycles() if args.cycles else None
    import opcomp as oc
    import torch
    torch.set_num_threads(THREADS)
    t = oc.Target("llvm")
    chosen = [w for w in WORKLOADS if not args.workloads or w.key in args.workloads]
    print(f"opcomp operator library, default (untuned) schedules, {THREADS} threads, CPU {t.cpu} "
          f"({t.vector_registers} x {t.vector_bits}-bit vector registers), torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads; {args.rounds} rounds "
          f"of (reference, opcomp){'; thread cycles, not wall time' if args.cycles else ''}\n")
    results = []
    for w in chosen:
        if args.tune:
            tune_workload(w, args.tune, args.tune_budget, args.tuned)
        if args.tuned:
            results.append(measure_tuned(w, args.rounds, args.tuned))
        else:
            results.append(measure(w, args.rounds, counter))
        print(f"  {w.key}: x{results[-1]['ratio']:.2f}", file=sys.stderr, flush=True)
    print(table(results))
    with open(args.json, "w") as f:
        json.dump({"cpu": t.cpu, "threads": THREADS, "target": str(t), "results": results}, f,
                  indent=1)
    print(f"\n(raw times in {args.json})")


if __name__ == "__main__":
    main(sys.argv[1:])
