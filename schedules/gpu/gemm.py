"""GPU matmul and batched matmul: shared-memory tiles, register tiles per thread.

Algorithm first (no packing: the shared-memory tiles are the GPU's packing):

    C[b, i, j] = sum over k of A[b, i, k] * B[b, k, j]       (b absent for matmul)

Schedule, one primitive per line:
- a block computes a (TY*YT) x (TX*XT) tile of C: blockIdx.y/x over the tiles
  (blockIdx.z over the batch), TY x TX threads, each thread a YT x XT register
  tile (cache_write "local", computed at the thread loop);
- k is split by tile_k; at each outer step the block copies the A tile
  (rows x tile_k) and the B tile (tile_k x columns) into shared memory, all
  threads taking part (float4 copies with vector_copy, where aligned), and every
  thread reads its operands from there tile_k times;
- sizes that do not divide the tiles are guarded (the last block's threads
  outside C do nothing, their copies stop at the edge).

Knobs (template "gpu/matmul", "gpu/batch_matmul"), defaults from the Target:
  threads      "TYxTX" threads per block (at most max_threads_per_block): 16x16
  thread_tile  "YTxXT" accumulators per thread (at most half the registers): 8x8
               (4x4 when a thread has fewer than 128 registers)
  tile_k       the k step of the shared tiles: 8 (both tiles must fit the
               target's shared memory per block)
  vector_copy  copy the tiles with float4 loads (1) or scalars (0)
  double_buffer  two shared tiles per operand, the next loaded while this one is used: 0
"""
from __future__ import annotations

import numpy as np

import opcomp as oc
from autotune import get_config, template

from .common import bind, ceil_div, fit_threads, itemsize, pair, spread_copy

THREADS = ("4x8", "8x4", "8x8", "8x16", "16x8", "16x16", "16x32", "32x16", "32x32")
THREAD_TILES = ("1x1", "2x2", "2x4", "4x2", "4x4", "4x8", "8x4", "8x8")
TILE_K = (4, 8, 16, 32)


def gemm_knobs(cfg, target, dtype: str) -> dict:
    """Define the GEMM knobs (module docstring) and return their values."""
    threads = [t for t in THREADS if np.prod(pair(t)) <= target.max_threads_per_block]
    tiles = [t for t in THREAD_TILES if np.prod(pair(t)) <= target.registers_per_thread // 2]
    cfg.define_knob("threads", threads, default="16x16" if "16x16" in threads else threads[0])
    cfg.define_knob("thread_tile", tiles,
                    default="8x8" if target.registers_per_thread >= 128 else "4x4")
    ty, tx = pair(cfg["threads"].val)
    yt, xt = pair(cfg["thread_tile"].val)
    per_k = (ty * yt + tx * xt) * itemsize(dtype)
    steps = [k for k in TILE_K if k * per_k <= target.max_shared_memory_per_block] or [1]
    cfg.define_knob("tile_k", steps, default=8 if 8 in steps else steps[0])
    cfg.define_knob("vector_copy", [0, 1], default=0)
    return {"ty": ty, "tx": tx, "yt": yt, "xt": xt, "tile_k": cfg["tile_k"].val,
            "vector": 4 if cfg["vector_copy"].val and dtype == "float32" else 0}


def block_threads_for(M: int, N: int, K: int, knobs: dict) -> tuple:
    """(TY, TX): the knob's threads, fewer where the matrix is smaller than the block
    tile (a thread per YT x XT tile of it) or a copy has fewer elements than threads."""
    yt, xt, kt = knobs["yt"], knobs["xt"], min(knobs["tile_k"], K)
    start = [min(knobs["ty"], ceil_div(M, yt)), min(knobs["tx"], ceil_div(N, xt))]

    def copies(threads):
        ty, tx = threads
        return [min(ty * yt, M) * kt, kt * min(tx * xt, N)]
    return tuple(fit_threads(start, copies))


def schedule_gemm(s, A, B, C, knobs: dict, cfg=None) -> None:
    """The schedule of the module docstring on C (batched when C has 3 axes)."""
    *_, M, N = (d.value for d in C.shape)
    ty, tx = block_threads_for(M, N, C.op.reduce_axis[0].extent.value, knobs)
    yt, xt = knobs["yt"], knobs["xt"]
    AA = s.cache_read(A, "shared", [C])
    BB = s.cache_read(B, "shared", [C])
    CL = s.cache_write(C, "local")
    *batch, i, j = s[C].op.axis
    by, yi = s[C].split(i, factor=ty * yt)
    bx, xi = s[C].split(j, factor=tx * xt)
    tyy, yi = s[C].split(yi, factor=yt)
    txx, xi = s[C].split(xi, factor=xt)
    s[C].reorder(*batch, by, bx, tyy, txx, yi, xi)
    if batch:
        bind(s[C], batch[0], "blockIdx.z")
    bind(s[C], by, "blockIdx.y")
    bind(s[C], bx, "blockIdx.x")
    bind(s[C], tyy, "threadIdx.y")
    bind(s[C], txx, "threadIdx.x")
    s[CL].compute_at(s[C], txx)
    *cbatch, yc, xc = s[CL].op.axis
    ko, ki = s[CL].split(s[CL].op.reduce_axis[0], factor=knobs["tile_k"])
    s[CL].reorder(*cbatch, ko, ki, yc, xc)
    for cache in (AA, BB):
        s[cache].compute_at(s[CL], ko)
        spread_copy(s, cache, [("threadIdx.y", ty), ("threadIdx.x", tx)], knobs["vector"])
    _double_buffer_knob(s, (AA, BB), cfg)


def _double_buffer_knob(s, caches, cfg) -> None:
    """The double_buffer knob (a schedule made without a config keeps one buffer)."""
    if cfg is None:
        return
    cfg.define_knob("double_buffer", [0, 1], default=0)
    if cfg["double_buffer"].val:
        for cache in caches:
            s[cache].double_buffer()


def gemm_compute(batch, M, N, K, dtype, transpose_a=False, transpose_b=False):
    """A, B, C = A @ B (batch None: plain matmul, A (M, K), B (K, N))."""
    lead = () if batch is None else (batch,)
    A = oc.placeholder(lead + ((K, M) if transpose_a else (M, K)), dtype, name="A")
    B = oc.placeholder(lead + ((N, K) if transpose_b else (K, N)), dtype, name="B")
    k = oc.reduce_axis(K, "k")

    def product(*idx):
        *b, i, j = idx
        a = A[(*b, k, i)] if transpose_a else A[(*b, i, k)]
        w = B[(*b, j, k)] if transpose_b else B[(*b, k, j)]
        return oc.sum(a * w, axis=k)
    C = oc.compute(lead + (M, N), product, name="C")
    return A, B, C


@template("gpu/matmul")
def gpu_matmul(M, N, K, dtype: str = "float32", target="cuda"):
    """C = A @ B on the GPU: returns (schedule, [A (M, K), B (K, N), C (M, N)])."""
    cfg = get_config()
    knobs = gemm_knobs(cfg, target, dtype)
    A, B, C = gemm_compute(None, M, N, K, dtype)
    s = oc.create_schedule(C)
    schedule_gemm(s, A, B, C, knobs, cfg)
    cfg.add_flop(2.0 * M * N * K)
    return s, [A, B, C]


@template("gpu/batch_matmul")
def gpu_batch_matmul(batch, M, N, K, dtype: str = "float32", transpose_a: bool = False,
                     transpose_b: bool = False, target="cuda"):
    """C[b] = A[b] @ B[b] on the GPU, blockIdx.z over b: returns (schedule, [A, B, C]);
    shapes as schedules.batch_matmul."""
    cfg = get_config()
    knobs = gemm_knobs(cfg, target, dtype)
    A, B, C = gemm_compute(batch, M, N, K, dtype, transpose_a, transpose_b)
    s = oc.create_schedule(C)
    schedule_gemm(s, A, B, C, knobs, cfg)
    cfg.add_flop(2.0 * batch * M * N * K)
    return s, [A, B, C]
