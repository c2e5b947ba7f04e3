"""Tags and attributes of operations (TVM's tag_scope and compute(..., attrs=)).

    with oc.tag_scope(tag="gemm"):          # or @oc.tag_scope(tag="conv") on a function
        C = oc.compute(shape, f, attrs={"hello": 1, "arr": [10, 12]})
    C.op.tag == "gemm"; C.op.attrs["hello"].value == 1; C.op.attrs["arr"][0].value == 10

A compute with no tag= takes the tag of the innermost active tag_scope.  Attribute
values are converted as TVM converts them: ints, floats and bools to constants
(``.value``), strings to StringValue (``.value``), lists/tuples to tuples of converted
values, dicts to attribute maps.  ``str(op.attrs)`` is JSON.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass

from .ir import expr as E
from .ir.expr import TensorError

_SCOPES: list = []     # the active tag_scope objects, innermost last


@dataclass(frozen=True)
class StringValue:
    """A string constant in attrs or a pragma key/value list (TVM's StringImm: ``.value``)."""
    value: str

    def __str__(self):
        return self.value


class tag_scope:   # noqa: N801  (TVM's name; used as a context manager and decorator)
    """Give every compute created inside it (without its own tag=) this tag.

    Nesting two tag scopes is refused (as in TVM: an op has one tag)."""

    def __init__(self, tag: str):
        if not isinstance(tag, str):
            raise TensorError(f"tag_scope: tag must be a string, got {tag!r}")
        self.tag = tag

    def __enter__(self):
        if _SCOPES:
            raise TensorError(f"tag_scope: tag {self.tag!r} inside tag_scope "
                              f"{_SCOPES[-1].tag!r}; nested tag scopes are not allowed")
        _SCOPES.append(self)
        return self

    def __exit__(self, *exc):
        _SCOPES.pop()
        return False

    def __call__(self, fdecl):
        @functools.wraps(fdecl)
        def tagged(*args, **kwargs):
            with self:
                return fdecl(*args, **kwargs)
        return tagged


def current_tag(tag: str) -> str:
    """tag if given, else the active tag_scope's tag, else ""."""
    if tag or not _SCOPES:
        return tag
    return _SCOPES[-1].tag


class AttrsMap(Mapping):
    """An operation's attributes: name -> converted value; str() is JSON."""

    def __init__(self, items: dict):
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def to_plain(self) -> dict:
        """Plain Python values (ints, floats, strings, lists, dicts)."""
        return {k: to_plain(v) for k, v in self._items.items()}

    def __str__(self):
        return json.dumps(self.to_plain())

    __repr__ = __str__


def convert_attrs(attrs, what: str) -> AttrsMap:
    """attrs= of a compute as an AttrsMap; names must be strings."""
    if attrs is None:
        return AttrsMap({})
    if not isinstance(attrs, Mapping):
        raise TensorError(f"{what}: attrs= must be a dict of name -> value, got "
                          f"{type(attrs).__name__}")
    return AttrsMap({_attr_name(k, what): _convert(v, what) for k, v in attrs.items()})


def _attr_name(key, what: str) -> str:
    if not isinstance(key, str):
        raise TensorError(f"{what}: attrs= names must be strings, got {key!r}")
    return key


def _convert(v, what: str):
    if isinstance(v, (E.Const, StringValue, AttrsMap)):
        return v
    if isinstance(v, str):
        return StringValue(v)
    if isinstance(v, (bool, int, float)):
        return E.const(v)
    if isinstance(v, (list, tuple)):
        return tuple(_convert(x, what) for x in v)
    if isinstance(v, Mapping):
        return convert_attrs(v, what)
    raise TensorError(f"{what}: attrs= value {v!r} is a {type(v).__name__}; use ints, "
                      "floats, bools, strings, lists or dicts of them")


def to_plain(v):
    """A converted attribute value as plain JSON-able Python."""
    if isinstance(v, (E.Const, StringValue)):
        return v.value
    if isinstance(v, tuple):
        return [to_plain(x) for x in v]
    if isinstance(v, AttrsMap):
        return v.to_plain()
    return v
