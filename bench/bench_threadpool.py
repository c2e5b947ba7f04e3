"""Per-call overhead of opcomp_parallel_for (codegen/threadpool.py).

    python -m bench.bench_threadpool              # 1, 2 and 3 threads (one process each)
    python -m bench.bench_threadpool 2 4          # chosen thread counts

A JIT kernel calls opcomp_parallel_for 10000 times back to back, so the figures
are the pool's own cost (publish, claim, join), not ctypes'.  Two loads:

* empty tasks: the bare per-call cost.  The caller claims unclaimed slices
  itself, so with empty tasks it often finishes before a worker looks.
* T tasks of 10 us each: the time of a real fork/join beyond the ideal 10 us
  (every thread has to run its slice; the excess is wake-up and join latency).

The pool is per process, so each thread count runs in a child process with
OPCOMP_NUM_THREADS set.  Other load on the machine shows up directly.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time

import llvmlite.ir as ir

from codegen import threadpool as tp

I64, PTR, VOID = ir.IntType(64), ir.PointerType(), ir.VoidType()
WORK_US = 10.0


def _function(m, name, ret, args, internal=False):
    f = ir.Function(m, ir.FunctionType(ret, args), name)
    if internal:
        f.linkage = "internal"
    return f


def _body(m, tsc):
    """body(task, ticks*): busy-wait *ticks TSC ticks (nothing when 0)."""
    f = _function(m, "opcomp_tp_bench_body", VOID, [I64, PTR], internal=True)
    entry, spin, done = (f.append_basic_block(n) for n in ("entry", "spin", "done"))
    b = ir.IRBuilder(entry)
    ticks, t0 = b.load(f.args[1], typ=I64), b.call(tsc, [])
    b.cbranch(b.icmp_unsigned(">", ticks, ir.Constant(I64, 0)), spin, done)
    b.position_at_end(spin)
    b.cbranch(b.icmp_unsigned("<", b.sub(b.call(tsc, []), t0), ticks), spin, done)
    b.position_at_end(done)
    b.ret_void()
    return f


def overhead_kernel_ir() -> str:
    """void opcomp_tp_overhead_loop(i64 calls, i64 ntasks, i64* ticks): `calls`
    x opcomp_parallel_for(body, ticks, ntasks); and i64 opcomp_tp_tsc()."""
    m = ir.Module(name="opcomp_tp_overhead")
    tsc = _function(m, "llvm.readcyclecounter", I64, [])
    get_tsc = _function(m, "opcomp_tp_tsc", I64, [])
    b = ir.IRBuilder(get_tsc.append_basic_block("entry"))
    b.ret(b.call(tsc, []))
    body = _body(m, tsc)
    pfor = _function(m, "opcomp_parallel_for", VOID, [PTR, PTR, I64])
    loop_fn = _function(m, "opcomp_tp_overhead_loop", VOID, [I64, I64, PTR])
    calls, ntasks, ticks = loop_fn.args
    entry, loop, done = (loop_fn.append_basic_block(n) for n in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", calls, ir.Constant(I64, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), entry)
    b.call(pfor, [body, ticks, ntasks])
    nxt = b.add(i, ir.Constant(I64, 1))
    i.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, calls), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return str(m)


class _Kernel:
    """The overhead loop JIT-compiled against this process's pool."""

    def __init__(self):
        import llvmlite.binding as llvm
        tp.ensure_loaded()
        machine = tp.host_target_machine()
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(overhead_kernel_ir()), machine)
        self.engine.finalize_object()
        self.loop = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)(
            self.engine.get_function_address("opcomp_tp_overhead_loop"))
        self.tsc = ctypes.CFUNCTYPE(ctypes.c_int64)(self.engine.get_function_address("opcomp_tp_tsc"))

    def ticks_per_us(self) -> float:
        t0, c0 = time.perf_counter(), self.tsc()
        time.sleep(0.05)
        return (self.tsc() - c0) / ((time.perf_counter() - t0) * 1e6)


def overhead_us(ntasks: int = 2, calls: int = 10_000, repeat: int = 5, work_us: float = 0.0,
                kernel: _Kernel | None = None) -> float:
    """Best-of-repeat microseconds per back-to-back opcomp_parallel_for call
    with `ntasks` tasks of `work_us` busy work each, on this process's pool."""
    kernel = kernel or _Kernel()
    ticks = ctypes.c_int64(int(work_us * kernel.ticks_per_us()) if work_us else 0)
    arg = ctypes.cast(ctypes.byref(ticks), ctypes.c_void_p)
    kernel.loop(calls // 10 + 1, ntasks, arg)       # start the pool, warm the workers
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        kernel.loop(calls, ntasks, arg)
        best = min(best, time.perf_counter() - t0)
    return best / calls * 1e6


def _child() -> None:
    threads, kernel = tp.num_threads(), _Kernel()
    for ntasks in sorted({2, threads}):
        us = overhead_us(ntasks, kernel=kernel)
        print(f"threads={threads:<3d} {ntasks:3d} empty tasks       {us:8.3f} us/call", flush=True)
    # One task never touches the pool: its time is the ideal for T tasks on T threads.
    ideal = overhead_us(1, calls=2_000, work_us=WORK_US, kernel=kernel)
    us = overhead_us(threads, calls=2_000, work_us=WORK_US, kernel=kernel)
    print(f"threads={threads:<3d} {threads:3d} tasks x {WORK_US:g} us    {us:8.3f} us/call "
          f"({us - ideal:+.3f} over one task alone)", flush=True)


def main(argv) -> None:
    if argv[:1] == ["--child"]:
        _child()
        return
    print(f"opcomp_parallel_for, 10000 back-to-back calls from a JIT loop (best of 5), "
          f"{len(os.sched_getaffinity(0))} CPUs available")
    for threads in argv or ["1", "2", "3"]:
        env = dict(os.environ, OPCOMP_NUM_THREADS=threads)
        subprocess.run([sys.executable, "-m", "bench.bench_threadpool", "--child"],
                       env=env, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
