"""Row operations against PyTorch: softmax (W7), log_softmax, layer norm (W8), RMS norm.

    python -m bench.bench_rowops                 # all four, default sizes
    python -m bench.bench_rowops softmax         # one op (softmax log_softmax layer_norm rms_norm)
    python -m bench.bench_rowops --rounds 30     # more repeats (default 15)

Each op runs three ways on the same inputs, written into preallocated outputs,
with BENCH_THREADS threads everywhere (torch.set_num_threads, OPCOMP_NUM_THREADS):
PyTorch (out= where it has one; F.rms_norm has none and allocates), the library
schedule (schedules/softmax.py, layer_norm.py: fused per row, reductions
factored with rfactor), and the same fused schedule without rfactor (serial
reductions).  The sides take turns, one ~50 ms batch of calls each, for --rounds
rounds; a row gives the best and the median rate over the rounds (bytes read +
written per second) and the ratios to PyTorch; the last line of each op is
rfactor against without it, and each side's share of the copy bandwidth: a
"copy" side (torch's multi-threaded `copy_` of the same input into the same
output, the bytes of a read and a write) runs in the same rounds.
Results are checked against NumPy (float64) before timing.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench.common import THREADS, fair_environment

WORKLOADS = {"softmax": (4096, 1024), "log_softmax": (4096, 1024),
             "layer_norm": (4096, 768), "rms_norm": (4096, 768)}
EPS = {"layer_norm": 1e-5, "rms_norm": 1e-6}
SETTLE_S = 0.1       # PyTorch's OpenMP workers spin briefly after a call


def reference(op, x, gamma, beta):
    """The op in float64 NumPy."""
    x = x.astype(np.float64)
    if op in ("softmax", "log_softmax"):
        m = x.max(axis=1, keepdims=True)
        e = np.exp(x - m)
        s = e.sum(axis=1, keepdims=True)
        return e / s if op == "softmax" else x - m - np.log(s)
    if op == "layer_norm":
        mu = x.mean(axis=1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
        return (x - mu) / np.sqrt(var + EPS[op]) * gamma + beta
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + EPS[op]) * gamma


def torch_call(op, x, gamma, beta, y):
    """PyTorch's op on the same arrays, into y where PyTorch has an out= form."""
    import torch
    import torch.nn.functional as F
    xt, yt, gt, bt = (torch.from_numpy(a) for a in (x, y, gamma, beta))
    R, L = x.shape
    if op == "softmax":
        return lambda: torch.softmax(xt, -1, out=yt)
    if op == "log_softmax":
        return lambda: torch.log_softmax(xt, -1, out=yt)
    if op == "layer_norm":
        mean, rstd = torch.empty(R, 1), torch.empty(R, 1)
        return lambda: torch.ops.aten.native_layer_norm.out(
            xt, [L], gt, bt, EPS[op], out0=yt, out1=mean, out2=rstd)
    return lambda: yt.copy_(F.rms_norm(xt, [L], gt, EPS[op]))


def opcomp_call(op, R, L, x, gamma, beta, y, rfactor):
    import opcomp as oc
    import schedules
    s, args = schedules.get(op)(R, L, rfactor=rfactor)
    mod = oc.build(s, args, name=op)
    ins = {"X": x, "gamma": gamma, "beta": beta}
    arrays = [ins[t.name] for t in args[:-1]] + [y]
    return lambda: mod(*arrays)


def check(op, fn, y, ref):
    y.fill(np.nan)
    fn()
    np.testing.assert_allclose(y, ref, rtol=2e-5, atol=2e-6, err_msg=op)


def measure(sides: dict, rounds: int, batch_s: float = 0.05) -> dict:
    """Per-call seconds of each side, one batch of calls per side in turn, `rounds`
    times: a change in the machine's load hits every side alike."""
    number = {}
    for name, fn in sides.items():
        fn()
        t0 = time.perf_counter()
        fn()
        number[name] = max(1, int(batch_s / max(time.perf_counter() - t0, 1e-7)))
    times = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            time.sleep(SETTLE_S)       # let the other side's spinning workers park
            t0 = time.perf_counter()
            for _ in range(number[name]):
                fn()
            times[name].append((time.perf_counter() - t0) / number[name])
    return times


def report(op, shape, nbytes, times, copy_bytes) -> None:
    ref_best, ref_med = min(times["PyTorch"]), statistics.median(times["PyTorch"])
    copy = times.pop("copy")
    copy_best, copy_med = copy_bytes / min(copy) / 1e9, copy_bytes / statistics.median(copy) / 1e9
    print(f"{op} {shape[0]}x{shape[1]} float32, {THREADS} threads; copy of the same bytes "
          f"{copy_best:.1f} GB/s best, {copy_med:.1f} median")
    for name, ts in times.items():
        best, med = min(ts), statistics.median(ts)
        print(f"  {name:<24} best {nbytes / best / 1e9:6.1f} GB/s  median "
              f"{nbytes / med / 1e9:6.1f} GB/s   vs PyTorch x{ref_best / best:5.2f} best, "
              f"x{ref_med / med:5.2f} median; {nbytes / med / 1e9 / copy_med * 100:3.0f}% of copy")
    rf, plain = times["opcomp"], times["opcomp, no rfactor"]
    print(f"  rfactor vs without: x{min(plain) / min(rf):5.2f} best, "
          f"x{statistics.median(plain) / statistics.median(rf):5.2f} median")


def run(op: str, rounds: int) -> None:
    import torch
    torch.set_num_threads(THREADS)
    R, L = WORKLOADS[op]
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((R, L)) * 2).astype(np.float32)
    gamma = (rng.random(L) + 0.5).astype(np.float32)
    beta = rng.standard_normal(L).astype(np.float32)
    ref = reference(op, x, gamma, beta)
    y = np.empty_like(x)
    sides = {"PyTorch": torch_call(op, x, gamma, beta, y),
             "opcomp": opcomp_call(op, R, L, x, gamma, beta, y, rfactor=True),
             "opcomp, no rfactor": opcomp_call(op, R, L, x, gamma, beta, y, rfactor=False)}
    for name, fn in sides.items():
        check(f"{op} ({name})", fn, y, ref)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    sides["copy"] = lambda: yt.copy_(xt)
    extra = (2 * L if op == "layer_norm" else L if op == "rms_norm" else 0) * 4
    report(op, (R, L), 2 * x.nbytes + extra, measure(sides, rounds), 2 * x.nbytes)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ops", nargs="*", help=" ".join(WORKLOADS) + " (default: all)")
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args(argv)
    unknown = [op for op in args.ops if op not in WORKLOADS]
    if unknown:
        p.error(f"unknown op {unknown[0]!r}; choose from {', '.join(WORKLOADS)}")
    fair_environment()
    import opcomp as oc
    t = oc.Target("llvm")
    print(f"# {t.cpu}, {t.vector_bits}-bit vectors, {THREADS} threads "
          f"(OPCOMP_NUM_THREADS={oc.runtime_threads()})")
    for op in args.ops or WORKLOADS:
        run(op, args.rounds)


if __name__ == "__main__":
    main()
