"""Shared benchmark plumbing: a fair environment and side-by-side timing.

OpenBLAS is held to AVX2 on these machines by OPENBLAS_CORETYPE=Haswell; the
fair anchor is the kernels it picks for the CPU itself (AVX-512 on a Zen 5),
so the benchmark process re-executes
itself without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (both together) before
NumPy loads.  Every side gets the same thread count.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
SETTLE_S = 0.5
_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def fair_environment() -> None:
    """Re-exec this process with OpenBLAS's own kernels for this CPU and equal thread counts."""
    want = {"OPCOMP_NUM_THREADS": str(THREADS), "OPENBLAS_NUM_THREADS": str(THREADS),
            "OMP_NUM_THREADS": str(THREADS)}
    if any(k in os.environ for k in _UNSET) or any(os.environ.get(k) != v for k, v in want.items()):
        env = {k: v for k, v in os.environ.items() if k not in _UNSET}
        env.update(want)
        os.execve(sys.executable, sys.orig_argv, env)   # orig_argv keeps "-m bench.run"


def time_calls(fn, min_time: float = 0.2, repeat: int = 7) -> list:
    """Seconds per call, one figure per repeat, after a settle and a warm-up."""
    # OpenBLAS's workers spin for ~0.1 s after a call; the side timed next would
    # share both cores with them (it halved opcomp's 2-thread GEMM), so let them park.
    time.sleep(SETTLE_S)
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(min_time / repeat / once))
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - t0) / number)
    return out


def summary(times: list) -> tuple:
    """(median, spread) where spread = (max - min) / median."""
    med = statistics.median(times)
    return med, (max(times) - min(times)) / med


def row(name: str, unit: str, work: float, sides: dict) -> None:
    """Print one workload: each side's rate and its ratio to the first reference."""
    ref_name = next(k for k in sides if k != "opcomp")
    ref = summary(sides[ref_name])[0]
    for side, times in sides.items():
        med, spread = summary(times)
        rate = work / med / 1e9
        print(f"  {name:<28} {side:<22} {rate:8.1f} {unit:<7} "
              f"x{ref / med:5.2f} vs {ref_name:<14} (spread {spread * 100:4.0f}%)")
