"""Reductions over any axes: sum, mean, max, min, prod; argmax and argmin over one axis.

    out[kept] = combine over the reduced axes of X        (NumPy's keepdims too)

Algorithm first, two shapes of loop nest:

- the last axis is kept: the reduction runs over rows of X while a block
  of the last axis (4 vectors) accumulates in registers, so every load is a
  contiguous vector and there is no reduction across lanes;
- the last axis is reduced: a lane-wise partial result (4 vectors wide,
  four independent accumulators) is reduced over whole blocks of the last
  axis and the other reduced axes, then across its lanes pairwise (a tree,
  not a chain of dependent adds); the elements of the last block that do
  not fill it are reduced separately and combined.
  This is rfactor written into the definition; the order of the sum differs
  from NumPy's pairwise sum, within float rounding.

argmax/argmin: the max (min) first, then the first index that holds it (a
NaN counts as the extreme and its first index wins, as in NumPy); int64.

Schedule: the kept axes are fused into one parallel loop (for a full
reduction to a scalar the loop is serial: parallel partial sums need a
rfactor across threads); the register block is unrolled and vectorized;
the partial stages are computed inside the kept loop.

Shapes may hold oc.size_vars: with a symbolic last axis both the whole-block
partial and the tail stage exist (either may have no iterations).
"""
from __future__ import annotations

import opcomp as oc
from autotune import get_config, template

from . import tunable
from . import validate as v

COMBINERS = {"sum": oc.sum, "mean": oc.sum, "max": oc.max, "min": oc.min, "prod": oc.prod}
UNROLL = 4
UNROLLS = (1, 2, 4, 8)       # the unroll knob's choices


def _axes(op, axis, ndim):
    """The reduced axes, sorted, each in [0, ndim)."""
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, int) or not -ndim <= a < ndim:
            raise v.fail(op, "axis", f"None, or ints in [{-ndim}, {ndim})", axis)
        a %= ndim
        if a in out:
            raise v.fail(op, "axis", "distinct axes", axis)
        out.append(a)
    return tuple(sorted(out))


def _combine(kind, a, b):
    if kind in ("sum", "mean"):
        return a + b
    if kind == "prod":
        return a * b
    return oc.maximum(a, b) if kind == "max" else oc.minimum(a, b)


def reduce_compute(shape, axes, kind, keepdims, dtype, lanes, unroll=UNROLL):
    """X, the intermediate stages (name -> tensor) and out; a block of the last
    axis is `unroll` vectors of `lanes`."""
    X = oc.placeholder(shape, dtype, name="X")
    kept = [d for d in range(len(shape)) if d not in axes]
    reducer = COMBINERS[kind]
    last = len(shape) - 1
    red = {d: oc.reduce_axis(shape[d], f"r{d}") for d in axes}
    kept_shape = tuple(shape[d] for d in kept)

    def index(kidx, ridx):
        """X's index from kept and reduced index values (dicts by axis)."""
        return tuple(kidx[d] if d in kidx else ridx[d] for d in range(len(shape)))

    stages = {}
    if last not in axes:
        acc = oc.compute(kept_shape, lambda *k: reducer(
            X[index(dict(zip(kept, k)), {d: red[d].var for d in axes})],
            axis=[red[d] for d in axes]), name="acc")
    else:
        L, block = shape[last], lanes * unroll
        whole, rest = L // block, L % block
        # a symbolic L needs both parts (either may be empty: a loop of extent 0)
        any_L = v.is_symbolic(L)
        others = [d for d in axes if d != last]
        if any_L or whole:
            ko = oc.reduce_axis(whole, "ko")
            stages["partial"] = oc.compute(kept_shape + (block,), lambda *k: reducer(
                X[index(dict(zip(kept, k[:-1])), {**{d: red[d].var for d in others},
                                                  last: ko * block + k[-1]})],
                axis=[red[d] for d in others] + [ko]), name="partial")
        if any_L or rest:
            red_o = {d: oc.reduce_axis(shape[d], f"t{d}") for d in others}
            t = oc.reduce_axis(rest, "t")
            stages["tail"] = oc.compute(kept_shape, lambda *k: reducer(
                X[index(dict(zip(kept, k)), {**{d: red_o[d].var for d in others},
                                             last: whole * block + t})],
                axis=[red_o[d] for d in others] + [t]), name="tail")
        partial, tail = stages.get("partial"), stages.get("tail")

        def combine_all(*k):
            """The lanes of partial pairwise (a tree: log2 dependent steps), then the tail."""
            parts = [partial[k + (l,)] for l in range(block)] if partial is not None else []
            while len(parts) > 1:
                parts = [_combine(kind, parts[i], parts[i + 1]) if i + 1 < len(parts)
                         else parts[i] for i in range(0, len(parts), 2)]
            if tail is not None:
                parts = [_combine(kind, parts[0], tail[k])] if parts else [tail[k]]
            return parts[0]
        acc = oc.compute(kept_shape, combine_all, name="acc")
    stages["acc"] = acc
    count = 1
    for d in axes:
        count *= shape[d]
    count = count.astype(dtype) if v.is_symbolic(count) else oc.const(count, dtype)
    out_shape = tuple(1 if d in axes else shape[d] for d in range(len(shape))) if keepdims \
        else kept_shape

    def finish(*i):
        k = tuple(i[d] for d in kept) if keepdims else i
        value = acc[k]
        return value / count if kind == "mean" else value
    if kind == "mean" or keepdims:
        out = oc.compute(out_shape, finish, name="out")
    else:
        out = acc
    return X, stages, out


def _check(op, shape, axis, keepdims, dtype, target, kinds_dtypes):
    shape = v.sym_shape(op, "shape", shape)
    axes = _axes(op, axis, len(shape))
    v.flag(op, "keepdims", keepdims)
    return shape, axes, v.dtype(op, dtype, kinds_dtypes), v.target(op, target)


def reduce(shape, axis=None, kind="sum", keepdims=False, dtype="float32", target="llvm"):
    """out = kind(X, axis, keepdims): returns (schedule, [X, out]).

    X has `shape`; axis: None (all), an int or a tuple of ints (negative
    counts from the end); out has NumPy's shape for (axis, keepdims).
    kind: sum, mean, max, min, prod.  dtype: float32, float64; int32 too
    except for mean.  Each kind is the template of its name (knob: unroll,
    see reduce_template): inside autotune.apply_history_best a tuned record
    applies."""
    from .gpu import cuda_target, ops as gpu_ops
    if cuda_target(target) is not None:        # the GPU template: schedules/gpu/
        return gpu_ops.reduce(shape, axis, kind, keepdims, dtype, target)
    op = kind if kind in COMBINERS else "reduce"
    v.choice(op, "kind", kind, tuple(COMBINERS))
    return tunable.call(TEMPLATES[kind], (shape, axis, keepdims, dtype), {}, target)


def reduce_template(shape, axis, kind, keepdims, dtype, target):
    """The body of the reduction templates.  Knob:

    unroll  vectors in a block of the last axis (the register block of the rows
            shape, the lane-wise partial of the lanes shape): 1, 2, 4 or 8,
            default UNROLL (4); with a symbolic last axis UNROLL only"""
    shape, axis = tunable.tuples(shape, axis)
    shape, axes, dtype, tgt = _check(kind, shape, axis, keepdims, dtype, target,
                                     v.FLOATS if kind == "mean" else v.NUMERIC)
    lanes = v.lanes(dtype, tgt)
    cfg = get_config()
    L = shape[-1]
    cfg.define_knob("unroll", [UNROLL] if v.is_symbolic(L) else
                    [u for u in UNROLLS if u <= UNROLL or lanes * u <= L], default=UNROLL)
    unroll = cfg["unroll"].val
    X, stages, out = reduce_compute(shape, axes, kind, keepdims, dtype, lanes, unroll)
    s = oc.create_schedule(out)
    schedule_reduce(s, stages, out, shape, axes, lanes, unroll)
    return s, [X, out]


def _reduction_template(kind: str):
    """The template `kind` (sum, mean, ...): reduce_template with kind fixed."""
    def tmpl(shape, axis=None, keepdims=False, dtype="float32", target="llvm"):
        return reduce_template(shape, axis, kind, keepdims, dtype, target)
    tmpl.__name__ = tmpl.__qualname__ = f"{kind}_template"
    tmpl.__doc__ = f"The tunable {kind} reduction (see reduce_template)."
    return template(kind)(tmpl)


def schedule_reduce(s, stages, out, shape, axes, lanes, unroll=UNROLL):
    """See the module docstring (blocks of `unroll` vectors)."""
    if len(shape) - 1 not in axes:
        _schedule_rows(s, stages["acc"], out, shape[-1], lanes, unroll)
    else:
        _schedule_lanes(s, stages, out, lanes)


def _schedule_rows(s, acc, out, L, lanes, unroll=UNROLL):
    """Last axis kept: blocks of UNROLL vectors of it accumulate in registers
    while the reduction runs over rows.  The block loop joins the parallel
    loop only when it has no tail (a fused tail guard cannot be partitioned)."""
    local = s.cache_write(acc, "local")
    if out is not acc:
        s[acc].compute_inline()
    block = lanes * unroll
    *front, last = s[out].op.axis
    lo, li = s[out].split(last, factor=block)
    whole_blocks = not v.is_symbolic(L) and L % block == 0
    if front and whole_blocks:
        outer = s[out].fuse(*front, lo)
    elif front:
        outer = s[out].fuse(*front) if len(front) > 1 else front[0]
    else:
        outer = lo
    s[out].parallel(outer)
    lio, lii = s[out].split(li, factor=lanes)
    s[out].unroll(lio)
    s[out].vectorize(lii)
    s[local].compute_at(s[out], outer if front and whole_blocks else lo)
    *_, lc = s[local].op.axis
    lco, lci = s[local].split(lc, factor=lanes)
    s[local].reorder(*s[local].op.reduce_axis, lco, lci)
    s[local].unroll(lco)
    s[local].vectorize(lci)


def _schedule_lanes(s, stages, out, lanes):
    """Last axis reduced: the output's loops fused and parallel; per output
    element the lane-wise partial and the tail inside, combined by acc."""
    acc = stages["acc"]
    if acc is not out:
        s[acc].compute_inline()
    axes = list(s[out].op.axis)
    fused = None
    if axes:
        fused = s[out].fuse(*axes) if len(axes) > 1 else axes[0]
        s[out].parallel(fused)
    for name in ("partial", "tail"):
        if name in stages and fused is not None:
            s[stages[name]].compute_at(s[out], fused)
    if "partial" in stages:
        partial = stages["partial"]
        bo, bi = s[partial].split(s[partial].op.axis[-1], factor=lanes)
        s[partial].reorder(*s[partial].op.reduce_axis, bo, bi)
        s[partial].unroll(bo)
        s[partial].vectorize(bi)


ARG_KINDS = ("argmax", "argmin")


def arg_reduce_compute(shape, axes, kind, keepdims, dtype):
    """X, the extreme value m, and out: the first (row-major) index of m over the axes."""
    X = oc.placeholder(shape, dtype, name="X")
    kept = [d for d in range(len(shape)) if d not in axes]
    kept_shape = tuple(shape[d] for d in kept)
    total = 1
    for d in axes:
        total *= shape[d]
    r1 = {d: oc.reduce_axis(shape[d], f"r{d}") for d in axes}
    r2 = {d: oc.reduce_axis(shape[d], f"s{d}") for d in axes}

    def read(k, r):
        kidx = dict(zip(kept, k))
        return X[tuple(kidx[d] if d in kidx else r[d].var for d in range(len(shape)))]
    extreme = oc.max if kind == "argmax" else oc.min
    m = oc.compute(kept_shape, lambda *k: extreme(read(k, r1), axis=[r1[d] for d in axes]),
                   name="m")

    def first_index(*k):
        flat = oc.const(0, "int64")
        for d in axes:
            flat = flat * shape[d] + r2[d].var.astype("int64")
        x = read(k, r2)
        hit = (x == m[k]) | (x != x) if dtype in v.FLOATS else x == m[k]
        past = total.astype("int64") if v.is_symbolic(total) else oc.const(total, "int64")
        return oc.min(oc.select(hit, flat, past), axis=[r2[d] for d in axes])
    idx = oc.compute(kept_shape, first_index, name="index")
    if not keepdims:
        return X, m, idx, idx
    out_shape = tuple(1 if d in axes else shape[d] for d in range(len(shape)))
    out = oc.compute(out_shape, lambda *i: idx[tuple(i[d] for d in kept)], name="out")
    return X, m, idx, out


def arg_reduce(shape, axis=None, kind="argmax", keepdims=False, dtype="float32",
               target="llvm"):
    """out = np.argmax / np.argmin(X, axis, keepdims): returns (schedule, [X, out]).

    axis: None (the index into the flattened X) or one int; out is int64.
    dtype: float32, float64, int32."""
    op = kind if kind in ARG_KINDS else "arg_reduce"
    v.choice(op, "kind", kind, ARG_KINDS)
    if isinstance(axis, (tuple, list)):
        raise v.fail(op, "axis", "None or one int", axis)
    shape, axes, dtype, tgt = _check(op, shape, axis, keepdims, dtype, target, v.NUMERIC)
    X, m, idx, out = arg_reduce_compute(shape, axes, kind, keepdims, dtype)
    s = oc.create_schedule(out)
    schedule_arg_reduce(s, m, idx, out)
    return s, [X, out]


def schedule_arg_reduce(s, m, idx, out):
    """The output's loops fused and parallel; per element, m and then the index
    (scalar loops: the reductions walk the reduced axes)."""
    loops = list(s[out].op.axis)
    if not loops:
        return
    fused = s[out].fuse(*loops) if len(loops) > 1 else loops[0]
    s[out].parallel(fused)
    if out is idx:
        s[m].compute_at(s[out], fused)
        return
    s[idx].compute_at(s[out], fused)
    if idx.shape:
        s[m].compute_at(s[idx], s[idx].op.axis[-1])


def argmax(shape, axis=None, keepdims=False, dtype="float32", target="llvm"):
    """np.argmax(X, axis, keepdims) (see arg_reduce): returns (schedule, [X, out])."""
    return arg_reduce(shape, axis, "argmax", keepdims, dtype, target)


def argmin(shape, axis=None, keepdims=False, dtype="float32", target="llvm"):
    """np.argmin(X, axis, keepdims) (see arg_reduce): returns (schedule, [X, out])."""
    return arg_reduce(shape, axis, "argmin", keepdims, dtype, target)


def _named(kind):
    def op(shape, axis=None, keepdims=False, dtype="float32", target="llvm"):
        return reduce(shape, axis, kind, keepdims, dtype, target)
    op.__name__ = kind
    op.__doc__ = f"np.{kind}(X, axis, keepdims) (see reduce): returns (schedule, [X, out])."
    return op


sum_ = _named("sum")
mean = _named("mean")
max_ = _named("max")
min_ = _named("min")
prod = _named("prod")
TEMPLATES = {kind: _reduction_template(kind) for kind in COMBINERS}
