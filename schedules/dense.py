"""Dense layer: out = epilogue(A @ B), either operand transposed, epilogue fused.

Algorithm first.  B is packed into panels of `bn` columns (packedB[p, k, c] =
B[k, p*bn + c], or B[p*bn + c, k] when B is stored transposed), so the inner
loop reads it contiguously whatever B's layout; the product accumulates in a
bm x bn register tile; the epilogue

    out[i, j] = act(acc[i, j] + bias[j]) + residual[i, j]

(each part optional; act is relu, gelu in tanh form or gelu in erf form) is
applied to the tile while it is still in registers, so the fused layer writes
`out` once and never reads it back.

Schedule, one primitive per line (the GEMM of schedules/matmul.py):
- A is packed once into micro-panels of bm rows (k-major), so the bm
  broadcasts of a k step read one sequential stream;
- the column-panel loop is outermost and parallel; each panel of B is packed
  inside that loop (K x bn, a few tens of KiB), so it is written and read in
  the core's own cache, and no packed copy of all of B goes through memory;
- the accumulator is a cache_write stage computed at the row-tile loop, rows
  unrolled and columns vectorized, k split and unrolled; the tile is sized
  by the target's vector registers (register_tile: 4 rows x 3 vectors or
  6 x 2 with 16 registers, 8 x 2 with 32), the epilogue runs on it at the
  store.
"""
from __future__ import annotations

import math

import opcomp as oc
from autotune import get_config, template

from . import tunable
from . import validate as v

ACTIVATIONS = (None, "relu", "gelu_tanh", "gelu_erf")
_GELU_C = math.sqrt(2.0 / math.pi)


def activation(name, x):
    """relu, gelu tanh form (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))), gelu erf form."""
    if name is None:
        return x
    if name == "relu":
        return oc.maximum(x, oc.const(0, x.dtype))
    if name == "gelu_tanh":
        return 0.5 * x * (1.0 + oc.tanh(_GELU_C * (x + 0.044715 * (x * x * x))))
    return 0.5 * x * (1.0 + oc.erf(x * (1.0 / math.sqrt(2.0))))


def pack_panels(read, rows: int, cols: int, bn: int, dtype: str, name: str):
    """packed[p, r, c] = read(r, p*bn + c), zero past the last column (clamped, never read)."""
    panels = (cols + bn - 1) // bn
    last = cols - 1
    return oc.compute((panels, rows, bn), lambda p, r, c: oc.select(
        p * bn + c < cols, read(r, oc.minimum(p * bn + c, last)), v.zero(dtype)), name=name)


def dense_compute(M, N, K, transpose_a=False, transpose_b=False, bias=False,
                  activation_=None, residual=False, bn=16, dtype="float32", bm=0):
    """Inputs [A, B, (bias), (residual)], packedB, acc (the product) and out."""
    A = oc.placeholder((K, M) if transpose_a else (M, K), dtype, name="A")
    B = oc.placeholder((N, K) if transpose_b else (K, N), dtype, name="B")
    inputs = [A, B]
    read_b = (lambda k, n: B[n, k]) if transpose_b else (lambda k, n: B[k, n])
    packed = pack_panels(read_b, K, N, bn, dtype, "packedB")
    k = oc.reduce_axis(K, "k")
    read_a = (lambda i, kk: A[kk, i]) if transpose_a else (lambda i, kk: A[i, kk])
    if bm:
        # A in micro-panels of bm rows, k-major: a tile's broadcasts are one stream
        packed_a = oc.compute(((M + bm - 1) // bm, K, bm), lambda p, kk, r: read_a(
            oc.minimum(p * bm + r, M - 1), kk), name="packedA")
        read_a = lambda i, kk: packed_a[i // bm, kk, i % bm]                # noqa: E731
    acc = oc.compute((M, N), lambda i, j: oc.sum(read_a(i, k) * packed[j // bn, k, j % bn],
                                                 axis=k), name="acc")
    parts = []
    if bias:
        Bias = oc.placeholder((N,), dtype, name="bias")
        inputs.append(Bias)
        parts.append(lambda i, j, x: x + Bias[j])
    if activation_ is not None:
        parts.append(lambda i, j, x: activation(activation_, x))
    if residual:
        Res = oc.placeholder((M, N), dtype, name="residual")
        inputs.append(Res)
        parts.append(lambda i, j, x: x + Res[i, j])

    def epilogue(i, j):
        x = acc[i, j]
        for part in parts:
            x = part(i, j, x)
        return x
    out = oc.compute((M, N), epilogue, name="out") if parts else acc
    return inputs, packed, acc, out


# Register tiles (rows, vectors) per vector-register count, best first.  With 16
# registers (AVX2) 12 accumulators fit beside the operands: 4 rows x 3 vectors
# loads 7 values per 12 FMAs (6 x 2 loads 8) and measured 5-8 % faster on W2
# (Zen 3); with 32 (AVX-512) 8 x 2 is the tile schedules/matmul.py measured.
TILES = {16: ((4, 3), (6, 2)), 32: ((8, 2),)}


def register_tile(dtype, target, M=None, N=None) -> dict:
    """bm x bn accumulators and the vector width for the target's registers: of the
    candidate tiles, the one that leaves the least padding on an M x N output
    (the first on ties or without sizes).  A tile that does not fit spills."""
    tgt = oc.Target(target)
    lanes = v.lanes(dtype, tgt)
    regs = 32 if tgt.vector_registers >= 32 else 16
    best = None
    for rows, vecs in TILES[regs]:
        bn = vecs * lanes
        waste = (-(-M // rows) * rows * -(-N // bn) * bn) if M and N else 0
        if best is None or waste < best[0]:
            best = (waste, rows, bn)
    return {"bm": best[1], "bn": best[2], "lanes": lanes}


def _check(op, M, N, K, dtype, act, flags, target):
    # M (the rows: a batch) may be an oc.size_var; N and K are the weight's sizes.
    sizes = [v.size(op, "M", M)] + [v.positive(op, name, val) for name, val in (("N", N),
                                                                                ("K", K))]
    dtype = v.dtype(op, dtype, v.FLOATS)
    v.choice(op, "activation", act, ACTIVATIONS)
    for name, val in flags.items():
        v.flag(op, name, val)
    return sizes, dtype, v.target(op, target)


def dense(M, N, K, dtype="float32", transpose_a=False, transpose_b=False, bias=False,
          activation=None, residual=False, bm=None, bn=None, bk=None, pack_a=True,
          target="llvm"):
    """out = activation(A @ B + bias) + residual: returns (schedule, args).

    args: A (M, K) or (K, M) with transpose_a; B (K, N) or (N, K) with
    transpose_b (PyTorch's Linear weight); bias (N,) if bias; residual (M, N)
    if residual; out (M, N).  activation: None, "relu", "gelu_tanh",
    "gelu_erf".  M may be an oc.size_var (any batch; the row tail is guarded
    and partitioned off).  dtype: float32 or float64.  bm x bn is the register tile
    (default from the target's vector registers), bk the k unroll (default 4);
    pack_a copies A into micro-panels first.  The template "dense" (knobs:
    define_gemm_knobs): inside autotune.apply_history_best a tuned record
    applies to the choices left out."""
    return tunable.call(dense_template, (M, N, K, dtype, transpose_a, transpose_b, bias,
                                         activation, residual, bm, bn, bk, pack_a), {}, target)


@template("dense")
def dense_template(M, N, K, dtype="float32", transpose_a=False, transpose_b=False, bias=False,
                   activation=None, residual=False, bm=None, bn=None, bk=None, pack_a=True,
                   target="llvm"):
    """The tunable dense layer (arguments as dense's, knobs of define_gemm_knobs)."""
    op = "dense"
    (M, N, K), dtype, tgt = _check(op, M, N, K, dtype, activation,
                                   {"transpose_a": transpose_a, "transpose_b": transpose_b,
                                    "bias": bias, "residual": residual}, target)
    bm, bn, bk, lanes = define_gemm_knobs(get_config(), op, dtype, tgt, M, N, (bm, bn, bk))
    inputs, packed, acc, out = dense_compute(M, N, K, transpose_a, transpose_b, bias,
                                             activation, residual, bn, dtype,
                                             bm if pack_a else 0)
    s = oc.create_schedule(out)
    schedule_gemm(s, packed, acc, out, bm, bn, bk, lanes)
    return s, inputs + [out]


K_STEPS = (1, 2, 4, 8)      # the bk knob: the unrolled k step


def define_gemm_knobs(cfg, op: str, dtype: str, tgt, M, N, given) -> tuple:
    """The GEMM knobs of dense and batch_matmul; returns (bm, bn, bk, lanes).

    tile  "BMxBN": the register tile; every tile whose accumulators, a row of B
          and a broadcast fit the target's vector registers (matmul.register_tiles),
          default register_tile's; a given bm or bn leaves the one tile asked for
    bk    the unrolled k step: 1, 2, 4, 8 (default 4), or the given bk"""
    from .matmul import register_tiles
    bm, bn, bk = given
    tile = register_tile(dtype, tgt, None if v.is_symbolic(M) else M, N)
    if bm is None and bn is None:
        default = f"{tile['bm']}x{tile['bn']}"
        names = set(register_tiles(tile["lanes"], tgt.vector_registers)) | {default}
    else:
        bm = v.positive(op, "bm", bm) if bm is not None else tile["bm"]
        bn = v.positive(op, "bn", bn) if bn is not None else tile["bn"]
        default = f"{bm}x{bn}"
        names = {default}
    steps = K_STEPS if bk is None else (v.positive(op, "bk", bk),)
    cfg.define_knob("tile", sorted(names, key=_tile_of), default=default)
    cfg.define_knob("bk", list(steps), default=4 if bk is None else steps[0])
    bm, bn = _tile_of(cfg["tile"].val)
    return bm, bn, cfg["bk"].val, min(tile["lanes"], bn)


def _tile_of(name: str) -> tuple:
    bm, bn = name.split("x")
    return int(bm), int(bn)


def schedule_gemm(s, packed, acc, out, bm, bn, bk, lanes, cores=1):
    """The register-tiled GEMM schedule of acc (and its epilogue out) described above.

    A leading batch axis is fused with the panel loop into one parallel loop
    when bn divides N; otherwise the column tail's guard would depend on the
    fused index, which loop partitioning cannot split, and every tile would
    keep it: then the batch loop alone is parallel if it has a task per core,
    else the panel loop."""
    local = s.cache_write(acc, "local")
    if out is not acc:
        s[acc].compute_inline()
    packed_a = next((t for t in local.op.input_tensors if t.name == "packedA"), None)
    if packed_a is not None:
        s[packed_a].parallel(packed_a.op.axis[0])
    *batch, i, j = out.op.axis
    io, jo, ii, ji = s[out].tile(i, j, bm, bn)
    s[out].reorder(*batch, jo, io, ii, ji)
    whole_panels = out.shape[-1].value % bn == 0
    if batch and whole_panels:
        outer = s[out].fuse(*batch, jo)
    elif batch and batch[0].extent.value >= cores:
        outer = batch[0]
    else:
        outer = jo
    s[out].parallel(outer)
    jio, jii = s[out].split(ji, factor=lanes)
    s[out].unroll(ii)
    s[out].unroll(jio)
    s[out].vectorize(jii)
    s[local].compute_at(s[out], io)
    *_, ic, jc = s[local].op.axis
    (kc,) = s[local].op.reduce_axis
    ko, ki = s[local].split(kc, factor=bk)
    jco, jci = s[local].split(jc, factor=lanes)
    s[local].reorder(ko, ki, ic, jco, jci)
    s[local].unroll(ki)
    s[local].unroll(ic)
    s[local].unroll(jco)
    s[local].vectorize(jci)
    s[packed].compute_at(s[out], jo if batch and not whole_panels else outer)
    *_, c = s[packed].op.axis
    co, ci = s[packed].split(c, factor=lanes)
    s[packed].vectorize(ci)
