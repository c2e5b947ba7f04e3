"""Calling the library's CPU templates: dispatch for concrete sizes, the fallback otherwise.

Each CPU op of the library is an autotune template registered under the op's
name (conv2d, softmax, dense, ...): its hand-chosen tiles, widths and orders
are knobs whose defaults are exactly the hand schedule.  The op's public
function calls it through `call`, which

- runs the template under the active dispatch context (apply_history_best,
  apply_config), as matmul does, when every argument is a JSON value, so a
  tuning record keyed by these arguments applies;
- runs the fallback configuration directly when an argument cannot key a
  record (an oc.size_var size, a NumPy integer) or the target does not
  resolve (the template's own argument check then reports it).

    s, args = call(softmax_template, (R, L, dtype), {"rfactor": True}, target)
"""
from __future__ import annotations

import math

import opcomp as oc

from . import validate as v


def recordable(value) -> bool:
    """A value a tuning record can be keyed by: JSON scalars and lists of them."""
    if isinstance(value, (list, tuple)):
        return all(recordable(x) for x in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int, str))


def call(fn, args: tuple, kwargs: dict, target) -> tuple:
    """(schedule, tensors) of the @template function `fn` for these arguments (see above)."""
    tgt = _target(target)
    if tgt is not None and all(recordable(a) for a in (*args, *kwargs.values())):
        return fn(*args, target=tgt, **kwargs)
    # A bad target reaches the op's own check (its OpError names the argument).
    tmpl = fn.template
    sch, tensors, _ = tmpl.run(tuple(args), tuple(sorted(kwargs.items())),
                               target if tgt is None else tgt)
    return sch, tensors


def _target(target):
    """The oc.Target of a target argument, or None when it does not resolve."""
    try:
        return oc.Target(target)
    except (oc.TargetError, TypeError, ValueError):
        return None


def tuples(*values):
    """The values with lists made tuples again: a template's arguments come back
    from JSON (records, dispatch) as lists, and messages show what the caller gave."""
    out = tuple(_tuple(x) for x in values)
    return out if len(values) != 1 else out[0]


def _tuple(value):
    return tuple(_tuple(x) for x in value) if isinstance(value, (list, tuple)) else value


def divisors(n: int, limit: int = None) -> list:
    """The divisors of n, ascending (at most `limit`, spread over the range, when given)."""
    out = [d for d in range(1, n + 1) if n % d == 0]
    if limit is None or len(out) <= limit:
        return out
    step = (len(out) - 1) / (limit - 1)
    return sorted({out[round(k * step)] for k in range(limit)})


def symbolic(*sizes) -> bool:
    """True when any size is an oc.size_var (then only the fallback applies)."""
    return any(v.is_symbolic(s) for s in sizes)
