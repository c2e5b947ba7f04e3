"""Reference semantics: NumPy evaluation of expression trees, a float64
interpreter of te computations, and the comparisons.

Expression trees (gen_expr.Node) are evaluated with NumPy in the same dtypes
opcomp computes in, so NumPy's promotion decides every dtype.  Alongside each
value the evaluator carries an absolute error bound: how far a correct
compiler may legitimately land from NumPy's bits.  Sources of legitimate
difference are FMA contraction (allowed by design), float16 arithmetic done
in float32, and transcendental approximations (a few ulps); each float op adds
a local slack of ulps of its result and propagates its operands' bounds
(interval arithmetic, with monotone functions evaluated at the interval's
ends).  Where a bound reaches a discontinuity (floor, //, %, a comparison, a
cast to int or bool) the element's exact value is not determined by the
tolerance and it is marked fragile (bound = inf): it is skipped, and counted.
Integers are exact: an integer element is either exact or fragile.
"""
from __future__ import annotations

import math

import numpy as np

from .gen_expr import CMP_SYM, NP_HELPERS, clip_bounds

ULP = {"float16": 2.0 ** -11, "float32": 2.0 ** -24, "float64": 2.0 ** -53}
RTOL = {"float16": 1e-2, "float32": 2e-6, "float64": 1e-12}
ATOL = {"float16": 1e-4, "float32": 2e-38, "float64": 3e-308}   # subnormal range
K_MATH = 8                        # ulps allowed to an intrinsic's implementation
_HELP: dict = {"np": np, "math": math}
exec(NP_HELPERS, _HELP)           # _sigmoid, _erf: the same code the reproducers print

BIN_UFUNC = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
             "floordiv": np.floor_divide, "mod": np.remainder, "and": np.bitwise_and,
             "or": np.bitwise_or, "xor": np.bitwise_xor, "shl": np.left_shift,
             "shr": np.right_shift, "truncdiv": lambda a, b: _HELP["_tdiv"](a, b),
             "truncmod": lambda a, b: _HELP["_tmod"](a, b)}
CMP_UFUNC = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
             "eq": np.equal, "ne": np.not_equal}
FN1 = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "abs": np.abs,
       "floor": np.floor, "ceil": np.ceil, "rsqrt": lambda x: 1 / np.sqrt(x),
       "sigmoid": lambda x: _HELP["_sigmoid"](x), "erf": lambda x: _HELP["_erf"](x),
       "popcount": lambda x: _HELP["_popcount"](x)}
assert set(CMP_SYM) == set(CMP_UFUNC)


# ---------------------------------------------------------------------------
# expression trees: value and error bound
# ---------------------------------------------------------------------------

def evaluate(node, inputs: dict, memo: dict | None = None):
    """(value, error bound) of a gen_expr.Node over the input arrays."""
    memo = {} if memo is None else memo
    hit = memo.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    args = [evaluate(a, inputs, memo) for a in node.args]
    n = len(next(iter(inputs.values())))
    with np.errstate(all="ignore"):
        val, err = _EVAL[node.kind](node, args, inputs, n)
    if node.kind not in _LAZY:      # select handles its arms itself: only one is taken
        for _, e in args:           # a fragile operand makes a fragile result
            err = np.where(np.isinf(e), np.inf, err)
    memo[id(node)] = (node, (val, err))
    return val, err


def _is_float(v) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind == "f"


def _f64(v):
    return np.asarray(v, dtype=np.float64)


def _mag(v):
    """|v| where finite, else 0: slack is relative to finite results only."""
    a = np.abs(_f64(v))
    return np.where(np.isfinite(a), a, 0.0)


def _exact_or_fragile(*errs):
    """An integer/bool result: exact where every operand is, else fragile."""
    total = sum(np.asarray(e, np.float64) for e in errs)
    return np.where(total > 0, np.inf, 0.0)


def _clean(err, *in_errs):
    """NaN bounds (inf * 0 ...): 0 where the operands are exact, else fragile."""
    err = np.asarray(err, np.float64)
    if not np.isnan(err).any():
        return err
    exact = _exact_or_fragile(*in_errs) == 0 if in_errs else True
    return np.where(np.isnan(err), np.where(exact, 0.0, np.inf), err)


def _e_read(node, args, inputs, n):
    return inputs[node.op], np.zeros(n)


def _e_scalar(node, args, inputs, n):
    return node.value, 0.0


def _e_const(node, args, inputs, n):
    return np.full(n, node.value, dtype=node.dtype), np.zeros(n)


def _e_bin(node, args, inputs, n):
    (a, ea), (b, eb) = args
    r = BIN_UFUNC[node.op](a, b)
    if not _is_float(r):
        return r, _exact_or_fragile(ea, eb)
    # Both NumPy's result and a correct compiler's are rounded, from real values
    # that differ by the operands' bounds (contraction moves them): two half-ulps.
    u = 2 * ULP[r.dtype.name]
    if node.op in ("add", "sub", "mul", "div"):
        # An exact result leaves no room for contraction or extra precision to differ.
        u = u * _inexact(BIN_UFUNC[node.op], a, b, r)
    fn = {"add": _err_add, "sub": _err_add, "mul": _err_mul, "div": _err_div,
          "floordiv": _err_floordiv, "mod": _err_mod}[node.op]
    return r, _clean(fn(_f64(a), ea, _f64(b), eb, r, u), ea, eb)


def _inexact(fn, a, b, r) -> np.ndarray:
    """1.0 where r is not the exact result of fn(a, b) (checked in wider precision)."""
    wide = np.longdouble if r.dtype == np.float64 else np.float64
    exact = fn(np.asarray(a).astype(wide), np.asarray(b).astype(wide))
    same = (r.astype(wide) == exact) | (np.isnan(exact) & np.isnan(r))
    return np.where(same, 0.0, 1.0)


def _err_add(a, ea, b, eb, r, u):
    return ea + eb + u * _mag(r)


def _err_mul(a, ea, b, eb, r, u):
    return np.abs(a) * eb + np.abs(b) * ea + ea * eb + u * _mag(r)


def _div_prop(a, ea, b, eb):
    """How far a / b moves when a and b move within their bounds."""
    ab = np.abs(b)
    prop = (np.abs(a) * eb + ab * ea) / (ab * (ab - eb))
    return np.where(eb > 0, np.where(eb >= ab, np.inf, prop), np.where(ea > 0, ea / ab, 0.0))


def _err_div(a, ea, b, eb, r, u):
    return _div_prop(a, ea, b, eb) + u * _mag(r)


def _quotient_fragile(a, ea, b, eb, u):
    """Where floor(a / b) is not pinned down: an error interval or a rounding
    of a non-integer quotient onto an integer (NumPy uses fmod, not a / b)."""
    x = a / b
    ex = _div_prop(a, ea, b, eb)
    # beyond 1/u every float is an integer and floor is continuous enough
    near = (np.fmod(a, b) != 0) & (np.abs(x - np.round(x)) <= 4 * u * np.abs(x)) & \
        (np.abs(x) < 1 / u)
    moved = (ex > 0) & (np.floor(x - ex) != np.floor(x + ex))
    return near | moved | np.isnan(ex)


def _err_floordiv(a, ea, b, eb, r, u):
    frag = _quotient_fragile(a, ea, b, eb, u)
    return np.where(frag, np.inf, 2 * u * _mag(r))


def _err_mod(a, ea, b, eb, r, u):
    frag = _quotient_fragile(a, ea, b, eb, u)
    q = np.floor(a / b)
    err = ea + _mag(q) * eb + 2 * u * (_mag(b) + _mag(r))
    return np.where(frag, np.inf, err)


def _e_cmp(node, args, inputs, n):
    (a, ea), (b, eb) = args
    r = CMP_UFUNC[node.op](a, b)
    e = np.asarray(ea, np.float64) + eb
    close = np.abs(_f64(a) - _f64(b)) <= e
    return r, np.where((e > 0) & (close | np.isnan(e)), np.inf, 0.0)


def _e_fn2(node, args, inputs, n):
    (a, ea), (b, eb) = args
    if node.op in ("maximum", "minimum"):
        r = getattr(np, node.op)(a, b)
        if not _is_float(r):
            return r, _exact_or_fragile(ea, eb)
        return r, np.maximum(ea, eb)
    r = _HELP["_pow"](a, b)
    if not _is_float(r):
        return r, _exact_or_fragile(ea, eb)
    return r, _clean(_err_pow(_f64(a), ea, _f64(b), eb, r), ea, eb)


def _err_pow(a, ea, b, eb, r):
    """pow is monotone in each argument on its domain: the box's corners (and
    base 0 when the base interval crosses it) bound the value."""
    center = np.power(a, b)
    corners = [np.power(a + sa * ea, b + sb * eb) for sa in (-1, 1) for sb in (-1, 1)]
    if np.any(ea > 0):
        corners.append(np.where((a - ea <= 0) & (a + ea >= 0), np.power(0.0, b), center))
    prop = np.max([np.abs(c - center) for c in corners], axis=0)
    inexact = (np.asarray(ea) + eb) > 0
    prop = np.where(inexact, prop, 0.0)
    prop = np.where(inexact & np.isnan(prop) & ~np.isnan(center), np.inf, prop)
    return prop + K_MATH * ULP[r.dtype.name] * _mag(r)


def _e_un(node, args, inputs, n):
    (a, ea), = args
    r = np.negative(a) if node.op == "neg" else np.invert(a)
    return r, (ea if _is_float(r) else _exact_or_fragile(ea))


def _e_fn1(node, args, inputs, n):
    (a, ea), = args
    r = FN1[node.op](a)
    if not _is_float(r):
        return r, _exact_or_fragile(ea)
    a = _f64(a)
    if node.op == "abs":
        return r, ea
    if node.op in ("floor", "ceil"):
        f = getattr(np, node.op)
        return r, np.where((ea > 0) & (f(a - ea) != f(a + ea)), np.inf, 0.0)
    return r, _err_monotone(FN1[node.op], a, ea, r)


def _err_monotone(f, a, ea, r):
    """A monotone function's error from its operand's interval, plus K ulps.
    NaN is a stable answer when the whole interval is outside the domain."""
    center, lo, hi = f(a), f(a - ea), f(a + ea)
    prop = np.maximum(np.abs(lo - center), np.abs(hi - center))
    inexact = np.asarray(ea) > 0
    all_nan = np.isnan(center) & np.isnan(lo) & np.isnan(hi)
    prop = np.where(inexact & ~all_nan, prop, 0.0)
    prop = np.where(inexact & np.isnan(prop), np.inf, prop)
    return prop + K_MATH * ULP[r.dtype.name] * _mag(r)


def _e_cast(node, args, inputs, n):
    (a, ea), = args
    r = a.astype(node.value)
    if _is_float(a) and node.value == "bool":
        return r, np.where((ea > 0) & (np.abs(a) <= ea), np.inf, 0.0)
    if _is_float(r):
        if not _is_float(a):
            return r, _exact_or_fragile(ea)
        return r, np.where(ea > 0, ea + ULP[r.dtype.name] * _mag(r), 0.0)
    return r, _exact_or_fragile(ea)


def _e_clipcast(node, args, inputs, n):
    (a, ea), = args
    lo, hi = clip_bounds(a.dtype.name, node.value)

    def clip(x):
        return np.minimum(np.maximum(np.where(x == x, x, 0.0), lo), hi)
    r = _HELP["_np_clipcast"](a, lo, hi, node.value)
    a = _f64(a)
    moved = (ea > 0) & (np.trunc(clip(a - ea)) != np.trunc(clip(a + ea)))
    return r, np.where(moved | (np.isnan(a) & (ea > 0)), np.inf, 0.0)


def _e_select(node, args, inputs, n):
    (c, ec), (a, ea), (b, eb) = args
    r = np.where(c, a, b)
    err = np.where(c, ea, eb)
    return r, np.where(np.asarray(ec) > 0, np.inf, err)


def _e_shifted(node, args, inputs, n):
    """X[i + d] where in range (exact), else the fallback (with its bound)."""
    (fb, efb), = args
    x, d = inputs[node.op], node.value
    i = np.arange(len(x))
    ok = (i + d >= 0) & (i + d < len(x))
    r = _HELP["_shifted"](x, d, fb)
    return r, np.where(ok, 0.0, np.broadcast_to(np.asarray(efb, np.float64), (len(x),)))


_LAZY = ("select", "ite", "shifted")
_EVAL = {"read": _e_read, "scalar": _e_scalar, "const": _e_const, "bin": _e_bin,
         "cmp": _e_cmp, "fn2": _e_fn2, "un": _e_un, "fn1": _e_fn1, "cast": _e_cast,
         "clipcast": _e_clipcast, "select": _e_select, "ite": _e_select,
         "shifted": _e_shifted}


# ---------------------------------------------------------------------------
# comparisons
# ---------------------------------------------------------------------------

def expr_mismatches(got: np.ndarray, ref: np.ndarray, err) -> tuple:
    """(indices where got is wrong, elements checked, elements skipped as fragile)."""
    ref = np.broadcast_to(ref, got.shape)
    err = np.broadcast_to(np.asarray(err, np.float64), got.shape)
    checked = np.isfinite(err)
    if got.dtype.kind != "f":
        bad = checked & (got != ref)
    else:
        d = got.dtype.name
        g, r = got.astype(np.float64), ref.astype(np.float64)
        both_nan = np.isnan(g) & np.isnan(r)
        with np.errstate(invalid="ignore"):
            close = np.abs(g - r) <= err + RTOL[d] * np.abs(r) + ATOL[d]
        bad = checked & ~(both_nan | (g == r) | close)
    return np.flatnonzero(bad), int(checked.sum()), int((~checked).sum())


def allclose_report(got, ref, rtol, atol) -> str | None:
    """None when got matches ref (NaN == NaN), else a short description."""
    got = np.asarray(got)
    g, r = got.astype(np.float64), np.asarray(ref).astype(np.float64)
    if g.shape != r.shape:
        return f"shape {g.shape} != {r.shape}"
    with np.errstate(invalid="ignore"):
        ok = (np.isnan(g) & np.isnan(r)) | (g == r) | (np.abs(g - r) <= atol + rtol * np.abs(r))
    if ok.all():
        return None
    idx = np.argwhere(~ok)
    k = tuple(int(x) for x in idx[0])
    return f"{len(idx)} of {ok.size} elements differ; first at {k}: got {g[k]!r}, expected {r[k]!r}"


# ---------------------------------------------------------------------------
# te computations: a float64 interpreter
# ---------------------------------------------------------------------------

class TeInterpreter:
    """Evaluates te tensors with NumPy, floats in float64, ints in int64.

    Each ComputeOp is evaluated over a broadcast index grid: one array
    dimension per data axis, then one per reduce axis.
    """

    def __init__(self, feeds: dict):
        self.values = {}
        self.feeds = feeds          # placeholder name -> array

    def tensor(self, t) -> np.ndarray:
        from opcomp.te import PlaceholderOp
        if t.op not in self.values:
            if isinstance(t.op, PlaceholderOp):
                v = np.asarray(self.feeds[t.name])
                self.values[t.op] = v.astype(np.float64) if v.dtype.kind == "f" else v
            else:
                self.values[t.op] = self._compute(t.op)
        return self.values[t.op]

    def _compute(self, op):
        from opcomp.ir import expr as E
        shape = tuple(int(iv.extent.value) for iv in op.axis)
        body = op.bodies[0]
        axes = list(op.axis) + (list(body.axes) if isinstance(body, E.Reduce) else [])
        env = {}
        for k, iv in enumerate(axes):
            lo = int(iv.min.value)
            dims = [1] * len(axes)
            dims[k] = int(iv.extent.value)
            env[iv.var] = np.arange(lo, lo + dims[k]).reshape(dims)
        with np.errstate(all="ignore"):
            v = self._reduce(body, env, len(op.axis), op.dtype) if isinstance(body, E.Reduce) \
                else self.expr(body, env)
        v = np.broadcast_to(np.asarray(v), shape + (1,) * (np.ndim(v) - len(shape)))
        return np.array(v.reshape(shape), dtype=_host_dtype(op.dtype))

    def _reduce(self, red, env, ndata, dtype):
        from opcomp.te import reduce_identity
        src = self.expr(red.source, env)
        full = np.broadcast_shapes(*[np.shape(x) for x in env.values()])
        src = np.broadcast_to(np.asarray(src, _host_dtype(dtype)), full)
        if red.condition is not None:
            ident = reduce_identity(red.combiner, dtype).value
            src = np.where(self.expr(red.condition, env), src, ident)
        axes = tuple(range(ndata, len(full)))
        out = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}[red.combiner](
            src, axis=axes)
        if red.init is None:
            return out
        # init= replaces the identity: combined once with the reduction over the axes
        init = np.broadcast_to(np.asarray(self.expr(red.init, env), _host_dtype(dtype)), full)
        init = init[(slice(None),) * ndata + (0,) * len(axes)]
        return {"sum": np.add, "prod": np.multiply, "max": np.maximum,
                "min": np.minimum}[red.combiner](init, out)

    def expr(self, e, env):
        fn = getattr(self, "_" + type(e).__name__, None)
        if fn is None:
            raise TypeError(f"interpreter: no rule for {type(e).__name__}: {e}")
        return fn(e, env)

    def _Const(self, e, env):
        return np.asarray(e.value, _host_dtype(e.dtype))

    def _Var(self, e, env):
        return env[e]

    def _Binary(self, e, env):
        a, b = self.expr(e.a, env), self.expr(e.b, env)
        if e.op in ("floordiv", "floormod") and e.dtype[0] in "iu":
            safe = np.where(b == 0, 1, b)
            r = (a // safe) if e.op == "floordiv" else (a % safe)
            return np.where(b == 0, 0, r)
        return _TE_BIN[e.op](a, b)

    def _Unary(self, e, env):
        a = self.expr(e.a, env)
        return np.negative(a) if e.op == "neg" else np.invert(a)

    def _Compare(self, e, env):
        return CMP_UFUNC[e.op](self.expr(e.a, env), self.expr(e.b, env))

    def _Select(self, e, env):
        return np.where(self.expr(e.cond, env), self.expr(e.a, env), self.expr(e.b, env))

    def _Cast(self, e, env):
        return np.asarray(self.expr(e.value, env)).astype(_host_dtype(e.dtype))

    def _Call(self, e, env):
        args = [np.asarray(self.expr(a, env), np.float64) for a in e.args]
        if e.name == "pow":
            return np.power(*args)
        if e.name == "popcount":
            return _HELP["_popcount"](np.asarray(self.expr(e.args[0], env)))
        return FN1[e.name](args[0])

    def _TensorRead(self, e, env):
        data = self.tensor(e.tensor)
        idx = [np.asarray(self.expr(i, env)) for i in e.indices]
        for k, (i, s) in enumerate(zip(idx, data.shape)):
            if i.size and (i.min() < 0 or i.max() >= s):
                raise IndexError(f"computation reads {e.tensor.name} out of bounds "
                                 f"(dim {k}: [{i.min()}, {i.max()}] vs extent {s})")
        return data[tuple(idx)]


_TE_BIN = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
           "min": np.minimum, "max": np.maximum, "and": np.bitwise_and,
           "or": np.bitwise_or, "xor": np.bitwise_xor,
           "floordiv": np.floor_divide, "floormod": np.remainder,
           "shl": np.left_shift, "shr": np.right_shift,
           "truncdiv": lambda a, b: _HELP["_tdiv"](a, b),
           "truncmod": lambda a, b: _HELP["_tmod"](a, b)}


def _host_dtype(dtype: str):
    """float64 for floats, int64 for ints: the interpreter's working precision."""
    if dtype.startswith("float"):
        return np.float64
    return np.bool_ if dtype == "bool" else np.int64


# ---------------------------------------------------------------------------
# index expressions: Python ints
# ---------------------------------------------------------------------------

def eval_index(e, env: dict):
    """Python-int value of an index expression (floor division; x // 0 == 0)."""
    from opcomp.ir import expr as E
    if isinstance(e, E.Const):
        return e.value
    if isinstance(e, E.Var):
        return env[e]
    if isinstance(e, E.Cast):
        v = eval_index(e.value, env)
        return bool(v) if e.dtype == "bool" else int(v)
    if isinstance(e, E.Select):
        return eval_index(e.a, env) if eval_index(e.cond, env) else eval_index(e.b, env)
    if isinstance(e, E.Unary):
        v = eval_index(e.a, env)
        return -v if e.op == "neg" else (not v if e.dtype == "bool" else ~v)
    a, b = eval_index(e.a, env), eval_index(e.b, env)
    return _PY_OPS[e.op](a, b)


_PY_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b if b else 0, "floormod": lambda a, b: a % b if b else 0,
    "min": min, "max": max, "and": lambda a, b: a and b, "or": lambda a, b: a or b,
    "xor": lambda a, b: a != b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
}


def simplify_failure(e, ranges, points) -> str | None:
    """Why simplify_expr is wrong on e (None if it is right): a value changed at
    a point, the dtype changed, a second simplify changed the result, or it raised."""
    from opcomp.ir.expr import same
    from opcomp.arith.simplify import simplify_expr
    try:
        r = simplify_expr(e, ranges)
        again = simplify_expr(r, ranges)
    except Exception as exc:              # noqa: BLE001 - any exception is the finding
        return f"simplify raised {type(exc).__name__}: {exc}"
    if r.dtype != e.dtype:
        return f"dtype changed: {e.dtype} -> {r.dtype} ({r})"
    for env in points:
        want, got = eval_index(e, env), eval_index(r, env)
        if want != got:
            where = ", ".join(f"{v.name}={x}" for v, x in env.items())
            return f"value changed at {where}: {want} -> {got}; simplified: {r}"
    if not same(again, r):
        return f"not idempotent: {r} -> {again}"
    return None
