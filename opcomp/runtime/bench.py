"""Timing a compiled kernel: warm-up, then repeats of `number` back-to-back calls.

The arguments are checked once (with the module's usual ArgumentError checks),
then the kernel is called on the raw pointers: what is timed is the kernel plus
the ctypes call (well under a microsecond), not the per-call argument checks,
which `Module.__call__` adds (a few microseconds; see the README's numbers).
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class BenchmarkResult:
    """Seconds per call: median, mean, min, max, stdev over the repeats.

    runs: seconds per call of each repeat; number: calls per repeat.
    """
    median: float
    mean: float
    min: float
    max: float
    stdev: float
    runs: tuple
    number: int

    @property
    def repeat(self) -> int:
        return len(self.runs)

    @property
    def results(self) -> tuple:
        """Seconds per call of each repeat (TVM's ProfileResult.results)."""
        return self.runs

    @property
    def std(self) -> float:
        """The standard deviation (TVM's spelling of stdev)."""
        return self.stdev

    def __str__(self):
        return (f"median {_fmt(self.median)} per call (min {_fmt(self.min)}, max "
                f"{_fmt(self.max)}, stdev {_fmt(self.stdev)}; {self.repeat} repeats of "
                f"{self.number} calls)")


def _fmt(sec: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if sec >= scale:
            return f"{sec / scale:.3g} {unit}"
    return f"{sec / 1e-9:.3g} ns"


def _timed(fn, raw, number: int) -> float:
    """Seconds for `number` calls; a failing kernel (non-zero return) raises."""
    t0 = time.perf_counter()
    bad = 0
    for _ in range(number):
        bad |= fn(*raw)
    elapsed = time.perf_counter() - t0
    if bad:
        raise RuntimeError(f"kernel failed during benchmarking (return code {bad})")
    return elapsed


def _auto_number(fn, raw, min_time: float) -> int:
    """Calls per repeat so that one repeat lasts at least min_time (grows x10 from 1)."""
    number = 1
    while True:
        t = _timed(fn, raw, number)
        if t >= min_time or number >= 10**9:
            return number
        # aim a bit past min_time, but never more than 10x at once (first calls can be slow)
        number = min(number * 10, max(number + 1, math.ceil(number * 1.2 * min_time / max(t, 1e-9))))


def benchmark(mod, *args, warmup: int = 1, repeat: int = 5, number: int = None,
              min_time: float = 0.02) -> BenchmarkResult:
    """Time `mod(*args)`: `warmup` untimed calls, then `repeat` timed repeats.

    mod: a Module (its arguments are checked once, then the kernel is timed
    alone) or any callable, so a reference can be timed the same way.

    number: calls per repeat; by default chosen so that one repeat takes at
    least `min_time` seconds.  Returns a BenchmarkResult (seconds per call).
    """
    if repeat < 1 or warmup < 0 or (number is not None and number < 1):
        raise ValueError(f"benchmark: need repeat >= 1, warmup >= 0, number >= 1; got "
                         f"repeat={repeat}, warmup={warmup}, number={number}")
    if hasattr(mod, "signature"):
        raw, keep = mod.signature.prepare(args)      # ArgumentError here, before any call
        fn = mod.kernel.fn
    elif callable(mod):                              # a reference to compare with, e.g. NumPy
        raw, keep = args, None

        def fn(*a):
            mod(*a)
            return 0
    else:
        raise TypeError(f"benchmark: expected a Module or a callable, got {mod!r}")
    if warmup:
        _timed(fn, raw, warmup)
    if number is None:
        number = _auto_number(fn, raw, min_time)
    runs = tuple(_timed(fn, raw, number) / number for _ in range(repeat))
    del keep
    return BenchmarkResult(statistics.median(runs), statistics.fmean(runs), min(runs),
                           max(runs), statistics.stdev(runs) if len(runs) > 1 else 0.0,
                           runs, number)
