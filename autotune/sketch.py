"""Sketch rules: a schedule space derived from the computation (auto_schedule's search space).

The computation is read as a stage graph (analyze): every compute stage is one
of four kinds, decided by its body alone:

    injective   no reduction (elementwise, broadcast, padding, layout copies)
    tiled       a reduction with data reuse: some input is read with indices
                that miss a spatial axis (matmul, convolution, batch matmul)
    row         a reduction without reuse (row max/sum of softmax, layer norm)
    (inputs are placeholders and get no schedule)

The rules are functions over that graph, in the spirit of Ansor's sketch
rules (multi-level tiling, inlining, consumer fusion, rfactor), applied from
the outputs back to the inputs.  Each rule asks the config for its knobs, so
one pass of the rules both defines the space and applies a point of it:

    rule_tile_output     a tiled stage that is an output: cache_write, so the
                         register tile accumulates in a local buffer
    rule_fuse_consumer   a tiled stage whose only consumer is an injective output
                         of the same shape (an epilogue): the epilogue is tiled
                         and the reduction computed in its tile
    rule_rows            an injective output: its leading axes fused into the
                         parallel "row" loop, its last axis vectorized
    rule_row_reduce      a row reduction computed at the output's row loop,
                         optionally rfactor-ed into vector partial sums
    rule_injective       an inner injective stage: inlined, or computed at the
                         row loop when inlining would repeat work (several
                         consumers and expensive math, or a per-row scalar),
                         or at root (padding: its selects stay out of the
                         inner loop) when a knob says so

Multi-level tiling (tile_reduction): the output C's spatial axes are split
into an outer tile (fused, parallel) and the rest; the accumulating stage CC is
computed in that tile and split again, SSRSRS as Ansor does on CPUs:

    c1...  r0...  c2...  r1...  c3...        c3: the register tile

The register tile is one knob ("RxV": R rows of a non-vector axis, V columns
of the vector axis) whose accumulators fit the target's vector registers; the
rows run along an axis the vector operand does not depend on by default (i in
a matmul, the filters in an NCHW convolution), a knob when there is a choice.
Splits above it take any factor (tails are guarded and partitioned).  The
outer tile loops are ordered (a knob) with the vector operand's axes outside,
and that operand is copied (cache_read, a knob) at the deepest outer loop it
depends on, so its panel is read densely and reused by the loops inside: the
packing of B that a hand GEMM does.  Inner reduction loops are unrolled up to
MAX_UNROLL steps (a knob turns it off).
"""
from __future__ import annotations

from dataclasses import dataclass

from opcomp.ir import expr as E
from opcomp.ir.visit import walk
from opcomp.te import ComputeOp, tensors_in_order

from .config import vector_lanes

EXPENSIVE = ("exp", "log", "tanh", "erf", "sigmoid", "sqrt", "rsqrt", "pow", "power")
MID_FACTORS = (1, 2, 4, 8, 16, 32)
REDUCE_FACTORS = (1, 2, 4, 8, 16, 32, 64, 128)
MAX_ROWS = 12
MAX_UNROLL = 32


@dataclass(frozen=True)
class StageInfo:
    """One compute stage of the graph: its tensor, kind, consumers, traits."""
    tensor: object
    kind: str                 # injective | tiled | row
    consumers: tuple          # tensors reading this one
    is_output: bool
    has_select: bool          # padding-like: inlining puts a branch in the consumer
    expensive: bool           # transcendental math: repeating it costs

    @property
    def name(self) -> str:
        return self.tensor.name


def analyze(outputs) -> list:
    """The compute stages of the graph, consumers before producers."""
    tensors = [t for t in tensors_in_order(list(outputs)) if isinstance(t.op, ComputeOp)]
    out_ops = {t.op for t in outputs}
    users: dict = {t.op: [] for t in tensors}
    for t in tensors:
        for inp in t.op.input_tensors:
            if inp.op in users:
                users[inp.op].append(t)
    return [StageInfo(t, stage_kind(t.op), tuple(users[t.op]), t.op in out_ops,
                      _has(t.op.bodies[0], E.Select), _expensive(t.op.bodies[0]))
            for t in reversed(tensors)]


def stage_kind(op) -> str:
    """injective, tiled (a reduction with reuse) or row (a reduction without)."""
    if not op.reduce_axis:
        return "injective"
    spatial = {iv.var for iv in op.axis if not _is_one(iv.extent)}
    reads = []
    walk(op.bodies[0], lambda n: reads.append(n) if isinstance(n, E.TensorRead) else None)
    for read in reads:
        used = set()
        walk(read.indices, lambda n: used.add(n) if isinstance(n, E.Var) else None)
        if not spatial <= used:
            return "tiled"
    return "row"


def _has(body, cls) -> bool:
    found = []
    walk(body, lambda n: found.append(n) if isinstance(n, cls) else None)
    return bool(found)


def _expensive(body) -> bool:
    names = []
    walk(body, lambda n: names.append(getattr(n, "name", getattr(n, "op", "")))
         if isinstance(n, (E.Call, E.Unary)) else None)
    return any(str(n) in EXPENSIVE for n in names)


def _is_one(extent) -> bool:
    return getattr(extent, "value", None) == 1


def _extent(iv) -> int:
    value = getattr(iv.extent, "value", None)
    if not isinstance(value, int):
        raise ValueError(f"auto_schedule: axis {iv.var.name} has a symbolic extent; "
                         "auto_schedule needs constant shapes")
    return value


# -- the driver ---------------------------------------------------------------------------
class Sketch:
    """Applies the rules to schedule s with config cfg (see the module docstring)."""

    def __init__(self, s, cfg, outputs):
        self.s, self.cfg, self.target = s, cfg, cfg.target
        self.graph = analyze(outputs)
        self.by_op = {g.tensor.op: g for g in self.graph}
        self.lanes = vector_lanes(self.target)
        self.cores = getattr(self.target, "cores", 1) or 1
        self.registers = getattr(self.target, "vector_registers", 16) or 16
        self.done: set = set()          # ops already scheduled by a rule
        self.row = None                 # (stage, loop, width): the row loop others attach at
        self.in_row: set = set()        # ops computed at the row loop or inlined into it

    def apply(self) -> None:
        for info in self.graph:
            if info.tensor.op not in self.done:
                self._dispatch(info)

    def _dispatch(self, info) -> None:
        for rule in (rule_tile_output, rule_fuse_consumer, rule_rows, rule_row_reduce,
                     rule_injective, rule_root):
            if rule(self, info):
                self.done.add(info.tensor.op)
                return

    def knob(self, info, what: str, choices, default=None):
        """The value of a define_knob named after the stage."""
        name = f"{info.name}.{what}"
        return self.cfg.define_knob(name, list(choices), default=default).val


# -- rules: each returns True when it scheduled the stage ------------------------------------
def rule_tile_output(sk: Sketch, info) -> bool:
    """A tiled output: accumulate in a cache_write stage, multi-level tiled."""
    if not (info.is_output and info.kind == "tiled"):
        return False
    local = sk.s.cache_write(info.tensor, "local")
    tile_reduction(sk, info, sk.s[info.tensor], sk.s[local])
    return True


def rule_fuse_consumer(sk: Sketch, info) -> bool:
    """An injective output fed by a tiled stage of the same shape: tile the output and
    compute the reduction in its tile (the epilogue runs on the register tile's result)."""
    if not (info.is_output and info.kind == "injective"):
        return False
    producers = [sk.by_op.get(t.op) for t in info.tensor.op.input_tensors]
    tiled = [p for p in producers if p is not None and p.kind == "tiled"
             and len(p.consumers) == 1 and not p.is_output
             and [_extent(iv) for iv in p.tensor.op.axis]
             == [_extent(iv) for iv in info.tensor.op.axis]]
    if len(tiled) != 1:
        return False
    tile_reduction(sk, tiled[0], sk.s[info.tensor], sk.s[tiled[0].tensor])
    sk.done.add(tiled[0].tensor.op)
    return True


def rule_rows(sk: Sketch, info) -> bool:
    """An injective output: leading axes fused into the parallel row loop, the last
    axis split by a vector-width multiple and vectorized."""
    if not (info.is_output and info.kind == "injective"):
        return False
    stage, axes = sk.s[info.tensor], list(info.tensor.op.axis)
    width = _row_width(sk, info, _extent(axes[-1]))
    if len(axes) == 1:
        blocks = [w for w in (256, 1024, 4096, 16384) if w <= max(256, _extent(axes[0]))]
        block = sk.knob(info, "block", blocks, default=min(1024, blocks[-1]))
        outer, inner = stage.split(axes[0], factor=max(block, width))
        row = outer
    else:
        row = stage.fuse(*axes[:-1]) if len(axes) > 2 else axes[0]
        inner = axes[-1]
    if sk.cores > 1:
        stage.parallel(row)
    _vectorize_by(stage, inner, width)
    sk.row = (stage, row, width)
    return True


def rule_row_reduce(sk: Sketch, info) -> bool:
    """A row reduction inside the output's row loop: plain, or rfactor-ed by a width of
    vector lanes so the partial sums run side by side in vector registers."""
    if info.kind != "row" or info.is_output or sk.row is None:
        return False
    stage = sk.s[info.tensor]
    red = info.tensor.op.reduce_axis
    length = _extent(red[-1])
    widths = [0] + [sk.lanes * m for m in (1, 2, 4) if sk.lanes * m <= length]
    default = max(widths) if len(red) == 1 else 0
    width = sk.knob(info, "rfactor", widths if len(red) == 1 else [0], default=default)
    at_stage, at_loop, _ = sk.row
    if width:
        _, ki = stage.split(red[0], factor=width)
        partial = sk.s.rfactor(info.tensor, ki, factor_axis=len(info.tensor.op.axis))
        pstage = sk.s[partial]
        *spatial, w = pstage.op.axis
        (kr,) = pstage.op.reduce_axis
        pstage.reorder(*spatial, kr, w)
        pstage.vectorize(w)
        pstage.compute_at(at_stage, at_loop)
    stage.compute_at(at_stage, at_loop)
    sk.in_row.add(info.tensor.op)
    return True


def rule_injective(sk: Sketch, info) -> bool:
    """An inner injective stage: inline, at the row loop, or at root (a knob when it
    matters: see the module docstring)."""
    if info.kind != "injective" or info.is_output:
        return False
    choices = ["inline"]
    if sk.row is not None and _below_row(sk, info):
        choices.append("row")
    if info.has_select:
        choices.append("root")
    repeat = len(info.consumers) > 1 and info.expensive
    scalar = len(info.tensor.op.axis) < max(len(c.op.axis) for c in info.consumers)
    default = "row" if "row" in choices and (repeat or scalar) else \
        "root" if info.has_select else "inline"
    where = sk.knob(info, "at", choices, default=default) if len(choices) > 1 else "inline"
    stage = sk.s[info.tensor]
    if where != "root" and sk.row is not None and _below_row(sk, info):
        sk.in_row.add(info.tensor.op)          # its producers may attach at the row too
    if where == "inline":
        stage.compute_inline()
    elif where == "row":
        at_stage, at_loop, width = sk.row
        stage.compute_at(at_stage, at_loop)
        _vectorize_last(stage, width)
    else:
        _schedule_root(sk, stage, info)
    return True


def rule_root(sk: Sketch, info) -> bool:
    """Anything else stays at root: parallel outer loop, vectorized last axis."""
    _schedule_root(sk, sk.s[info.tensor], info)
    return True


# -- helpers ----------------------------------------------------------------------------------
def _below_row(sk, info) -> bool:
    """Whether every consumer of the stage runs inside the row loop (the row stage
    itself, or a stage attached there / inlined into one)."""
    return all(c.op is sk.row[0].op or c.op in sk.in_row for c in info.consumers)


def _row_width(sk, info, length: int) -> int:
    """The output's vector width knob: lanes times 1, 2 or 4 (at most the row)."""
    widths = [sk.lanes * m for m in (1, 2, 4) if sk.lanes * m <= length] or [length]
    return sk.knob(info, "vec", widths, default=widths[-1])


def _vectorize_by(stage, axis, width: int) -> None:
    if width <= 1:
        return
    _, inner = stage.split(axis, factor=width)
    stage.vectorize(inner)


def _vectorize_last(stage, width: int) -> None:
    """Vectorize the last axis by `width` (at most its extent)."""
    axes = stage.op.axis
    if axes and _extent(axes[-1]) > 1:
        _vectorize_by(stage, axes[-1], min(width, _extent(axes[-1])))


def _schedule_root(sk, stage, info) -> None:
    """A stage at root: its leading axes fused and parallel, its last axis vectorized."""
    axes = list(stage.op.axis)
    lead = axes[:-1]
    outer = stage.fuse(*lead) if len(lead) > 1 else (lead[0] if lead else None)
    if outer is not None and sk.cores > 1:
        stage.parallel(outer)
    if axes and _extent(axes[-1]) >= sk.lanes:
        _vectorize_by(stage, axes[-1], sk.lanes)


# -- multi-level tiling -------------------------------------------------------------------------
def tile_reduction(sk: Sketch, info, out_stage, acc_stage) -> None:
    """Tile out_stage (the output or epilogue) and compute acc_stage (the reduction) in
    its outer tile, SSRSRS with a register tile innermost (see the module docstring)."""
    axes = list(out_stage.op.axis)
    extents = [_extent(a) for a in axes]
    vec_d = len(axes) - 1
    row_d = _row_axis(sk, info, axes, extents, vec_d)
    rows, cols = _register_tile(sk, info, extents, row_d, vec_d)
    inner = [1] * len(axes)
    inner[vec_d] = cols
    if row_d is not None:
        inner[row_d] = rows
    levels = [_mid_split(sk, info, axes[d], extents[d], inner[d], d == vec_d)
              for d in range(len(axes))]
    outer_loops, tile_loops = [], []
    for axis, (f1, f2, f3) in zip(axes, levels):
        o, i = out_stage.split(axis, factor=f1 * f2 * f3)
        outer_loops.append(o)
        tile_loops.append(i)
    outer_loops = _order_outer(sk, info, out_stage, outer_loops, vec_d)
    out_stage.reorder(*outer_loops, *tile_loops)
    fused = _parallel_outer(sk, info, out_stage, outer_loops)
    _vectorize_by(out_stage, tile_loops[-1], min(sk.lanes, levels[-1][0] * levels[-1][1]
                                                 * levels[-1][2]))
    acc_stage.compute_at(out_stage, fused)
    _tile_accumulator(sk, info, acc_stage, levels)
    _cache_inputs(sk, info, out_stage, acc_stage, outer_loops, axes, vec_d,
                  fused is outer_loops[-1])


def _order_outer(sk, info, stage, loops, vec_d) -> list:
    """The outer tile loops in the order a knob picks (default: the axes the vector
    operand depends on outermost, so its cached panel is reused by the loops inside:
    B's column panel across the row tiles of a matmul, a conv's input tile across
    the filter tiles)."""
    big = [k for k, ext in enumerate(_root_extents(stage)) if ext > 1]
    if len(big) < 2 or len(big) > 4:
        return loops
    positions = {iv.var: d for d, iv in enumerate(info.tensor.op.axis)}
    deps = set().union(*[uses for _, uses, last in _reads(info.tensor.op, positions)
                         if vec_d in last]) or {vec_d}
    default = sorted(range(len(big)), key=lambda k: (big[k] not in deps, k))
    perm = sk.cfg.define_reorder(f"{info.name}.order", [loops[k] for k in big],
                                 default=default).perm
    picked = [loops[big[p]] for p in perm]
    it = iter(picked)
    return [next(it) if k in big else lp for k, lp in enumerate(loops)]


def _cache_inputs(sk, info, out_stage, acc_stage, loops, axes, vec_d, unfused) -> None:
    """Copy an operand read along the vector axis into a dense buffer at the deepest
    outer loop it depends on (a knob): its panel is then read contiguously and reused
    by the outer loops inside (B's column panel in a matmul)."""
    op = info.tensor.op
    positions = {iv.var: d for d, iv in enumerate(op.axis)}
    for tensor, uses, last in _reads(op, positions):
        if vec_d not in last or tensor.ndim < 2:
            continue
        deps = [lp for lp, ax in zip(loops, _loop_axes(loops, out_stage, axes)) if ax in uses]
        if not deps or not sk.knob(info, f"cache_{tensor.name}", [1, 0], default=1) \
                or not unfused:           # fused outer loops: no loop to reuse a panel in
            continue
        cached = sk.s.cache_read(tensor, "global", [acc_stage.op.output(0)])
        at = [lp for lp in out_stage.leaf_iter_vars if lp in deps][-1]
        sk.s[cached].compute_at(out_stage, at)
        _vectorize_last(sk.s[cached], sk.lanes)


def _root_extents(stage) -> list:
    """The extents of the stage's root axes (the space must not depend on knob values,
    so knobs are defined from these, never from split loops)."""
    return [_extent(a) for a in stage.op.axis]


def _loop_axes(loops, stage, axes) -> list:
    """The root axis position each outer loop came from (by its name prefix)."""
    names = [a.var.name for a in axes]
    return [names.index(lp.var.name.split(".")[0]) for lp in loops]


def _reads(op, positions) -> list:
    """(tensor, spatial positions its indices use, positions in its last index) per
    input the stage reads."""
    reads = []
    walk(op.bodies[0], lambda n: reads.append(n) if isinstance(n, E.TensorRead) else None)
    out = []
    for read in reads:
        uses = _positions(read.indices, positions)
        out.append((read.tensor, uses, _positions(read.indices[-1:], positions)))
    return out


def _positions(exprs, positions) -> set:
    found = set()
    walk(tuple(exprs), lambda n: found.add(positions[n]) if isinstance(n, E.Var)
         and n in positions else None)
    return found


def _parallel_outer(sk, info, stage, loops):
    """The loop the accumulator is computed at: the innermost outer-tile loop, with the
    outermost one parallel, or all of them fused into one parallel loop (a knob:
    fusing balances the cores, but a tail tile's guard then reaches the inner loop,
    where loop partitioning cannot remove it)."""
    exts = _root_extents(stage)
    pos = _loop_axes(loops, stage, stage.op.axis)
    big = [lp for lp, p in zip(loops, pos) if exts[p] > 1] or loops[-1:]
    fuse = sk.knob(info, "fuse", [0, 1], default=0) if len(big) > 1 else 0
    if fuse:
        loops = loops[:loops.index(big[0])] + [stage.fuse(*loops[loops.index(big[0]):])]
    if sk.cores > 1:
        stage.parallel(loops[0] if not fuse else loops[-1])
    return loops[-1]


def _tile_accumulator(sk, info, stage, levels) -> None:
    c1, c2, c3 = [], [], []
    for axis, (f1, f2, f3) in zip(stage.op.axis, levels):
        a, rest = stage.split(axis, factor=f2 * f3)
        b, c = stage.split(rest, factor=f3)
        c1.append(a)
        c2.append(b)
        c3.append(c)
    r0, r1, r1_factors = [], [], []
    for k, axis in enumerate(stage.op.reduce_axis):
        ext = _extent(axis)
        choices = [f for f in REDUCE_FACTORS if f <= ext]
        if ext <= 16 and ext not in choices:
            choices.append(ext)
        default = ext if ext <= 16 else max(f for f in choices if f <= 16)
        f = sk.knob(info, f"r{k}", choices, default=default)
        a, b = stage.split(axis, factor=f)
        r0.append(a)
        r1.append(b)
        r1_factors.append(f)
    stage.reorder(*c1, *r0, *c2, *r1, *c3)
    if sk.knob(info, "unroll_k", [1, 0], default=1):
        _unroll_inner_reduction(stage, r1, r1_factors)
    for c in c3[:-1]:
        stage.unroll(c)
    cols = levels[-1][2]
    if cols > sk.lanes and cols % sk.lanes == 0:
        vo, vi = stage.split(c3[-1], factor=sk.lanes)
        stage.unroll(vo)
        stage.vectorize(vi)
    elif cols > 1:
        stage.vectorize(c3[-1])


def _unroll_inner_reduction(stage, loops, factors) -> None:
    """Unroll the inner reduction loops from the innermost out while their trip counts
    multiply to at most MAX_UNROLL: the register tile is unrolled inside them already,
    and a conv's 16 x 3 x 3 steps of a 6 x 2 tile would be a 1728-statement body that
    takes LLVM a minute to compile."""
    total = 1
    for loop, f in zip(reversed(loops), reversed(factors)):
        total *= f
        if total > MAX_UNROLL:
            return
        stage.unroll(loop)


def _row_axis(sk, info, axes, extents, vec_d):
    """The axis the register tile's rows run along (a knob when there is a choice):
    by default one the vector operand does not depend on, so each vector loaded from
    it serves every row (i in a matmul, the filters k in an NCHW convolution)."""
    cands = [d for d in range(vec_d) if extents[d] > 1]
    if len(cands) < 2:
        return cands[0] if cands else None
    positions = {iv.var: d for d, iv in enumerate(info.tensor.op.axis)}
    free = [d for d in cands if all(d not in uses for _, uses, last in
                                    _reads(info.tensor.op, positions) if vec_d in last)]
    default = (free or cands)[-1]
    names = [axes[d].var.name for d in cands]
    picked = sk.knob(info, "rows", names, default=names[cands.index(default)])
    return cands[names.index(picked)]


def _register_tile(sk, info, extents, row_d, vec_d) -> tuple:
    """The register tile knob "RxV": accumulators R x V/lanes plus a row of V and a
    broadcast fit the vector registers."""
    lanes, regs = sk.lanes, sk.registers
    cap = -(-extents[vec_d] // lanes) * lanes
    max_rows = 1 if row_d is None else min(MAX_ROWS, extents[row_d])
    tiles = []
    for vectors in (1, 2, 3, 4):
        if vectors * lanes > cap and vectors > 1:
            continue
        for r in range(1, max_rows + 1):
            if r * vectors + vectors + 1 <= regs:
                tiles.append(f"{r}x{min(vectors * lanes, extents[vec_d])}")
    tiles = sorted(set(tiles), key=lambda t: tuple(map(int, t.split("x"))))
    want = f"{min(max_rows, 6 if regs < 32 else 8)}x{min(2 * lanes, extents[vec_d])}"
    default = want if want in tiles else tiles[-1]
    r, v = sk.knob(info, "regtile", tiles, default=default).split("x")
    return int(r), int(v)


def _mid_split(sk, info, axis, extent: int, f3: int, is_vec: bool) -> tuple:
    """(f1, f2, f3): the two tile levels above the register tile, any factor whose
    product stays within the axis (a tail is guarded)."""
    if extent == 1:
        return (1, 1, f3)
    least = min(extent, sk.lanes) if is_vec else 1      # the smallest register tile on this axis
    cands = [[-1, a, b] for a in MID_FACTORS for b in MID_FACTORS if a * b * least <= extent]
    default = [-1, 1, 1]          # measured best on a 1024 GEMM: one register tile per task
    ent = sk.cfg.define_split(f"{info.name}.{axis.var.name}", extent, num_outputs=3,
                              candidate=cands, default=default)
    _, f1, f2 = ent.size
    return (f1, f2, f3)
