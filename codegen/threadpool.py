"""CPU thread pool for parallel loops, written in LLVM IR.

Generated kernels outline a parallel loop body into ``void body(i64 task, ptr
closure)`` and call::

    declare void @opcomp_parallel_for(ptr %fn, ptr %closure, i64 %ntasks)

Every task in [0, ntasks) runs exactly once, on the calling thread or a worker,
and the call returns after all have finished; workers' writes are visible to
the caller afterwards (acquire/release on the completion counter).

The pool is LLVM IR built here with llvmlite.ir, so the same code is JIT-compiled
into this process (``ensure_loaded``) and linked into exported shared libraries
(``runtime_object``): no C compiler at run time, no libgomp.  It needs only libc
(glibc >= 2.34, where pthreads live in libc.so.6) and the Linux futex syscall.

Design, and why:

* Chunks: a call with n tasks on T threads is cut into A = min(T, n) fixed,
  contiguous, near-equal slices (the first n % A get one more task).  Threads
  (the caller included) claim slices one at a time with a CAS on a ticket word,
  so the boundaries are deterministic while an idle or descheduled worker's
  slice is simply taken by whoever is free: on a loaded or oversubscribed
  machine the caller does the work itself instead of waiting for a worker to
  be scheduled.  Fields of the job are read only after a successful claim,
  which pins the job (see ``_emit_work``).
* A job is published by bumping a generation word; workers wait on it for
  SPIN_CYCLES TSC ticks (about 40 us at 2.6 GHz; ``pause`` first, then
  sched_yield) before sleeping on it with FUTEX_WAIT, so back-to-back kernel
  calls cost well under a microsecond while an idle pool costs nothing.  The
  caller waits for the count of unfinished slices the same way.  Sleepers are
  counted, so the waker only makes a futex syscall when someone actually
  sleeps (the counter and the word are both accessed seq_cst, which closes the
  lost-wakeup window: Dekker's argument).
* Re-entrancy: the pool is guarded by a try-lock that is held for as long as any
  task of the pool runs.  A nested call (from a task, on the caller or a worker)
  or a concurrent call (another Python thread) finds it taken and runs its tasks
  serially on the calling thread: no deadlock.  The try-lock is itself the
  "in pool" test; a thread_local flag would add nothing, and MCJIT cannot
  allocate TLS ("LLVM ERROR: allocation of TLS not implemented").
* Threads: ``OPCOMP_NUM_THREADS`` (a positive decimal integer, as strtol reads
  it) if set, else the CPUs in the process's affinity mask, else the online CPUs;
  clamped to [1, MAX_THREADS].  ``runtime_ir(None)`` reads this when the pool
  starts (lazily, on the first call with ntasks >= 2), which is what the JIT and
  exported libraries use; ``runtime_ir(n)`` bakes n in.
* Workers are detached, block all signals (so signals reach Python's main
  thread) and never touch Python, so interpreter exit does not wait for them.
  The JIT engine is deliberately leaked so its code stays mapped while exit()
  runs alongside workers.  A fork() child resets the pool (pthread_atfork via
  glibc's __register_atfork), since it has no workers; its first call restarts it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading

import llvmlite.ir as ir

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR, VOID = ir.PointerType(), ir.VoidType()

MAX_THREADS = 1024
SPIN_CYCLES = 100_000          # TSC ticks a waiter spins before it sleeps
PAUSE_CYCLES = 4_000           # ... of which the first ones with `pause`, the rest yielding
ENV_VAR = "OPCOMP_NUM_THREADS"
_SYS_FUTEX, _FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 202, 128, 129   # x86-64 Linux
_SC_NPROCESSORS_ONLN, _SIG_BLOCK = 84, 0
_CPU_SET_WORDS = 16            # cpu_set_t: 1024 bits
_LIBC_SYMBOLS = ("pthread_create", "pthread_detach", "pthread_self", "pthread_setname_np",
                 "pthread_sigmask", "__register_atfork", "syscall", "getenv", "strtol",
                 "sched_getaffinity", "sysconf", "sched_yield")

# Job descriptor, one cache line: the generation word workers wait on sits with
# the ticket they claim chunks from and the fields they then read.
# ticket = generation << 32 | chunks << 16 | next unclaimed chunk.
_GEN, _TICKET, _FN, _CLOSURE, _NTASKS = range(5)
_JOB = ir.LiteralStructType([I32, I64, PTR, PTR, I64])
# void body(i64 task, ptr closure).  Parameters holding it are typed pointers
# only so that llvmlite can call through them; LLVM reads them as plain ptr.
_BODY_PTR = ir.FunctionType(VOID, [I64, PTR]).as_pointer()


def _c(t, v):
    return ir.Constant(t, v)


def _func(module, name, ret, args, internal=True, var_arg=False):
    """Define (or declare, for libc) a function; internal helpers never clash
    with another copy of the pool in the same process."""
    f = ir.Function(module, ir.FunctionType(ret, args, var_arg=var_arg), name)
    if internal:
        f.linkage = "internal"
    f.attributes.add("nounwind")
    return f


class _PoolIR:
    """Builds the pool module; one method per IR function."""

    def __init__(self, num_threads: int | None):
        self.m = ir.Module(name="opcomp_threadpool")
        self.fixed = num_threads
        self._globals()
        self._declarations()
        self.config = self._emit_config()
        self.wait = self._emit_wait()
        self.wake = self._emit_wake()
        self.run_range = self._emit_run_range()
        self.run_chunk = self._emit_run_chunk()
        self.work = self._emit_work()
        self.worker = self._emit_worker()
        self.atfork_child = self._emit_atfork_child()
        self.init = self._emit_init()
        self._emit_parallel_for()
        self._emit_size()

    # -- module-level state --------------------------------------------------
    def _global(self, name, typ, align=4, init=None):
        g = ir.GlobalVariable(self.m, typ, name)
        g.linkage = "internal"
        g.initializer = init if init is not None else _c(typ, None)
        g.align = align
        return g

    def _cstring(self, name, text):
        data = bytearray(text.encode() + b"\0")
        typ = ir.ArrayType(I8, len(data))
        g = self._global(name, typ, 1, _c(typ, data))
        g.global_constant = True
        return g

    def _globals(self):
        # Hot words each get their own cache line (align 64) so that spinning
        # workers and the caller do not false-share.
        self.job = self._global("opcomp_tp_job", _JOB, 64)
        self.remaining = self._global("opcomp_tp_remaining", I32, 64)  # chunks not done
        self.lock = self._global("opcomp_tp_lock", I32, 64)           # 1 while a job runs
        self.sleepers = self._global("opcomp_tp_sleepers", I32, 64)   # workers in FUTEX_WAIT
        self.waiting = self._global("opcomp_tp_waiting", I32, 64)     # caller in FUTEX_WAIT
        self.state = self._global("opcomp_tp_state", I32, 64)         # 0 none, 1 starting, 2 ready
        self.nthreads = self._global("opcomp_tp_nthreads", I32)
        self.registered = self._global("opcomp_tp_atfork", I32)       # survives fork resets
        self.env_name = self._cstring("opcomp_tp_env", ENV_VAR)
        self.thread_name = self._cstring("opcomp_tp_name", "opcomp-worker")

    def _declarations(self):
        m, ext = self.m, dict(internal=False)
        self.pthread_create = _func(m, "pthread_create", I32, [PTR, PTR, PTR, PTR], **ext)
        self.pthread_detach = _func(m, "pthread_detach", I32, [I64], **ext)
        self.pthread_self = _func(m, "pthread_self", I64, [], **ext)
        self.setname = _func(m, "pthread_setname_np", I32, [I64, PTR], **ext)
        self.sigmask = _func(m, "pthread_sigmask", I32, [I32, PTR, PTR], **ext)
        self.atfork = _func(m, "__register_atfork", I32, [PTR, PTR, PTR, PTR], **ext)
        self.syscall = _func(m, "syscall", I64, [I64], var_arg=True, **ext)
        self.getenv = _func(m, "getenv", PTR, [PTR], **ext)
        self.strtol = _func(m, "strtol", I64, [PTR, PTR, I32], **ext)
        self.affinity = _func(m, "sched_getaffinity", I32, [I32, I64, PTR], **ext)
        self.sysconf = _func(m, "sysconf", I64, [I32], **ext)
        self.sched_yield = _func(m, "sched_yield", I32, [], **ext)
        self.pause = _func(m, "llvm.x86.sse2.pause", VOID, [], **ext)
        self.rdtsc = _func(m, "llvm.readcyclecounter", I64, [], **ext)
        self.ctpop = _func(m, "llvm.ctpop.i64", I64, [I64], **ext)

    def _field(self, b, index):
        return b.gep(self.job, [_c(I32, 0), _c(I32, index)], inbounds=True)

    @staticmethod
    def _clamp(b, v):
        """v (i64) clamped to [1, MAX_THREADS], as i32."""
        v = b.select(b.icmp_signed("<", v, _c(I64, 1)), _c(I64, 1), v)
        v = b.select(b.icmp_signed(">", v, _c(I64, MAX_THREADS)), _c(I64, MAX_THREADS), v)
        return b.trunc(v, I32)

    # -- thread count ---------------------------------------------------------
    def _emit_config(self):
        """i32 config(): the thread count the pool should start with."""
        f = _func(self.m, "opcomp_tp_config", I32, [])
        b = ir.IRBuilder(f.append_basic_block("entry"))
        if self.fixed is not None:
            b.ret(_c(I32, self.fixed))
            return f
        self._config_env(b, f)
        self._config_cpus(b)
        return f

    def _config_env(self, b, f):
        """Return the env var's value when it is a whole positive integer."""
        s = b.call(self.getenv, [b.bitcast(self.env_name, PTR)])
        parse, fallback = f.append_basic_block("parse"), f.append_basic_block("cpus")
        b.cbranch(b.icmp_unsigned("!=", s, _c(PTR, None)), parse, fallback)
        b.position_at_end(parse)
        endp = b.alloca(PTR)
        v = b.call(self.strtol, [s, endp, _c(I32, 10)])
        end = b.load(endp)
        ok = b.and_(b.icmp_unsigned("!=", end, s), b.icmp_signed(">", v, _c(I64, 0)))
        ok = b.and_(ok, b.icmp_unsigned("==", b.load(end, typ=I8), _c(I8, 0)))
        use = f.append_basic_block("use_env")
        b.cbranch(ok, use, fallback)
        b.position_at_end(use)
        b.ret(self._clamp(b, v))
        b.position_at_end(fallback)

    def _config_cpus(self, b):
        """CPUs in the affinity mask (os.sched_getaffinity), else online CPUs."""
        mask_t = ir.ArrayType(I64, _CPU_SET_WORDS)
        mask = b.alloca(mask_t)
        b.store(_c(mask_t, None), mask)
        rc = b.call(self.affinity, [_c(I32, 0), _c(I64, _CPU_SET_WORDS * 8), mask])
        count = _c(I64, 0)
        for i in range(_CPU_SET_WORDS):
            word = b.load(b.gep(mask, [_c(I32, 0), _c(I32, i)], inbounds=True))
            count = b.add(count, b.call(self.ctpop, [word]))
        count = b.select(b.icmp_signed("==", rc, _c(I32, 0)), count, _c(I64, 0))
        online = b.call(self.sysconf, [_c(I32, _SC_NPROCESSORS_ONLN)])
        b.ret(self._clamp(b, b.select(b.icmp_signed(">", count, _c(I64, 0)), count, online)))

    # -- waiting and waking ---------------------------------------------------
    def _futex(self, b, word, op, val):
        b.call(self.syscall, [_c(I64, _SYS_FUTEX), word, _c(I64, op), val,
                              _c(PTR, None), _c(PTR, None), _c(I64, 0)])

    def _emit_wait(self):
        """i32 wait(ptr word, i32 value, i1 until_equal, ptr sleepers): block
        until *word == value (or != value), returning the word's final value.
        Spins with `pause`, then with sched_yield, then sleeps on the futex;
        sleeping waiters are counted in *sleepers for the waker.

        The yield phase matters when the scheduler puts the waiter and the
        thread it waits for on one CPU: pure spinning then costs the whole
        spin budget per hand-off (~80 us measured), yielding a few us, and
        keeping both runnable lets the load balancer separate them."""
        f = _func(self.m, "opcomp_tp_wait", I32, [PTR, I32, I1, PTR])
        word, value, until_eq, sleepers = f.args
        blocks = [f.append_basic_block(n) for n in ("entry", "spin", "pause", "relax", "yield",
                                                     "enter", "sleep", "futex", "leave", "done")]
        entry, spin, pause, relax, yield_, enter, sleep, futex, leave, done = blocks
        b = ir.IRBuilder(entry)
        t0 = b.call(self.rdtsc, [])
        b.branch(spin)

        def reached(v):
            return b.select(until_eq, b.icmp_unsigned("==", v, value),
                            b.icmp_unsigned("!=", v, value))
        b.position_at_end(spin)
        v = b.load_atomic(word, "acquire", 4, typ=I32)
        b.cbranch(reached(v), done, pause)
        b.position_at_end(pause)
        spent = b.sub(b.call(self.rdtsc, []), t0)
        b.cbranch(b.icmp_unsigned("<", spent, _c(I64, PAUSE_CYCLES)), relax, yield_)
        b.position_at_end(relax)
        b.call(self.pause, [])
        b.branch(spin)
        b.position_at_end(yield_)
        b.call(self.sched_yield, [])
        b.cbranch(b.icmp_unsigned("<", spent, _c(I64, SPIN_CYCLES)), spin, enter)
        b.position_at_end(enter)
        b.atomic_rmw("add", sleepers, _c(I32, 1), "seq_cst")
        b.branch(sleep)
        b.position_at_end(sleep)
        v2 = b.load_atomic(word, "seq_cst", 4, typ=I32)
        b.cbranch(reached(v2), leave, futex)
        b.position_at_end(futex)
        # The kernel re-checks *word == v2 atomically, so a change between the
        # load and the syscall makes it return at once instead of sleeping.
        self._futex(b, word, _FUTEX_WAIT_PRIVATE, b.zext(v2, I64))
        b.branch(sleep)
        b.position_at_end(leave)
        b.atomic_rmw("sub", sleepers, _c(I32, 1), "seq_cst")
        b.ret(v2)
        b.position_at_end(done)
        b.ret(v)
        return f

    def _emit_wake(self):
        """void wake(ptr word, ptr sleepers, i64 count): wake up to count
        threads sleeping on word, with no syscall when nobody sleeps (the
        usual, spinning case)."""
        f = _func(self.m, "opcomp_tp_wake", VOID, [PTR, PTR, I64])
        word, sleepers, count = f.args
        b = ir.IRBuilder(f.append_basic_block("entry"))
        n = b.load_atomic(sleepers, "seq_cst", 4, typ=I32)
        with b.if_then(b.icmp_unsigned("!=", n, _c(I32, 0)), likely=False):
            self._futex(b, word, _FUTEX_WAKE_PRIVATE, count)
        b.ret_void()
        return f

    # -- running tasks ----------------------------------------------------------
    def _emit_run_range(self):
        """void run_range(ptr fn, ptr closure, i64 lo, i64 hi): tasks [lo, hi)."""
        f = _func(self.m, "opcomp_tp_run_range", VOID, [_BODY_PTR, PTR, I64, I64])
        fn, closure, lo, hi = f.args
        entry, loop, done = (f.append_basic_block(n) for n in ("entry", "loop", "done"))
        b = ir.IRBuilder(entry)
        b.cbranch(b.icmp_signed("<", lo, hi), loop, done)
        b.position_at_end(loop)
        i = b.phi(I64)
        i.add_incoming(lo, entry)
        b.call(fn, [i, closure])
        nxt = b.add(i, _c(I64, 1))
        i.add_incoming(nxt, loop)
        b.cbranch(b.icmp_signed("<", nxt, hi), loop, done)
        b.position_at_end(done)
        b.ret_void()
        return f

    def _emit_run_chunk(self):
        """void run_chunk(i32 c, i32 chunks, ptr fn, ptr closure, i64 n): slice c
        of n tasks cut into `chunks` near-equal slices; the first n % chunks
        slices get one extra task.  No overflow for any n."""
        f = _func(self.m, "opcomp_tp_run_chunk", VOID, [I32, I32, _BODY_PTR, PTR, I64])
        c32, chunks, fn, closure, n = f.args
        b = ir.IRBuilder(f.append_basic_block("entry"))
        c, a = b.zext(c32, I64), b.zext(chunks, I64)
        q, r = b.udiv(n, a), b.urem(n, a)
        longer = b.icmp_unsigned("<", c, r)
        lo = b.add(b.mul(c, q), b.select(longer, c, r))      # + longer slices before c
        b.call(self.run_range, [fn, closure, lo, b.add(lo, b.add(q, b.zext(longer, I64)))])
        b.ret_void()
        return f

    # -- workers and start-up -----------------------------------------------------
    def _emit_work(self):
        """void work(): claim and run chunks of the current job until none is
        left.  A successful claim pins the job (it cannot finish, so the caller
        cannot overwrite it, before this chunk is done), which is what makes
        reading the fields after the claim safe, even for a worker that wakes
        up jobs late.  Whoever finishes the last chunk wakes a sleeping caller."""
        f = _func(self.m, "opcomp_tp_work", VOID, [])
        names = ("entry", "loop", "claim", "run", "out")
        entry, loop, claim, run, out = (f.append_basic_block(n) for n in names)
        b = ir.IRBuilder(entry)
        ticket_ptr = self._field(b, _TICKET)
        b.branch(loop)
        b.position_at_end(loop)
        ticket = b.load_atomic(ticket_ptr, "acquire", 8, typ=I64)
        nxt = b.trunc(b.and_(ticket, _c(I64, 0xFFFF)), I32)
        chunks = b.trunc(b.and_(b.lshr(ticket, _c(I64, 16)), _c(I64, 0xFFFF)), I32)
        b.cbranch(b.icmp_unsigned("<", nxt, chunks), claim, out)
        b.position_at_end(claim)
        swapped = b.cmpxchg(ticket_ptr, ticket, b.add(ticket, _c(I64, 1)), "acq_rel", "acquire")
        b.cbranch(b.extract_value(swapped, 1), run, loop)
        b.position_at_end(run)
        fn = b.load(self._field(b, _FN), typ=_BODY_PTR)
        closure, n = b.load(self._field(b, _CLOSURE), typ=PTR), b.load(self._field(b, _NTASKS), typ=I64)
        b.call(self.run_chunk, [nxt, chunks, fn, closure, n])
        # seq_cst: releases the chunk's writes to the caller, and orders the
        # decrement before the read of `waiting` in wake (lost-wakeup argument).
        left = b.atomic_rmw("sub", self.remaining, _c(I32, 1), "seq_cst")
        with b.if_then(b.icmp_unsigned("==", left, _c(I32, 1))):
            b.call(self.wake, [self.remaining, self.waiting, _c(I64, 1)])
        b.branch(loop)
        b.position_at_end(out)
        b.ret_void()
        return f

    def _emit_worker(self):
        """ptr worker(ptr): wait for a new generation, help with its chunks; forever."""
        f = _func(self.m, "opcomp_tp_worker", PTR, [PTR])
        entry, loop = f.append_basic_block("entry"), f.append_basic_block("loop")
        b = ir.IRBuilder(entry)
        # Block every signal so the kernel delivers process signals to Python's
        # threads, never to a worker that cannot act on them.
        sigset_t = ir.ArrayType(I64, 16)
        sigset = b.alloca(sigset_t)
        b.store(_c(sigset_t, [-1] * 16), sigset)
        b.call(self.sigmask, [_c(I32, _SIG_BLOCK), sigset, _c(PTR, None)])
        b.call(self.setname, [b.call(self.pthread_self, []), self.thread_name])
        b.branch(loop)
        b.position_at_end(loop)
        seen = b.phi(I32)
        seen.add_incoming(_c(I32, 0), entry)     # init resets the generation to 0
        gen = b.call(self.wait, [self._field(b, _GEN), seen, _c(I1, 0), self.sleepers])
        b.call(self.work, [])
        seen.add_incoming(gen, loop)
        b.branch(loop)
        return f

    def _reset(self, b):
        """Zero the pool's words (no worker may be running)."""
        for g in (self.remaining, self.lock, self.sleepers, self.waiting, self.nthreads):
            b.store(_c(I32, 0), g)
        b.store(_c(I32, 0), self._field(b, _GEN))
        b.store(_c(I64, 0), self._field(b, _TICKET))     # no chunk to claim

    def _emit_atfork_child(self):
        """void atfork_child(): a fork() child has no workers; forget the pool so
        its first parallel call starts a new one instead of waiting forever."""
        f = _func(self.m, "opcomp_tp_atfork_child", VOID, [])
        b = ir.IRBuilder(f.append_basic_block("entry"))
        self._reset(b)
        b.store(_c(I32, 0), self.state)
        b.ret_void()
        return f

    def _emit_init(self):
        """i32 init(): start the pool once (the first caller wins the state word,
        the others wait for it) and return its thread count."""
        f = _func(self.m, "opcomp_tp_init", I32, [])
        names = ("entry", "wait", "pause", "ready", "start", "spawn", "create", "detach", "started")
        entry, wait, pause, ready, start, spawn, create, detach, started = (
            f.append_basic_block(n) for n in names)
        b = ir.IRBuilder(entry)
        tid = b.alloca(I64)
        won = b.extract_value(b.cmpxchg(self.state, _c(I32, 0), _c(I32, 1), "acq_rel", "acquire"), 1)
        b.cbranch(won, start, wait)
        b.position_at_end(wait)
        state = b.load_atomic(self.state, "acquire", 4, typ=I32)
        b.cbranch(b.icmp_unsigned("==", state, _c(I32, 2)), ready, pause)
        b.position_at_end(pause)
        b.call(self.pause, [])
        b.branch(wait)
        b.position_at_end(ready)
        b.ret(b.load_atomic(self.nthreads, "monotonic", 4, typ=I32))

        b.position_at_end(start)
        total = b.call(self.config, [])
        self._register_atfork(b)
        self._reset(b)
        before = b.block
        b.branch(spawn)
        b.position_at_end(spawn)            # workers 1..total-1
        i = b.phi(I32)
        i.add_incoming(_c(I32, 1), before)
        b.cbranch(b.icmp_unsigned("<", i, total), create, started)
        b.position_at_end(create)
        rc = b.call(self.pthread_create, [tid, _c(PTR, None), self.worker, _c(PTR, None)])
        # On failure run with the workers we have: any thread runs any chunk.
        b.cbranch(b.icmp_unsigned("==", rc, _c(I32, 0)), detach, started)
        b.position_at_end(detach)
        b.call(self.pthread_detach, [b.load(tid, typ=I64)])
        i.add_incoming(b.add(i, _c(I32, 1)), detach)
        b.branch(spawn)
        b.position_at_end(started)          # i threads: the caller plus workers 1..i-1
        b.store(i, self.nthreads)
        b.store_atomic(_c(I32, 2), self.state, "release", 4)
        b.ret(i)
        return f

    def _register_atfork(self, b):
        """Register the fork-child reset once per process (it survives resets).
        __register_atfork is what glibc's pthread_atfork calls; the latter lives
        in libc_nonshared.a, which the JIT cannot see."""
        first = b.icmp_unsigned("==", b.load(self.registered, typ=I32), _c(I32, 0))
        with b.if_then(first):
            b.call(self.atfork, [_c(PTR, None), _c(PTR, None), self.atfork_child, _c(PTR, None)])
            b.store(_c(I32, 1), self.registered)

    # -- entry points ---------------------------------------------------------------
    def _emit_parallel_for(self):
        """void opcomp_parallel_for(ptr fn, ptr closure, i64 ntasks)."""
        f = _func(self.m, "opcomp_parallel_for", VOID, [_BODY_PTR, PTR, I64], internal=False)
        fn, closure, n = f.args
        names = ("entry", "one", "many", "trylock", "acquire", "pool", "serial", "out")
        entry, one, many, trylock, acquire, pool, serial, out = (f.append_basic_block(x) for x in names)
        b = ir.IRBuilder(entry)
        b.cbranch(b.icmp_signed("<", n, _c(I64, 2)), one, many)
        b.position_at_end(one)              # 0 or 1 task: no pool needed
        with b.if_then(b.icmp_signed("==", n, _c(I64, 1))):
            b.call(fn, [_c(I64, 0), closure])
        b.branch(out)
        b.position_at_end(many)
        state = b.load_atomic(self.state, "acquire", 4, typ=I32)
        fast = b.load_atomic(self.nthreads, "monotonic", 4, typ=I32)
        ready = b.icmp_unsigned("==", state, _c(I32, 2))
        with b.if_else(ready, likely=True) as (then, otherwise):
            with then:
                have = b.block
            with otherwise:
                started = b.call(self.init, [])
                slow = b.block
        total = b.phi(I32)
        total.add_incoming(fast, have)
        total.add_incoming(started, slow)
        b.cbranch(b.icmp_unsigned(">", total, _c(I32, 1)), trylock, serial)
        b.position_at_end(trylock)          # test before test-and-set: no line bouncing
        held = b.load_atomic(self.lock, "monotonic", 4, typ=I32)
        b.cbranch(b.icmp_unsigned("==", held, _c(I32, 0)), acquire, serial)
        b.position_at_end(acquire)
        got = b.extract_value(b.cmpxchg(self.lock, _c(I32, 0), _c(I32, 1), "acquire", "monotonic"), 1)
        b.cbranch(got, pool, serial)
        b.position_at_end(pool)
        self._run_job(b, fn, closure, n, total)
        b.branch(out)
        b.position_at_end(serial)           # nested, concurrent, or one thread
        b.call(self.run_range, [fn, closure, _c(I64, 0), n])
        b.branch(out)
        b.position_at_end(out)
        b.ret_void()

    def _run_job(self, b, fn, closure, n, total):
        """Publish the job, work on it too, wait for the last chunk, unlock."""
        small = b.icmp_signed("<", n, b.zext(total, I64))
        chunks = b.select(small, b.trunc(n, I32), total)
        for index, value in ((_FN, fn), (_CLOSURE, closure), (_NTASKS, n)):
            b.store(value, self._field(b, index))
        b.store_atomic(chunks, self.remaining, "monotonic", 4)
        gen_ptr = self._field(b, _GEN)
        gen = b.add(b.load_atomic(gen_ptr, "monotonic", 4, typ=I32), _c(I32, 1))
        ticket = b.or_(b.shl(b.zext(gen, I64), _c(I64, 32)), b.shl(b.zext(chunks, I64), _c(I64, 16)))
        b.store_atomic(ticket, self._field(b, _TICKET), "release", 8)   # publishes the fields
        # seq_cst: orders the bump before the read of `sleepers` in wake.
        b.atomic_rmw("xchg", gen_ptr, gen, "seq_cst")
        b.call(self.wake, [gen_ptr, self.sleepers, b.zext(b.sub(chunks, _c(I32, 1)), I64)])
        b.call(self.work, [])
        b.call(self.wait, [self.remaining, _c(I32, 0), _c(I1, 1), self.waiting])
        b.store_atomic(_c(I32, 0), self.lock, "release", 4)

    def _emit_size(self):
        """i32 opcomp_threadpool_size(): threads of the running pool, or the
        count it would start with now."""
        f = _func(self.m, "opcomp_threadpool_size", I32, [], internal=False)
        b = ir.IRBuilder(f.append_basic_block("entry"))
        state = b.load_atomic(self.state, "acquire", 4, typ=I32)
        ready = b.icmp_unsigned("==", state, _c(I32, 2))
        with b.if_then(ready):
            b.ret(b.load_atomic(self.nthreads, "monotonic", 4, typ=I32))
        b.ret(b.call(self.config, []))


# -- Python interface ------------------------------------------------------------------
_LOAD_LOCK = threading.Lock()
_LOADED: dict = {}          # the process's pool: its addresses and size function


def runtime_ir(num_threads: int | None = None) -> str:
    """LLVM IR text of the pool: opcomp_parallel_for, opcomp_threadpool_size and
    internal helpers.  num_threads=None reads the count when the pool starts
    (OPCOMP_NUM_THREADS, else the affinity mask); an int bakes it in."""
    if num_threads is not None and not 1 <= int(num_threads) <= MAX_THREADS:
        raise ValueError(f"num_threads must be in [1, {MAX_THREADS}], got {num_threads!r}")
    return str(_PoolIR(None if num_threads is None else int(num_threads)).m)


def _binding():
    import llvmlite.binding as llvm
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return llvm


# The pool is spin loops, atomics and syscalls: O1 code is as fast, and compiling
# it at O1 cuts the first parallel build's one-time cost by about a quarter.
POOL_OPT_LEVEL = 1


def host_target_machine(opt: int = POOL_OPT_LEVEL):
    """A position-independent target machine for this process's architecture.

    The pool is spin loops, atomics and syscalls: the generic CPU of the triple
    serves every machine of the architecture, so its object links into any
    exported library whatever CPU the kernels were tuned for."""
    llvm = _binding()
    return llvm.Target.from_default_triple().create_target_machine(opt=opt, reloc="pic")


def _compiled_module(target_machine, num_threads=None):
    """The pool's IR parsed, verified and optimized (POOL_OPT_LEVEL) for target_machine."""
    llvm = _binding()
    mod = llvm.parse_assembly(runtime_ir(num_threads))
    mod.triple = target_machine.triple
    mod.data_layout = str(target_machine.target_data)
    mod.verify()
    builder = llvm.create_pass_builder(target_machine,
                                       llvm.create_pipeline_tuning_options(POOL_OPT_LEVEL))
    builder.getModulePassManager().run(mod, builder)
    return mod


def _resolve_libc(llvm) -> None:
    """MCJIT aborts the process on an unresolved symbol, so check first."""
    if all(llvm.address_of_symbol(s) for s in _LIBC_SYMBOLS):
        return
    llvm.load_library_permanently(ctypes.util.find_library("c") or "libc.so.6")
    missing = [s for s in _LIBC_SYMBOLS if not llvm.address_of_symbol(s)]
    if missing:
        raise RuntimeError(f"thread pool: libc lacks {', '.join(missing)} (needs glibc >= 2.34)")


def jit_pool(num_threads: int | None = None) -> dict:
    """JIT-compile a separate copy of the pool and return the addresses of its
    entry points, {"parallel_for": ..., "size": ...}.  Each copy is its own pool
    with its own workers.  The engine is leaked on purpose: workers run its code
    until the process ends, so it must never be freed."""
    llvm = _binding()
    _resolve_libc(llvm)
    machine = host_target_machine()
    engine = llvm.create_mcjit_compiler(_compiled_module(machine, num_threads), machine)
    engine.finalize_object()
    out = {"parallel_for": engine.get_function_address("opcomp_parallel_for"),
           "size": engine.get_function_address("opcomp_threadpool_size")}
    engine.detach()             # never disposed, not even at interpreter exit
    return out


def ensure_loaded() -> int:
    """JIT-compile the process's pool once, make `opcomp_parallel_for` resolvable
    by later JIT modules, and return its address.  Thread-safe."""
    with _LOAD_LOCK:
        if not _LOADED:
            pool = jit_pool(None)
            _binding().add_symbol("opcomp_parallel_for", pool["parallel_for"])
            pool["size_fn"] = ctypes.CFUNCTYPE(ctypes.c_int32)(pool["size"])
            _LOADED.update(pool)
        return _LOADED["parallel_for"]


def num_threads() -> int:
    """Threads the pool uses: fixed once it has started (first parallel call),
    before that what OPCOMP_NUM_THREADS / the affinity mask give now."""
    ensure_loaded()
    return int(_LOADED["size_fn"]())


def runtime_object(target_machine) -> bytes:
    """Object code of the pool (count read at start-up) for an exported library;
    x86-64 Linux only.  opcomp_parallel_for is hidden: the library's kernels
    bind to their own pool, and two libraries in a process never interpose.
    opcomp_threadpool_size stays visible for C callers."""
    mod = _compiled_module(target_machine, None)
    mod.get_function("opcomp_parallel_for").visibility = "hidden"
    return bytes(target_machine.emit_object(mod))

