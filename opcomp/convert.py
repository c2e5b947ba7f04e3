"""Python values to IR values, as TVM's `tvm.runtime.convert`, and the Map container.

    oc.convert(3)        -> Const(3, "int32")
    oc.convert(2.5)      -> Const(2.5, "float32")
    oc.convert({v: 1})   -> Map({v: Const(1)})
    oc.convert([1, x])   -> (Const(1), x)

`Map` is a read-only dict: `oc.infer_bound(s)` returns one (TVM's
`tvm.container.Map`), so code that checks `isinstance(bounds, Map)` runs.
"""
from __future__ import annotations

from .ir import expr as E


class Map(dict):
    """A read-only mapping (a dict that refuses writes)."""

    def _read_only(self, *args, **kwargs):
        raise TypeError("Map is read-only; copy it with dict(m) to change it")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only


def convert(value):
    """An IR value for a Python value: numbers to constants, dicts to Map, lists to tuples."""
    if isinstance(value, E.Expr):
        return value
    if isinstance(value, bool):
        return E.const(value, "bool")
    if isinstance(value, int):
        return E.const(value, "int32" if -2**31 <= value < 2**31 else "int64")
    if isinstance(value, float):
        return E.const(value, "float32")
    if isinstance(value, dict):
        return Map({k: convert(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(convert(v) for v in value)
    if isinstance(value, str):
        return value
    if hasattr(value, "op") or hasattr(value, "var"):     # tensors, iter vars: already IR objects
        return value
    raise TypeError(f"convert: cannot make an IR value from {type(value).__name__} {value!r}")
