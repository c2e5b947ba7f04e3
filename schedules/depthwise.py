"""Depthwise 2-D convolution, NCHW: each channel convolved with its own R x S filter.

    out[n, c*m + j, oh, ow] = sum_{r,s} P[n, c, oh*sh + r*dh, ow*sw + s*dw] * w[c*m + j, 0, r, s]

(m, the channel multiplier, is 1 in the usual case; PyTorch's
conv2d(groups=C) with weight (C*m, 1, R, S)).

Algorithm first.  Per (image, channel) the input plane is copied into a
zero-padded plane P (a few KiB, so it stays in L1 while the channel's output
is computed); the output is computed over a padded domain, the width rounded
up to whole vectors and the height to whole row tiles, so the accumulator has
no tail; the copy to the output drops the padding.

Schedule: the (image, channel) loop is parallel and P is computed inside it;
the output tile is bh rows x bw columns (bw a multiple of the vector width),
accumulated in registers over the unrolled R x S taps, whose overlapping
input rows LLVM loads once.  bh and bw come from the target's registers
(choose_tile).
"""
from __future__ import annotations

import itertools

import opcomp as oc
from autotune import get_config, template

from . import tunable
from . import validate as v
from .conv2d import _ceil_to, out_size
from .padding import pad_planes, schedule_planes


def choose_tile(OH, OW, R, S, lanes, registers):
    """(bh rows, bw columns) of the register tile: minimum cycles per output.

    A tile does R*S*bh*bv FMAs (bv vectors per row) and about (bh+R-1)*S*bv
    loads plus R*S weight broadcasts; it keeps bh*bv accumulators, and the
    R*S weights stay in registers beside them when they fit (8 x 1 vectors and
    9 weights need 17 of AVX2's 16: the tile spills), and pays for the
    padded rows and columns it computes."""
    best = None
    room = registers - 2 - R * S if registers - 2 - R * S >= 1 else registers - 4
    for bh, bv in itertools.product(range(1, 9), range(1, 5)):
        if bh * bv > room:
            continue
        fmas = R * S * bh * bv
        loads = (bh + R - 1) * S * bv + R * S
        cycles = max(fmas, loads) / 2 + 4
        padded = _ceil_to(OH, bh) * _ceil_to(OW, bv * lanes)
        cost = (cycles * padded / (bh * bv * lanes), -bh * bv)
        if best is None or cost < best[0]:
            best = (cost, (bh, bv * lanes))
    return best[1]


def depthwise_compute(N, C, H, W, R, S, stride, padding, dilation, multiplier, OHP, OWP,
                      dtype):
    """data, weight, the stages of the padded input P (padding.py), conv (padded
    domain) and out."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH, OW = out_size(H, R, sh, ph, dh), out_size(W, S, sw, pw, dw)
    K = C * multiplier
    Hp, Wp = (OHP - 1) * sh + (R - 1) * dh + 1, (OWP - 1) * sw + (S - 1) * dw + 1
    data = oc.placeholder((N, C, H, W), dtype, name="data")
    weight = oc.placeholder((K, 1, R, S), dtype, name="weight")

    planes = pad_planes(lambda n, c, h, w: data[n, c, h, w], (N, C), H, W, (ph, pw), Hp, Wp,
                        dtype)
    P = planes[-1]
    rr, rs = oc.reduce_axis(R, "rr"), oc.reduce_axis(S, "rs")
    conv = oc.compute((N, K, OHP, OWP), lambda n, k, oh, ow: oc.sum(
        P[n, k // multiplier if multiplier > 1 else k, oh * sh + rr * dh, ow * sw + rs * dw] *
        weight[k, 0, rr, rs], axis=[rr, rs]), name="conv")
    out = oc.compute((N, K, OH, OW), lambda n, k, oh, ow: conv[n, k, oh, ow], name="out")
    return data, weight, planes, conv, out


def depthwise_conv2d(N, C, H, W, R, S, stride=1, padding=0, dilation=1, multiplier=1,
                     dtype="float32", tile=None, target="llvm"):
    """Depthwise convolution: returns (schedule, [data, weight, out]).

    data (N, C, H, W), weight (C*multiplier, 1, R, S), out (N, C*multiplier,
    OH, OW).  stride, padding (zeros), dilation: an int or (height, width).
    dtype: float32, float64, int32.  tile=(rows, columns) overrides the
    register tile (columns a multiple of the vector width).  The template
    "depthwise_conv2d" (its knob: depthwise_template): inside
    autotune.apply_history_best a tuned record applies."""
    return tunable.call(depthwise_template, (N, C, H, W, R, S, stride, padding, dilation,
                                             multiplier, dtype, tile), {}, target)


@template("depthwise_conv2d")
def depthwise_template(N, C, H, W, R, S, stride=1, padding=0, dilation=1, multiplier=1,
                       dtype="float32", tile=None, target="llvm"):
    """The tunable depthwise convolution (arguments as depthwise_conv2d's).  Knob:

    tile  "BHxBW": the register tile, bh rows (1 to 8) x bw columns (1 to 4 vectors)
          whose accumulators fit the target's registers beside the weights (as
          choose_tile counts them); default choose_tile's (a given tile: the only one)"""
    op = "depthwise_conv2d"
    stride, padding, dilation, tile = tunable.tuples(stride, padding, dilation, tile)
    N, C, H, W, R, S = (v.positive(op, name, val) for name, val in
                        zip(("N", "C", "H", "W", "R", "S"), (N, C, H, W, R, S)))
    stride, padding = v.pair(op, "stride", stride), v.pair(op, "padding", padding, 0)
    dilation = v.pair(op, "dilation", dilation)
    multiplier = v.positive(op, "multiplier", multiplier)
    dtype = v.dtype(op, dtype, v.NUMERIC)
    tgt = v.target(op, target)
    OH = out_size(H, R, stride[0], padding[0], dilation[0])
    OW = out_size(W, S, stride[1], padding[1], dilation[1])
    if OH < 1 or OW < 1:
        raise v.fail(op, "R, S", f"a dilated kernel that fits the padded {H + 2 * padding[0]}x"
                     f"{W + 2 * padding[1]} input", (R, S))
    lanes = v.lanes(dtype, tgt)
    bh, bw = _define_tile(get_config(), op, tile, (OH, OW, R, S), lanes, tgt.vector_registers)
    data, weight, planes, conv, out = depthwise_compute(
        N, C, H, W, R, S, stride, padding, dilation, multiplier,
        _ceil_to(OH, bh), _ceil_to(OW, bw), dtype)
    s = oc.create_schedule(out)
    schedule_depthwise(s, planes, conv, out, bh, bw, lanes, multiplier)
    return s, [data, weight, out]


def _define_tile(cfg, op, tile, sizes, lanes: int, registers: int) -> tuple:
    """The tile knob of depthwise_template; returns the chosen (bh, bw)."""
    OH, OW, R, S = sizes
    if tile is None:
        bh, bw = choose_tile(OH, OW, R, S, lanes, registers)
        room = registers - 2 - R * S if registers - 2 - R * S >= 1 else registers - 4
        names = {f"{h}x{vb * lanes}" for h, vb in itertools.product(range(1, 9), range(1, 5))
                 if h * vb <= room} | {f"{bh}x{bw}"}
    else:
        bh, bw = v.pair(op, "tile", tile)
        if bw % lanes:
            raise v.fail(op, "tile", f"(rows, columns) with columns a multiple of {lanes}",
                         tile)
        names = {f"{bh}x{bw}"}
    order = sorted(names, key=lambda n: tuple(int(x) for x in n.split("x")))
    cfg.define_knob("tile", order, default=f"{bh}x{bw}")
    return tuple(int(x) for x in cfg["tile"].val.split("x"))


def schedule_depthwise(s, planes, conv, out, bh, bw, lanes, multiplier):
    """See the module docstring."""
    local = s.cache_write(conv, "local")
    s[conv].compute_inline()
    n, k, oh, ow = out.op.axis
    oho, ohi = s[out].split(oh, factor=bh)
    owo, owi = s[out].split(ow, factor=bw)
    s[out].reorder(n, k, oho, owo, ohi, owi)
    nk = s[out].fuse(n, k)
    s[out].parallel(nk)
    owv, owl = s[out].split(owi, factor=lanes)
    s[out].unroll(ohi)
    s[out].unroll(owv)
    s[out].vectorize(owl)
    s[local].compute_at(s[out], owo)
    _, _, hc, wc = s[local].op.axis
    rr, rs = s[local].op.reduce_axis
    wv, wl = s[local].split(wc, factor=lanes)
    s[local].reorder(rr, rs, hc, wv, wl)
    s[local].unroll(rr)
    s[local].unroll(rs)
    s[local].unroll(hc)
    s[local].unroll(wv)
    s[local].vectorize(wl)
    schedule_planes(s, planes, lanes, at=(s[out], nk) if multiplier == 1 else None)
