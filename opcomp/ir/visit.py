"""Generic traversal of the IR: rewrite bottom-up, or visit every node.

``rewrite(node, fn)`` rebuilds a node only where a child changed, then calls
``fn`` on the (possibly rebuilt) node; ``fn`` returns a replacement or None to
keep it.  Passes that need context (loop ranges, enclosing guards) write their
own recursion and fall back on ``map_children`` for the cases they ignore.
"""
from __future__ import annotations

from dataclasses import replace

from .expr import Node, IterVar, field_names
from .tir import Buffer

# Nodes with identity that are leaves for traversal: never rebuilt.
_LEAVES = (IterVar, Buffer)


def _map_value(v, fn):
    if isinstance(v, Node) and not isinstance(v, _LEAVES):
        return fn(v)
    if isinstance(v, tuple):
        new = tuple(_map_value(x, fn) for x in v)
        return v if all(a is b for a, b in zip(new, v)) else new
    return v


def map_children(node, fn):
    """The node with fn applied to each child node (identity kept if unchanged)."""
    changes = {}
    for name in field_names(node):
        old = getattr(node, name)
        new = _map_value(old, fn)
        if new is not old:
            changes[name] = new
    return replace(node, **changes) if changes else node


def rewrite(node, fn):
    """Bottom-up rewrite: children first, then fn(node) -> replacement or None."""
    def go(n):
        n2 = map_children(n, go)
        r = fn(n2)
        return n2 if r is None else r
    return go(node)


def walk(node, fn) -> None:
    """Call fn on every node, parents before children."""
    if isinstance(node, tuple):
        for x in node:
            walk(x, fn)
        return
    if not isinstance(node, Node) or isinstance(node, _LEAVES):
        return
    fn(node)
    for name in field_names(node):
        v = getattr(node, name)
        if isinstance(v, (Node, tuple)):
            walk(v, fn)


def substitute(node, mapping: dict):
    """Replace Vars (by identity) with expressions throughout node."""
    if not mapping:
        return node
    from .expr import Var

    def fn(n):
        if isinstance(n, Var):
            return mapping.get(n)
        return None
    return rewrite(node, fn)


def free_vars(node) -> set:
    """The Vars a node mentions."""
    from .expr import Var
    out = set()
    walk(node, lambda n: out.add(n) if isinstance(n, Var) else None)
    return out
