"""2-D convolution, NCHW or NHWC: padding, stride, dilation, groups; direct, no im2col.

Algorithm first.  The input is copied once into a zero-padded buffer P, so
the inner loop has no bounds tests.  The convolution is then a sum over
(c, r, s) of P times the weight, computed over a *padded output domain*: the
vectorized output dimension is rounded up to a whole number of register
tiles, and so are the unrolled ones (P is extended with zeros to cover the
extra reads, filters past the last are clamped reads).  The accumulator
therefore never has a tail: every tile runs the same fully-vectorized
register block, and the copy to the output (the true shape) drops the
padding.  The weights are packed per tile of filters, so the loads of a
step are adjacent and one address walks through them.

    NCHW, "rows"  out[n, k, oh, ow]: ow is vectorized; a weight is
          broadcast to bk filters, a vector of P is shared by them; the tile
          is bk filters x bh output rows x bw columns.
    NCHW, "flat"  the pixels oh*OW + ow are vectorized across row ends
          (stride 1; chosen when a row is not a whole number of vectors,
          which "rows" would pad: W5's 14 columns compute 16); see
          conv2d_flat_compute.
    NHWC  out[n, oh, ow, k]: a GEMM of the pixels (flattened, padded to
          whole tiles) by the filters, k vectorized; an element of P is
          broadcast to bk filters, a weight vector is shared by the bm
          pixels of the tile.

Schedule: the register tile is chosen from the target's vector registers by
a small cost model (choose_tile): enough accumulators to hide FMA latency,
few loads per FMA, little padded work, whole tasks per core.  The tile's
accumulator is a cache_write stage computed at the innermost output tile
loop, its (c, r, s) loops outside and the tile unrolled and vectorized
inside.  Of the filter-tile and pixel-tile loops, the one whose operand is
the larger goes outside and is the parallel loop, so the other operand's
slice stays in L2 while it is reused (schedule_nchw).
"""
from __future__ import annotations

import itertools

import numpy as np

import opcomp as oc
from autotune import get_config, template

from . import tunable
from . import validate as v
from .padding import pad_planes, schedule_planes

LAYOUTS = ("NCHW", "NHWC")
VARIANTS = ("auto", "rows", "flat")


def out_size(size, k, stride, pad, dil):
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def _ceil_to(x, m):
    return -(-x // m) * m


def choose_tile(vec_extent, shared_extent, bcast_extent, lanes, registers, cores, outer=1,
                kind="nchw"):
    """(vector blocks, rows of the shared dim, rows of the broadcast dim) of the register tile.

    The tile is vb vectors (of `lanes`) along the vectorized dim, times a rows
    of a dim that indexes the vector operand too (each row its own vector
    load), times b rows of a dim that indexes the broadcast operand (each row
    one broadcast).  Per reduction step it does vb*a*b FMAs and vb*a + b
    loads.  The vector operand streams from L2 (a panel of weights, rows of
    the padded input), so its loads count twice.  At most registers - 4
    accumulators fit beside the operands; fewer than ~10 leave the FMA
    latency and the loop overhead exposed.  The cost is the padded work over
    the FMA efficiency, over the balance of the parallel tasks."""
    budget = registers - 4
    best = None
    for vb, a, b in itertools.product(range(1, 5), range(1, 9), range(1, budget + 1)):
        acc = vb * a * b
        if acc > budget or (kind != "nchw" and a > 1):
            continue
        loads = 2 * vb * a + b
        step = (max(acc, loads, 10) + 2) / acc     # issue slots (+ loop) per useful FMA
        padded = (_ceil_to(vec_extent, vb * lanes) / vec_extent *
                  _ceil_to(shared_extent, a) / shared_extent *
                  _ceil_to(bcast_extent, b) / bcast_extent)
        tasks = outer * _tasks(vec_extent, vb * lanes, shared_extent, a, bcast_extent, b,
                               kind)
        balance = tasks / _ceil_to(tasks, cores)
        cost = (step * padded / balance, -acc)
        if best is None or cost < best[0]:
            best = (cost, (vb, a, b))
    return best[1]


def _tasks(vec, bv, shared, a, bcast, b, kind) -> int:
    """Parallel tasks of the schedules below (a partitioned tail runs after them):
    NCHW runs the channel tiles or the row tiles in parallel (the schedule
    picks, so count the larger), the flat variant the channel tiles or the
    pixel tiles; NHWC the channel tiles, or the pixel tiles when the
    channels have a tail."""
    if kind == "nchw":
        return max(shared // a, bcast // b, 1)
    if kind == "flat":
        return max(vec // bv, bcast // b, 1)
    return vec // bv if vec % bv == 0 else -(-bcast // b)


def _check(op, sizes, stride, padding, dilation, groups, layout, dtype, target):
    N, C, H, W, K, R, S = (v.positive(op, name, val) for name, val in
                           zip(("N", "C", "H", "W", "K", "R", "S"), sizes))
    stride = v.pair(op, "stride", stride)
    padding = v.pair(op, "padding", padding, minimum=0)
    dilation = v.pair(op, "dilation", dilation)
    groups = v.positive(op, "groups", groups)
    if C % groups:
        raise v.fail(op, "groups", f"a divisor of C={C}", groups)
    if K % groups:
        raise v.fail(op, "groups", f"a divisor of K={K}", groups)
    layout = v.choice(op, "layout", layout, LAYOUTS)
    OH = out_size(H, R, stride[0], padding[0], dilation[0])
    OW = out_size(W, S, stride[1], padding[1], dilation[1])
    if OH < 1 or OW < 1:
        raise v.fail(op, "R, S", f"a dilated kernel that fits the padded {H + 2 * padding[0]}x"
                     f"{W + 2 * padding[1]} input", (R, S))
    return ((N, C, H, W, K, R, S), stride, padding, dilation, groups, layout,
            v.dtype(op, dtype, v.NUMERIC), v.target(op, target), (OH, OW))


def padded_input(data, layout, H, W, pads, Hp, Wp, dtype):
    """The stages of P: data with zeros around it, extended to Hp x Wp.

    NCHW pads the last two axes (padding.py: the column edges become loop
    guards, so the copy stays vectorized); NHWC vectorizes the channels, so
    its row and column conditions are the same for every lane: one select
    with clamped (never out of bounds) row and column."""
    if layout == "NCHW":
        lead = (data.shape[0].value, data.shape[1].value)
        return pad_planes(lambda n, c, h, w: data[n, c, h, w], lead, H, W, pads, Hp, Wp, dtype)
    ph, pw = pads
    N, C = data.shape[0].value, data.shape[3].value

    def body(n, h, w, c):
        inside = (h >= ph) & (h < H + ph) & (w >= pw) & (w < W + pw)
        hh = oc.minimum(oc.maximum(h - ph, 0), H - 1)
        ww = oc.minimum(oc.maximum(w - pw, 0), W - 1)
        return oc.select(inside, data[n, hh, ww, c], v.zero(dtype))
    return [oc.compute((N, Hp, Wp, C), body, name="P")]


def conv2d_compute(N, C, H, W, K, R, S, stride, padding, dilation, groups, layout,
                   OHP, OWP, KP, dtype, bk=1):
    """data, weight, the stages of the padded input P, the padded-domain conv and
    out (true shape).

    NCHW computes over (N, KP, OHP, OWP); NHWC over (N, PIXP, KP), the
    pixels flattened (OHP x OWP given as 1 x PIXP)."""
    PIXP = OHP * OWP
    (sh, sw), (dh, dw) = stride, dilation
    OH = out_size(H, R, sh, padding[0], dh)
    OW = out_size(W, S, sw, padding[1], dw)
    Cg, Kg = C // groups, K // groups
    nchw = layout == "NCHW"
    if not nchw:        # the pixels are flattened (OWP of them) and clamped to the last
        OHP, OWP = OH, OW
    Hp, Wp = (OHP - 1) * sh + (R - 1) * dh + 1, (OWP - 1) * sw + (S - 1) * dw + 1
    data = oc.placeholder((N, C, H, W) if nchw else (N, H, W, C), dtype, name="data")
    weight = oc.placeholder((K, Cg, R, S) if nchw else (R, S, Cg, K), dtype, name="weight")
    planes = padded_input(data, layout, H, W, padding, Hp, Wp, dtype)
    P = planes[-1]
    rc, rr, rs = oc.reduce_axis(Cg, "rc"), oc.reduce_axis(R, "rr"), oc.reduce_axis(S, "rs")

    def channel(k):
        kk = oc.minimum(k, K - 1) if KP > K else k
        return kk, (kk // Kg) * Cg + rc if groups > 1 else rc

    if nchw:
        # Weights packed per tile of bk filters, the filter innermost: the bk
        # broadcasts of a step are adjacent, one address walked by the loops
        wpack = oc.compute((KP // bk, Cg, R, S, bk), lambda ko, c, r, s_, kl: weight[
            oc.minimum(ko * bk + kl, K - 1) if KP > K else ko * bk + kl, c, r, s_],
            name="weightpack")

        def body(n, k, oh, ow):
            _, c = channel(k)
            return oc.sum(P[n, c, oh * sh + rr * dh, ow * sw + rs * dw] *
                          wpack[k // bk, rc, rr, rs, k % bk], axis=[rc, rr, rs])
        conv = oc.compute((N, KP, OHP, OWP), body, name="conv")
        out = oc.compute((N, K, OH, OW), lambda n, k, oh, ow: conv[n, k, oh, ow], name="out")
    else:
        # Weights packed per tile of bk channels: the inner loop reads one
        # contiguous panel, zero past the last channel (clamped, never read).
        def pack(ko, r, s_, c, kl):
            k = ko * bk + kl
            if KP == K:
                return weight[r, s_, c, k]
            return oc.select(k < K, weight[r, s_, c, oc.minimum(k, K - 1)], v.zero(dtype))
        wpack = oc.compute((KP // bk, R, S, Cg, bk), pack, name="weightpack")

        def body_nhwc(n, pix, k):
            pix = oc.minimum(pix, OH * OW - 1) if PIXP > OH * OW else pix
            oh, ow = pix // OW, pix % OW
            _, c = channel(k)
            return oc.sum(P[n, oh * sh + rr * dh, ow * sw + rs * dw, c] *
                          wpack[k // bk, rr, rs, rc, k % bk], axis=[rr, rs, rc])
        conv = oc.compute((N, PIXP, KP), body_nhwc, name="conv")
        out = oc.compute((N, OH, OW, K), lambda n, oh, ow, k: conv[n, oh * OW + ow, k],
                         name="out")
    return data, weight, planes, conv, out


def conv2d(N, C, H, W, K, R, S, stride=1, padding=0, dilation=1, groups=1, layout="NCHW",
           dtype="float32", tile=None, variant="auto", cblock=None, target="llvm"):
    """Direct 2-D convolution: returns (schedule, [data, weight, out]).

    NCHW: data (N, C, H, W), weight (K, C // groups, R, S), out (N, K, OH, OW).
    NHWC: data (N, H, W, C), weight (R, S, C // groups, K), out (N, OH, OW, K).
    stride, padding (zeros, both sides), dilation: an int or (height, width).
    dtype: float32, float64, int32.  tile=(vector blocks, rows, rows)
    overrides the register tile that choose_tile picks for the target.
    variant (NCHW): "rows" vectorizes each output row, "flat" the flattened
    pixels (stride 1 only), "auto" picks flat when the row width is not a
    whole number of vectors.  cblock: input channels per block of the flat
    variant (default: what fits half the target's L2).

    The template "conv2d" (knobs: conv2d_template): inside
    autotune.apply_history_best a tuned record applies, else the choices above."""
    from .gpu import cuda_target, ops as gpu_ops
    if cuda_target(target) is not None:        # the GPU template: schedules/gpu/
        return gpu_ops.conv2d(N, C, H, W, K, R, S, stride, padding, dilation, groups, layout,
                              dtype, target, tile=tile, cblock=cblock,
                              variant=None if variant == "auto" else variant)
    return tunable.call(conv2d_template, (N, C, H, W, K, R, S, stride, padding, dilation,
                                          groups, layout, dtype),
                        {"tile": tile, "variant": variant, "cblock": cblock}, target)


@template("conv2d")
def conv2d_template(N, C, H, W, K, R, S, stride=1, padding=0, dilation=1, groups=1,
                    layout="NCHW", dtype="float32", tile=None, variant="auto", cblock=None,
                    target="llvm"):
    """The tunable convolution (arguments as conv2d's).  Knobs:

    tile   "VBxAxB": the register tile (vector blocks, rows of the shared dim, rows
           of the broadcast dim) of the variant; every tile whose accumulators fit
           the target's registers (registers - 4) and whose padded work is at most
           1.5x; default choose_tile's (a given `tile` is the only choice)
    outer  which tile loop is outermost and parallel: "rows" (or "pixels" in the
           flat variant) or "channels" (NCHW only; default: the larger operand's)
    cblock input channels per block of the flat variant (divisors of C / groups;
           default: what fits half of L2; a given `cblock` is the only choice)
    """
    op = "conv2d"
    stride, padding, dilation, tile = tunable.tuples(stride, padding, dilation, tile)
    (N, C, H, W, K, R, S), stride, padding, dilation, groups, layout, dtype, tgt, (OH, OW) = \
        _check(op, (N, C, H, W, K, R, S), stride, padding, dilation, groups, layout, dtype,
               target)
    lanes = v.lanes(dtype, tgt)
    nchw = layout == "NCHW"
    v.choice(op, "variant", variant, VARIANTS)
    if variant == "flat" and (not nchw or stride != (1, 1)):
        raise v.fail(op, "variant", "'flat' only with layout NCHW and stride 1", variant)
    flat = variant == "flat" or (variant == "auto" and nchw and stride == (1, 1) and
                                 OW % lanes != 0)
    kind = "flat" if flat else "nchw" if nchw else "nhwc"
    if tile is not None:
        tile = _check_tile(op, tile, kind == "nchw")
    cfg = get_config()
    tile = _define_tile(cfg, kind, tile, (N, OH, OW, K), lanes, tgt)
    if flat:
        return _flat_template(cfg, (N, C, H, W, K, R, S), padding, dilation, groups, dtype,
                              tile, cblock, lanes, tgt, (OH, OW))
    if nchw:
        bw, bh, bk = tile[0] * lanes, tile[1], tile[2]
        KP, OHP, OWP = _ceil_to(K, bk), _ceil_to(OH, bh), _ceil_to(OW, bw)
    else:
        bk, bm = tile[0] * lanes, tile[2]
        KP, OHP, OWP = _ceil_to(K, bk), 1, _ceil_to(OH * OW, bm)
    data, weight, planes, conv, out = conv2d_compute(N, C, H, W, K, R, S, stride, padding,
                                                     dilation, groups, layout, OHP, OWP, KP,
                                                     dtype, bk)
    s = oc.create_schedule(out)
    if nchw:
        rows_outside = _define_outer(cfg, "rows", _nbytes(planes[-1]) > _nbytes(
            next(t for t in conv.op.input_tensors if t.name == "weightpack")))
        schedule_nchw(s, planes, conv, out, bk, bh, bw, lanes, tgt.cores, rows_outside)
    else:
        schedule_nhwc(s, planes[-1], conv, out, bk, bm, lanes, tgt.cores)
    return s, [data, weight, out]


def _flat_template(cfg, sizes, padding, dilation, groups, dtype, tile, cblock, lanes, tgt,
                   out_hw):
    """The flat NCHW variant of conv2d_template, its outer and cblock knobs defined."""
    op, (N, C, H, W, K, R, S), (OH, OW) = "conv2d", sizes, out_hw
    bq, bk = tile[0] * lanes, tile[2]
    data, weight, stages, conv, out = conv2d_flat_compute(
        N, C, H, W, K, R, S, padding, dilation, groups, _ceil_to(OH * OW, bq),
        _ceil_to(K, bk), bk, dtype)
    wpack = next(t for t in conv.op.input_tensors if t.name == "weightpack")
    pixels_outside = _define_outer(cfg, "pixels", _nbytes(stages[-1]) > _nbytes(wpack))
    if cblock is None:      # the largest divisor of C/groups whose inputs fit half of L2
        fit = tgt.cache_bytes["l2"] // 2 // (_nbytes(stages[-1]) // C)
        cblock = max(d for d in range(1, C // groups + 1)
                     if (C // groups) % d == 0 and (d <= fit or d == 1))
        choices = sorted(set(tunable.divisors(C // groups, limit=8)) | {cblock})
    else:
        cblock = v.positive(op, "cblock", cblock)
        choices = [cblock]
    cfg.define_knob("cblock", choices, default=cblock)
    s = oc.create_schedule(out)
    schedule_flat(s, stages, conv, out, bk, bq, lanes, cfg["cblock"].val, pixels_outside)
    return s, [data, weight, out]


def _define_outer(cfg, pixels: str, pixels_default: bool) -> bool:
    """The outer knob: True when the pixel (row) tiles are the outer, parallel loop."""
    cfg.define_knob("outer", [pixels, "channels"],
                    default=pixels if pixels_default else "channels")
    return cfg["outer"].val == pixels


def tile_name(tile) -> str:
    """A register tile (vector blocks, rows, rows) as the tile knob's value "VBxAxB"."""
    return "x".join(str(t) for t in tile)


def _define_tile(cfg, kind: str, tile, sizes, lanes: int, tgt) -> tuple:
    """The tile knob (see conv2d_template); returns the chosen (vector blocks, rows, rows)."""
    N, OH, OW, K = sizes
    # (vectorized, shared, broadcast) extents (see choose_tile): flat vectorizes the
    # flattened pixels, NCHW the output row (its rows load their own vectors), NHWC k
    extents = {"flat": (OH * OW, 1, K), "nchw": (OW, OH, K), "nhwc": (K, 1, OH * OW)}[kind]
    if tile is None:
        tile = choose_tile(*extents, lanes, tgt.vector_registers, tgt.cores, N, kind=kind)
        names = [tile_name(t) for t in register_tiles(extents, lanes, tgt.vector_registers,
                                                      kind)]
        names = sorted(set(names) | {tile_name(tile)}, key=_tile_of)
    else:
        names = [tile_name(tile)]
    cfg.define_knob("tile", names, default=tile_name(tile))
    return _tile_of(cfg["tile"].val)


def _tile_of(name: str) -> tuple:
    return tuple(int(t) for t in name.split("x"))


def register_tiles(extents, lanes: int, registers: int, kind: str, waste: float = 1.5) -> list:
    """The tiles (vector blocks, rows, rows) whose accumulators fit registers - 4 (as in
    choose_tile) and whose padded work over `extents` is at most `waste` times."""
    vec, shared, bcast = extents
    out = []
    for vb, a, b in itertools.product(range(1, 5), range(1, 9), range(1, registers - 3)):
        if vb * a * b > registers - 4 or (kind != "nchw" and a > 1):
            continue
        padded = (_ceil_to(vec, vb * lanes) / vec * _ceil_to(shared, a) / shared *
                  _ceil_to(bcast, b) / bcast)
        if padded <= waste:
            out.append((vb, a, b))
    return out


def _check_tile(op, tile, rows):
    """(vector blocks, rows, rows): positive ints; only the NCHW rows variant
    has two row dims (NHWC and the flat variant: (vector blocks, 1, rows))."""
    if not isinstance(tile, (tuple, list)) or len(tile) != 3:
        raise v.fail(op, "tile", "a tuple (vector blocks, rows, rows) of positive ints", tile)
    tile = tuple(v.positive(op, "tile", t) for t in tile)
    if not rows and tile[1] != 1:
        raise v.fail(op, "tile", "(vector blocks, 1, rows) for NHWC and the flat variant",
                     tile)
    return tile


def schedule_pad(s, P, lanes):
    """P at root: its two outer loops fused and parallel, the innermost vectorized."""
    a, b, _, last = P.op.axis
    s[P].parallel(s[P].fuse(a, b))
    _, li = s[P].split(last, factor=lanes)
    s[P].vectorize(li)


def _tile_local(s, local, vec_axis, unrolled, lanes, channels_last=False):
    """The accumulator: reduction loops outside (in the order that reads P and the
    weights sequentially: c, r, s for NCHW, r, s, c for NHWC), tile unrolled,
    lanes vectorized."""
    red = {iv.var.name: iv for iv in s[local].op.reduce_axis}
    rc, rr, rs = red["rc"], red["rr"], red["rs"]
    vo, vi = s[local].split(vec_axis, factor=lanes)
    if channels_last:
        rco, rci = s[local].split(rc, factor=2)
        s[local].reorder(rr, rs, rco, rci, *unrolled, vo, vi)
        s[local].unroll(rci)
    else:
        s[local].reorder(rc, rr, rs, *unrolled, vo, vi)
        s[local].unroll(rs)
    for ax in unrolled:
        s[local].unroll(ax)
    s[local].unroll(vo)
    s[local].vectorize(vi)


def schedule_nchw(s, planes, conv, out, bk, bh, bw, lanes, cores, rows_outside=None):
    """See the module docstring; tile bk x bh x bw over (k, oh, ow).

    The outer of the channel-tile and row-tile loops is the one whose operand
    is the larger: with rows outside (W4: a 0.9 MB input, 0.15 MB of weights)
    a band of input rows stays in L2 while every channel tile uses it; with
    channel tiles outside (W5: 0.3 MB of input, 2.4 MB of weights) a tile's
    weights stay in L2 while it sweeps the input.  That loop is the parallel
    one (fused with the image loop when it has no tail; otherwise its tail is
    partitioned off and runs after it).  rows_outside: True or False overrides
    that choice (the template's outer knob)."""
    local = s.cache_write(conv, "local")
    s[conv].compute_inline()
    n, k, oh, ow = out.op.axis
    N, K, OH, OW = (x.value for x in out.shape)
    ko, ki = s[out].split(k, factor=bk)
    oho, ohi = s[out].split(oh, factor=bh)
    owo, owo_i = s[out].split(ow, factor=bw)
    P = planes[-1]
    weight = next(t for t in s[local].op.input_tensors if t.name == "weightpack")
    if rows_outside is None:
        rows_outside = _nbytes(P) > _nbytes(weight)
    first, tail, second = (oho, OH % bh, ko) if rows_outside else (ko, K % bk, oho)
    s[out].reorder(n, first, second, owo, ki, ohi, owo_i)
    if tail and N > 1 and N >= cores:
        s[out].parallel(n)
    elif N > 1 and not tail:
        s[out].parallel(s[out].fuse(n, first))
    else:
        s[out].parallel(first)
    owv, owl = s[out].split(owo_i, factor=lanes)
    s[out].unroll(ki)
    s[out].unroll(ohi)
    s[out].unroll(owv)
    s[out].vectorize(owl)
    s[local].compute_at(s[out], owo)
    _, kc, hc, wc = s[local].op.axis
    _tile_local(s, local, wc, [kc, hc], lanes)
    schedule_planes(s, planes, lanes)
    wpack = next(t for t in local.op.input_tensors if t.name == "weightpack")
    if rows_outside:
        s[wpack].parallel(wpack.op.axis[0])
    else:
        s[wpack].compute_at(s[out], first)


def _nbytes(t) -> int:
    size = 1
    for d in t.shape:
        size *= d.value
    return size * np.dtype(t.dtype).itemsize


def schedule_nhwc(s, P, conv, out, bk, bm, lanes, cores):
    """See the module docstring: a GEMM over (pixels, k), tile bm pixels x bk channels."""
    local = s.cache_write(conv, "local")
    s[conv].compute_inline()
    n, oh, ow, k = out.op.axis
    OH, OW, K = (x.value for x in out.shape[1:])
    pix = s[out].fuse(oh, ow)
    po, pi = s[out].split(pix, factor=bm)
    ko, ki = s[out].split(k, factor=bk)
    s[out].reorder(n, ko, po, pi, ki)
    outer = s[out].fuse(n, ko)
    if K % bk == 0:             # whole channel tiles: one task per (image, tile)
        s[out].parallel(outer)
    else:                       # else a guard on the fused tile: parallel pixels
        s[out].parallel(po)
    kv, kl = s[out].split(ki, factor=lanes)
    s[out].unroll(pi)
    s[out].unroll(kv)
    s[out].vectorize(kl)
    s[local].compute_at(s[out], po)
    _, pc, kc = s[local].op.axis
    _tile_local(s, local, kc, [pc], lanes, channels_last=True)
    wpack = next(t for t in local.op.input_tensors if t.name == "weightpack")
    s[wpack].compute_at(s[out], outer)
    *_, kl = s[wpack].op.axis
    _, kli = s[wpack].split(kl, factor=lanes)
    s[wpack].vectorize(kli)
    schedule_pad(s, P, lanes)


# -- NCHW, flattened pixels ----------------------------------------------------------------
#
# With a row width that is not a whole number of vectors (W5: 14 columns, 8
# lanes) vectorizing each row computes padding columns (2 of 16, 12.5 %).
# With stride 1 the pixels can be vectorized across rows instead: for each
# column offset s, Q[s] holds the padded input shifted by s and cut to the
# output's width, so the flat pixel q = oh*OW + ow of tap (r, s) reads
# Q[s, c, oh + r*dh, ow], which is Q[s, c] flat at q + r*dh*OW: a contiguous
# vector across row ends (the simplifier folds (q // OW)*OW + q % OW to q).
# The S shifted copies cost S times the input, small beside the FMAs of a
# layer with as many channels as W5.

def conv2d_flat_compute(N, C, H, W, K, R, S, padding, dilation, groups, QP, KP, bk, dtype):
    """data, weight, the copy stages (P's, then Q), conv over (N, KP, QP) and out."""
    (dh, dw) = dilation
    OH, OW = out_size(H, R, 1, padding[0], dh), out_size(W, S, 1, padding[1], dw)
    Cg, Kg = C // groups, K // groups
    Hq = (QP - 1) // OW + (R - 1) * dh + 1          # rows the padded pixels reach
    Wp = OW + (S - 1) * dw
    data = oc.placeholder((N, C, H, W), dtype, name="data")
    weight = oc.placeholder((K, Cg, R, S), dtype, name="weight")
    planes = pad_planes(lambda n, c, h, w: data[n, c, h, w], (N, C), H, W, padding, Hq, Wp,
                        dtype)
    P = planes[-1]
    Q = oc.compute((S, N, C, Hq, OW), lambda s_, n, c, h, w: P[n, c, h, w + s_ * dw],
                   name="shifted")
    rc, rr, rs = oc.reduce_axis(Cg, "rc"), oc.reduce_axis(R, "rr"), oc.reduce_axis(S, "rs")
    wpack = oc.compute((KP // bk, Cg, R, S, bk), lambda ko, c, r, s_, kl: weight[
        oc.minimum(ko * bk + kl, K - 1) if KP > K else ko * bk + kl, c, r, s_],
        name="weightpack")

    def body(n, k, q):
        kk = oc.minimum(k, K - 1) if KP > K else k
        c = (kk // Kg) * Cg + rc if groups > 1 else rc
        return oc.sum(Q[rs, n, c, q // OW + rr * dh, q % OW] * wpack[k // bk, rc, rr, rs, k % bk],
                      axis=[rc, rr, rs])
    conv = oc.compute((N, KP, QP), body, name="conv")
    out = oc.compute((N, K, OH, OW), lambda n, k, oh, ow: conv[n, k, oh * OW + ow], name="out")
    return data, weight, planes + [Q], conv, out


def schedule_flat(s, stages, conv, out, bk, bq, lanes, cblock=0, pixels_outside=None):
    """Tile bk channels x bq flat pixels; the larger operand's loop outside and
    parallel (as in schedule_nchw; pixels_outside True or False overrides it)."""
    local = s.cache_write(conv, "local")
    s[conv].compute_inline()
    n, k, oh, ow = out.op.axis
    N, K, OH, OW = (x.value for x in out.shape)
    q = s[out].fuse(oh, ow)
    qo, qi = s[out].split(q, factor=bq)
    ko, ki = s[out].split(k, factor=bk)
    Q = stages[-1]
    wpack = next(t for t in s[local].op.input_tensors if t.name == "weightpack")
    if pixels_outside is None:
        pixels_outside = _nbytes(Q) > _nbytes(wpack)
    first, tail, second = (qo, (OH * OW) % bq, ko) if pixels_outside else (ko, K % bk, qo)
    s[out].reorder(n, first, second, ki, qi)
    if N > 1 and not tail:
        s[out].parallel(s[out].fuse(n, first))
    else:
        s[out].parallel(first)
    qv, ql = s[out].split(qi, factor=lanes)
    s[out].unroll(ki)
    s[out].unroll(qv)
    s[out].vectorize(ql)
    _, kc, qc = s[local].op.axis
    if cblock and not pixels_outside:
        # the accumulators of a whole channel tile (bk x all pixels, a few KiB) stay
        # in L1 while the input channels run in blocks whose slices fit L2
        s[local].compute_at(s[out], first)
        red = {iv.var.name: iv for iv in s[local].op.reduce_axis}
        rcb, rci = s[local].split(red["rc"], factor=cblock)
        qco, qci = s[local].split(qc, factor=bq)
        qv, ql = s[local].split(qci, factor=lanes)
        s[local].reorder(rcb, qco, rci, red["rr"], red["rs"], kc, qv, ql)
        for ax in (red["rs"], kc, qv):
            s[local].unroll(ax)
        s[local].vectorize(ql)
    else:
        s[local].compute_at(s[out], second)
        _tile_local(s, local, qc, [kc], lanes)
    schedule_planes(s, stages[:-1], lanes)
    if pixels_outside:
        s[wpack].parallel(wpack.op.axis[0])
    else:
        s[wpack].compute_at(s[out], first)
    s_, n_, c_, _, w_ = Q.op.axis
    s[Q].parallel(s[Q].fuse(s_, n_, c_))
    _, wi = s[Q].split(w_, factor=lanes)
    s[Q].vectorize(wi)
