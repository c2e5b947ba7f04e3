"""Random computations and random schedules, both as Python source.

A computation is source text that defines placeholders and computes with
``oc`` (so a reproducer prints exactly what ran).  A schedule is a list of
`Step`s, each one or a few lines of source calling a primitive on ``s``;
the generator looks at the live schedule to choose primitives that are
plausibly valid, executes each step at once, and names every axis it gets
back (``C_i_o, C_i_i = s[C].split(C_i, factor=4)``).  Replaying a subset of
the steps (the minimizer does) runs the same lines: a line whose axis no
longer exists raises NameError and counts as stale.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZES = (1, 2, 3, 5, 7, 13, 16, 17, 31, 64)
MAX_ELEMS = 2048                 # per tensor: keeps builds and runs cheap
FLOAT_BODIES = ("{x} * 2.0 + {y}", "oc.maximum({x}, {y})", "{x} - {y} * 0.5",
                "oc.select({x} > 0.5, {x}, {y} * 0.5)", "oc.exp({x} * 0.25) - {y}",
                "oc.sqrt(oc.abs({x}) + 1.0) * {y}", "{x} * {y}")
INT_BODIES = ("{x} * 3 + {y}", "oc.maximum({x}, {y})", "({x} + {y}) // 3",
              "({x} * 7) % 5 - {y}", "oc.select({x} > 1, {x}, -{y})", "{x} - {y} * 2")


@dataclass
class Computation:
    """Source defining the tensors, the argument order, and the outputs."""
    source: str
    args: list                    # names, inputs first, then outputs
    outputs: list
    family: str
    dtype: str

    @property
    def inputs(self) -> list:
        return [a for a in self.args if a not in self.outputs]


@dataclass
class Step:
    """One droppable unit of a schedule: source lines run together."""
    lines: list
    what: str                     # primitive name, for counting


# ---------------------------------------------------------------------------
# computations
# ---------------------------------------------------------------------------

def _shape(rng, ndim: int) -> tuple:
    """Sizes from SIZES whose product stays under MAX_ELEMS."""
    for _ in range(50):
        s = tuple(int(x) for x in rng.choice(SIZES, ndim))
        if int(np.prod(s)) <= MAX_ELEMS:
            return s
    return (3,) * ndim


def _ph(name, shape, dtype) -> str:
    return f"{name} = oc.placeholder({tuple(shape)!r}, {dtype!r}, name={name!r})"


def _cmp(name, shape, params, body) -> str:
    return (f"{name} = oc.compute({tuple(shape)!r}, lambda {', '.join(params)}: {body}, "
            f"name={name!r})")


def _body(rng, dtype, x, y) -> str:
    return str(rng.choice(INT_BODIES if dtype == "int32" else FLOAT_BODIES)).format(x=x, y=y)


def elementwise(rng, dtype):
    """A chain of 1-3 elementwise stages, a broadcast read and maybe a transpose."""
    nd = int(rng.integers(1, 4))
    shape = _shape(rng, nd)
    ps = ["i", "j", "l"][:nd]
    idx = ", ".join(ps)
    lines = [_ph("A", shape, dtype), _ph("B", shape[-1:], dtype)]
    prev = f"A[{idx}]"
    names = [f"T{k}" for k in range(int(rng.integers(1, 4)))] + ["C"]
    for k, name in enumerate(names):
        other = f"B[{ps[-1]}]" if k % 2 == 0 else f"A[{idx}]"
        if nd == 2 and shape[0] == shape[1] and rng.random() < 0.3:
            other = "A[j, i]"
        lines.append(_cmp(name, shape, ps, _body(rng, dtype, prev, other)))
        prev = f"{name}[{idx}]"
    return Computation("\n".join(lines), ["A", "B", "C"], ["C"], "elementwise", dtype)


def reduction(rng, dtype):
    """sum/max/min/prod over one or two axes, maybe where= or init=, maybe a shifted range."""
    comb = str(rng.choice(["sum", "max", "min"] + (["prod"] if dtype != "int32" else [])))
    n, k1 = _shape(rng, 2)
    two = rng.random() < 0.3 and n * k1 * 7 <= MAX_ELEMS
    k2 = int(rng.choice([2, 3, 7])) if two else 0
    lo = int(rng.choice([0, 0, 1])) if k1 > 1 else 0
    lines = [_ph("A", (n, k1, k2) if two else (n, k1), dtype),
             f"k = oc.reduce_axis(({lo}, {k1}), 'k')" if lo else f"k = oc.reduce_axis({k1}, 'k')"]
    read = "A[i, k, q]" if two else "A[i, k]"
    if two:
        lines.append(f"q = oc.reduce_axis({k2}, 'q')")
    src = str(rng.choice([read, f"{read} * {read}", f"{read} + 1"]))
    start = "A[i, 0, 0]" if two else "A[i, 0]"
    where = str(rng.choice(["", "", ", where=k <= i", ", where=(i + k) % 3 != 0",
                            f", where={read} > 0", f", init={start}"]))
    axes = "[k, q]" if two else "k"
    lines.append(_cmp("C", (n,), ["i"], f"oc.{comb}({src}, axis={axes}{where})"))
    return Computation("\n".join(lines), ["A", "C"], ["C"], "reduction", dtype)


def matmul(rng, dtype):
    """C = A @ B (maybe B transposed, maybe batched), maybe an epilogue stage."""
    batch = rng.random() < 0.2
    n, m, kk = _shape(rng, 3) if not batch else (*_shape(rng, 2), int(rng.choice([3, 7, 16])))
    bt = rng.random() < 0.3
    bshape = (2,) if batch else ()
    lines = [_ph("A", bshape + (n, kk), dtype),
             _ph("B", bshape + ((m, kk) if bt else (kk, m)), dtype)]
    lines.append(f"k = oc.reduce_axis({kk}, 'k')")
    bi = "b, " if batch else ""
    b_read = f"B[{bi}j, k]" if bt else f"B[{bi}k, j]"
    shape = ((2,) if batch else ()) + (n, m)
    params = (["b"] if batch else []) + ["i", "j"]
    epi = rng.random() < 0.4
    out = "P" if epi else "C"
    lines.append(_cmp(out, shape, params, f"oc.sum(A[{bi}i, k] * {b_read}, axis=k)"))
    args = ["A", "B"]
    if epi:
        lines.append(_ph("bias", (m,), dtype))
        act = "oc.maximum({x}, 0.0)" if dtype != "int32" else "oc.maximum({x}, 0)"
        lines.append(_cmp("C", shape, params, act.format(x=f"P[{', '.join(params)}] + bias[j]")))
        args.append("bias")
    return Computation("\n".join(lines), args + ["C"], ["C"], "matmul", dtype)


def convolution(rng, dtype):
    """1-D or 2-D valid convolution (halo reads A[i + r]); maybe a padding stage."""
    two_d = rng.random() < 0.5
    kr = int(rng.choice([1, 2, 3, 5]))
    shape = _shape(rng, 2 if two_d else 1)
    pad = rng.random() < 0.4
    ins = tuple(s + (0 if pad else kr - 1) for s in shape)
    lines = [_ph("A", ins, dtype), _ph("W", (kr,) * (2 if two_d else 1), dtype),
             f"r = oc.reduce_axis({kr}, 'r')"]
    src = "A"
    if pad:
        p = kr - 1
        padded = tuple(s + kr - 1 for s in shape)
        ps = ["i", "j"][:len(shape)]
        inside = " & ".join(f"({v} >= {p // 2}) & ({v} < {s + p // 2})" for v, s in zip(ps, shape))
        clamped = ", ".join(f"oc.minimum(oc.maximum({v} - {p // 2}, 0), {s - 1})"
                            for v, s in zip(ps, shape))
        zero = "0" if dtype == "int32" else "0.0"
        lines.append(_cmp("Apad", padded, ps, f"oc.select({inside}, A[{clamped}], {zero})"))
        src = "Apad"
    if two_d:
        lines.append(f"q = oc.reduce_axis({kr}, 'q')")
        body = f"oc.sum({src}[i + r, j + q] * W[r, q], axis=[r, q])"
        lines.append(_cmp("C", shape, ["i", "j"], body))
    else:
        lines.append(_cmp("C", shape, ["i"], f"oc.sum({src}[i + r] * W[r], axis=r)"))
    return Computation("\n".join(lines), ["A", "W", "C"], ["C"], "convolution", dtype)


def pipeline(rng, dtype):
    """Producer -> consumer chains: a stencil over a producer, a reduction feeding
    an elementwise stage, or one producer feeding two outputs."""
    kind = str(rng.choice(["stencil", "stencil2d", "chain", "reduce_bcast", "two_outputs"]))
    return _PIPELINES[kind](rng, dtype)


def _stencil(rng, dtype):
    n, = _shape(rng, 1)
    lines = [_ph("A", (n + 2,), dtype),
             _cmp("P", (n + 2,), ["i"], _body(rng, dtype, "A[i]", "A[i]")),
             _cmp("C", (n,), ["i"], "P[i] + P[i + 1] * 2 + P[i + 2]")]
    return Computation("\n".join(lines), ["A", "C"], ["C"], "pipeline", dtype)


def _stencil2d(rng, dtype):
    h, w = _shape(rng, 2)
    lines = [_ph("A", (h + 2, w + 2), dtype),
             _cmp("P", (h + 2, w + 2), ["i", "j"], _body(rng, dtype, "A[i, j]", "A[i, j]")),
             _cmp("C", (h, w), ["i", "j"], "P[i, j] + P[i + 1, j + 2] - P[i + 2, j + 1]")]
    return Computation("\n".join(lines), ["A", "C"], ["C"], "pipeline", dtype)


def _chain(rng, dtype):
    h, w = _shape(rng, 2)
    lines = [_ph("A", (h + 1, w), dtype),
             _cmp("P1", (h + 1, w), ["i", "j"], _body(rng, dtype, "A[i, j]", "A[i, j]")),
             _cmp("P2", (h + 1, w), ["i", "j"], _body(rng, dtype, "P1[i, j]", "A[i, j]")),
             _cmp("C", (h, w), ["i", "j"], "P2[i, j] + P2[i + 1, j]")]
    return Computation("\n".join(lines), ["A", "C"], ["C"], "pipeline", dtype)


def _reduce_bcast(rng, dtype):
    h, w = _shape(rng, 2)
    comb = str(rng.choice(["sum", "max"]))
    lines = [_ph("A", (h, w), dtype), f"k = oc.reduce_axis({w}, 'k')",
             _cmp("R", (h,), ["i"], f"oc.{comb}(A[i, k], axis=k)"),
             _cmp("C", (h, w), ["i", "j"], "A[i, j] - R[i]")]
    return Computation("\n".join(lines), ["A", "C"], ["C"], "pipeline", dtype)


def _two_outputs(rng, dtype):
    n, = _shape(rng, 1)
    lines = [_ph("A", (n + 1,), dtype),
             _cmp("P", (n + 1,), ["i"], _body(rng, dtype, "A[i]", "A[i]")),
             _cmp("C", (n,), ["i"], "P[i] + P[i + 1]"),
             _cmp("D", (n,), ["i"], "P[i + 1] * 2")]
    return Computation("\n".join(lines), ["A", "C", "D"], ["C", "D"], "pipeline", dtype)


_PIPELINES = {"stencil": _stencil, "stencil2d": _stencil2d, "chain": _chain,
              "reduce_bcast": _reduce_bcast, "two_outputs": _two_outputs}
FAMILIES = (elementwise, reduction, matmul, convolution, pipeline)


def random_computation(rng) -> Computation:
    dtype = str(rng.choice(["float32"] * 7 + ["float64"] * 2 + ["int32"] * 2))
    comp = FAMILIES[int(rng.integers(len(FAMILIES)))](rng, dtype)
    ns = fresh_ns(comp)                # an input nothing reads is not a valid argument
    graph = {t.op for t in _tensors_in_order([ns[x] for x in comp.outputs])}
    comp.args = [a for a in comp.args if ns[a].op in graph]
    return comp


def _tensors_in_order(outputs):
    from opcomp.te import tensors_in_order
    return tensors_in_order(outputs)


# ---------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------

WEIGHTS = {"split": 3, "tile": 1.5, "fuse": 1.5, "reorder": 1.5, "vectorize": 2,
           "unroll": 1.5, "parallel": 1.5, "compute_at": 2, "compute_inline": 1.5,
           "compute_root": 0.5, "cache_read": 1, "cache_write": 1, "rfactor": 0.7,
           "set_scope": 0.5, "pragma": 0.7, "storage_align": 0.7, "double_buffer": 0.5,
           "group": 0.5, "vthread": 0.5, "fuse_none": 0.3}


def sanitize(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def run_lines(lines, ns) -> None:
    """Execute source lines in the namespace (one exec, so tracebacks name the line)."""
    exec(compile("\n".join(lines), "<fuzz-schedule>", "exec"), ns)


class ScheduleGen:
    """Chooses and executes random primitives on a live schedule in `ns`."""

    def __init__(self, rng, ns: dict, comp: Computation):
        import opcomp as oc
        self.oc, self.rng, self.ns, self.comp = oc, rng, ns, comp
        self.names: dict = {}            # id(IterVar) -> Python name
        self.tensor_var: dict = {}       # id(Stage) -> Python name of its tensor
        self.pending: list = []
        self.steps: list = []            # every step made, the failing one included
        self.rejected = 0

    # -- prelude ---------------------------------------------------------------
    def prelude(self) -> list:
        """create_schedule and one line per stage binding its root axes; executed."""
        lines = [f"s = oc.create_schedule([{', '.join(self.comp.outputs)}])"]
        run_lines(lines, self.ns)
        s = self.ns["s"]
        for name, t in list(self.ns.items()):
            if isinstance(t, self.oc.Tensor) and t.op in s.stage_map:
                self.tensor_var[id(s[t])] = name
                if not s[t].is_placeholder:
                    lines += self._bind(name)
        return lines

    def _bind(self, var: str) -> list:
        """Lines naming the root axes of s[var]; executed and registered."""
        st = self.ns["s"][self.ns[var]]
        out = []
        for attr in ("axis", "reduce_axis"):
            ivs = getattr(st.op, attr)
            if ivs:
                names = [self._fresh(f"{var}_{sanitize(iv.name)}") for iv in ivs]
                comma = "," if len(names) == 1 else ""
                out.append(f"{', '.join(names)}{comma} = s[{var}].op.{attr}")
                run_lines(out[-1:], self.ns)
                self._register(names)
        return out

    def _fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.ns:
            name, k = f"{base}{k}", k + 1
        self.ns[name] = None             # reserved until the line runs
        return name

    def _register(self, names):
        for n in names:
            v = self.ns.get(n)
            if isinstance(v, self.oc.ir.expr.IterVar):
                self.names[id(v)] = n

    # -- driving ---------------------------------------------------------------
    def generate(self, n_steps: int) -> list:
        """Up to n_steps executed steps (rejected ones included: they are part of the case).

        An exception other than ScheduleError propagates; self.steps then ends
        with the step that raised it.
        """
        for _ in range(4 * n_steps):
            if len(self.steps) >= n_steps:
                break
            make = self.pending.pop(0) if self.pending else self._random_kind()
            make()
        return self.steps

    def _random_kind(self):
        kinds = list(WEIGHTS)
        p = np.array([WEIGHTS[k] for k in kinds])
        return getattr(self, "_" + str(self.rng.choice(kinds, p=p / p.sum())))

    def _run(self, lines, what, results=()):
        """Execute a new step; ScheduleError is a rejection (the case goes on)."""
        step = Step(list(lines), what)
        self.steps.append(step)
        try:
            for k in range(len(lines)):
                run_lines(lines[k:k + 1], self.ns)
                self._register(results)
        except self.oc.ScheduleError:
            self.rejected += 1
            for r in results:
                if self.ns.get(r) is None:
                    self.ns.pop(r, None)
        return step

    # -- what exists -------------------------------------------------------------
    def _stages(self, computed_only=True):
        return [st for st in self.ns["s"].stages
                if not (computed_only and st.is_placeholder) and id(st) in self.tensor_var]

    def _pick(self, items):
        return items[int(self.rng.integers(len(items)))] if items else None

    def _leaves(self, st, pred=lambda iv: True):
        return [iv for iv in st.leaf_iter_vars if id(iv) in self.names and pred(iv)]

    def _free(self, st):
        """Leaves without an annotation (split/fuse/tile of an annotated axis is refused)."""
        return self._leaves(st, lambda iv: iv not in st.annotations)

    def _n(self, iv) -> str:
        return self.names[id(iv)]

    def _sv(self, st) -> str:
        return self.tensor_var[id(st)]

    @staticmethod
    def _const_ext(iv, limit):
        e = iv.extent
        return hasattr(e, "value") and type(e).__name__ == "Const" and e.value <= limit

    # -- loop primitives -----------------------------------------------------------
    def _split(self, st=None):
        st = st or self._pick(self._stages())
        iv = self._pick(self._free(st)) if st else None
        if iv is None:
            return None
        a = self._n(iv)
        o, i = self._fresh(a + "o"), self._fresh(a + "i")
        if self.rng.random() < 0.75:
            arg = f"factor={int(self.rng.choice([1, 2, 3, 4, 5, 8, 16]))}"
        else:
            arg = f"nparts={int(self.rng.choice([1, 2, 3, 4]))}"
        return self._run([f"{o}, {i} = s[{self._sv(st)}].split({a}, {arg})"], "split", (o, i))

    def _tile(self):
        st = self._pick(self._stages())
        leaves = self._free(st) if st else []
        if len(leaves) < 2:
            return None
        k1, k2 = sorted(int(x) for x in self.rng.choice(len(leaves), 2, replace=False))
        return self._tile_on(st, leaves[k1], leaves[k2])

    def _fuse(self):
        st = self._pick(self._stages())
        leaves = self._free(st) if st else []
        if len(leaves) < 2:
            return None
        width = 3 if len(leaves) >= 3 and self.rng.random() < 0.2 else 2
        k = int(self.rng.integers(len(leaves) - width + 1))
        group = [self._n(iv) for iv in leaves[k:k + width]]
        f = self._fresh(f"{self._sv(st)}_f")
        return self._run([f"{f} = s[{self._sv(st)}].fuse({', '.join(group)})"], "fuse", (f,))

    def _reorder(self):
        st = self._pick(self._stages())
        leaves = self._leaves(st) if st else []
        if len(leaves) < 2:
            return None
        if self.rng.random() < 0.5:
            chosen = list(leaves)
        else:
            k = min(len(leaves), int(self.rng.integers(2, 4)))
            chosen = [leaves[int(x)] for x in self.rng.choice(len(leaves), k, replace=False)]
        order = [chosen[int(x)] for x in self.rng.permutation(len(chosen))]
        return self._run([f"s[{self._sv(st)}].reorder({', '.join(self._n(iv) for iv in order)})"],
                         "reorder")

    def _vectorize(self):
        st = self._pick(self._stages())
        leaves = self._leaves(st) if st else []
        if not leaves:
            return None
        inner = leaves[-1]
        sv = self._sv(st)
        if inner.kind == "data" and self.rng.random() < 0.8:
            return self._run([f"s[{sv}].vectorize({self._n(inner)})"], "vectorize")
        if inner.kind == "data" and self.rng.random() < 0.7:
            a = self._n(inner)
            o, i = self._fresh(a + "o"), self._fresh(a + "i")
            f = int(self.rng.choice([4, 8, 16]))
            return self._run([f"{o}, {i} = s[{sv}].split({a}, factor={f})",
                              f"s[{sv}].vectorize({i})"], "vectorize", (o, i))
        iv = self._pick(self._leaves(st, lambda v: v.kind == "data" and self._const_ext(v, 64)))
        return self._run([f"s[{sv}].vectorize({self._n(iv)})"], "vectorize") if iv else None

    def _unroll(self):
        st = self._pick(self._stages())
        iv = self._pick(self._leaves(st, lambda v: self._const_ext(v, 16))) if st else None
        return self._run([f"s[{self._sv(st)}].unroll({self._n(iv)})"], "unroll") if iv else None

    def _parallel(self):
        st = self._pick(self._stages())
        leaves = self._leaves(st, lambda v: v.kind == "data") if st else []
        if not leaves:
            return None
        iv = leaves[0] if self.rng.random() < 0.7 else self._pick(leaves)
        return self._run([f"s[{self._sv(st)}].parallel({self._n(iv)})"], "parallel")

    # -- placement -------------------------------------------------------------
    def _producers(self):
        return [st for st in self._stages() if not st.is_output]

    def _compute_at(self, st=None, target=None):
        s = self.ns["s"]
        st = st or self._pick(self._producers())
        if st is None or not s.consumers(st):
            return None
        target = target or self._pick(s.consumers(st))
        if id(target) not in self.tensor_var:
            return None
        iv = self._pick(self._leaves(target))
        if iv is None:
            return None
        line = f"s[{self._sv(st)}].compute_at(s[{self._sv(target)}], {self._n(iv)})"
        return self._run([line], "compute_at")

    def _compute_inline(self):
        st = self._pick([p for p in self._producers() if not p.op.reduce_axis])
        return self._run([f"s[{self._sv(st)}].compute_inline()"], "compute_inline") if st else None

    def _compute_root(self):
        st = self._pick([p for p in self._producers() if p.attach_type != "root"])
        return self._run([f"s[{self._sv(st)}].compute_root()"], "compute_root") if st else None

    def _cache_read(self):
        s = self.ns["s"]
        phs = [st for st in self._stages(False) if st.is_placeholder and len(s.consumers(st)) == 1]
        src = self._pick(phs)
        if src is None:
            return None
        reader = s.consumers(src)[0]
        if id(reader) not in self.tensor_var:
            return None
        scope = str(self.rng.choice(["local", "shared", "global"]))
        v = self._fresh(f"{self._sv(src)}_{scope}")
        line = f"{v} = s.cache_read({self._sv(src)}, {scope!r}, [{self._sv(reader)}])"
        step = self._cache_step(line, v, "cache_read")
        if step is not None and self.rng.random() < 0.7:
            cache = s[self.ns[v]]
            self.pending.append(lambda: self._compute_at(cache, reader))
        return step

    def _cache_write(self):
        s = self.ns["s"]
        # after split/fuse/reorder too: the cache is laid out like the loops (relayout)
        ok = [st for st in self._stages() if not st.annotations and
              st.attach_type == "root" and not any(o.attach_stage is st for o in s.stages)]
        st = self._pick(ok)
        if st is None:
            return None
        v = self._fresh(f"{self._sv(st)}_local")
        step = self._cache_step(f"{v} = s.cache_write({self._sv(st)}, 'local')", v, "cache_write")
        if step is not None and self.rng.random() < 0.8:
            cache = s[self.ns[v]]
            if self.rng.random() < 0.7:
                self.pending.append(lambda: self._split(st) if self.rng.random() < 0.5
                                    else self._tile_stage(st))
            self.pending.append(lambda: self._compute_at(cache, st))
        return step

    def _tile_stage(self, st):
        leaves = self._leaves(st)
        return self._split(st) if len(leaves) < 2 else self._tile_on(st, leaves[0], leaves[1])

    def _tile_on(self, st, x, y):
        x, y = self._n(x), self._n(y)
        names = [self._fresh(x + "o"), self._fresh(y + "o"), self._fresh(x + "i"),
                 self._fresh(y + "i")]
        fx, fy = (int(v) for v in self.rng.choice([2, 3, 4, 8, 16], 2))
        line = f"{', '.join(names)} = s[{self._sv(st)}].tile({x}, {y}, {fx}, {fy})"
        return self._run([line], "tile", names)

    # -- the newer primitives ------------------------------------------------------
    def _rfactor(self):
        st = self._pick([x for x in self._stages() if self._leaves(x, lambda v: v.kind == "reduce")])
        iv = self._pick(self._leaves(st, lambda v: v.kind == "reduce")) if st else None
        if iv is None:
            return None
        v = self._fresh(f"{self._sv(st)}_rf")
        fa = int(self.rng.integers(len(st.op.axis) + 1))
        line = f"{v} = s.rfactor({self._sv(st)}, {self._n(iv)}, factor_axis={fa})"
        return self._cache_step(line, v, "rfactor")

    def _set_scope(self):
        st = self._pick(self._producers())
        scope = str(self.rng.choice(["local", "shared", "global"]))
        return self._run([f"s[{self._sv(st)}].set_scope({scope!r})"], "set_scope") if st else None

    def _pragma(self):
        st = self._pick(self._stages())
        iv = self._pick(self._leaves(st)) if st else None
        if iv is None:
            return None
        key, value = [("auto_unroll_max_step", int(self.rng.choice([0, 4, 16, 64]))),
                      ("unroll_explicit", bool(self.rng.random() < 0.7)),
                      ("unknown_pragma", 1)][int(self.rng.integers(3))]
        line = f"s[{self._sv(st)}].pragma({self._n(iv)}, {key!r}, {value!r})"
        return self._run([line], "pragma")

    def _storage_align(self):
        st = self._pick(self._producers())
        if st is None or not st.op.axis:
            return None
        k = int(self.rng.integers(len(st.op.axis)))
        f = int(self.rng.choice([2, 4, 8, 16]))
        o = int(self.rng.integers(f))
        line = f"s[{self._sv(st)}].storage_align(s[{self._sv(st)}].op.axis[{k}], {f}, {o})"
        return self._run([line], "storage_align")

    def _double_buffer(self):
        st = self._pick(self._producers())
        return self._run([f"s[{self._sv(st)}].double_buffer()"], "double_buffer") if st else None

    def _group(self):
        s = self.ns["s"]
        st = self._pick([p for p in self._producers() if s.consumers(p)])
        if st is None:
            return None
        target = self._pick(s.consumers(st))
        iv = self._pick(self._leaves(target)) if id(target) in self.tensor_var else None
        if iv is None:
            return None
        ins = [n for n in self.comp.inputs if self.ns[n].op in s.stage_map]
        g = self._fresh("g")
        lines = [f"{g} = s.create_group(outputs={self._sv(st)}, inputs=[{', '.join(ins)}])",
                 f"{g}.compute_at(s[{self._sv(target)}], {self._n(iv)})"]
        return self._run(lines, "group")

    def _vthread(self):
        st = self._pick(self._stages())
        iv = self._pick(self._leaves(st, lambda v: v.kind == "data" and self._const_ext(v, 8))) \
            if st else None
        if iv is None:
            return None
        line = f"s[{self._sv(st)}].bind({self._n(iv)}, oc.thread_axis('vthread'))"
        return self._run([line], "vthread")

    def _fuse_none(self):
        st = self._pick(self._stages())
        if st is None:
            return None
        u = self._fresh(f"{self._sv(st)}_unit")
        return self._run([f"{u} = s[{self._sv(st)}].fuse()"], "fuse_none", (u,))

    def _cache_step(self, line, var, what):
        """Run a cache_* line; on success bind the new stage's axes in the same step."""
        step = self._run([line], what)
        t = self.ns.get(var)
        if not isinstance(t, self.oc.Tensor):
            return None
        self.tensor_var[id(self.ns["s"][t])] = var
        step.lines += self._bind(var)
        return step


# ---------------------------------------------------------------------------
# inputs and replay
# ---------------------------------------------------------------------------

VALUES_SRC = '''\
def fuzz_values(rng, t):
    """Never 0; floats are multiples of 1/8 in [-2, 2], so sums and products of a
    few hundred terms are exact in float32 and the summation order cannot matter."""
    shape = tuple(int(x.value) for x in t.shape)
    sign = rng.choice([-1, 1], shape)
    if t.dtype.startswith("float"):
        return (rng.integers(1, 17, shape) * sign / 8).astype(t.dtype)
    return (rng.integers(1, 4, shape) * sign).astype(t.dtype)
'''
_VALUES: dict = {"np": np}
exec(VALUES_SRC, _VALUES)
fuzz_values = _VALUES["fuzz_values"]


def fresh_ns(comp: Computation) -> dict:
    """A namespace with the computation's tensors defined."""
    import opcomp as oc
    ns = {"oc": oc, "np": np}
    run_lines([comp.source], ns)
    return ns


def _raised_here(exc) -> bool:
    """Whether exc came from the fuzz line itself (a stale name), not from opcomp."""
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename == "<fuzz-schedule>"


def replay(comp: Computation, steps: list):
    """Run the computation, the prelude and the steps in a fresh namespace.

    Returns (ns, prelude lines, one status per step, error): status is ok,
    rejected (ScheduleError), stale (a name an earlier, dropped step made) or
    error; error is the exception that stopped the replay, or None.
    """
    import opcomp as oc
    ns = fresh_ns(comp)
    prelude = ScheduleGen(None, ns, comp).prelude()
    statuses = []
    for step in steps:
        status = "ok"
        for line in step.lines:
            try:
                run_lines([line], ns)
            except oc.ScheduleError:
                status = "rejected"
            except NameError as exc:
                if not _raised_here(exc):
                    return ns, prelude, statuses + ["error"], exc
                status = "stale"
            except Exception as exc:       # noqa: BLE001 - reported as a failure
                return ns, prelude, statuses + ["error"], exc
            if status != "ok":
                break
        statuses.append(status)
    return ns, prelude, statuses, None
