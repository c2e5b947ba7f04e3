"""Shared by the framework tests: unique operator names, a small op."""
import itertools

import opcomp as oc

_count = itertools.count()


def unique(base: str) -> str:
    """A fresh operator name, "octest::<base>_<k>" (torch keeps one op per name)."""
    return f"octest::{base}_{next(_count)}"


def relu_add(dtype="float32"):
    """z = max(x + y, 0) over a symbolic n: (schedule, [x, y, z])."""
    n = oc.var("n")
    x = oc.placeholder((n,), dtype, name="x")
    y = oc.placeholder((n,), dtype, name="y")
    z = oc.compute((n,), lambda i: oc.maximum(x[i] + y[i], 0.0), name="z")
    return oc.create_schedule(z), [x, y, z]


def skip_without_jax():
    """Skip when JAX is not installed, without importing it: JAX starts threads, and
    other tests fork (see tests/frameworks/test_jax.py)."""
    import importlib.util

    import pytest
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
