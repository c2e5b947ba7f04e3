"""Canonical simplification of expressions and loop-IR statements.

Integer (int32/int64) add/sub/mul become a canonical sum of products (see
arith_poly), floordiv/floormod/min/max/compare use the loop ranges (see
arith_rules); every op on constants folds with NumPy semantics (arith_fold).
Float arithmetic is folded only when all operands are constant and never
reassociated.  Statements: known-true/false ifs resolve, loops of extent 0
vanish and loops of extent 1 become their body with var := min.

    simplify((x*4 + y) - x*4)                      ->  y
    simplify((i*8 + j)*2)                          ->  i*16 + j*2
    simplify((x*8 + y) // 8, {y: (0, 8)})          ->  x
    simplify(xo*32 + xi < 100, {xo: (0, 3), xi: (0, 32)})  ->  True

Identities deliberately left out: x*0 for floats (NaN, inf).  x + 0.0 -> x is
applied to floats too (it differs only in the sign of a zero result).
"""
from __future__ import annotations

from dataclasses import replace

from .. import dtype as dt
from ..ir import expr as E
from ..ir import tir as T
from .interval import Bounder, norm_ranges
from .fold import fold_binary, fold_call, fold_cast, fold_compare, fold_unary, int_range, wrap_int
from .poly import INDEX_DTYPES, build, order_key, to_poly
from .rules import IndexRules
from ..ir.expr import field_names
from ..ir.visit import map_children, rewrite, substitute

_EXACT = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "min": min, "max": max}
_NEGATE = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt", "eq": "ne", "ne": "eq"}


def _same_tree(a, b) -> bool:
    """Structural equality without hashing: results share most subtrees with
    their input, so the identity shortcut ends the walk early (E.same would
    hash every new node first)."""
    if a is b:
        return True
    if type(a) is not type(b) or isinstance(a, E.Var):
        return False
    for name in field_names(a):
        x, y = getattr(a, name), getattr(b, name)
        if x is y:
            continue
        if isinstance(x, E.Expr):
            if not _same_tree(x, y):
                return False
        elif isinstance(x, tuple):
            if len(x) != len(y) or not all(_same_tree(u, v) for u, v in zip(x, y)):
                return False
        elif isinstance(x, E.Node) or x != y or type(x) is not type(y):
            return False
    return True


def _cval(e):
    """The scalar value of a Const or a Broadcast of one, else None."""
    if isinstance(e, E.Const):
        return e.value
    if isinstance(e, E.Broadcast) and isinstance(e.value, E.Const):
        return e.value.value
    return None


def _splat(v, dtype: str) -> E.Expr:
    """A constant of dtype (a Broadcast for vector dtypes)."""
    n = dt.lanes(dtype)
    c = E.Const(v, dt.element(dtype))
    return c if n == 1 else E.Broadcast(c, n, dtype)


def _base(v):
    return v.base if isinstance(v, E.Ramp) else v.value


def _stride(v, el: str):
    return v.stride if isinstance(v, E.Ramp) else E.Const(0, el)


def _is_index_vec(e) -> bool:
    return dt.element(e.dtype) in INDEX_DTYPES


class Simplifier(IndexRules):
    """Simplifies expressions under fixed ranges; memoized per instance.

    Simplifier({x: (0, 8)}).expr(x // 8) -> 0
    """

    def __init__(self, ranges: dict, exact: bool = False):
        self.ranges = ranges
        # exact: int32/int64 constants fold as mathematical integers (for bound
        # expressions, which may exceed the dtype); else they wrap like NumPy.
        self.exact = exact
        self.bounds = Bounder(ranges)
        self.memo: dict = {}
        self._relaxer = self._pin_relaxer = None
        # symbolic loop ranges (for i in range(n)) need the slower symbolic bounds
        self.symbolic_vars = frozenset(
            v for v, (m, x) in ranges.items()
            if not (isinstance(m, E.Const) and isinstance(x, E.Const)))
        self.symbolic = bool(self.symbolic_vars)

    def expr(self, e: E.Expr) -> E.Expr:
        hit = self.memo.get(id(e))
        if hit is not None:
            return hit[1]
        fn = _RULES.get(type(e))
        r = fn(self, e) if fn is not None else self._other(e)
        if r is not e and _same_tree(r, e):
            r = e                             # keep identity when nothing changed
        self.memo[id(e)] = (e, r)
        if r is not e:                        # results are fixpoints
            self.memo.setdefault(id(r), (r, r))
        return r

    # -- arithmetic -------------------------------------------------------------
    def _binary(self, e):
        a, b = self.expr(e.a), self.expr(e.b)
        d = e.dtype
        if d in INDEX_DTYPES:
            r = self._index_binary(e.op, a, b, d)
        elif dt.lanes(d) > 1:
            r = self._vector_binary(e.op, a, b, d)
        else:
            r = self._fold_or_identity(e.op, a, b, d)
        if r is not None:
            return r
        return e if a is e.a and b is e.b else E.Binary(e.op, a, b, d)

    def _index_binary(self, op, a, b, d):
        if type(a) is E.Const and type(b) is E.Const:
            if self.exact and op in ("add", "sub", "mul", "min", "max"):
                return E.Const(_EXACT[op](a.value, b.value), d)
            return self._fold_or_identity(op, a, b, d)   # NumPy folding: wraps
        if op in ("add", "sub", "mul"):
            pa, pb = to_poly(a), to_poly(b)
            p = pa.plus(pb, 1 if op == "add" else -1) if op != "mul" else pa.times(pb)
            if p is None:                     # product too big to expand: one atom
                a, b = sorted((a, b), key=order_key)
                return E.Binary("mul", a, b, d)
            return self.finish_sum(p, d)
        if op in ("floordiv", "floormod"):
            return self.divmod_index(op, a, b, d)
        if op in ("min", "max"):
            return self.minmax_index(op, a, b, d)
        return self._fold_or_identity(op, a, b, d)

    def _fold_or_identity(self, op, a, b, d):
        ca, cb = _cval(a), _cval(b)
        if ca is not None and cb is not None:
            v = fold_binary(op, ca, cb, d)
            if v is not None:
                return _splat(v, d)
        return _identity(op, a, b, ca, cb, d)

    def _vector_binary(self, op, a, b, d):
        if isinstance(a, E.Broadcast) and isinstance(b, E.Broadcast):
            s = self.expr(E.Binary(op, a.value, b.value, dt.element(d)))
            return E.Broadcast(s, dt.lanes(d), d)
        if _is_index_vec(a) and (isinstance(a, E.Ramp) or isinstance(b, E.Ramp)):
            r = self._ramp_binary(op, a, b, d)
            if r is not None:
                return r
        return self._fold_or_identity(op, a, b, d)

    def _ramp_binary(self, op, a, b, d):
        """Ramp arithmetic stays a Ramp: ramp(x, 1, 4) + x4(y) -> ramp(x + y, 1, 4)."""
        n, el = dt.lanes(d), dt.element(d)
        if not all(isinstance(v, (E.Ramp, E.Broadcast)) for v in (a, b)):
            return None
        if op in ("add", "sub"):      # a Broadcast is a Ramp of stride 0
            return self._ramp(E.Binary(op, _base(a), _base(b), el),
                              E.Binary(op, _stride(a, el), _stride(b, el), el), n, d)
        if op == "mul" and isinstance(b, E.Broadcast):
            return self._ramp(E.Binary("mul", a.base, b.value, el),
                              E.Binary("mul", a.stride, b.value, el), n, d)
        if op == "mul" and isinstance(a, E.Broadcast):
            return self._ramp_binary(op, b, a, d)
        if op in ("floordiv", "floormod") and isinstance(b, E.Broadcast):
            return self._ramp_divmod(op, a, b.value, n, d)
        return None

    def _ramp(self, base, stride, n, d):
        return self.expr(E.Ramp(self.expr(base), self.expr(stride), n, d))

    def _ramp_divmod(self, op, r, c, n, d):
        """ramp(b, s, n) // c -> x(b // c) when all lanes share one quotient."""
        s = r.stride
        if _cval(c) is None or c.value <= 0 or not isinstance(s, E.Const) or s.value < 0:
            return None
        el = dt.element(d)
        first = self.expr(E.Binary("floordiv", r.base, c, el))
        last_idx = E.Binary("add", r.base, E.Const(s.value * (n - 1), el), el)
        if not E.same(first, self.expr(E.Binary("floordiv", last_idx, c, el))):
            return None
        if op == "floordiv":
            return E.Broadcast(first, n, d)
        return self._ramp(E.Binary("floormod", r.base, c, el), s, n, d)

    def _unary(self, e):
        a = self.expr(e.a)
        ca = _cval(a)
        if ca is not None and not (self.exact and e.dtype in INDEX_DTYPES):
            v = fold_unary(e.op, ca, dt.element(e.dtype))
            if v is not None:
                return _splat(v, e.dtype)
        if e.dtype in INDEX_DTYPES and e.op == "neg":
            return self.finish_sum(to_poly(a).scale(-1), e.dtype)
        if isinstance(a, E.Unary) and a.op == e.op:
            return a.a                        # --x == x, ~~x == x, !!x == x
        if e.op == "not" and isinstance(a, E.Compare) and a.a.dtype in INDEX_DTYPES:
            return self.expr(E.Compare(_NEGATE[a.op], a.a, a.b, a.dtype))
        return e if a is e.a else E.Unary(e.op, a, e.dtype)

    def _compare(self, e):
        a, b = self.expr(e.a), self.expr(e.b)
        ca, cb = _cval(a), _cval(b)
        if ca is not None and cb is not None:
            return _splat(fold_compare(e.op, ca, cb), e.dtype)
        if a.dtype in INDEX_DTYPES:
            return self.compare_index(e.op, a, b)
        return e if a is e.a and b is e.b else E.Compare(e.op, a, b, e.dtype)

    def _select(self, e):
        c = self.expr(e.cond)
        cv = _cval(c)
        if cv is not None:
            return self.expr(e.a if cv else e.b)
        a, b = self.expr(e.a), self.expr(e.b)
        if E.same(a, b):
            return a
        if c is e.cond and a is e.a and b is e.b:
            return e
        return E.Select(c, a, b, e.dtype)

    def _cast(self, e):
        v = self.expr(e.value)
        if v.dtype == e.dtype:
            return v
        cv = _cval(v)
        if cv is not None:
            r = fold_cast(cv, v.dtype, dt.element(e.dtype))
            if r is not None:
                return _splat(r, e.dtype)
        if isinstance(v, E.Cast) and _roundtrip(v.value.dtype, v.dtype, e.dtype):
            return v.value                    # int32 -> int64 -> int32 is the identity
        return e if v is e.value else E.Cast(v, e.dtype)

    def _call(self, e):
        args = tuple(self.expr(a) for a in e.args)
        vals = [_cval(a) for a in args]
        if all(v is not None for v in vals) and dt.lanes(e.dtype) == 1:
            v = fold_call(e.name, tuple(vals), e.dtype)
            if v is not None:
                return E.Const(v, e.dtype)
        if all(x is y for x, y in zip(args, e.args)):
            return e
        return E.Call(e.name, args, e.dtype)

    # -- vectors, memory, reductions -----------------------------------------------
    def _ramp_node(self, e):
        base, stride = self.expr(e.base), self.expr(e.stride)
        if _cval(stride) == 0:
            return E.Broadcast(base, e.lanes, e.dtype)
        if base is e.base and stride is e.stride:
            return e
        return E.Ramp(base, stride, e.lanes, e.dtype)

    def _broadcast(self, e):
        v = self.expr(e.value)
        return e if v is e.value else E.Broadcast(v, e.lanes, e.dtype)

    def _indexed(self, e):
        idx = tuple(self.expr(i) for i in e.indices)
        if all(x is y for x, y in zip(idx, e.indices)):
            return e
        return replace(e, indices=idx)

    def _reduce(self, e):
        inner = dict(self.ranges)
        inner.update({ax.var: (ax.min, ax.extent) for ax in e.axes})
        s = Simplifier(norm_ranges(inner))
        src = s.expr(e.source)
        cond = s.expr(e.condition) if e.condition is not None else None
        if _cval(cond) is True:
            cond = None
        if src is e.source and cond is e.condition:
            return e
        return replace(e, source=src, condition=cond)

    def _other(self, e):
        return map_children(e, lambda n: self.expr(n) if isinstance(n, E.Expr) else n)


def _identity(op, a, b, ca, cb, d):
    """x + 0, x * 1, x // 1, b && True, min(x, x)... or None.

    x * 0 -> 0 only for ints and bools: for floats NaN * 0 and inf * 0 are NaN.
    """
    zero_a, zero_b = ca is not None and ca == 0, cb is not None and cb == 0
    one_a, one_b = ca is not None and ca == 1, cb is not None and cb == 1
    if dt.is_bool(d) and op in _LOGICAL:
        return _bool_identity(_LOGICAL[op], a, b, ca, cb, d)
    if op in ("add", "or", "xor") and (zero_a or zero_b):
        return b if zero_a else a
    if op == "sub" and zero_b:
        return a
    if op == "mul" and (one_a or one_b):
        return b if one_a else a
    if op in ("mul", "and") and (zero_a or zero_b) and not dt.is_float(d):
        return _splat(0, d)
    if op == "div" and one_b:
        return a
    if op in ("floordiv", "floormod") and one_b and dt.is_int(d):
        return a if op == "floordiv" else _splat(0, d)
    if op in ("min", "max", "and", "or") and E.same(a, b):
        return a
    return None


# NumPy's bool arithmetic is logical: + and max are or, * and min are and.
_LOGICAL = {"and": "and", "mul": "and", "min": "and", "or": "or", "add": "or",
            "max": "or", "xor": "xor"}


def _bool_identity(op, a, b, ca, cb, d):
    for x, cx, other in ((a, ca, b), (b, cb, a)):
        if cx is None:
            continue
        if op == "and":
            return other if cx else _splat(False, d)
        if op == "or":
            return _splat(True, d) if cx else other
        if not cx:                            # xor False
            return other
    if E.same(a, b):
        return _splat(False, d) if op == "xor" else a
    return None


def _roundtrip(src: str, mid: str, dst: str) -> bool:
    """Casting src -> mid -> dst is the identity (dst == src, mid holds every src value)."""
    if src != dst or dt.is_float(src) or dt.is_float(mid):
        return False
    if dt.is_bool(src) or dt.bits(mid) == dt.bits(src):
        return True                           # same width: a bijection
    wider = dt.bits(mid) > dt.bits(src)
    return wider and (dt.is_signed(mid) or not dt.is_signed(src))


def _const(self, e):
    """A small-int Const built directly out of its dtype's range wraps like NumPy."""
    v = e.value
    if type(v) is int and e.dtype not in INDEX_DTYPES and dt.is_int(e.dtype):
        w = wrap_int(v, e.dtype)
        return e if w == v else E.Const(w, e.dtype)
    return e


_RULES = {
    E.Const: _const,
    E.Var: lambda self, e: e,
    E.Binary: Simplifier._binary,
    E.Unary: Simplifier._unary,
    E.Compare: Simplifier._compare,
    E.Select: Simplifier._select,
    E.Cast: Simplifier._cast,
    E.Call: Simplifier._call,
    E.Ramp: Simplifier._ramp_node,
    E.Broadcast: Simplifier._broadcast,
    E.Load: Simplifier._indexed,
    E.TensorRead: Simplifier._indexed,
    E.Reduce: Simplifier._reduce,
}


# ---------------------------------------------------------------------------
# statements
# ---------------------------------------------------------------------------

def _stmt(s, simp: Simplifier):
    fn = _STMT_RULES.get(type(s))
    return fn(s, simp) if fn is not None else map_children(
        s, lambda n: simp.expr(n) if isinstance(n, E.Expr) else _stmt(n, simp)
        if isinstance(n, T.Stmt) else n)


def _for(s: T.For, simp: Simplifier):
    mn, ext = simp.expr(s.min), simp.expr(s.extent)
    n = _cval(ext)
    if n is not None and n <= 0:
        return T.Nop()
    if n == 1 and s.kind != "thread":     # a bound thread axis keeps its launch shape
        return _stmt(bind_loop_var(s.body, s.var, mn), simp)
    inner = dict(simp.ranges)
    inner[s.var] = (mn, ext)
    body = _stmt(s.body, Simplifier(inner))
    if isinstance(body, T.Nop):
        return body
    if mn is s.min and ext is s.extent and body is s.body:
        return s
    return replace(s, min=mn, extent=ext, body=body)


def bind_loop_var(body: T.Stmt, var: E.Var, value: E.Expr) -> T.Stmt:
    """body of a one-iteration loop with var := value, allocation sizes included.

    An allocation sized by the loop var (alloc float32[16 - k] inside the k
    loop) gets a new Buffer of the substituted size, and its accesses follow:
    substituting expressions alone would leave k in the Buffer's shape, out of
    its scope.
    """
    resized = {}
    _resize_allocs(body, var, value, resized)
    if not resized:
        return substitute(body, {var: value})

    def fn(n):
        if isinstance(n, E.Var):
            return value if n is var else None
        if isinstance(n, (T.Allocate, T.Store, E.Load)) and n.buffer in resized:
            return replace(n, buffer=resized[n.buffer])
        return None
    return rewrite(body, fn)


def _resize_allocs(s, var, value, out: dict) -> None:
    """out[buffer] = the buffer with var := value in its shape, for each Allocate
    in s (statements only: shapes live there) whose shape mentions var."""
    if isinstance(s, T.Allocate):
        shape = tuple(substitute(x, {var: value}) for x in s.buffer.shape)
        if any(a is not b for a, b in zip(shape, s.buffer.shape)):
            b = s.buffer
            shape = tuple(simplify_expr(x) for x in shape)
            out[b] = T.Buffer(b.name, b.dtype, shape, b.scope)
    for name in field_names(s):
        c = getattr(s, name)
        for x in (c if isinstance(c, tuple) else (c,)):
            if isinstance(x, T.Stmt):
                _resize_allocs(x, var, value, out)


def _if(s: T.IfThenElse, simp: Simplifier):
    c = simp.expr(s.cond)
    cv = _cval(c)
    if cv is not None:
        branch = s.then_case if cv else s.else_case
        return _stmt(branch, simp) if branch is not None else T.Nop()
    then = _stmt(s.then_case, simp)
    other = _stmt(s.else_case, simp) if s.else_case is not None else None
    if isinstance(other, T.Nop):
        other = None
    if isinstance(then, T.Nop) and other is None:
        return then
    if c is s.cond and then is s.then_case and other is s.else_case:
        return s
    return T.IfThenElse(c, then, other)


def _seq(s: T.Seq, simp: Simplifier):
    parts = [_stmt(x, simp) for x in s.stmts]
    if all(x is y and not isinstance(x, T.Nop) for x, y in zip(parts, s.stmts)):
        return s
    return T.seq(*parts)


def _store(s: T.Store, simp: Simplifier):
    idx = tuple(simp.expr(i) for i in s.indices)
    v = simp.expr(s.value)
    if v is s.value and all(x is y for x, y in zip(idx, s.indices)):
        return s
    return T.Store(s.buffer, idx, v)


def _let(s: T.LetStmt, simp: Simplifier):
    v = simp.expr(s.value)
    lo, hi = simp.bounds.of(v)
    inner = simp
    if lo != -float("inf") and hi != float("inf") and dt.is_int(s.var.dtype):
        # the let var ranges over its value's bounds: later rules can use them
        rng = dict(simp.ranges)
        rng[s.var] = (E.Const(int(lo), s.var.dtype), E.Const(int(hi - lo + 1), s.var.dtype))
        inner = Simplifier(rng)
    body = _stmt(s.body, inner)
    return s if v is s.value and body is s.body else T.LetStmt(s.var, v, body)


def _assert(s: T.Assert, simp: Simplifier):
    c = simp.expr(s.cond)
    if _cval(c) is True:
        return _stmt(s.body, simp)
    body = _stmt(s.body, simp)
    return s if c is s.cond and body is s.body else T.Assert(c, s.message, body)


def _allocate(s: T.Allocate, simp: Simplifier):
    body = _stmt(s.body, simp)
    if isinstance(body, T.Nop):
        return body
    return s if body is s.body else T.Allocate(s.buffer, body)


_STMT_RULES = {
    T.For: _for, T.IfThenElse: _if, T.Seq: _seq, T.Store: _store, T.LetStmt: _let,
    T.Assert: _assert, T.Allocate: _allocate,
    T.Nop: lambda s, simp: s, T.Barrier: lambda s, simp: s,
}


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------

def _with_sizes(ranges: dict, size_vars) -> dict:
    """Shape sizes are never negative: n in [0, dtype max) unless ranges say more.

    Lets max(n // 4, 0) become n // 4 in a PrimFunc's loop extents.
    """
    for v in size_vars:
        if dt.is_int(v.dtype) and v not in ranges:
            ranges[v] = (E.Const(0, v.dtype), E.Const(int_range(v.dtype)[1], v.dtype))
    return ranges


def simplify_expr(e, ranges=None) -> E.Expr:
    """Simplify one expression under ranges {var: (min, extent)}.

    simplify_expr(x + 1 + 2) -> x + 3;  simplify_expr(x % 8, {x: (0, 8)}) -> x
    """
    return Simplifier(norm_ranges(ranges)).expr(E.as_expr(e))


def simplify(node, ranges=None):
    """Simplify an Expr, a Stmt (loop ranges are used inside each For) or a PrimFunc
    (whose size_vars are known to be >= 0).

    simplify(For(i, 0, 1, "serial", Store(B, (i*2,), x)))  ->  Store(B, (0,), x)
    Returns node itself when nothing changed.
    """
    if isinstance(node, (E.Expr, int, float, bool)):
        return simplify_expr(node, ranges)
    if isinstance(node, T.Stmt):
        return _stmt(node, Simplifier(norm_ranges(ranges)))
    if isinstance(node, T.PrimFunc):
        body = _stmt(node.body, Simplifier(_with_sizes(norm_ranges(ranges), node.size_vars)))
        return node if body is node.body else replace(node, body=body)
    raise TypeError(f"simplify: expected an Expr, Stmt or PrimFunc, got {type(node).__name__}")
