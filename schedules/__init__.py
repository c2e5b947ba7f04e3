"""The operator library: compute definitions with tuned schedule templates.

    import schedules
    schedules.list_ops()          # ['matmul']
    s, args = schedules.get("matmul")(M, N, K)
"""
from __future__ import annotations

from . import matmul

_OPS = {"matmul": matmul.matmul}


def list_ops() -> list:
    """Names of the ops in the library."""
    return sorted(_OPS)


def get(name: str):
    """The schedule function of an op: call it with the op's sizes to get (schedule, args)."""
    if name not in _OPS:
        raise KeyError(f"unknown op {name!r}; known: {', '.join(list_ops())}")
    return _OPS[name]
