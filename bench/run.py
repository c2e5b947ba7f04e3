"""Side-by-side benchmarks: opcomp against what a user would pick instead.

    python -m bench.run            # W1 and W10, and the cold build time of the W1 schedule
    python -m bench.run W1         # just one

Each workload runs every side in this one process, on the same inputs, with
the same thread count (BENCH_THREADS, default 2), repeated; the table gives
the median rate, the ratio to the reference and the spread of the repeats.
"""
from __future__ import annotations

import subprocess
import sys

from bench.common import THREADS, fair_environment, row, time_calls

COLD_BUILD = """
import time
t0 = time.perf_counter()
import opcomp as oc, schedules, codegen, codegen.threadpool
t1 = time.perf_counter()
codegen.threadpool.ensure_loaded()          # one-time runtime setup of the process
t2 = time.perf_counter()
s, args = schedules.get("matmul")(1024, 1024, 1024)
mod = oc.build(s, args, target="llvm", name="matmul")
t3 = time.perf_counter()
print(f"{(t3 - t2) * 1e3:.1f} {(t2 - t1) * 1e3:.1f} {(t1 - t0) * 1e3:.1f}")
"""


def w1_matmul():
    import numpy as np
    import opcomp as oc
    import schedules
    n = 1024
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c, ref = np.empty((n, n), np.float32), np.empty((n, n), np.float32)
    s, args = schedules.get("matmul")(n, n, n)
    mod = oc.build(s, args, name="matmul")
    mod(a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
    sides = {"NumPy/OpenBLAS": time_calls(lambda: np.matmul(a, b, out=ref)),
             "opcomp": time_calls(lambda: mod(a, b, c))}
    row("W1 matmul 1024^3", "GFLOP/s", 2 * n ** 3, sides)
    _fraction_of_peak(2 * n ** 3, sides)


def _fraction_of_peak(flops: float, sides: dict) -> None:
    """Each side's median rate as a fraction of the FMA peak measured now, same threads."""
    from bench.common import summary
    from bench.fma_peak import peak_gflops
    peak = peak_gflops(THREADS)
    shares = ", ".join(f"{side} {flops / summary(t)[0] / 1e9 / peak * 100:.0f}%"
                       for side, t in sides.items())
    print(f"    of the float32 FMA peak ({peak:.1f} GFLOP/s on {THREADS} threads, "
          f"python -m bench.fma_peak): {shares}")


def _relu_add_module(n):
    import opcomp as oc
    N = oc.var("n")
    A = oc.placeholder((N,), name="A")
    B = oc.placeholder((N,), name="B")
    C = oc.compute((N,), lambda i: oc.maximum(A[i] + B[i], 0.0), name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=16384)   # one parallel task per 64 KiB
    s[C].parallel(xo)
    bits = oc.Target("llvm").vector_bits
    xio, xii = s[C].split(xi, factor=bits // 32)       # one vector register of float32
    s[C].vectorize(xii)
    return oc.build(s, [A, B, C], name="relu_add")


def w10_relu_add():
    import numpy as np
    n = 16 * 2 ** 20
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal(n, dtype=np.float32) for _ in range(2))
    c, out = np.empty(n, np.float32), np.empty(n, np.float32)
    mod = _relu_add_module(n)
    mod(a, b, c)
    np.testing.assert_array_equal(c, np.maximum(a + b, 0))

    def numpy_out():
        np.add(a, b, out=out)
        np.maximum(out, 0, out=out)
    sides = {"NumPy (out=)": time_calls(numpy_out),
             "NumPy (allocating)": time_calls(lambda: np.maximum(a + b, 0)),
             "opcomp": time_calls(lambda: mod(a, b, c))}
    row("W10 relu(a+b) 16M", "GB/s", 3 * 4 * n, sides)


def cold_build():
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", COLD_BUILD], capture_output=True, text=True,
                             env={**__import__("os").environ, "OPCOMP_CACHE_DIR": "off"},
                             check=True).stdout.split()
        runs.append([float(x) for x in out])
    build, setup, imports = (sorted(col) for col in zip(*runs))
    print(f"  cold lower+build of the W1 schedule (fresh process, cache off): median "
          f"{build[2]:.0f} ms (best {build[0]:.0f}, worst {build[-1]:.0f}, 5 processes)")
    print(f"    plus once per process: thread-pool JIT {setup[2]:.0f} ms, "
          f"imports {imports[2]:.0f} ms (medians)")


WORKLOADS = {"W1": w1_matmul, "W10": w10_relu_add, "build": cold_build}


def main(argv) -> None:
    fair_environment()
    import opcomp as oc
    t = oc.Target("llvm")
    print(f"opcomp benchmarks, {THREADS} threads, CPU {t.cpu} "
          f"({t.vector_registers} x {t.vector_bits}-bit vector registers); OpenBLAS with its kernels for this CPU "
          "(OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset)")
    for name in argv or list(WORKLOADS):
        WORKLOADS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
