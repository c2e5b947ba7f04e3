"""The tensorize primitive: check a stage's loop nest against a tensor intrinsic
and mark it for lowering (passes/tensorize.py emits the calls).  Intrinsics
are declared with oc.decl_tensor_intrin (opcomp/tensor_intrin.py, which
explains the semantics) and registered here by name, so that a trace can
name them and replay finds them.
"""
from __future__ import annotations

from ..arith.simplify import simplify
from ..ir import expr as E
from ..ir.visit import substitute, walk

__all__ = ["TensorIntrin", "register", "get_tensor_intrin", "tensorize", "match_region"]

_REGISTRY: dict = {}


class TensorIntrin:
    """A computation (a compute op over placeholders) and the calls that perform it."""

    def __init__(self, name, op, in_buffers, out_buffer, body, reset, update):
        self.name, self.op = name, op
        self.inputs = list(op.input_tensors)
        self.in_buffers, self.out_buffer = in_buffers, out_buffer
        self.body, self.reset, self.update = body, reset, update

    @property
    def buffers(self) -> list:
        """TVM's spelling: the declared buffers, inputs then the output."""
        return list(self.in_buffers) + [self.out_buffer]

    @property
    def reduce_init(self):
        """TVM's spelling of reset: the call that starts the accumulator (or None)."""
        return self.reset

    @property
    def reduce_update(self):
        """TVM's spelling of update: the call that accumulates one part (or None)."""
        return self.update

    def __repr__(self):
        return f"TensorIntrin({self.name}, op={self.op.name})"


def register(intrin) -> None:
    """Make intrin findable by its name (the latest declaration of a name wins)."""
    _REGISTRY[intrin.name] = intrin


def get_tensor_intrin(name: str) -> TensorIntrin:
    """The intrinsic declared under name (the latest declaration wins)."""
    from .stage import ScheduleError
    if name not in _REGISTRY:
        raise ScheduleError(f"tensorize: no tensor intrinsic named {str(name)[:60]!r} is "
                            "declared in this process; declare it with "
                            "oc.decl_tensor_intrin(..., name=...) before replaying the trace")
    return _REGISTRY[name]


# ---------------------------------------------------------------------------
# the primitive
# ---------------------------------------------------------------------------

def tensorize(stage, iv, intrin) -> None:
    """s[T].tensorize(axis, intrin): see the module docstring."""
    iv = stage._leaf("tensorize", iv)
    if not isinstance(intrin, TensorIntrin):
        raise stage._error("tensorize", iv, f"expected an intrinsic from "
                           f"oc.decl_tensor_intrin, got {intrin!r}")
    if getattr(stage, "tensorized", None) is not None:
        raise stage._error("tensorize", iv, "the stage is already tensorized")
    if stage.op.num_outputs != 1:
        raise stage._error("tensorize", iv, f"the stage computes {stage.op.num_outputs} outputs "
                           "(a tuple compute); an intrinsic replaces a one-output computation")
    pos = stage.leaf_iter_vars.index(iv)
    for outer in stage.leaf_iter_vars[:pos]:
        if stage.annotations.get(outer, ("",))[0] == "vectorized":
            raise stage._error("tensorize", outer, f"a loop around intrinsic {intrin.name}'s "
                               "call cannot be vectorized (the call is scalar code)")
    for inner in stage.leaf_iter_vars[pos:]:
        stage._not_annotated("tensorize", inner)
        _not_attach_point(stage, inner)
    from .relations import leaf_maps
    roots = tuple(stage.op.axis) + tuple(stage.op.reduce_axis)
    extent, value, guards = leaf_maps(stage, {r: r.extent for r in roots})
    value = {r: value.get(r, r.var) for r in roots}
    match_region(stage, iv, intrin, extent, value, [v < extent[r] for r, v in guards],
                 stage.op.bodies[0])
    stage.tensorized = (iv, intrin)
    stage._record("tensorize", axis=stage.axis_key(iv), intrin=intrin.name)


def _not_attach_point(stage, iv) -> None:
    for other in stage.schedule.stages:
        if other.attach_stage is stage and other.attach_ivar is iv:
            raise stage._error("tensorize", iv, f"stage {other.name} is computed at this loop, "
                               "inside the region the intrinsic replaces; compute it at an "
                               "outer loop")


class Match:
    """What lowering needs: where each tensor's block starts, per stage tensor,
    and which intrinsic tensor it plays."""

    def __init__(self):
        self.tensor_of = {}       # stage tensor -> intrinsic tensor
        self.start = {}           # stage tensor -> block start indices (over outer loop vars)
        self.out_start = ()       # the output block's start indices
        self.outer_reduce = []    # reduction loops outside the region


def match_region(stage, iv, intrin, extent, value, guards, body) -> Match:
    """Check the loops from iv inward against intrin; raise ScheduleError naming the
    difference.  value: root IterVar -> its value over the leaf vars; guards:
    conditions the loops need (split tails)."""
    leaves = stage.leaf_iter_vars
    pos = leaves.index(iv)
    inner = {x.var: x for x in leaves[pos:]}
    for g in guards:
        if _mentions(g, inner):
            raise stage._error("tensorize", iv, f"the region needs a tail guard ({simplify(g)}): "
                               "a split inside it does not divide its axis; choose factors that "
                               "divide the shape")
    regions = {r: _block(stage, iv, r, value[r], inner, extent) for r in value}
    sub = _axis_map(stage, iv, intrin, regions)
    m = Match()
    m.out_start = tuple(simplify(regions[r][0]) for r in stage.op.axis)
    m.outer_reduce = [x for x in leaves[:pos] if x.kind == "reduce"]
    if m.outer_reduce and (intrin.reset is None or intrin.update is None):
        raise stage._error("tensorize", iv, f"reduction loop {m.outer_reduce[0].name} is outside "
                           f"the region, so intrinsic {intrin.name} needs a reset and an update "
                           "(fintrin returns (body, reset, update)); or tensorize outside every "
                           "reduction loop")
    _Matcher(stage, iv, intrin, m).match(
        substitute(body, {r.var: e for r, e in sub.items()}), intrin.op.bodies[0])
    return m


def _mentions(e, vars_) -> bool:
    found = []
    walk(e, lambda n: found.append(n) if isinstance(n, E.Var) and n in vars_ else None)
    return bool(found)


def _block(stage, iv, root, v, inner, extent) -> tuple:
    """(start, size) of the block a root axis spans inside the region: v must be
    start + a mixed-radix sum of inner loop vars (contiguous, constant size)."""
    zero = {x: E.const(0, x.dtype) for x in inner}
    start = simplify(substitute(v, zero))
    terms = []
    for x in sorted(_vars_in(v, inner), key=lambda x: x.name):
        one = dict(zero)
        one[x] = E.const(1, x.dtype)
        coef = simplify(substitute(v, one) - start)
        size = extent[inner[x]]
        if not isinstance(coef, E.Const) or not isinstance(size, E.Const):
            raise stage._error("tensorize", iv, f"axis {root.name} is not an affine block of "
                               "constant size inside the region")
        terms.append((coef.value, size.value, x))
    rebuilt = start + sum((E.const(c, x.dtype) * x for c, _, x in terms), E.const(0, start.dtype))
    if not E.is_const(simplify(v - rebuilt), 0):
        raise stage._error("tensorize", iv, f"axis {root.name} is not an affine block inside "
                           "the region (a fused loop?)")
    span = 1
    for c, n, x in sorted(terms, key=lambda t: t[0]):
        if c != span:
            raise stage._error("tensorize", iv, f"axis {root.name} is not a contiguous block "
                               f"inside the region (loop {x.name} steps by {c}, expected {span}); "
                               "part of the axis lies outside the region")
        span *= n
    return start, span


def _vars_in(e, vars_) -> set:
    out = set()
    walk(e, lambda n: out.add(n) if isinstance(n, E.Var) and n in vars_ else None)
    return out


def _axis_map(stage, iv, intrin, regions) -> dict:
    """Stage root axis -> start + the intrinsic's axis var (or start when it spans 1)."""
    sub = {}
    for kind, mine, theirs in (("data", stage.op.axis, intrin.op.axis),
                               ("reduction", stage.op.reduce_axis, intrin.op.reduce_axis)):
        mine, theirs = list(mine), list(theirs)
        if len(mine) < len(theirs):
            raise stage._error("tensorize", iv, f"the stage has {len(mine)} {kind} axes, "
                               f"intrinsic {intrin.name} has {len(theirs)}")
        extra = len(mine) - len(theirs)
        for r in mine[:extra]:
            start, size = regions[r]
            if size != 1:
                raise stage._error("tensorize", iv, f"{kind} axis {r.name} spans {size} "
                                   f"iterations in the region, but intrinsic {intrin.name} "
                                   f"has no axis for it")
            sub[r] = start
        for r, t in zip(mine[extra:], theirs):
            start, size = regions[r]
            if not E.is_const(t.extent, size):
                raise stage._error("tensorize", iv, f"{kind} axis {r.name} spans {size} "
                                   f"iterations in the region, but intrinsic {intrin.name}'s "
                                   f"axis {t.name} has {t.extent}")
            sub[r] = start + t.var
    return sub


class _Matcher:
    """Structural comparison of the stage's body (axes renamed) with the intrinsic's."""

    def __init__(self, stage, iv, intrin, m):
        self.stage, self.iv, self.intrin, self.m = stage, iv, intrin, m
        self.intrin_vars = {x.var: E.const(0, x.var.dtype)
                            for x in tuple(intrin.op.axis) + tuple(intrin.op.reduce_axis)}

    def fail(self, mine, theirs, what="computes"):
        raise self.stage._error("tensorize", self.iv, f"the body does not match intrinsic "
                                f"{self.intrin.name}: the stage {what} {mine} where the "
                                f"intrinsic {what} {theirs}")

    def match(self, a, b):
        if isinstance(a, E.Reduce) and isinstance(b, E.Reduce):
            if a.combiner != b.combiner:
                self.fail(a.combiner, b.combiner, "reduces with")
            self.match(a.source, b.source)
            if (a.condition is None) != (b.condition is None):
                self.fail(a.condition, b.condition, "has the condition")
            if a.condition is not None:
                self.match(a.condition, b.condition)
            return
        if type(a) is not type(b) or a.dtype != b.dtype:
            self.fail(a, b)
        if isinstance(a, E.TensorRead):
            return self._read(a, b)
        if isinstance(a, E.Var):
            if a is not b:
                self.fail(a, b)
            return
        for f in E.field_names(a):
            x, y = getattr(a, f), getattr(b, f)
            if isinstance(x, tuple):
                if len(x) != len(y):
                    self.fail(a, b)
                for xi, yi in zip(x, y):
                    self._field(a, b, xi, yi)
            else:
                self._field(a, b, x, y)

    def _field(self, a, b, x, y):
        if isinstance(x, E.Expr) and isinstance(y, E.Expr):
            self.match(x, y)
        elif isinstance(x, E.Expr) or isinstance(y, E.Expr) or x != y:
            self.fail(a, b)

    def _read(self, a, b):
        known = self.m.tensor_of.get(a.tensor)
        extra = len(a.indices) - len(b.indices)
        if known is None and b.tensor in self.m.tensor_of.values() or \
                known is not None and known is not b.tensor or extra < 0:
            self.fail(a, b, "reads")
        start = tuple(simplify(substitute(i, self.intrin_vars)) for i in a.indices)
        # a tensor of higher rank than the intrinsic's: its leading indices stay put
        wanted = (E.const(0),) * extra + tuple(b.indices)
        for i, s, j in zip(a.indices, start, wanted):
            if not E.same(simplify(i - s), simplify(E.cast(j, i.dtype))):
                self.fail(a, b, "reads")
        if a.tensor in self.m.start and not all(
                E.same(x, y) for x, y in zip(self.m.start[a.tensor], start)):
            self.fail(a, b, "reads (at another block start)")
        self.m.tensor_of[a.tensor] = b.tensor
        self.m.start[a.tensor] = start
