"""The host's float32 FMA peak, measured: the ceiling GEMM figures are read against.

    python -m bench.fma_peak            # GFLOP/s on BENCH_THREADS threads (default 2) and on one

A loop of independent vector FMAs (``acc_k = acc_k * m + a`` on as many
accumulators as the target's vector registers allow, minus the two operands),
JIT-compiled for this CPU at the target's vector width, runs on each thread at
once; the rate is 2 FLOP per lane per FMA.  Enough accumulators hide the FMA
latency (4 cycles on Zen 3 and Zen 5, two FMA pipes), so the figure is the
issue rate times the clock the cores hold under a full vector load.

`peak_gflops()` is what `bench.run` divides GEMM rates by ("% of FMA peak").
"""
from __future__ import annotations

import ctypes
import threading
import time

from bench.common import THREADS

_ITERS = 2_000_000


def _kernel_ir(lanes: int, accumulators: int) -> str:
    """LLVM IR of `void fma_loop(i64 n, float *out)`: n steps of `accumulators` FMAs."""
    vec = f"<{lanes} x float>"
    splat = lambda v: "<" + ", ".join(f"float {v}" for _ in range(lanes)) + ">"  # noqa: E731
    phis = [f"  %acc{k} = phi {vec} [ {splat(1.0 + k / 64)}, %entry ], [ %nxt{k}, %loop ]"
            for k in range(accumulators)]
    m, a = splat("0x3FEFFFFFE0000000"), splat("0x3F50624DE0000000")   # 1 - 2**-24, ~0.001
    fmas = [f"  %nxt{k} = call {vec} @llvm.fma.v{lanes}f32({vec} %acc{k}, {vec} {m}, {vec} {a})"
            for k in range(accumulators)]
    sums = [f"  %s{k} = fadd {vec} %s{k - 1}, %nxt{k}" for k in range(1, accumulators)]
    return "\n".join([
        f"declare {vec} @llvm.fma.v{lanes}f32({vec}, {vec}, {vec})",
        "define void @fma_loop(i64 %n, ptr %out) {",
        "entry:",
        "  br label %loop",
        "loop:",
        "  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]",
        *phis, *fmas,
        "  %i1 = add i64 %i, 1",
        "  %done = icmp eq i64 %i1, %n",
        "  br i1 %done, label %exit, label %loop",
        "exit:",
        f"  %s0 = fadd {vec} %nxt0, zeroinitializer",
        *sums,
        f"  store {vec} %s{accumulators - 1}, ptr %out, align 4",
        "  ret void",
        "}",
    ])


def _compile(lanes: int, accumulators: int):
    """(engine, ctypes function) for the FMA loop, compiled for the host target."""
    import llvmlite.binding as llvm
    from codegen.llvm import function_attrs, host_target_machine
    tm = host_target_machine("llvm")
    attrs = " ".join(function_attrs("llvm"))
    text = _kernel_ir(lanes, accumulators).replace("ptr %out) {", f"ptr %out) #0 {{") \
        + f"\nattributes #0 = {{ {attrs} }}\n"
    mod = llvm.parse_assembly(text)
    mod.verify()
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p)
    return engine, proto(engine.get_function_address("fma_loop"))


def _rate(fn, lanes: int, accumulators: int, threads: int) -> float:
    """GFLOP/s of `threads` concurrent calls (ctypes releases the GIL during each)."""
    outs = [(ctypes.c_float * lanes)() for _ in range(threads)]
    fn(1000, ctypes.addressof(outs[0]))                     # warm-up: clocks up, pages in
    workers = [threading.Thread(target=fn, args=(_ITERS, ctypes.addressof(o))) for o in outs]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - t0
    return 2 * lanes * accumulators * _ITERS * threads / seconds / 1e9


def peak_gflops(threads: int = THREADS, repeat: int = 5) -> float:
    """The best of `repeat` measurements of the float32 FMA rate on `threads` threads."""
    import opcomp as oc
    target = oc.Target("llvm")
    lanes = target.vector_bits // 32
    accumulators = max(8, target.vector_registers - 2)
    _, fn = engine_and_fn = _compile(lanes, accumulators)
    rates = [_rate(fn, lanes, accumulators, threads) for _ in range(repeat)]
    del engine_and_fn
    return max(rates)


def main() -> None:
    import opcomp as oc
    target = oc.Target("llvm")
    print(f"# {target.cpu}, {target.vector_bits}-bit vectors, {target.vector_registers} registers")
    for threads in sorted({1, THREADS}):
        print(f"float32 FMA peak, {threads} thread(s): {peak_gflops(threads):.1f} GFLOP/s")


if __name__ == "__main__":
    main()
