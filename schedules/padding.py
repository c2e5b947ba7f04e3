"""A padded copy of the last two axes (rows, columns) whose inner loop is a plain vector copy.

The obvious definition,

    P[.., h, w] = select(inside(h, w), X[.., clamp(h - ph), clamp(w - pw)], fill)

vectorizes badly along w: the clamped column index is no longer a ramp, so
every vector becomes a gather (on W6 the pad took longer than the depthwise
convolution itself).  Clamping is needed because a select evaluates both
arms, so the unclamped read would touch memory outside X at its edges.

Instead the column conditions become loop guards, which loop partitioning
moves out of the main body: each edge is a reduction over a one-element
axis with where=, whose skipped elements keep the reduction's identity (the
fill: -0.0 for a sum, which is a zero pad, -inf for max, +inf for min):

    L[.., h, w] = sum_t select(rows_ok(h), X[.., clamp(h - ph), w - pw], 0)  where w >= pw
    P[.., h, w] = sum_t L[.., h, w]                                          where w < W + pw

The row condition does not depend on the lane, so it stays a select; the
column clamps that remain in the definition are proved redundant by the
simplifier once the partitioned loops carry their ranges.
"""
from __future__ import annotations

import opcomp as oc

REDUCERS = {"sum": oc.sum, "max": oc.max, "min": oc.min}


def _clamp(x, hi):
    return oc.minimum(oc.maximum(x, 0), hi)


def pad_columns(read, lead, W, pw, Wp, dtype, combiner="sum", name="P"):
    """Stages whose last is P (lead + (Wp,)): read(*lead, w) for w in [0, W) at column
    pw, the other columns the identity of `combiner` (a zero pad for "sum")."""
    reduce = REDUCERS[combiner]
    nlead = len(lead)
    right = min(W + pw, Wp)        # columns [pw, right) hold data
    if pw == 0 and right == Wp:
        return [oc.compute(lead + (Wp,), lambda *i: read(*i[:-1], i[-1]), name=name)]
    t = oc.reduce_axis(1, "t")
    L = oc.compute(lead + (right,), lambda *i: reduce(
        read(*i[:-1], _clamp(i[-1] - pw, W - 1)), axis=t, where=i[-1] >= pw),
        name=f"{name}_left" if right < Wp else name)
    if right == Wp:
        return [L]
    t2 = oc.reduce_axis(1, "t")
    P = oc.compute(lead + (Wp,), lambda *i: reduce(
        L[i[:nlead] + (oc.minimum(i[-1], right - 1),)], axis=t2, where=i[-1] < right),
        name=name)
    return [L, P]


def pad_planes(read, lead, H, W, pads, Hp, Wp, dtype, combiner="sum", name="P"):
    """Stages whose last is P (lead + (Hp, Wp)): read(*lead, h, w) placed at row ph,
    column pw, the rest the identity of `combiner` (a zero pad for "sum")."""
    ph, pw = pads
    fill = oc.const(0, dtype) if combiner == "sum" else oc.te.reduce_identity(combiner, dtype)

    def row_read(*idx):
        *front, h, w = idx
        value = read(*front, _clamp(h - ph, H - 1), w)
        if ph > 0 or Hp > H + ph:
            value = oc.select((h >= ph) & (h < H + ph), value, fill)
        return value
    return pad_columns(row_read, tuple(lead) + (Hp,), W, pw, Wp, dtype, combiner, name)


def schedule_planes(s, stages, lanes, at=None):
    """Vectorize the columns of each stage.  The last is computed at (stage, loop) if
    given, else at root with the loops above the rows fused and parallel; each
    earlier one row by row inside the next, so a row is copied while in L1."""
    last = stages[-1]
    *front, w = last.op.axis
    front = front[:-1] if len(front) > 1 else front
    if at is not None:
        s[last].compute_at(*at)
    elif front:
        s[last].parallel(s[last].fuse(*front) if len(front) > 1 else front[0])
    _, wi = s[last].split(w, factor=lanes)
    s[last].vectorize(wi)
    for st, consumer in zip(stages[:-1], stages[1:]):
        if len(consumer.shape) >= 2:
            s[st].compute_at(s[consumer], s[consumer].op.axis[-2])
        _, wi = s[st].split(st.op.axis[-1], factor=lanes)
        s[st].vectorize(wi)
