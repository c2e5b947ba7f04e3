"""Thread pool (codegen/threadpool.py): every task once, nesting, concurrency,
thread counts, sleep/wake paths, fork, clean exit, exported object, overhead.

Kernels are tiny llvmlite modules that call opcomp_parallel_for with an
outlined body, the way generated code does.  Whatever depends on the process's
pool configuration runs in a subprocess (the pool is per process)."""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import llvmlite.ir as ir
import numpy as np
import pytest

from codegen import threadpool as tp

I32, I64, PTR, VOID = ir.IntType(32), ir.IntType(64), ir.PointerType(), ir.VoidType()
REPO = Path(__file__).resolve().parents[2]
_PFOR_T = ir.FunctionType(VOID, [PTR, PTR, I64])
_ENGINES = []               # JIT engines stay alive as long as their functions are used
TASK_TICKS = 2_500_000      # ~1 ms of TSC ticks


def _c(v, t=I64):
    return ir.Constant(t, v)


def _define(m, name, ret, args, internal=False):
    f = ir.Function(m, ir.FunctionType(ret, args), name)
    if internal:
        f.linkage = "internal"
    return f


def _count_body(m):
    """body(task, {out, counts}): out[task] = 2*task; counts[task] += 1 (atomic)."""
    f = _define(m, "count_body", VOID, [I64, PTR], internal=True)
    task, closure = f.args
    b = ir.IRBuilder(f.append_basic_block("entry"))
    out = b.load(b.gep(closure, [_c(0)], source_etype=PTR), typ=PTR)
    counts = b.load(b.gep(closure, [_c(1)], source_etype=PTR), typ=PTR)
    b.store(b.mul(task, _c(2)), b.gep(out, [task], source_etype=I64))
    b.atomic_rmw("add", b.gep(counts, [task], source_etype=I64), _c(1), "monotonic")
    b.ret_void()
    return f


def _closure(b, *values):
    """A stack closure: an array of pointer-sized slots."""
    slot_t = ir.ArrayType(PTR, len(values))
    mem = b.alloca(slot_t)
    for i, v in enumerate(values):
        b.store(v, b.gep(mem, [_c(0), _c(i)]))
    return mem


def _nested_body(m, pfor, inner):
    """body(task, {out, counts, m}): a parallel_for of m count_body tasks on
    out + task*m, counts + task*m."""
    f = _define(m, "nested_body", VOID, [I64, PTR], internal=True)
    task, closure = f.args
    b = ir.IRBuilder(f.append_basic_block("entry"))
    out, counts = (b.load(b.gep(closure, [_c(i)], source_etype=PTR), typ=PTR) for i in (0, 1))
    width = b.ptrtoint(b.load(b.gep(closure, [_c(2)], source_etype=PTR), typ=PTR), I64)
    base = b.mul(task, width)
    sub = _closure(b, b.gep(out, [base], source_etype=I64), b.gep(counts, [base], source_etype=I64))
    b.call(pfor, [inner, sub, width])
    b.ret_void()
    return f


def _busy(b, tsc, ticks, f):
    """Busy-wait `ticks` TSC ticks (a task that does real work)."""
    spin, done = f.append_basic_block("spin"), f.append_basic_block("busy_done")
    t0 = b.call(tsc, [])
    b.branch(spin)
    b.position_at_end(spin)
    late = b.icmp_unsigned(">", b.sub(b.call(tsc, []), t0), _c(ticks))
    b.cbranch(late, done, spin)
    b.position_at_end(done)


def _tid_body(m, tsc):
    """body(task, out): out[task] = pthread_self(), then ~1 ms of work so that
    every thread claims a chunk before the caller could steal it."""
    self_fn = _define(m, "pthread_self", I64, [])
    f = _define(m, "tid_body", VOID, [I64, PTR], internal=True)
    task, out = f.args
    b = ir.IRBuilder(f.append_basic_block("entry"))
    b.store(b.call(self_fn, []), b.gep(out, [task], source_etype=I64))
    _busy(b, tsc, TASK_TICKS, f)
    b.ret_void()
    return f


def _slow_body(m, tsc):
    """body(task, out): task 1 works ~2 ms (past every spin budget, so the
    caller sleeps and the last worker must wake it); all write out[task] = 1."""
    f = _define(m, "slow_body", VOID, [I64, PTR], internal=True)
    task, out = f.args
    entry, slow, done = (f.append_basic_block(n) for n in ("entry", "slow", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed("==", task, _c(1)), slow, done)
    b.position_at_end(slow)
    _busy(b, tsc, 2 * TASK_TICKS, f)
    b.branch(done)
    b.position_at_end(done)
    b.store(_c(1), b.gep(out, [task], source_etype=I64))
    b.ret_void()
    return f


def _kernel(m, name, body, pfor, nargs):
    """kernel([pool,] a0..a{nargs-1}, n): parallel_for(body, {a0..}, n), through
    the symbol pfor, or when pfor is None through a pool address argument (a
    typed pointer only so llvmlite can call it; LLVM reads plain ptr)."""
    lead = [] if pfor is not None else [_PFOR_T.as_pointer()]
    f = _define(m, name, VOID, lead + [PTR] * nargs + [I64])
    args = list(f.args)
    target = args.pop(0) if pfor is None else pfor
    b = ir.IRBuilder(f.append_basic_block("entry"))
    closure = _closure(b, *args[:-1]) if nargs > 1 else args[0]
    b.call(target, [body, closure, args[-1]])
    b.ret_void()


def kernels_ir() -> str:
    """Test kernels: fill/nested use the symbol opcomp_parallel_for; the *_via
    variants take the pool's address as their first argument."""
    m = ir.Module(name="tp_test_kernels")
    pfor = ir.Function(m, _PFOR_T, "opcomp_parallel_for")
    tsc = _define(m, "llvm.readcyclecounter", I64, [])
    count, tid, slow = _count_body(m), _tid_body(m, tsc), _slow_body(m, tsc)
    _kernel(m, "fill", count, pfor, 2)
    _kernel(m, "nested", _nested_body(m, pfor, count), pfor, 3)
    _kernel(m, "tids", tid, pfor, 1)
    _kernel(m, "slow", slow, pfor, 1)
    _kernel(m, "fill_via", count, None, 2)
    _kernel(m, "tids_via", tid, None, 1)
    return str(m)


class Kernels:
    """The test kernels JIT-compiled against this process's pool."""

    def __init__(self):
        import llvmlite.binding as llvm
        tp.ensure_loaded()
        machine = tp.host_target_machine()
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(kernels_ir()), machine)
        engine.finalize_object()
        _ENGINES.append(engine)
        p, i64 = ctypes.c_void_p, ctypes.c_int64
        sigs = {"fill": [p, p, i64], "nested": [p, p, p, i64], "tids": [p, i64],
                "slow": [p, i64], "fill_via": [p, p, p, i64], "tids_via": [p, p, i64]}
        for name, args in sigs.items():
            fn = ctypes.CFUNCTYPE(None, *args)(engine.get_function_address(name))
            setattr(self, "_" + name, fn)

    def fill(self, n, pool=None):
        out, counts = np.full(n, -1, np.int64), np.zeros(n, np.int64)
        if pool is None:
            self._fill(out.ctypes.data, counts.ctypes.data, n)
        else:
            self._fill_via(pool, out.ctypes.data, counts.ctypes.data, n)
        return out, counts

    def nested(self, n, m):
        out, counts = np.full(n * m, -1, np.int64), np.zeros(n * m, np.int64)
        self._nested(out.ctypes.data, counts.ctypes.data, m, n)
        return out, counts

    def threads_used(self, want, pool=None, tries=3):
        """Distinct threads that ran tasks of a call with 8 ~1 ms tasks per
        thread.  Idle threads' chunks may be stolen by busy ones, so a loaded
        machine can show fewer; retry a few times before reporting that."""
        for _ in range(tries):
            out = np.zeros(8 * want, np.int64)
            if pool is None:
                self._tids(out.ctypes.data, len(out))
            else:
                self._tids_via(pool, out.ctypes.data, len(out))
            used = len(set(out.tolist()))
            if used == want:
                break
        return used

    def slow(self, n):
        out = np.zeros(n, np.int64)
        self._slow(out.ctypes.data, n)
        return out


def env_threads(environ) -> int:
    """Reference model of the pool's thread-count rule: OPCOMP_NUM_THREADS when
    strtol reads all of it as a positive integer, else the affinity mask."""
    value = environ.get(tp.ENV_VAR)
    if value is not None and re.fullmatch(r"[ \t\n\v\f\r]*[+-]?[0-9]+", value):
        if int(value) > 0:
            return min(int(value), tp.MAX_THREADS)
    return max(1, min(len(os.sched_getaffinity(0)), tp.MAX_THREADS))


def check_fill(out, counts):
    n = len(out)
    assert np.array_equal(counts, np.ones(n, np.int64)), "a task ran 0 or 2+ times"
    assert np.array_equal(out, np.arange(n, dtype=np.int64) * 2)


@pytest.fixture(scope="module")
def kern():
    return Kernels()


def run_script(body: str, threads=None, timeout=120):
    """Run a Python snippet in a fresh process (its own pool) from the repo root;
    returns (CompletedProcess, seconds).  threads=None unsets OPCOMP_NUM_THREADS."""
    env = {k: v for k, v in os.environ.items() if k != tp.ENV_VAR}
    if threads is not None:
        env[tp.ENV_VAR] = str(threads)
    code = f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + textwrap.dedent(body)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr
    return res, time.perf_counter() - t0


PRELUDE = """
from tests.codegen.test_threadpool import Kernels, check_fill, tp
k = Kernels()
"""


# -- every task exactly once -----------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 1000, 100003])
def test_each_task_runs_exactly_once(kern, n):
    for _ in range(3):
        check_fill(*kern.fill(n))


def test_back_to_back_calls_lose_nothing(kern):
    counts_total = np.zeros(5, np.int64)
    for _ in range(3000):
        out, counts = kern.fill(5)
        counts_total += counts
    assert np.array_equal(counts_total, np.full(5, 3000))


def test_workers_wake_from_sleep(kern):
    check_fill(*kern.fill(1000))
    time.sleep(0.05)                 # far past the spin budget: workers are in FUTEX_WAIT
    check_fill(*kern.fill(1000))


def test_caller_sleeps_until_slow_worker_finishes(kern):
    # Task 1 (a worker's, when there are 2+ threads) outlasts the caller's spin
    # budget, so the caller sleeps and the last worker must wake it.
    for _ in range(3):
        assert kern.slow(2).tolist() == [1, 1]


def test_uses_all_threads(kern):
    assert kern.threads_used(tp.num_threads()) == tp.num_threads()


# -- re-entrancy ------------------------------------------------------------------------
def test_nested_call_runs_serially_without_deadlock(kern):
    out, counts = kern.nested(7, 13)
    assert np.array_equal(counts, np.ones(7 * 13, np.int64))
    assert np.array_equal(out, np.tile(np.arange(13, dtype=np.int64) * 2, 7))


def test_two_python_threads_at_once(kern):
    start, errors = threading.Barrier(2), []

    def hammer(n):
        try:
            start.wait()
            for _ in range(300):
                check_fill(*kern.fill(n))
                out, counts = kern.nested(3, 5)
                assert np.array_equal(counts, np.ones(15, np.int64))
        except BaseException as exc:          # reported by the main thread
            errors.append(exc)
    workers = [threading.Thread(target=hammer, args=(n,)) for n in (1000, 777)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in workers), "deadlock"
    assert not errors, errors


# -- thread count -------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [1, 3])
def test_env_thread_count_respected(threads):
    res, _ = run_script(PRELUDE + """
import os, time
check_fill(*k.fill(100003))
# Workers name themselves once running: on a loaded machine that can lag the first call.
deadline = time.time() + 5
while True:
    names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    if names.count("opcomp-worker") + 1 >= tp.num_threads() or time.time() > deadline:
        break
    time.sleep(0.01)
print(tp.num_threads(), names.count("opcomp-worker") + 1, k.threads_used(tp.num_threads()))
""", threads=threads)
    assert res.stdout.split() == [str(threads)] * 3


def test_default_thread_count_is_affinity():
    res, _ = run_script(PRELUDE + "print(tp.num_threads(), k.threads_used(tp.num_threads()))")
    cpus = len(os.sched_getaffinity(0))
    assert res.stdout.split() == [str(cpus)] * 2


def test_ir_reads_env_like_python(monkeypatch):
    size = ctypes.CFUNCTYPE(ctypes.c_int32)(tp.jit_pool(None)["size"])   # never started
    cpus = len(os.sched_getaffinity(0))
    cases = {"3": 3, "1": 1, " 5": 5, "+2": 2, "0": cpus, "-2": cpus, "abc": cpus, "4x": cpus,
             "": cpus, "2 ": cpus, "99999999999999999999999": tp.MAX_THREADS}
    for value, want in cases.items():
        monkeypatch.setenv(tp.ENV_VAR, value)
        assert (size(), env_threads(os.environ)) == (want, want), value
    monkeypatch.delenv(tp.ENV_VAR)
    assert (size(), env_threads(os.environ)) == (cpus, cpus)


def test_baked_thread_count(kern, monkeypatch):
    monkeypatch.setenv(tp.ENV_VAR, "1")             # ignored by a baked count
    pool = tp.jit_pool(3)
    assert ctypes.CFUNCTYPE(ctypes.c_int32)(pool["size"])() == 3
    check_fill(*kern.fill(100003, pool["parallel_for"]))
    assert kern.threads_used(3, pool["parallel_for"]) == 3
    assert "opcomp_parallel_for" in tp.runtime_ir(3)
    with pytest.raises(ValueError):
        tp.runtime_ir(0)


# -- process lifetime ---------------------------------------------------------------------
@pytest.mark.parametrize("pause", [0.0, 0.2])
def test_interpreter_exits_with_workers_alive(pause):
    # pause 0: workers still spinning at exit; 0.2 s: asleep in FUTEX_WAIT.
    res, seconds = run_script(PRELUDE + f"""
import time
check_fill(*k.fill(1000))
time.sleep({pause})
print("bye")
""", threads=3, timeout=60)
    assert res.stdout.strip() == "bye"
    assert seconds < 30


def test_fork_child_restarts_pool():
    res, _ = run_script(PRELUDE + """
import os
check_fill(*k.fill(1000))
pid = os.fork()
if pid == 0:
    try:
        check_fill(*k.fill(1000))
        os._exit(0 if k.threads_used(3) == 3 else 2)
    except BaseException:
        os._exit(1)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
check_fill(*k.fill(1000))
""", threads=3, timeout=60)
    assert res.stdout.strip() == "0"


# -- exported object ----------------------------------------------------------------------
@pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler to link a shared library")
def test_runtime_object_links_into_shared_library(tmp_path, monkeypatch):
    import llvmlite.binding as llvm
    machine = tp.host_target_machine()
    pool_obj = tp.runtime_object(machine)
    assert b"opcomp_parallel_for" in pool_obj
    kern_mod = llvm.parse_assembly(kernels_ir())
    kern_mod.triple = machine.triple
    (tmp_path / "kern.o").write_bytes(machine.emit_object(kern_mod))
    (tmp_path / "pool.o").write_bytes(pool_obj)
    lib = tmp_path / "libtp.so"
    subprocess.run(["cc", "-shared", "-o", str(lib), str(tmp_path / "kern.o"),
                    str(tmp_path / "pool.o"), "-lpthread"], check=True)
    monkeypatch.setenv(tp.ENV_VAR, "3")             # read when the library's pool starts
    so = ctypes.CDLL(str(lib))
    assert not hasattr(so, "opcomp_parallel_for")   # hidden: kernels bind to their own pool
    assert so.opcomp_threadpool_size() == 3
    out, counts = np.full(1000, -1, np.int64), np.zeros(1000, np.int64)
    so.fill(ctypes.c_void_p(out.ctypes.data), ctypes.c_void_p(counts.ctypes.data), ctypes.c_int64(1000))
    check_fill(out, counts)
    for _ in range(3):              # see Kernels.threads_used
        tids = np.zeros(24, np.int64)
        so.tids(ctypes.c_void_p(tids.ctypes.data), ctypes.c_int64(24))
        if len(set(tids.tolist())) == 3:
            break
    assert len(set(tids.tolist())) == 3


# -- overhead -----------------------------------------------------------------------------
def test_overhead_is_not_pathological():
    # Printed for the record (bench/bench_threadpool.py is the real benchmark);
    # the bound only catches gross regressions such as a sleep per call.
    from bench.bench_threadpool import overhead_us
    us = overhead_us(ntasks=2, calls=10_000)
    print(f"\nopcomp_parallel_for, 2 empty tasks, {tp.num_threads()} threads: {us:.3f} us/call")
    assert us < 1000
