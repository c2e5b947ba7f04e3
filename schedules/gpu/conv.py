"""GPU 2-D convolution, NCHW, direct: padding, stride, dilation, groups.

Algorithm first: the zero padding is a select in the definition (the clamped
read keeps every address inside the data), never a padded copy in memory:

    out[n, k, oh, ow] = sum over (c, r, s) of
        select(inside(h, w), data[n, g(k)*Cg + c, clamp(h), clamp(w)], 0) * weight[k, c, r, s]
    with h = oh*stride_h + r*dilation_h - pad_h, w likewise, g(k) = k // (K / groups)

Schedule, one primitive per line:
- a block computes a tile of (TK*KT filters) x (one output row) x (TW*WT
  columns): blockIdx.z over (image, filter tile), blockIdx.y over the output
  rows, blockIdx.x over the column tiles;
- TK x TW threads (threadIdx.y over filters, threadIdx.x over columns, so a
  warp reads neighbouring input columns), each a KT x WT register tile
  (cache_write "local" at the thread loop);
- the input channels are split by tile_c; with weight_shared the block copies
  the weights of its filters for those channels (TK*KT x tile_c x R x S) into
  shared memory at each step, all threads taking part.

Knobs (template "gpu/conv2d"): threads "TKxTW" (default 8x32), thread_tile
"KTxWT" (default 4x2), tile_c (default 2: 4 spilled on sm_80 where a row of 56
leaves 28 threads), weight_shared (default 1); tiles
whose weights exceed the target's shared memory per block are left out.
"""
from __future__ import annotations

import opcomp as oc
from autotune import get_config, template

from .common import bind, ceil_div, fit_threads, itemsize, pair, spread_copy

THREADS = ("2x16", "4x16", "4x32", "8x16", "8x32", "16x16", "4x64", "16x32")
THREAD_TILES = ("1x1", "2x1", "1x2", "2x2", "4x1", "4x2", "2x4", "4x4")
TILE_C = (1, 2, 4, 8, 16)


def conv_compute(N, C, H, W, K, R, S, stride, padding, dilation, groups, dtype):
    """data (N, C, H, W), weight (K, C // groups, R, S), out (N, K, OH, OW)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
    Cg, Kg = C // groups, K // groups
    data = oc.placeholder((N, C, H, W), dtype, name="data")
    weight = oc.placeholder((K, Cg, R, S), dtype, name="weight")
    rc, rr, rs = oc.reduce_axis(Cg, "rc"), oc.reduce_axis(R, "rr"), oc.reduce_axis(S, "rs")

    def body(n, k, oh, ow):
        h = oh * sh + rr * dh - ph
        w = ow * sw + rs * dw - pw
        c = rc if groups == 1 else (k // Kg) * Cg + rc
        x = data[n, c, oc.minimum(oc.maximum(h, 0), H - 1), oc.minimum(oc.maximum(w, 0), W - 1)]
        if ph or pw:
            x = oc.select((h >= 0) & (h < H) & (w >= 0) & (w < W), x, oc.const(0, dtype))
        return oc.sum(x * weight[k, rc, rr, rs], axis=[rc, rr, rs])
    out = oc.compute((N, K, OH, OW), body, name="out")
    return data, weight, out


def conv_knobs(cfg, target, dtype, Cg, R, S) -> dict:
    """Define the knobs (module docstring) and return their values."""
    threads = [t for t in THREADS if pair(t)[0] * pair(t)[1] <= target.max_threads_per_block]
    cfg.define_knob("threads", threads, default="8x32" if "8x32" in threads else threads[0])
    tiles = [t for t in THREAD_TILES if pair(t)[0] * pair(t)[1] <= target.registers_per_thread // 2]
    cfg.define_knob("thread_tile", tiles, default="4x2")
    tk, tw = pair(cfg["threads"].val)
    kt, wt = pair(cfg["thread_tile"].val)
    fits = [c for c in TILE_C if tk * kt * min(c, Cg) * R * S * itemsize(dtype)
            <= target.max_shared_memory_per_block] or [1]
    cfg.define_knob("tile_c", fits, default=2 if 2 in fits else fits[-1])
    cfg.define_knob("weight_shared", [1, 0])
    return {"tk": tk, "tw": tw, "kt": kt, "wt": wt, "tile_c": cfg["tile_c"].val,
            "shared": cfg["weight_shared"].val}


def conv_threads(K: int, OW: int, Cg: int, RS: int, knobs: dict) -> tuple:
    """(TK, TW): the knob's threads, fewer for few filters or narrow rows, or where the
    weight copy has fewer elements than threads (fit_threads)."""
    kt, wt, tc = knobs["kt"], knobs["wt"], min(knobs["tile_c"], Cg)
    start = [min(knobs["tk"], ceil_div(K, kt)), min(knobs["tw"], ceil_div(OW, wt))]

    def copies(threads):
        return [min(threads[0] * kt, K) * tc * RS] if knobs["shared"] else []
    return tuple(fit_threads(start, copies))


def schedule_conv(s, weight, out, knobs: dict) -> None:
    """The schedule of the module docstring."""
    K, Cg, R, S = (d.value for d in weight.shape)
    tk, tw = conv_threads(K, out.shape[3].value, Cg, R * S, knobs)
    kt, wt = knobs["kt"], knobs["wt"]
    WS = s.cache_read(weight, "shared", [out]) if knobs["shared"] else None
    OL = s.cache_write(out, "local")
    n, k, oh, ow = s[out].op.axis
    bk, ki = s[out].split(k, factor=tk * kt)
    bw, wi = s[out].split(ow, factor=tw * wt)
    tkk, ki = s[out].split(ki, factor=kt)
    tww, wi = s[out].split(wi, factor=wt)
    s[out].reorder(n, bk, oh, bw, tkk, tww, ki, wi)
    bind(s[out], s[out].fuse(n, bk), "blockIdx.z")
    bind(s[out], oh, "blockIdx.y")
    bind(s[out], bw, "blockIdx.x")
    bind(s[out], tkk, "threadIdx.y")
    bind(s[out], tww, "threadIdx.x")
    s[OL].compute_at(s[out], tww)
    _, kl, hl, wl = s[OL].op.axis
    rc, rr, rs = s[OL].op.reduce_axis
    rco, rci = s[OL].split(rc, factor=knobs["tile_c"])
    s[OL].reorder(rco, rci, rr, rs, hl, kl, wl)
    if WS is not None:
        s[WS].compute_at(s[OL], rco)
        spread_copy(s, WS, [("threadIdx.y", tk), ("threadIdx.x", tw)])


@template("gpu/conv2d")
def gpu_conv2d(N, C, H, W, K, R, S, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
               groups: int = 1, dtype: str = "float32", target="cuda"):
    """Direct NCHW convolution on the GPU: returns (schedule, [data, weight, out]);
    stride, padding, dilation: (height, width) pairs."""
    cfg = get_config()
    knobs = conv_knobs(cfg, target, dtype, C // groups, R, S)
    data, weight, out = conv_compute(N, C, H, W, K, R, S, tuple(stride), tuple(padding),
                                     tuple(dilation), groups, dtype)
    s = oc.create_schedule(out)
    schedule_conv(s, weight, out, knobs)
    _, _, OH, OW = (d.value for d in out.shape)
    cfg.add_flop(2.0 * N * K * OH * OW * (C // groups) * R * S)
    return s, [data, weight, out]
