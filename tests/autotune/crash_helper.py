"""Kill a tuner again and again: python -m tests.autotune.crash_helper LOG KILLS SEED TRIALS.

Imports everything once, then for each kill forks a child that tunes a tiny task
into LOG (resuming whatever is there) and SIGKILLs it at a random point; prints
one JSON line: how many kills hit a live tuner and the delays used.  The child
starts its workers by fork (start_method="fork": this process never ran a kernel),
so each life costs milliseconds, not an interpreter start.
"""
import json
import os
import random
import signal
import sys
import time

import autotune
from tests.autotune import templates  # noqa: F401  (registers test/matmul)

OPTIONS = autotune.MeasureOptions(repeat=1, min_time=0.0005, start_method="fork",
                                  n_parallel=1, cutoff=None)


def tune_once(log: str, trials: int) -> None:
    task = autotune.Task("test/matmul", args=(48, 48, 16))   # 200 configurations
    autotune.tune(task, trials=trials, log=log, tuner="random", batch_size=2,
                  options=OPTIONS, progress=False, validate=0)


def _size(log: str) -> int:
    return os.path.getsize(log) if os.path.exists(log) else 0


def _wait_for_growth(log: str, size: int, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while _size(log) == size and time.monotonic() < deadline:
        time.sleep(0.005)


def kill_loop(log: str, kills: int, seed: int, trials: int) -> dict:
    """Half the kills land at a random time after the start (often in start-up), half
    at a random time after the life's first record (mid-measurement or mid-write),
    so the test does not depend on how loaded the machine is."""
    rng = random.Random(seed)
    hit, delays = 0, []
    for k in range(kills):
        size = _size(log)
        pid = os.fork()
        if pid == 0:
            try:
                tune_once(log, trials)
            finally:
                os._exit(0)
        if k % 2:
            _wait_for_growth(log, size)
            delay = rng.uniform(0.0, 0.3)
        else:
            delay = rng.uniform(0.02, 0.4)
        time.sleep(delay)
        done, _ = os.waitpid(pid, os.WNOHANG)
        if not done:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            hit += 1
        delays.append(round(delay, 3))
    return {"hit": hit, "delays": delays}


if __name__ == "__main__":
    log, kills, seed, trials = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    if kills:
        print(json.dumps(kill_loop(log, kills, seed, trials)), flush=True)
    else:
        tune_once(log, trials)
