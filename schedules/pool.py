"""Max and average 2-D pooling, NCHW.

    max: out[n, c, oh, ow] = max_{r,s} P[n, c, oh*sh + r*dh, ow*sw + s*dw]   (pad: -inf)
    avg: out[n, c, oh, ow] = sum_{r,s} P[n, c, oh*sh + r, ow*sw + s] / count (pad: 0)

count is R*S with count_include_pad (PyTorch's default), else the number of
window elements inside the input.  PyTorch's floor mode (ceil_mode=False).

Algorithm first: per (image, channel) the plane is padded (padding.py, with
the pool's identity, so padding never wins a max) while it is in L1, then
each output row is reduced over the R x S window.

Schedule: the (image, channel) loop is parallel and the padded plane is
computed inside it; the output's columns are split into vectors of the
target's width, the window accumulates in a register (cache_write local)
with its loops unrolled.  A column stride above 1 makes the loads strided
(gathers): correct, and slower than a stride of 1.
"""
from __future__ import annotations

import opcomp as oc
from autotune import get_config, template

from . import tunable
from . import validate as v
from .conv2d import out_size
from .padding import pad_planes, schedule_planes

KINDS = ("max", "avg")
WIDTH_VECTORS = (1, 2, 4)      # the width knob: vectors of output columns per step


def pool2d_compute(N, C, H, W, R, S, stride, padding, dilation, kind, count_include_pad,
                   dtype):
    """data, the padded-plane stages and out."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH, OW = out_size(H, R, sh, ph, dh), out_size(W, S, sw, pw, dw)
    Hp, Wp = (OH - 1) * sh + (R - 1) * dh + 1, (OW - 1) * sw + (S - 1) * dw + 1
    data = oc.placeholder((N, C, H, W), dtype, name="data")
    planes = pad_planes(lambda n, c, h, w: data[n, c, h, w], (N, C), H, W, (ph, pw), Hp, Wp,
                        dtype, combiner="max" if kind == "max" else "sum")
    P = planes[-1]
    rr, rs = oc.reduce_axis(R, "rr"), oc.reduce_axis(S, "rs")
    reducer = oc.max if kind == "max" else oc.sum
    pooled = oc.compute((N, C, OH, OW), lambda n, c, oh, ow: reducer(
        P[n, c, oh * sh + rr * dh, ow * sw + rs * dw], axis=[rr, rs]), name="pooled")
    if kind == "max":
        return data, planes, pooled, pooled
    if count_include_pad:
        out = oc.compute((N, C, OH, OW), lambda n, c, oh, ow: pooled[n, c, oh, ow] /
                         oc.const(R * S, dtype), name="out")
    else:
        def extent(o, stride_, pad, size, k):
            lo = o * stride_ - pad
            return oc.minimum(lo + k, size) - oc.maximum(lo, 0)
        out = oc.compute((N, C, OH, OW), lambda n, c, oh, ow: pooled[n, c, oh, ow] / (
            extent(oh, sh, ph, H, R) * extent(ow, sw, pw, W, S)).astype(dtype), name="out")
    return data, planes, pooled, out


def pool2d(N, C, H, W, R, S, stride=None, padding=0, dilation=1, kind="max",
           count_include_pad=True, dtype="float32", target="llvm"):
    """2-D pooling: returns (schedule, [data, out]).

    data (N, C, H, W), out (N, C, OH, OW).  stride defaults to the window
    (R, S), as in PyTorch; padding at most half the window; dilation only for
    max.  kind: "max" (float32, float64, int32) or "avg" (float32, float64).
    The templates "max_pool2d" and "avg_pool2d" (knobs: pool_template): inside
    autotune.apply_history_best a tuned record applies."""
    op = f"{kind}_pool2d" if kind in KINDS else "pool2d"
    v.choice(op, "kind", kind, KINDS)
    if kind == "max":
        return tunable.call(max_pool2d_template, (N, C, H, W, R, S, stride, padding, dilation,
                                                  dtype), {}, target)
    return tunable.call(avg_pool2d_template, (N, C, H, W, R, S, stride, padding,
                                              count_include_pad, dtype), {}, target)


@template("max_pool2d")
def max_pool2d_template(N, C, H, W, R, S, stride=None, padding=0, dilation=1, dtype="float32",
                        target="llvm"):
    """The tunable max pooling (see pool_template)."""
    return pool_template(N, C, H, W, R, S, stride, padding, dilation, "max", True, dtype,
                         target)


@template("avg_pool2d")
def avg_pool2d_template(N, C, H, W, R, S, stride=None, padding=0, count_include_pad=True,
                        dtype="float32", target="llvm"):
    """The tunable average pooling (see pool_template)."""
    return pool_template(N, C, H, W, R, S, stride, padding, 1, "avg", count_include_pad, dtype,
                         target)


def pool_template(N, C, H, W, R, S, stride, padding, dilation, kind, count_include_pad, dtype,
                  target):
    """The pooling templates' body.  Knobs:

    width          output columns per vectorized step: 1, 2 or 4 vectors (default 1)
    unroll_window  unroll the window loops (default) or not"""
    op = f"{kind}_pool2d"
    stride, padding, dilation = tunable.tuples(stride, padding, dilation)
    N, C, H, W, R, S = (v.positive(op, name, val) for name, val in
                        zip(("N", "C", "H", "W", "R", "S"), (N, C, H, W, R, S)))
    stride = v.pair(op, "stride", (R, S) if stride is None else stride)
    padding = v.pair(op, "padding", padding, minimum=0)
    dilation = v.pair(op, "dilation", dilation)
    if padding[0] > R // 2 or padding[1] > S // 2:
        raise v.fail(op, "padding", f"at most half the window ({R // 2}, {S // 2})", padding)
    if kind == "avg" and dilation != (1, 1):
        raise v.fail(op, "dilation", "1 for average pooling", dilation)
    v.flag(op, "count_include_pad", count_include_pad)
    dtype = v.dtype(op, dtype, v.NUMERIC if kind == "max" else v.FLOATS)
    tgt = v.target(op, target)
    OH = out_size(H, R, stride[0], padding[0], dilation[0])
    OW = out_size(W, S, stride[1], padding[1], dilation[1])
    if OH < 1 or OW < 1:
        raise v.fail(op, "R, S", f"a window that fits the padded {H + 2 * padding[0]}x"
                     f"{W + 2 * padding[1]} input", (R, S))
    lanes = v.lanes(dtype, tgt)
    cfg = get_config()
    cfg.define_knob("width", [lanes * k for k in WIDTH_VECTORS if k == 1 or lanes * k <= OW])
    cfg.define_knob("unroll_window", [1, 0])
    data, planes, pooled, out = pool2d_compute(N, C, H, W, R, S, stride, padding, dilation,
                                               kind, count_include_pad, dtype)
    s = oc.create_schedule(out)
    schedule_pool(s, planes, pooled, out, lanes, cfg["width"].val, cfg["unroll_window"].val)
    return s, [data, out]


def schedule_pool(s, planes, pooled, out, lanes, width=None, unroll_window=True):
    """See the module docstring; width: output columns per vectorized step (default
    lanes); unroll_window: unroll the window loops."""
    acc = s.cache_write(pooled, "local")
    if out is not pooled:
        s[pooled].compute_inline()
    n, c, oh, ow = out.op.axis
    nc = s[out].fuse(n, c)
    s[out].parallel(nc)
    owo, owi = s[out].split(ow, factor=width or lanes)
    s[out].vectorize(owi)
    s[acc].compute_at(s[out], owo)
    *_, wc = s[acc].op.axis
    rr, rs = s[acc].op.reduce_axis
    s[acc].reorder(rr, rs, wc)
    if unroll_window:
        s[acc].unroll(rr)
        s[acc].unroll(rs)
    s[acc].vectorize(wc)
    schedule_planes(s, planes, lanes, at=(s[out], nc))


def max_pool2d(N, C, H, W, R, S, stride=None, padding=0, dilation=1, dtype="float32",
               target="llvm"):
    """Max pooling (see pool2d): returns (schedule, [data, out])."""
    return pool2d(N, C, H, W, R, S, stride, padding, dilation, "max", True, dtype, target)


def avg_pool2d(N, C, H, W, R, S, stride=None, padding=0, count_include_pad=True,
               dtype="float32", target="llvm"):
    """Average pooling (see pool2d): returns (schedule, [data, out])."""
    return pool2d(N, C, H, W, R, S, stride, padding, 1, "avg", count_include_pad, dtype,
                  target)
