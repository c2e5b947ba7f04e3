"""Job functions for the worker-pool tests (module level: workers import them)."""
import os
import time

import numpy as np


def pid(_job):
    return os.getpid()


def fail(message):
    raise ValueError(message)


def allocate(nbytes):
    return int(np.ones(nbytes, np.uint8).sum())


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def die(_job):
    os.kill(os.getpid(), 9)
