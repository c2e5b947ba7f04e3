"""Traversal of the IR: one base class with a method per node type, and shorthands.

    class CountLoads(Visitor):              class DropAsserts(Mutator):
        def __init__(self):                     def visit_Assert(self, s):
            self.n = 0                              return self.visit(s.body)
        def visit_Load(self, e):
            self.n += 1                     body = DropAsserts().visit(func.body)
            self.default(e)      # children

``Functor.visit(node, *args)`` calls ``visit_<NodeClass>(node, *args)`` (found
once per class), else ``default``.  A ``Visitor`` by default visits every
child; a ``Mutator`` rebuilds a node from its visited children, keeping the
node itself when no child changed.  Passes and printers subclass these and
write only the cases they care about.

Shorthands for one-line uses: ``rewrite(node, fn)`` rebuilds bottom-up, calling
``fn`` on each (possibly rebuilt) node, which returns a replacement or None;
``walk(node, fn)`` calls ``fn`` on every node, parents first.
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


class Functor:
    """visit(node, *args) -> visit_<type(node).__name__>(node, *args), else default."""

    def visit(self, node, *args):
        table = type(self).__dict__.get("_table")
        if table is None:
            table = {}
            type.__setattr__(type(self), "_table", table)
        fn = table.get(type(node))
        if fn is None:
            fn = table[type(node)] = getattr(type(self), f"visit_{type(node).__name__}",
                                             type(self).default)
        return fn(self, node, *args)

    def default(self, node, *args):
        raise NotImplementedError(f"{type(self).__name__} has no case for "
                                  f"{type(node).__name__}")


class Visitor(Functor):
    """Reads IR; by default visits each child node (IterVars and Buffers are leaves)."""

    def default(self, node, *args):
        for name in field_names(node):
            _each_node(getattr(node, name), lambda c: self.visit(c, *args))


class Mutator(Functor):
    """Rewrites IR; by default rebuilds a node from its visited children."""

    def default(self, node, *args):
        return map_children(node, lambda c: self.visit(c, *args))


def _each_node(v, fn) -> None:
    if isinstance(v, Node) and not isinstance(v, _LEAVES):
        fn(v)
    elif isinstance(v, tuple):
        for x in v:
            _each_node(x, fn)


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


class _PostOrder(Visitor):
    """post_order_visit's walker: children first, each node object once."""

    def __init__(self, fvisit):
        self.fvisit, self.seen = fvisit, set()

    def default(self, node):
        if id(node) in self.seen:
            return
        self.seen.add(id(node))
        Visitor.default(self, node)
        self.fvisit(node)

    def visit_CommReducer(self, node):
        # the reducer's own combine expression is a definition, not part of the IR
        # being walked (TVM's visitor does not enter it either)
        return None


def post_order_visit(node, fvisit) -> None:
    """Call fvisit on every statement and expression under node, node included,
    children before their parent and each node object once (TVM's
    tir.stmt_functor.post_order_visit).  A PrimFunc is walked through its body.

        seen = []
        oc.post_order_visit(func.body, lambda n: seen.append(type(n).__name__))
    """
    if not callable(fvisit):
        raise TypeError(f"post_order_visit: fvisit must be a callable, got {fvisit!r}")
    from .tir import PrimFunc
    if not isinstance(node, Node):
        raise TypeError(f"post_order_visit: node must be a statement or an expression, "
                        f"got {type(node).__name__}")
    _PostOrder(fvisit).visit(node.body if isinstance(node, PrimFunc) else node)
