"""Random typed tensor expressions and random index expressions.

An expression case is a small tree of `Node`s over element reads of a fixed
set of inputs (two per dtype: ``X_int8[i]``, ``Y_int8[i]``, ...).  The same
tree prints as opcomp source (``oc_src``) and as NumPy source (``np_src``);
the oracle evaluates it with NumPy (see oracle.evaluate).  The generator
never decides a dtype itself: every candidate node is evaluated with NumPy on
the real inputs, so the tree's dtypes are NumPy's, and a combination NumPy
rejects (bool - bool, int ** negative int, ...) is simply not generated.

Undefined behaviour is kept out by construction: a float reaches an integer
type only through ``clipcast`` (NaN -> 0, clip to the target range, then
astype), an atomic node the minimizer never takes apart.

The second half generates integer index expressions for the simplifier and
evaluates them with Python ints (floor division, x // 0 == 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOATS = ("float16", "float32", "float64")
N_ELEMS = 64                       # elements per input; small keeps builds cheap
BIN_SYM = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//",
           "mod": "%", "and": "&", "or": "|", "xor": "^"}
CMP_SYM = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
MATH1 = ("exp", "log", "sqrt", "rsqrt", "tanh", "erf", "sigmoid", "abs", "floor", "ceil",
         "popcount")
# Integer operators printed as calls: opcomp's public name, the NumPy reference's.
INT_FN = {"shl": ("oc.shift_left", "np.left_shift"), "shr": ("oc.shift_right", "np.right_shift"),
          "truncdiv": ("oc.truncdiv", "_tdiv"), "truncmod": ("oc.truncmod", "_tmod")}
SHIFTS = (-2, -1, 1, 2)           # offsets of reads that only a guarding select keeps in bounds
# Float -> int clip bounds that every source float dtype represents exactly.
CLIP = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32000, 32000),
        "uint16": (0, 65000), "uint32": (0, 2 ** 31), "uint64": (0, 2 ** 62),
        "int32": (-2 ** 30, 2 ** 30), "int64": (-2 ** 62, 2 ** 62)}


# Bugs in opcomp that fire too often for a fixed-seed run to pass.  `avoid=`
# steers the generator away from exactly the pattern that triggers one; a run
# that avoids any says so, and test_fuzz_ci.py keeps a strict-xfail reproducer
# of each: when that test starts passing, delete the entry here.
KNOWN_BUGS: dict = {}   # name -> description; empty: none is open


@dataclass(frozen=True, eq=False)
class Node:
    """One expression node.

    kind: read | scalar | const | bin | cmp | fn2 | un | fn1 | cast | clipcast | select
          | ite (if_then_else) | shifted (X[i + d] where in range, else its one arg)
    op:   input name (read, shifted), operator or function name, "" otherwise
    value: the literal (scalar, const); the target dtype (cast, clipcast); d (shifted)
    dtype: NumPy's dtype of the value ("" for a weak Python scalar)
    """
    kind: str
    op: str = ""
    args: tuple = ()
    value: object = None
    dtype: str = ""

    def nodes(self):
        """This node and all below it, pre-order."""
        yield self
        for a in self.args:
            yield from a.nodes()

    def size(self) -> int:
        return sum(1 for _ in self.nodes())


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

def input_names() -> list:
    """X_<dtype> and Y_<dtype> for every dtype: the placeholders of a batch."""
    return [f"{p}_{d}" for d in DTYPES for p in ("X", "Y")]


def dtype_of_input(name: str) -> str:
    return name.split("_", 1)[1]


def random_values(rng, dtype: str, n: int, extremes: bool) -> np.ndarray:
    """Fresh non-zero values: mostly small, a few large; with extremes, some dtype limits."""
    if dtype == "bool":
        return rng.random(n) < 0.5
    if dtype in FLOATS:
        mag = np.exp(rng.uniform(np.log(0.05), np.log(4.0), n))
        big = rng.random(n) < 0.08
        mag[big] = rng.uniform(10, 1000 if dtype == "float16" else 1e4, big.sum())
        return (mag * rng.choice([-1, 1], n)).astype(dtype)
    info = np.iinfo(dtype)
    lo = 1 if dtype.startswith("u") else -20
    v = rng.integers(lo, 21, n)
    v[v == 0] = 3
    v = v.astype(dtype)
    if extremes:
        k = rng.random(n) < 0.1
        limits = np.array([info.min or 1, info.max, info.max - 1, -1 if info.min else 2], dtype)
        v[k] = rng.choice(limits, k.sum())
    return v


def random_inputs(rng, n: int = N_ELEMS, extremes: bool = True) -> dict:
    """Arrays for every input name; extremes are dtype limits in ~10% of the elements."""
    return {name: random_values(rng, dtype_of_input(name), n, extremes)
            for name in input_names()}


# ---------------------------------------------------------------------------
# the random tree
# ---------------------------------------------------------------------------

class ExprGen:
    """Grows random valid trees; validity and dtypes come from NumPy itself."""

    def __init__(self, rng, inputs: dict, max_depth: int = 4, avoid=()):
        from .oracle import evaluate
        self.rng, self.inputs, self.max_depth = rng, inputs, max_depth
        self.avoid = frozenset(avoid)
        self._eval = evaluate
        self.memo: dict = {}

    def typed(self, node: Node):
        """node with its NumPy dtype filled in, or None if NumPy rejects it (or it
        would trigger a known bug that is being avoided)."""
        try:
            val, _ = self._eval(node, self.inputs, self.memo)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            return None
        if not isinstance(val, np.ndarray) or val.dtype.name not in DTYPES:
            return None
        if self._known_bug_trigger(node, val.dtype.name):
            return None
        out = Node(node.kind, node.op, node.args, node.value, val.dtype.name)
        self.memo[id(out)] = (out, self.memo.pop(id(node))[1])
        return out

    def _known_bug_trigger(self, node: Node, dtype: str) -> bool:
        """Whether node is the trigger pattern of a known bug in self.avoid (none
        is open: a new entry of KNOWN_BUGS adds its pattern here)."""
        return False

    def tree(self) -> Node:
        """A random expression whose value is an array (never a lone scalar)."""
        return self.expr(self.max_depth)

    def leaf(self, dtype=None) -> Node:
        r = self.rng
        if r.random() < 0.1 and dtype is None:
            d = str(r.choice(DTYPES))
            return self.typed(Node("const", value=self._literal(d), dtype=d))
        d = dtype or str(r.choice(DTYPES))
        return self.typed(Node("read", f"{r.choice(['X', 'Y'])}_{d}"))

    def expr(self, depth: int) -> Node:
        if depth <= 0 or self.rng.random() < 0.2:
            return self.leaf()
        for _ in range(8):
            node = self._try(depth)
            if node is not None:
                return node
        return self.leaf()

    def _try(self, depth: int):
        kind = self.rng.choice(["bin", "bin", "bin", "cmp", "fn2", "un", "fn1", "fn1",
                                "cast", "cast", "select", "ibin", "shifted"])
        return getattr(self, "_" + kind)(depth - 1)

    def _operand_pair(self, depth):
        a = self.expr(depth)
        if self.rng.random() < 0.25:
            b = self.scalar_for(a.dtype)
        else:
            b = self.expr(depth)
        return (a, b) if self.rng.random() < 0.6 else (b, a)

    def _bin(self, depth):
        a, b = self._operand_pair(depth)
        op = str(self.rng.choice(list(BIN_SYM) + ["add", "mul", "floordiv", "mod"]))
        return self.typed(Node("bin", op, (a, b)))

    def _ibin(self, depth):
        """Shifts and C division (integers; NumPy refuses floats, so none is made)."""
        a, b = self._operand_pair(depth)
        return self.typed(Node("bin", str(self.rng.choice(list(INT_FN))), (a, b)))

    def _shifted(self, depth):
        """if_then_else(i + d in range, X[i + d], fallback): the read past the edge
        must never be made (a lazy select arm)."""
        d = int(self.rng.choice(SHIFTS))
        name = f"{self.rng.choice(['X', 'Y'])}_{self.rng.choice(DTYPES)}"
        fallback = self.expr(depth) if self.rng.random() < 0.5 else \
            self.scalar_for(dtype_of_input(name))
        return self.typed(Node("shifted", name, (fallback,), value=d))

    def _cmp(self, depth):
        a, b = self._operand_pair(depth)
        return self.typed(Node("cmp", str(self.rng.choice(list(CMP_SYM))), (a, b)))

    def _fn2(self, depth):
        a, b = self._operand_pair(depth)
        op = str(self.rng.choice(["maximum", "minimum", "maximum", "minimum", "power", "pow_op"]))
        if op.startswith("pow") and a.kind == "scalar":
            return None                   # the operator form needs an expression on the left
        return self.typed(Node("fn2", op, (a, b)))

    def _un(self, depth):
        return self.typed(Node("un", str(self.rng.choice(["neg", "inv"])), (self.expr(depth),)))

    def _fn1(self, depth):
        return self.typed(Node("fn1", str(self.rng.choice(MATH1)), (self.expr(depth),)))

    def _cast(self, depth):
        a = self.expr(depth)
        d = str(self.rng.choice(DTYPES))
        kind = "clipcast" if a.dtype in FLOATS and d in INTS else "cast"
        return self.typed(Node(kind, args=(a,), value=d))

    def _select(self, depth):
        c = self._cmp(depth) if self.rng.random() < 0.7 else self.expr(depth)
        if c is None or c.dtype != "bool":
            return None
        a, b = self._operand_pair(depth)
        return self.typed(Node(str(self.rng.choice(["select", "ite"])), args=(c, a, b)))

    # -- literals -------------------------------------------------------------
    def scalar_for(self, dtype: str) -> Node:
        """A weak Python scalar that NumPy accepts next to an array of dtype."""
        r = self.rng
        kind = r.choice(["int", "int", "float", "bool"] if dtype != "bool" else
                        ["bool", "int", "float"])
        if kind == "bool":
            v = bool(r.random() < 0.5)
        elif kind == "float":
            v = float(r.choice([-2.5, -1.0, -0.5, 0.5, 1.5, 3.0, 10.0, 0.0]))
        else:
            choices = [-7, -3, -2, -1, 1, 2, 3, 5, 7, 100, 0]
            v = int(r.choice([c for c in choices if not dtype.startswith("u") or c >= 0]))
        return Node("scalar", value=v)

    def _literal(self, dtype: str):
        r = self.rng
        if dtype == "bool":
            return bool(r.random() < 0.5)
        if dtype in FLOATS:
            return float(r.choice([-3.5, -1.0, 0.25, 2.0, 7.0]))
        return int(r.choice([1, 3, 9, 100] if dtype.startswith("u") else [-100, -5, -1, 2, 7]))


# ---------------------------------------------------------------------------
# printing: opcomp source and NumPy source of the same tree
# ---------------------------------------------------------------------------

def oc_src(n: Node) -> str:
    """opcomp source of the tree (the body of `lambda i: ...`)."""
    return _src(n, "oc")


def np_src(n: Node) -> str:
    """NumPy source of the tree over arrays named like the inputs."""
    return _src(n, "np")


def _src(n: Node, flavor: str) -> str:
    a = [_src(x, flavor) for x in n.args]
    return _PRINT[n.kind](n, a, flavor)


def _p_read(n, a, f):
    return f"{n.op}[i]" if f == "oc" else n.op


def _p_const(n, a, f):
    if f == "oc":
        return f"oc.const({n.value!r}, {n.dtype!r})"
    return f"np.{'bool_' if n.dtype == 'bool' else n.dtype}({n.value!r})"


def _p_fn2(n, a, f):
    if n.op == "pow_op" and f == "oc":
        return f"({a[0]} ** {a[1]})"
    if n.op in ("pow_op", "power") and f == "np":
        return f"_pow({a[0]}, {a[1]})"
    return f"{f}.{n.op}({a[0]}, {a[1]})"


def _p_bin(n, a, f):
    if n.op in INT_FN:
        return f"{INT_FN[n.op][0 if f == 'oc' else 1]}({a[0]}, {a[1]})"
    return f"({a[0]} {BIN_SYM[n.op]} {a[1]})"


def _p_shifted(n, a, f):
    d = n.value
    if f == "np":
        return f"_shifted({n.op}, {d}, {a[0]})"
    return f"oc.if_then_else((i >= {-d}) & (i < n - {d}), {n.op}[i + {d}], {a[0]})"


def _p_fn1(n, a, f):
    if n.op == "popcount":
        return f"{'oc.popcount' if f == 'oc' else '_popcount'}({a[0]})"
    if f == "oc" or n.op in ("exp", "log", "sqrt", "tanh", "abs", "floor", "ceil"):
        return f"{f}.{n.op}({a[0]})"
    return {"rsqrt": f"(1 / np.sqrt({a[0]}))", "sigmoid": f"_sigmoid({a[0]})",
            "erf": f"_erf({a[0]})"}[n.op]


def _p_clipcast(n, a, f):
    lo, hi = clip_bounds(n.args[0].dtype, n.value)
    return f"{'_clipcast' if f == 'oc' else '_np_clipcast'}({a[0]}, {lo!r}, {hi!r}, {n.value!r})"


def clip_bounds(src: str, dst: str) -> tuple:
    """[lo, hi] for a float -> int cast, as floats the source dtype holds exactly."""
    lo, hi = CLIP[dst]
    top = float(np.finfo(src).max)
    return float(max(lo, -top)), float(min(hi, top))


_PRINT = {
    "read": _p_read,
    "scalar": lambda n, a, f: repr(n.value),
    "const": _p_const,
    "bin": _p_bin,
    "cmp": lambda n, a, f: f"({a[0]} {CMP_SYM[n.op]} {a[1]})",
    "fn2": _p_fn2,
    "un": lambda n, a, f: f"({'-' if n.op == 'neg' else '~'}{a[0]})",
    "fn1": _p_fn1,
    "cast": lambda n, a, f: f"{a[0]}.astype({n.value!r})",
    "clipcast": _p_clipcast,
    "select": lambda n, a, f: f"{'oc.select' if f == 'oc' else 'np.where'}({a[0]}, {a[1]}, {a[2]})",
    "ite": lambda n, a, f: f"{'oc.if_then_else' if f == 'oc' else 'np.where'}({a[0]}, {a[1]}, {a[2]})",
    "shifted": _p_shifted,
}

OC_HELPERS = '''\
def _clipcast(x, lo, hi, dtype):   # float -> int without undefined behaviour
    return oc.minimum(oc.maximum(oc.select(x == x, x, 0.0), lo), hi).astype(dtype)
'''

NP_HELPERS = '''\
def _np_clipcast(x, lo, hi, dtype):
    return np.minimum(np.maximum(np.where(x == x, x, 0.0), lo), hi).astype(dtype)
def _fl(x):      # the float type NumPy's math loops pick for x (as np.exp does)
    x = np.asarray(x)
    return x.astype(np.exp(np.zeros(1, x.dtype)).dtype)
def _sigmoid(x):  # in float64 without overflow (exp(-x) is inf long before the result is 0)
    x = _fl(x)
    z = np.exp(-np.abs(x.astype(np.float64)))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype)
def _erf(x):
    x = _fl(x)
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)
def _int_only(*xs):
    if any(np.result_type(x).kind == "f" for x in xs):
        raise TypeError("an integer operator on a float")
def _tdiv(a, b):  # C's / (toward zero), x / 0 == 0, INT_MIN / -1 wraps
    _int_only(a, b)
    dtype = np.floor_divide(a, b).dtype         # NumPy's promotion of the operands
    _int_only(np.zeros(1, dtype))               # uint64 with int64 promotes to float64
    a, b = np.asarray(a).astype(dtype), np.asarray(b).astype(dtype)
    safe = np.where(b == 0, 1, b).astype(dtype)
    q = a // safe
    q = q + ((a % safe != 0) & ((a < 0) != (safe < 0))).astype(dtype)
    return np.where(b == 0, 0, q).astype(dtype)
def _tmod(a, b):  # a - b * truncdiv(a, b): the sign of a
    q = _tdiv(a, b)
    a, b = np.asarray(a).astype(q.dtype), np.asarray(b).astype(q.dtype)
    return np.where(b == 0, 0, a - b * q).astype(q.dtype)
def _popcount(x):  # bits of the two's complement pattern, in x's dtype (bool: int8)
    x = np.asarray(x)
    _int_only(x)
    x = x.astype(np.int8) if x.dtype == np.bool_ else x
    return np.bitwise_count(x.view(f"u{x.dtype.itemsize}")).astype(x.dtype)
def _shifted(x, d, fallback):  # x[i + d] where that is in range, else fallback
    i = np.arange(len(x))
    return np.where((i + d >= 0) & (i + d < len(x)), np.roll(x, -d), fallback)
def _pow(a, b):   # C99 pow; NumPy swaps in sqrt for a scalar 0.5: (-inf) ** 0.5 is nan there
    dtype, shape = np.result_type(a, b), np.broadcast(a, b).shape
    # copies: a stride-0 (broadcast) exponent takes NumPy's scalar fast path too
    wide = [np.array(np.broadcast_to(np.asarray(v).astype(dtype), shape or (1,))) for v in (a, b)]
    r = np.power(*wide)
    return r.reshape(shape) if shape else r[0]
'''


def inputs_used(n: Node) -> list:
    """Input names read by the tree, in a stable order."""
    names = {x.op for x in n.nodes() if x.kind in ("read", "shifted")}
    return [k for k in input_names() if k in names]


@dataclass
class ExprCase:
    tree: Node
    vec: int                       # split factor of a vectorized loop; 0 = scalar loop

    def define(self, name: str) -> str:
        return f"{name} = oc.compute((n,), lambda i: {oc_src(self.tree)}, name={name!r})"

    def schedule(self, name: str) -> list:
        if not self.vec:
            return []
        return [f"{name}_o, {name}_i = s[{name}].split({name}.op.axis[0], factor={self.vec})",
                f"s[{name}].vectorize({name}_i)"]


def expr_reproducer(case: ExprCase, inputs: dict, message: str) -> str:
    """A runnable snippet: the case built alone on these inputs, against NumPy."""
    used = inputs_used(case.tree)
    n = len(next(iter(inputs.values())))
    lines = ["import math", "import numpy as np", "import opcomp as oc", "",
             OC_HELPERS + NP_HELPERS + f"n = {n}"]
    lines += [f"{x} = oc.placeholder((n,), {dtype_of_input(x)!r}, name={x!r})" for x in used]
    lines += [case.define("C"), "s = oc.create_schedule(C)", *case.schedule("C"),
              f"mod = oc.build(s, [{', '.join(used + ['C'])}])", "",
              f"def expected({', '.join(used)}):", f"    return {np_src(case.tree)}", "",
              "x = {"]
    lines += [f"    {x!r}: np.array({inputs[x].tolist()!r}, {dtype_of_input(x)!r}),"
              for x in used]
    lines += ["}", "c = np.zeros(n, C.dtype)", "mod(*x.values(), c)",
              "with np.errstate(all='ignore'):",
              "    want = np.broadcast_to(expected(**x), (n,))",
              "print('opcomp:', c)", "print('numpy: ', want)", f"# {message}"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# minimization support: smaller trees of the same dtype
# ---------------------------------------------------------------------------

def replacements(root: Node, gen: ExprGen):
    """Candidate trees, each with one subtree replaced by something smaller.

    A subtree is replaced by one of its children of the same dtype, or by a
    read of the same dtype; dtypes stay put so every parent stays valid.
    """
    for target in list(root.nodes()):
        if target.kind in ("read", "scalar", "const"):
            continue
        subs = [c for c in target.args if c.dtype == target.dtype]
        subs += [Node("read", f"X_{target.dtype}", dtype=target.dtype)]
        for sub in subs:
            new = _replace(root, target, sub, gen)
            if new is not None:
                yield new


def _replace(root: Node, target: Node, sub: Node, gen: ExprGen):
    if root is target:
        return sub
    args = tuple(_replace(a, target, sub, gen) if a is not None else None for a in root.args)
    if any(a is None for a in args):
        return None
    if all(x is y for x, y in zip(args, root.args)):
        return root
    return gen.typed(Node(root.kind, root.op, args, root.value))


# ---------------------------------------------------------------------------
# index expressions for the simplifier
# ---------------------------------------------------------------------------

class IndexGen:
    """Random int32/int64 index expressions over vars with (min, extent) ranges.

    Shapes follow what lowering produces (xo*8 + xi, (f // 7) % 3, min/max of
    tails, selects on guards, int32/int64 casts) plus plain random arithmetic.
    """

    def __init__(self, rng):
        from opcomp.ir import expr as E
        self.E, self.rng = E, rng
        self.vars = [E.Var(n, "int32") for n in ("x", "y", "z")] + [E.Var("w", "int64")]
        self.ranges = {}
        for v in self.vars:
            if rng.random() < 0.8:
                self.ranges[v] = (int(rng.integers(-8, 9)), int(rng.integers(1, 21)))

    def point(self) -> dict:
        """Random values of the vars, inside their ranges."""
        env = {}
        for v in self.vars:
            mn, ext = self.ranges.get(v, (-60, 121))
            env[v] = int(self.rng.integers(mn, mn + ext))
        return env

    def expr(self, depth: int, dtype: str = "int32"):
        r = self.rng
        if depth <= 0 or r.random() < 0.15:
            return self._leaf(dtype)
        k = r.random()
        sub = lambda: self.expr(depth - 1, dtype)  # noqa: E731
        if k < 0.45:
            return self._arith(sub, dtype)
        if k < 0.65:
            return self._divmod(sub(), dtype)
        if k < 0.75:
            return self._split_pattern(dtype)
        if k < 0.85:
            f = self.E.minimum if r.random() < 0.5 else self.E.maximum
            return f(sub(), sub())
        if k < 0.93:
            return self.E.select(self.cond(depth - 1, dtype), sub(), sub())
        other = "int64" if dtype == "int32" else "int32"
        return self.expr(depth - 1, other).astype(dtype)

    def _leaf(self, dtype):
        r = self.rng
        if r.random() < 0.7:
            v = self.vars[int(r.integers(len(self.vars)))]
            return v if v.dtype == dtype else v.astype(dtype)
        return self.E.const(int(r.integers(-9, 10)), dtype)

    def _arith(self, sub, dtype):
        r, c = self.rng, self.E.const(int(self.rng.integers(-6, 9)), dtype)
        k = r.random()
        if k < 0.35:
            return sub() + sub()
        if k < 0.6:
            return sub() - sub()
        if k < 0.9:
            return sub() * c
        return sub() * self._leaf(dtype)

    def _divmod(self, a, dtype):
        r = self.rng
        if r.random() < 0.8:
            zero = [0] if r.random() < 0.1 else []       # x // 0 is 0, rarely worth a case
            d = self.E.const(int(r.choice([1, 2, 3, 4, 7, 8, 16, -1, -2, -3, -8] + zero)), dtype)
        else:
            d = self._positive_var(dtype)
        return a // d if r.random() < 0.5 else a % d

    def _positive_var(self, dtype):
        """A var whose range is strictly positive (a divisor that is never 0)."""
        v = self.vars[2]            # z: only divisors and split patterns never touch it
        self.ranges.setdefault(v, (int(self.rng.integers(1, 6)), int(self.rng.integers(1, 9))))
        if self.ranges[v][0] < 1:
            self.ranges[v] = (1, self.ranges[v][1])
        return v if v.dtype == dtype else v.astype(dtype)

    def _split_pattern(self, dtype):
        """(a*f + b) // f or % f with b in [0, f): split/fuse index arithmetic."""
        r = self.rng
        f = int(r.choice([2, 3, 4, 8, 13]))
        a, b = self.vars[0], self.vars[1]
        self.ranges[b] = (0, f if r.random() < 0.8 else f + int(r.integers(1, 4)))
        e = (a * f + b).astype(dtype) if dtype != "int32" else a * f + b
        c = self.E.const(int(r.choice([f, 2 * f, 2, f + 1])), dtype)
        return e // c if r.random() < 0.5 else e % c

    def cond(self, depth: int, dtype: str = "int32"):
        op = str(self.rng.choice(list(CMP_SYM.values())))
        a, b = self.expr(depth, dtype), self.expr(depth, dtype)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
                "==": self.E.compare("eq", a, b), "!=": self.E.compare("ne", a, b)}[op]


def minimize_index(e, ranges, points, fails) -> object:
    """Replace subtrees by a child of the same dtype or a constant while `fails` holds."""
    from opcomp.ir import expr as E
    from opcomp.ir.visit import rewrite, walk
    changed = True
    while changed:
        changed = False
        subs = []
        walk(e, lambda n: subs.append(n) if isinstance(n, E.Expr) else None)
        for target in subs:
            cands = [getattr(target, f) for f in ("a", "b", "value") if
                     isinstance(getattr(target, f, None), E.Expr) and
                     getattr(target, f).dtype == target.dtype]
            cands += [E.const(v, target.dtype) for v in (0, 1)] if target.dtype != "bool" else []
            for c in cands:
                new = rewrite(e, lambda n: c if n is target else None)
                if new is not e and fails(new):
                    e, changed = new, True
                    break
            if changed:
                break
    return e


def index_src(e) -> str:
    """Python source that rebuilds an index expression with opcomp."""
    from opcomp.ir import expr as E
    if isinstance(e, E.Var):
        return e.name
    if isinstance(e, E.Const):
        return f"oc.const({e.value!r})" if e.dtype == "int32" else \
            f"oc.const({e.value!r}, {e.dtype!r})"
    if isinstance(e, E.Cast):
        return f"{index_src(e.value)}.astype({e.dtype!r})"
    if isinstance(e, E.Select):
        return f"oc.select({index_src(e.cond)}, {index_src(e.a)}, {index_src(e.b)})"
    if isinstance(e, E.Unary):
        return f"({'-' if e.op == 'neg' else '~'}{index_src(e.a)})"
    a, b = index_src(e.a), index_src(e.b)
    if e.op in ("min", "max"):
        return f"oc.{e.op}imum({a}, {b})"
    if isinstance(e, E.Compare):
        return f"oc.ir.expr.compare({e.op!r}, {a}, {b})"
    sym = {**BIN_SYM, **CMP_SYM, "floormod": "%"}[e.op]
    return f"({a} {sym} {b})"


def index_reproducer(e, ranges, message: str) -> str:
    """A runnable snippet showing the simplifier bug."""
    from opcomp.ir.visit import free_vars
    vs = sorted(free_vars(e), key=lambda v: v.name)
    rng_src = ", ".join(f"{v.name}: {ranges[v]!r}" for v in vs if v in ranges)
    lines = ["import opcomp as oc", "from opcomp.arith import simplify_expr"]
    lines += [f"{v.name} = oc.var({v.name!r}, {v.dtype!r})" for v in vs]
    lines += [f"e = {index_src(e)}", f"ranges = {{{rng_src}}}     # var: (min, extent)",
              "r = simplify_expr(e, ranges)", "print(e, '->', r)",
              f"# {message}"]
    return "\n".join(lines)
