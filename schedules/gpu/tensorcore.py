"""GPU matmul on the tensor cores: float16 (or bfloat16, sm_80 on) inputs, float32
accumulation and output.

    C[i, j] = sum over k of float32(A[i, k]) * float32(B[k, j])    A (M, K), B (K, N) float16

Schedule (TVM's tensor-core GEMM, with the WMMA intrinsics of wmma.py):
- a block computes a BM x BN tile of C (blockIdx.y/x), with WY x WX warps
  (threadIdx.z/y; threadIdx.x is the warp's 32 lanes), each warp a
  (TY*16) x (TX*16) part of it: TY x TX accumulator fragments
  (cache_write "wmma.accumulator", computed at the warp loop);
- k advances by BK = chunk * 16: the block copies the A (BM x BK) and B
  (BK x BN) tiles to shared memory, all threads taking part (8 halves per
  copy where aligned), then each warp loads its 16x16 operand fragments
  ("wmma.matrix_a"/"wmma.matrix_b") from there and multiplies them
  (mma_sync), chunk times per tile;
- the fragments are stored to C with store_matrix_sync.
Sizes that are not multiples of the block tile are padded: A and B are read
as zero outside their shape (in the shared copies), the product goes to a
padded float32 temporary and a second kernel copies C out of it.

Knobs (template "gpu/matmul_tensorcore"):
  warps      "WYxWX" warps per block: 2x4 (2x2 when M or N is under 128)
  warp_tile  "TYxTX" 16x16 tiles per warp: 4x2 (2x2): a 128 x 128 block tile (64 x 64)
  chunk      16-wide k steps per shared tile: 2 (both tiles must fit the
             target's shared memory per block)
  vector_copy  copy the tiles 8 halves at a time (1) or one (0): 1
  shared_pad   halves added to each shared-memory row (storage_align), so the
               16 rows a warp loads fall in different banks: 8 (or 0)
"""
from __future__ import annotations

import opcomp as oc
from autotune import get_config, template

from .common import bind, ceil_div, pair, spread_copy
from .elementwise import schedule_elementwise
from .wmma import INPUT_DTYPES, TILE, wmma_gemm, wmma_load_matrix, wmma_store_matrix

WARPS = ("1x1", "1x2", "2x1", "2x2", "2x4", "4x2")
WARP_TILES = ("1x1", "1x2", "2x1", "2x2", "2x4", "4x2", "4x4")
CHUNKS = (1, 2, 4)
HALF_LANES = 8             # halves per 16-byte copy
PAD = 8                    # halves added to each shared row (16 bytes: WMMA's ldm stays legal)


def tensorcore_knobs(cfg, target, M: int, N: int) -> dict:
    """Define the knobs (module docstring) and return the block's geometry."""
    big = M >= 128 and N >= 128           # a 128 x 128 block tile, else 64 x 64
    cfg.define_knob("warps", [w for w in WARPS if 32 * _count(w) <= target.max_threads_per_block],
                    default="2x4" if big else "2x2")
    cfg.define_knob("warp_tile", list(WARP_TILES), default="4x2" if big else "2x2")
    wy, wx = pair(cfg["warps"].val)
    ty, tx = pair(cfg["warp_tile"].val)
    bm, bn = wy * ty * TILE, wx * tx * TILE
    fits = [c for c in CHUNKS
            if _shared_bytes(bm, bn, c * TILE, PAD) <= target.max_shared_memory_per_block]
    cfg.define_knob("chunk", fits or [1], default=2 if 2 in fits else (fits or [1])[0])
    cfg.define_knob("vector_copy", [0, 1], default=1)
    cfg.define_knob("shared_pad", [0, PAD], default=PAD)
    return {"wy": wy, "wx": wx, "ty": ty, "tx": tx, "bm": bm, "bn": bn,
            "bk": cfg["chunk"].val * TILE, "vector": cfg["vector_copy"].val,
            "pad": cfg["shared_pad"].val}


def _shared_bytes(bm, bn, bk, pad) -> int:
    """The A (bm x bk) and B (bk x bn) tiles' bytes, rows padded by `pad` halves."""
    return 2 * (bm * (bk + pad) + bk * (bn + pad))


def _count(text: str) -> int:
    a, b = pair(text)
    return a * b


def tensorcore_compute(M, N, K, geo: dict, dtype: str = "float16"):
    """A, B (of dtype), C and the padded stages: (A, B, C, A.pad or A, B.pad or B,
    C.pad or C)."""
    A = oc.placeholder((M, K), dtype, name="A")
    B = oc.placeholder((K, N), dtype, name="B")
    Mp, Np, Kp = (ceil_div(M, geo["bm"]) * geo["bm"], ceil_div(N, geo["bn"]) * geo["bn"],
                  ceil_div(K, geo["bk"]) * geo["bk"])
    AP = A if (Mp, Kp) == (M, K) else _zero_padded(A, (Mp, Kp))
    BP = B if (Kp, Np) == (K, N) else _zero_padded(B, (Kp, Np))
    k = oc.reduce_axis(Kp, "k")
    CP = oc.compute((Mp, Np), lambda i, j: oc.sum(AP[i, k].astype("float32") *
                                                  BP[k, j].astype("float32"), axis=k),
                    name="C" if (Mp, Np) == (M, N) else "C.pad")
    C = CP if (Mp, Np) == (M, N) else oc.compute((M, N), lambda i, j: CP[i, j], name="C")
    return A, B, C, AP, BP, CP


def _zero_padded(T, shape):
    rows, cols = (d.value for d in T.shape)
    return oc.compute(shape, lambda i, j: oc.select((i < rows) & (j < cols), T[i, j],
                                                    oc.const(0, T.dtype)), name=f"{T.name}.pad")


def schedule_tensorcore(s, stages, geo: dict) -> None:
    """The schedule of the module docstring on (A, B, C, A.pad, B.pad, C.pad)."""
    A, B, C, AP, BP, CP = stages
    dtype = A.dtype
    AS = _shared(s, A, AP, CP)
    BS = _shared(s, B, BP, CP)
    AF = s.cache_read(AS, "wmma.matrix_a", [CP])
    BF = s.cache_read(BS, "wmma.matrix_b", [CP])
    CF = s.cache_write(CP, "wmma.accumulator")
    warp_x = _output_tiles(s, CP, geo)
    s[CF].compute_at(s[CP], warp_x)
    ko, kt = _accumulate(s, CF, geo["bk"], dtype)
    for frag in (AF, BF):
        s[frag].compute_at(s[CF], kt)
    _load_tiles(s, AF, BF, dtype)
    threads = [("threadIdx.z", geo["wy"]), ("threadIdx.y", geo["wx"]), ("threadIdx.x", 32)]
    for cache, size, row in ((AS, geo["bm"] * geo["bk"], geo["bk"]),
                             (BS, geo["bk"] * geo["bn"], geo["bn"])):
        s[cache].compute_at(s[CF], ko)
        if geo["pad"]:      # rows off the 128-byte bank period: conflict-free tile loads
            s[cache].storage_align(s[cache].op.axis[0], row, geo["pad"])
        per_thread = size // (32 * geo["wy"] * geo["wx"])
        lanes = HALF_LANES if geo["vector"] and per_thread % HALF_LANES == 0 else 0
        spread_copy(s, cache, threads, lanes)
    if C is not CP:
        schedule_elementwise(s, C, 256)


def _shared(s, T, padded, reader):
    """The shared copy of an operand: its zero-padded stage itself, else a cache_read."""
    if padded is T:
        return s.cache_read(T, "shared", [reader])
    s[padded].set_scope("shared")
    return padded


def _output_tiles(s, CP, geo):
    """Blocks and warps over C's tiles, each 16x16 tile stored by store_matrix_sync;
    returns the warp loop the accumulators are computed at."""
    i, j = s[CP].op.axis
    by, i = s[CP].split(i, factor=geo["bm"])
    bx, j = s[CP].split(j, factor=geo["bn"])
    wy, i = s[CP].split(i, factor=geo["ty"] * TILE)
    wx, j = s[CP].split(j, factor=geo["tx"] * TILE)
    ti, ii = s[CP].split(i, factor=TILE)
    tj, jj = s[CP].split(j, factor=TILE)
    s[CP].reorder(by, bx, wy, wx, ti, tj, ii, jj)
    for axis, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (wy, "threadIdx.z"),
                      (wx, "threadIdx.y")):
        bind(s[CP], axis, tag)
    s[CP].tensorize(ii, wmma_store_matrix())
    return wx


def _accumulate(s, CF, bk: int, dtype: str):
    """The warp's fragments: k in shared-tile steps (ko) of 16-wide steps (kt), each a
    mma_sync per output tile; returns (ko, kt)."""
    i, j = s[CF].op.axis
    (k,) = s[CF].op.reduce_axis
    ko, k = s[CF].split(k, factor=bk)
    kt, kk = s[CF].split(k, factor=TILE)
    ti, ii = s[CF].split(i, factor=TILE)
    tj, jj = s[CF].split(j, factor=TILE)
    s[CF].reorder(ko, kt, ti, tj, ii, jj, kk)
    s[CF].tensorize(ii, wmma_gemm(dtype))
    return ko, kt


def _load_tiles(s, AF, BF, dtype: str) -> None:
    """Each operand fragment loaded 16x16 at a time (both axes cut in 16s: tensorize
    checks the blocks before compute_at narrows k to one tile)."""
    for frag, scope in ((AF, "wmma.matrix_a"), (BF, "wmma.matrix_b")):
        r, c = s[frag].op.axis
        ro, ri = s[frag].split(r, factor=TILE)
        co, ci = s[frag].split(c, factor=TILE)
        s[frag].reorder(ro, co, ri, ci)
        s[frag].tensorize(ri, wmma_load_matrix(scope, dtype))


@template("gpu/matmul_tensorcore")
def gpu_matmul_tensorcore(M, N, K, dtype: str = "float16", target="cuda -arch=sm_80"):
    """C = A @ B on the tensor cores: returns (schedule, [A (M, K), B (K, N) of dtype
    (float16, or bfloat16 for sm_80 on), C (M, N) float32])."""
    if dtype not in INPUT_DTYPES:
        raise oc.TensorError(f"gpu/matmul_tensorcore: dtype must be 'float16' or 'bfloat16' "
                             f"(the tensor cores' inputs), got {dtype!r}")
    cfg = get_config()
    geo = tensorcore_knobs(cfg, oc.Target(target) if isinstance(target, str) else target, M, N)
    stages = tensorcore_compute(M, N, K, geo, dtype)
    s = oc.create_schedule(stages[2])
    schedule_tensorcore(s, stages, geo)
    cfg.add_flop(2.0 * M * N * K)
    return s, list(stages[:3])
