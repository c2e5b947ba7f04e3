"""The `opcomp` command line.

    opcomp demo [--size N]          define, schedule, build and check a matmul; print its speed
    opcomp show matmul --size N     print the lowered loop nest (and --llvm / --asm)
    opcomp ops                      list the ops in the library
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _demo(args) -> int:
    import opcomp as oc
    import schedules
    n = args.size
    t0 = time.perf_counter()
    s, bufs = schedules.get("matmul")(n, n, n)
    mod = oc.build(s, bufs, target="llvm", name="matmul")
    build_ms = (time.perf_counter() - t0) * 1e3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    mod(a, b, c)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    err = float(np.max(np.abs(c - ref)) / np.max(np.abs(ref)))
    ok = err < 1e-5
    ours = oc.benchmark(mod, a, b, c).median
    theirs = oc.benchmark(lambda: np.matmul(a, b, out=c)).median
    gflops = 2 * n ** 3 / 1e9
    print(f"matmul {n}x{n}x{n} float32: built in {build_ms:.0f} ms, "
          f"max relative error vs float64 NumPy {err:.1e} ({'ok' if ok else 'WRONG'})")
    print(f"opcomp {gflops / ours:.0f} GFLOP/s, NumPy {gflops / theirs:.0f} GFLOP/s "
          f"(ratio {theirs / ours:.2f}x), {oc.runtime_threads()} threads")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} limits NumPy's OpenBLAS; "
              "`python -m bench.run` compares with its kernels for this CPU")
    return 0 if ok else 1


def _show(args) -> int:
    import opcomp as oc
    import schedules
    n = args.size
    s, bufs = schedules.get(args.op)(n, n, n)
    print(oc.lower(s, bufs, name=args.op))
    if args.llvm or args.asm:
        mod = oc.build(s, bufs, name=args.op)
        print(mod.source("llvm" if args.llvm else "asm"))
    return 0


def _ops(args) -> int:
    import schedules
    print("\n".join(schedules.list_ops()))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="opcomp", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="build and check a matmul, print its speed")
    d.add_argument("--size", type=int, default=1024)
    d.set_defaults(fn=_demo)
    sh = sub.add_parser("show", help="print an op's loop nest and code")
    sh.add_argument("op")
    sh.add_argument("--size", type=int, default=256)
    sh.add_argument("--llvm", action="store_true")
    sh.add_argument("--asm", action="store_true")
    sh.set_defaults(fn=_show)
    o = sub.add_parser("ops", help="list the ops in the library")
    o.set_defaults(fn=_ops)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
