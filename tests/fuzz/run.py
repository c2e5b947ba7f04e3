"""The fuzz driver: expression, simplifier and schedule cases, minimized reproducers.

    python -m tests.fuzz.run --minutes 10 --seed 7 --kind both

Every case is derived from (seed, kind, case index), so a failure is replayed
by its seed and index alone.  A failure prints its category, its message and
a minimized reproducer: a runnable Python snippet.  Before every kernel call
the source about to run is written to ``$TMPDIR/opcomp_fuzz_last.py`` so a
crash of the whole process (a signal in generated code) leaves its case
behind.  See tests/fuzz/README.md.
"""
from __future__ import annotations

import argparse
import faulthandler
import os
import pickle
import re
import select
import signal
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

import opcomp as oc

from . import gen_expr as GE
from . import gen_schedule as GS
from . import oracle as O

LAST_CASE = os.path.join(tempfile.gettempdir(), "opcomp_fuzz_last.py")
MAX_MINIMIZED = 12                 # minimizing costs builds: later failures are listed only
SCHED_TOL = {"float32": 1e-5, "float64": 1e-12}
CHILD_TIMEOUT = 120.0              # seconds for one build-and-run in a child process
# Minimizing a hang retries candidates that may hang too: each gets less time, and
# the whole minimization is cut off, so one hang cannot eat an hour-long run.
HANG_RETRY_TIMEOUT = 15.0
MINIMIZE_SECONDS = 300.0
_child_timeout = [CHILD_TIMEOUT]


@dataclass
class Failure:
    kind: str                      # expr | simplify | schedule
    seed: int
    case: int
    category: str
    message: str
    reproducer: str = ""

    def __str__(self):
        head = f"FAIL {self.kind} seed={self.seed} case={self.case} [{self.category}]"
        body = f"\n--- reproducer ---\n{self.reproducer}\n---" if self.reproducer else ""
        return f"{head}\n{self.message}{body}"


@dataclass
class Stats:
    counts: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)
    seconds: float = 0.0

    def add(self, failure: Failure, log) -> None:
        self.failures.append(failure)
        log(str(failure))

    def wants_minimized(self, category: str, message: str = "") -> bool:
        """Minimize the first failure of each signature, at most MAX_MINIMIZED in a run."""
        sig = signature(category, message)
        seen = [signature(f.category, f.message) for f in self.failures]
        return sig not in seen and sum(bool(f.reproducer) for f in self.failures) < MAX_MINIMIZED


    def summary(self) -> str:
        c = self.counts
        secs = max(self.seconds, 1e-9)
        lines = [f"{self.seconds:.1f} s; {len(self.failures)} failure(s)"]
        if c["expr_cases"]:
            lines.append(f"expressions: {c['expr_cases']} cases in {c['expr_builds']} builds "
                         f"({c['expr_cases'] / secs:.1f}/s overall); elements checked "
                         f"{c['elements_checked']}, fragile (skipped) {c['elements_fragile']}")
        if c["simplify_cases"]:
            lines.append(f"simplifier: {c['simplify_cases']} index expressions")
        if c["schedule_cases"]:
            prims = ", ".join(f"{k[5:]} {v}" for k, v in sorted(c.items()) if k.startswith("prim:"))
            lines.append(f"schedules: {c['schedule_cases']} cases, {c['schedule_steps']} "
                         f"primitives ({prims}); rejected with ScheduleError: "
                         f"{c['rejected']} primitives, {c['rejected_at_build']} at build")
        return "\n".join(lines)


def signature(category: str, message: str) -> str:
    """What makes two failures 'the same bug' for minimization: category and the
    start of the message with numbers masked."""
    if category == "wrong":          # a wrong value says nothing about which bug it is
        return f"wrong: {id(message)}"
    return category + ": " + re.sub(r"\d+", "#", message)[:50]


def _note(source: str) -> None:
    """Leave the source about to run where a crash cannot erase it."""
    try:
        with open(LAST_CASE, "w") as f:
            f.write(source)
    except OSError:
        pass


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def _retry_timeout(category: str):
    """Shorter child timeouts while minimizing a hang."""
    saved = _child_timeout[0]
    if category == "hang":
        _child_timeout[0] = HANG_RETRY_TIMEOUT
    try:
        yield time.monotonic() + MINIMIZE_SECONDS
    finally:
        _child_timeout[0] = saved


def isolated(fn, *args, timeout: float = None):
    """fn(*args) in a forked child, so a crash or hang in generated code is a
    finding instead of the end of the run.  Returns ("ok", value),
    ("error", message) for an exception, ("crash", message) for a signal or
    ("hang", message).  The parent never runs a kernel itself, so it never
    starts the runtime's thread pool and forking stays safe."""
    rd, wr = os.pipe()
    err = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:                      # the child: never returns
        os.close(rd)
        faulthandler.disable()        # the parent reports the signal; no stack dumps
        os.dup2(err.fileno(), 2)      # glibc's and LLVM's last words go to the report
        try:
            out = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            out = ("error", _describe(exc))
        with os.fdopen(wr, "wb") as f:
            f.write(pickle.dumps(out))
        os._exit(0)
    os.close(wr)
    timeout = timeout or _child_timeout[0]
    data, status = _read_child(rd, pid, timeout)
    err.seek(0)
    said = err.read()[-400:].decode(errors="replace").strip()
    err.close()
    said = f"; it wrote: {said}" if said else ""
    if status is None:
        return "hang", f"no answer after {timeout:.0f} s (killed){said}"
    if os.WIFSIGNALED(status):
        return "crash", f"the process died of {signal.Signals(os.WTERMSIG(status)).name}{said}"
    try:
        return pickle.loads(data)
    except Exception as exc:          # noqa: BLE001
        return "crash", f"the child exited ({status}) without an answer: {_describe(exc)}"


def _read_child(rd, pid, timeout):
    """All bytes the child writes, and its wait status (None if killed for time)."""
    chunks, deadline = [], time.monotonic() + timeout
    with os.fdopen(rd, "rb") as f:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([f], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return b"", None
            chunk = os.read(f.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks), os.waitpid(pid, 0)[1]


# ---------------------------------------------------------------------------
# expressions
# ---------------------------------------------------------------------------

def _expr_ns(n: int, names) -> dict:
    ns = {"oc": oc, "np": np, "n": n}
    exec(GE.OC_HELPERS, ns)
    for x in names:
        ns[x] = oc.placeholder((n,), GE.dtype_of_input(x), name=x)
    return ns


def _define(case: GE.ExprCase, name: str, ns: dict):
    """Build the compute in ns; (category, message) if opcomp disagrees with NumPy."""
    try:
        exec(case.define(name), ns)
    except Exception as exc:         # noqa: BLE001 - NumPy accepted this expression
        return "construct", f"opcomp rejects what NumPy accepts: {_describe(exc)}"
    got = ns[name].dtype
    if got != case.tree.dtype:
        return "dtype", f"opcomp dtype {got}, NumPy dtype {case.tree.dtype}"
    return None


def _run_exprs(ns, cases_named, names, inputs) -> dict:
    """One module for all (case, name) pairs; returns name -> output array.
    Runs in a child process (see isolated)."""
    n = ns["n"]
    s = ns["s"] = oc.create_schedule([ns[name] for _, name in cases_named])
    for case, name in cases_named:
        exec("\n".join(case.schedule(name)), ns)
    used = set().union(*(GE.inputs_used(c.tree) for c, _ in cases_named))
    names = [x for x in names if x in used]    # an unread input is not a valid argument
    args = [ns[x] for x in names] + [ns[name] for _, name in cases_named]
    mod = oc.build(s, args)
    outs = {name: np.full(n, np.nan if ns[name].dtype.startswith("float") else 99,
                          ns[name].dtype) for _, name in cases_named}
    _note("\n".join(c.define(nm) for c, nm in cases_named))
    mod(*[inputs[x] for x in names], *outs.values())
    return outs


def _check_expr(case: GE.ExprCase, got: np.ndarray, inputs: dict, stats):
    ref, err = O.evaluate(case.tree, inputs)
    bad, checked, fragile = O.expr_mismatches(got, np.asarray(ref), err)
    stats.counts["elements_checked"] += checked
    stats.counts["elements_fragile"] += fragile
    if not len(bad):
        return None
    k = int(bad[0])
    used = ", ".join(f"{x}={inputs[x][k]!r}" for x in GE.inputs_used(case.tree))
    want, bound = np.broadcast_to(ref, got.shape)[k], np.broadcast_to(err, got.shape)[k]
    return "wrong", (f"{len(bad)} of {len(got)} elements differ; element {k}: opcomp "
                     f"{got[k]!r}, NumPy {want!r} (bound {bound:.3g}); inputs {used}"), k


def expr_failure(case: GE.ExprCase, inputs: dict, stats=None):
    """(category, message, element) when the case alone fails, else None."""
    stats = stats or Stats()
    names = GE.inputs_used(case.tree)
    n = len(next(iter(inputs.values())))
    ns = _expr_ns(n, names)
    bad = _define(case, "C", ns)
    if bad:
        return bad + (None,)
    status, outs = isolated(_run_exprs, ns, [(case, "C")], names, inputs)
    if status != "ok":
        return ("build" if status == "error" else status), outs, None
    stats.counts["expr_builds"] += 1
    return _check_expr(case, outs["C"], inputs, stats)


def _batch_cases(seed: int, batch: int, size: int, avoid=()):
    """The inputs, generator and cases of one batch (deterministic in its arguments)."""
    rng = np.random.default_rng([seed, 1, batch])
    inputs = GE.random_inputs(rng, extremes=rng.random() < 0.5)
    gen = GE.ExprGen(rng, inputs, avoid=avoid)
    cases = [GE.ExprCase(gen.tree(), int(rng.choice([0, 0, 4, 8, 16]))) for _ in range(size)]
    return inputs, gen, cases


def expr_batch(seed: int, batch: int, size: int, stats: Stats, log=print, avoid=()) -> None:
    """size random expressions, built as one module with size outputs."""
    inputs, gen, cases = _batch_cases(seed, batch, size, avoid)
    names = GE.input_names()
    ns = _expr_ns(GE.N_ELEMS, names)
    named = []
    for k, case in enumerate(cases):
        stats.counts["expr_cases"] += 1
        bad = _define(case, f"C{k}", ns)
        if bad:
            _expr_fail(seed, batch * size + k, case, inputs, bad + (None,), gen, stats, log)
        else:
            named.append((case, f"C{k}"))
    if not named:
        return
    status, outs = isolated(_run_exprs, ns, named, names, inputs)
    if status == "ok":
        stats.counts["expr_builds"] += 1
    else:                             # find which case breaks the build
        log(f"batch {batch}: {status}: {outs[:300]}; building its cases one by one")
        outs = {}
    for case, name in named:
        k = int(name[1:])
        res = _check_expr(case, outs[name], inputs, stats) if name in outs else \
            expr_failure(case, inputs, stats)
        if res:
            _expr_fail(seed, batch * size + k, case, inputs, res, gen, stats, log)


def replay_case(kind: str, seed: int, case: int, batch: int = 40, log=print, avoid=()) -> Stats:
    """Re-run one case (as a failure reports it) and minimize it if it fails."""
    stats = Stats()
    with _fuzz_env():
        if kind == "expr":
            inputs, gen, cases = _batch_cases(seed, case // batch, batch, avoid)
            c = cases[case % batch]
            res = expr_failure(c, inputs)
            log(f"case {case}: {c.define('C')}")
            if res:
                _expr_fail(seed, case, c, inputs, res, gen, stats, log)
        elif kind == "simplify":
            simplify_case(seed, case, stats, log)
        else:
            schedule_case(seed, case, stats, log)
    return stats


def _expr_fail(seed, case_no, case, inputs, res, gen, stats, log):
    category, message, _ = res
    repro = ""
    if stats.wants_minimized(category, message):
        with _retry_timeout(category) as deadline:
            case, inputs, res = minimize_expr(case, inputs, category, gen, deadline=deadline)
        message = res[1] if res else message
        repro = GE.expr_reproducer(case, inputs, message)
    stats.add(Failure("expr", seed, case_no, category, message, repro), log)


def minimize_expr(case: GE.ExprCase, inputs: dict, category: str, gen, budget: int = 150,
                  deadline: float = float("inf")):
    """Smaller tree, scalar loop, one element: whatever still fails the same way."""
    def fails(c, inp):
        r = expr_failure(c, inp)
        return r if r and r[0] == category else None

    res = fails(case, inputs)
    if res is None:
        return case, inputs, None
    if case.vec and fails(GE.ExprCase(case.tree, 0), inputs):
        case = GE.ExprCase(case.tree, 0)
    tries, progress = 0, True
    while progress and tries < budget and time.monotonic() < deadline:
        progress = False
        for cand in GE.replacements(case.tree, gen):
            tries += 1
            if tries > budget or time.monotonic() > deadline:
                break
            if fails(GE.ExprCase(cand, case.vec), inputs):
                case, progress = GE.ExprCase(cand, case.vec), True
                break
    res = fails(case, inputs)
    k = res[2] if res else None
    if k is not None:
        one = {x: v[k:k + 1] for x, v in inputs.items()}
        if fails(case, one):
            inputs = one
    return case, inputs, fails(case, inputs)


# ---------------------------------------------------------------------------
# the simplifier
# ---------------------------------------------------------------------------

def simplify_case(seed: int, case: int, stats: Stats, log=print) -> None:
    rng = np.random.default_rng([seed, 3, case])
    g = GE.IndexGen(rng)
    dtype = "int64" if rng.random() < 0.3 else "int32"
    e = g.expr(4, dtype) if rng.random() < 0.85 else g.cond(3, dtype)
    points = [g.point() for _ in range(8)]
    stats.counts["simplify_cases"] += 1
    msg = O.simplify_failure(e, g.ranges, points)
    if msg is None:
        return
    kind = msg.split(":")[0].split(" ")[0]
    repro = ""
    if stats.wants_minimized("simplify:" + kind, msg):
        e = GE.minimize_index(e, g.ranges, points,
                              lambda x: O.simplify_failure(x, g.ranges, points) is not None)
        msg = O.simplify_failure(e, g.ranges, points) or msg
        repro = GE.index_reproducer(e, g.ranges, msg)
    stats.add(Failure("simplify", seed, case, "simplify:" + kind, msg, repro), log)


# ---------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------

class ScheduleChecker:
    """Runs one computation under schedules; references computed once."""

    def __init__(self, comp: GS.Computation, seed_key):
        self.comp = comp
        ns = GS.fresh_ns(comp)
        rng = np.random.default_rng(seed_key)
        self.feeds = {x: GS.fuzz_values(rng, ns[x]) for x in comp.inputs}
        interp = O.TeInterpreter(self.feeds)
        self.ref = {x: interp.tensor(ns[x]) for x in comp.outputs}
        self.plain = None

    def _run(self, mod, ns):
        outs = {x: np.full(tuple(int(d.value) for d in ns[x].shape),
                           np.nan if ns[x].dtype.startswith("float") else -777777, ns[x].dtype)
                for x in self.comp.outputs}
        mod(*[self.feeds[x] for x in self.comp.inputs], *outs.values())
        return outs

    def _unscheduled(self):
        ns = GS.fresh_ns(self.comp)
        s = oc.create_schedule([ns[x] for x in self.comp.outputs])
        return self._run(oc.build(s, [ns[a] for a in self.comp.args]), ns)

    def check(self, steps, stats=None):
        """None (correct), "rejected", or (category, message); kernels run in a child."""
        if self.plain is None:
            status, out = isolated(self._unscheduled)
            if status != "ok":
                return f"unscheduled-{status}", f"the unscheduled build failed: {out}"
            self.plain = out
        status, out = isolated(self._check, steps)
        if status == "ok":
            res, builds = out
            if stats is not None:
                stats.counts["schedule_builds"] += builds
            return res
        return ("child-error" if status == "error" else status), out

    def _check(self, steps):
        ns, _, statuses, error = GS.replay(self.comp, steps)
        if error is not None:
            return ("api", f"schedule primitive raised {_describe(error)}"), 0
        _note(self.comp.source + "\n" + "\n".join(ln for st in steps for ln in st.lines))
        for k, bc in enumerate((False, True)):
            try:
                mod = oc.build(ns["s"], [ns[a] for a in self.comp.args], bounds_check=bc)
            except oc.ScheduleError:
                return "rejected", k
            except Exception as exc:  # noqa: BLE001
                return ("build", f"build(bounds_check={bc}) raised {_describe(exc)}"), k
            try:
                outs = self._run(mod, ns)
            except Exception as exc:  # noqa: BLE001
                what = "out-of-bounds" if bc else "run"
                return (what, f"kernel raised {_describe(exc)}"), k + 1
            bad = self._compare(outs, bc, self.plain)
            if bad:
                return bad, k + 1
        return None, 2

    def _compare(self, outs, bc, plain):
        for x, got in outs.items():
            for what, want in (("reference", self.ref[x]), ("unscheduled build", plain[x])):
                tol = SCHED_TOL.get(self.comp.dtype, 0.0)
                scale = max(1.0, float(np.nanmax(np.abs(self.ref[x]), initial=0.0)))
                msg = O.allclose_report(got, want, tol, tol * scale)
                if msg:
                    return "wrong", f"output {x} (bounds_check={bc}) vs {what}: {msg}"
        return None


def schedule_case(seed: int, case: int, stats: Stats, log=print) -> None:
    rng = np.random.default_rng([seed, 2, case])
    comp = GS.random_computation(rng)
    ns = GS.fresh_ns(comp)
    gen = GS.ScheduleGen(rng, ns, comp)
    gen.prelude()
    stats.counts["schedule_cases"] += 1
    try:
        gen.generate(int(rng.integers(1, 9)))
    except Exception:                 # noqa: BLE001 - replayed and reported below
        pass
    stats.counts["rejected"] += gen.rejected
    stats.counts["schedule_steps"] += len(gen.steps)
    stats.counts.update("prim:" + st.what for st in gen.steps)
    checker = ScheduleChecker(comp, [seed, 4, case])
    res = checker.check(gen.steps, stats)
    if res == "rejected":             # a check the primitive's call should have made
        stats.counts["rejected_at_build"] += 1
        log(f"note: schedule seed={seed} case={case}: ScheduleError only at build "
            f"(--replay schedule:{case})")
    elif res is not None:
        _schedule_fail(seed, case, checker, gen.steps, res, stats, log)


def _schedule_fail(seed, case, checker, steps, res, stats, log):
    category, message = res
    repro = ""
    if stats.wants_minimized(category, message):
        with _retry_timeout(category) as deadline:
            steps = minimize_schedule(checker, steps, signature(category, message),
                                      deadline=deadline)
        res2 = checker.check(steps)
        message = res2[1] if isinstance(res2, tuple) else message
        repro = schedule_reproducer(checker.comp, steps, message)
    stats.add(Failure("schedule", seed, case, category, message, repro), log)


def minimize_schedule(checker, steps, sig: str, budget: int = 80,
                      deadline: float = float("inf")) -> list:
    """Drop steps one at a time while the failure (same signature) persists."""
    tries, progress = 0, True
    while progress and tries < budget:
        progress, i = False, 0
        while i < len(steps) and tries < budget and time.monotonic() < deadline:
            cand = steps[:i] + steps[i + 1:]
            tries += 1
            r = checker.check(cand)
            if isinstance(r, tuple) and signature(*r) == sig:
                steps, progress = cand, True
            else:
                i += 1
    return steps


def schedule_reproducer(comp, steps, message: str) -> str:
    _, prelude, statuses, _ = GS.replay(comp, steps)
    lines = ["import numpy as np", "import opcomp as oc", "", comp.source, *prelude]
    for step, status in zip(steps, statuses):
        if status == "rejected":
            lines += ["try:", *("    " + ln for ln in step.lines),
                      "except oc.ScheduleError as e:", "    print('rejected:', e)"]
        elif status != "stale":
            lines += step.lines
    ins, outs = ", ".join(comp.inputs), ", ".join(comp.outputs)
    tol = SCHED_TOL.get(comp.dtype, 0.0)
    lines += ["", GS.VALUES_SRC, f"args = [{', '.join(comp.args)}]",
              "mod = oc.build(s, args, bounds_check=True)",
              f"plain = oc.build(oc.create_schedule([{outs}]), args)",
              "rng = np.random.default_rng(0)",
              f"ins = [fuzz_values(rng, t) for t in [{ins}]]",
              f"got = [np.full([int(d.value) for d in t.shape], -7, t.dtype) for t in [{outs}]]",
              "want = [np.full_like(g, -7) for g in got]",
              "mod(*ins, *got)", "plain(*ins, *want)",
              "for g, w in zip(got, want):",
              f"    np.testing.assert_allclose(g, w, rtol={tol},",
              f"                               atol={tol} * max(1, abs(w).max()))",
              f"# {message}"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# budgets and the command line
# ---------------------------------------------------------------------------

@contextmanager
def _fuzz_env():
    """No disk compile cache for thousands of throwaway kernels (restored after)."""
    old = os.environ.get("OPCOMP_CACHE_DIR")
    os.environ["OPCOMP_CACHE_DIR"] = os.environ.get("OPCOMP_FUZZ_CACHE_DIR", "off")
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        if old is None:
            os.environ.pop("OPCOMP_CACHE_DIR", None)
        else:
            os.environ["OPCOMP_CACHE_DIR"] = old


def fuzz(seed=0, expr_cases=0, simplify_cases=0, schedule_cases=0, seconds=None,
         batch=40, log=print, avoid=()) -> Stats:
    """Run the given numbers of cases (all of them), or until `seconds` pass,
    interleaving the kinds; returns the counts and failures.

    avoid: names from gen_expr.KNOWN_BUGS whose trigger patterns are not generated.
    """
    stats, start = Stats(), time.perf_counter()
    for name in avoid:
        log(f"avoiding known bug {name}: {GE.KNOWN_BUGS[name]}")
    todo = {"expr": expr_cases, "simplify": simplify_cases, "schedule": schedule_cases}
    done = Counter()
    with _fuzz_env():
        while any(done[k] < todo[k] for k in todo):
            if seconds is not None and time.perf_counter() - start > seconds:
                break
            if done["expr"] < todo["expr"]:
                size = min(batch, todo["expr"] - done["expr"])
                expr_batch(seed, done["expr"] // batch, size, stats, log, avoid)
                done["expr"] += size
            for _ in range(min(batch, todo["simplify"] - done["simplify"])):
                simplify_case(seed, done["simplify"], stats, log)
                done["simplify"] += 1
            for _ in range(min(4, todo["schedule"] - done["schedule"])):
                schedule_case(seed, done["schedule"], stats, log)
                done["schedule"] += 1
    stats.seconds = time.perf_counter() - start
    return stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=1.0, help="how long to run (default 1)")
    p.add_argument("--seed", type=int, default=None, help="default: from the clock (printed)")
    p.add_argument("--kind", choices=["expr", "schedule", "both"], default="both",
                   help="expr = expressions and the simplifier")
    p.add_argument("--batch", type=int, default=40, help="expressions per built module")
    p.add_argument("--avoid-known", action="store_true",
                   help="do not generate the patterns of gen_expr.KNOWN_BUGS")
    p.add_argument("--replay", metavar="KIND:CASE", help="re-run and minimize one reported "
                   "case, e.g. expr:981 (with the --seed and --batch it was found with)")
    a = p.parse_args(argv)
    avoid = tuple(GE.KNOWN_BUGS) if a.avoid_known else ()
    if a.replay:
        kind, case = a.replay.split(":")
        stats = replay_case(kind, a.seed or 0, int(case), a.batch, avoid=avoid)
        print(stats.summary())
        return 1 if stats.failures else 0
    seed = a.seed if a.seed is not None else int(time.time()) % 100000
    big = 10 ** 9
    print(f"fuzzing {a.kind} for {a.minutes} min, seed {seed}", flush=True)
    stats = fuzz(seed, expr_cases=big if a.kind != "schedule" else 0,
                 simplify_cases=big if a.kind != "schedule" else 0,
                 schedule_cases=big if a.kind != "expr" else 0,
                 seconds=a.minutes * 60, batch=a.batch, avoid=avoid,
                 log=lambda m: print(m, flush=True))
    print(stats.summary())
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
