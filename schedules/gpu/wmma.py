"""Tensor-core (WMMA) intrinsics for tensorize: 16x16x16 tiles, float16 or bfloat16 in
(bfloat16: sm_80 on), float32 out.

TVM's four declarations (its tensor-core tutorial and test_tensor_core), as
oc.decl_tensor_intrin over calls the CUDA printer emits as nvcuda::wmma
(opcomp/passes/gpu_wmma.py; the CPU emulator implements the same API):

    wmma_load_matrix("wmma.matrix_a")   F[i, j] = A[i, j]        load_matrix_sync (half, row-major)
    wmma_load_matrix("wmma.matrix_b")   F[k, j] = B[k, j]        load_matrix_sync
    wmma_gemm()                         C[i, j] = sum_k float(A[i, k]) * float(B[k, j])
                                        reset: fill_fragment(C, 0); update: mma_sync(C, A, B, C)
    wmma_store_matrix()                 C[i, j] = F[i, j]        store_matrix_sync (float, row-major)

The loads and the gemm take dtype="float16" (default) or "bfloat16"; the
bfloat16 ones are named with a "_bfloat16" suffix (wmma_gemm_bfloat16).

A schedule puts the operands in fragment scopes and tensorizes the 16x16
blocks (schedules/gpu/tensorcore.py is the whole GEMM):

    AS = s.cache_read(A, "shared", [C]); AF = s.cache_read(AS, "wmma.matrix_a", [C])
    BS = s.cache_read(B, "shared", [C]); BF = s.cache_read(BS, "wmma.matrix_b", [C])
    CF = s.cache_write(C, "wmma.accumulator")
    s[AF].tensorize(ai, wmma_load_matrix("wmma.matrix_a"))     ... and so on

The memory side of a load or store may be shared or global memory with any row
stride (bound when lowered); the fragment side must be a buffer of the matching
scope, and the target a CUDA one with tensor cores: a misuse is a ScheduleError
when the schedule is lowered.
"""
from __future__ import annotations

import opcomp as oc

TILE = 16
FRAGMENT_ALIGN = TILE * TILE        # a fragment operand starts at a whole tile
LOAD_CALLS = {"wmma.matrix_a": "opcomp_wmma_load_a", "wmma.matrix_b": "opcomp_wmma_load_b"}
INPUT_DTYPES = ("float16", "bfloat16")


def _input_dtype(where: str, dtype: str) -> str:
    if dtype not in INPUT_DTYPES:
        raise oc.TensorError(f"{where}: the tensor cores multiply {' or '.join(INPUT_DTYPES)}, "
                             f"got dtype {dtype!r}")
    return dtype


def _named(base: str, dtype: str) -> str:
    """float16 intrinsics keep their plain names; bfloat16 ones get a suffix."""
    return base if dtype == "float16" else f"{base}_{dtype}"


def _memory(t, name):
    """A tile in shared or global memory: any start, any row stride."""
    return oc.decl_buffer(t.shape, t.dtype, name, strides=[oc.var(f"{name}.ldm"), 1],
                          offset_factor=1)


def _fragment(t, name):
    return oc.decl_buffer(t.shape, t.dtype, name, offset_factor=FRAGMENT_ALIGN)


def wmma_load_matrix(scope: str, dtype: str = "float16"):
    """The intrinsic loading a 16x16 float16 (or bfloat16) tile into a fragment of
    `scope` ("wmma.matrix_a" or "wmma.matrix_b"); named wmma_load_matrix_a / _b."""
    if scope not in LOAD_CALLS:
        raise oc.TensorError(f"wmma_load_matrix: scope must be one of {sorted(LOAD_CALLS)}, "
                             f"got {scope!r}")
    src = oc.placeholder((TILE, TILE), _input_dtype("wmma_load_matrix", dtype), name="src")
    frag = oc.compute((TILE, TILE), lambda i, j: src[i, j], name="frag")

    def fintrin(ins, outs):
        return oc.call_extern("int32", LOAD_CALLS[scope], outs[0].access_ptr("w"),
                              ins[0].access_ptr("r"), ins[0].strides[0])
    return oc.decl_tensor_intrin(frag.op, fintrin,
                                 name=_named(f"wmma_load_{scope.split('.')[1]}", dtype),
                                 binds={src: _memory(src, "src"), frag: _fragment(frag, "frag")})


def wmma_gemm(dtype: str = "float16"):
    """The intrinsic C += A @ B on 16x16x16 fragments (float16 or bfloat16 in, float32
    accumulate); its reset is fill_fragment(C, 0), so the reduction may be split around it."""
    _input_dtype("wmma_gemm", dtype)
    a = oc.placeholder((TILE, TILE), dtype, name="a")
    b = oc.placeholder((TILE, TILE), dtype, name="b")
    k = oc.reduce_axis(TILE, "k")
    c = oc.compute((TILE, TILE), lambda i, j: oc.sum(a[i, k].astype("float32") *
                                                     b[k, j].astype("float32"), axis=k), name="c")

    def fintrin(ins, outs):
        fa, fb = ins
        (fc,) = outs
        fill = oc.call_extern("int32", "opcomp_wmma_fill", fc.access_ptr("w"), 0.0)
        mma = oc.call_extern("int32", "opcomp_wmma_mma", fc.access_ptr("w"), fa.access_ptr("r"),
                             fb.access_ptr("r"), fc.access_ptr("r"))
        return [fill, mma], fill, mma
    binds = {t: _fragment(t, t.name) for t in (a, b, c)}
    return oc.decl_tensor_intrin(c.op, fintrin, name=_named("wmma_gemm", dtype), binds=binds)


def wmma_store_matrix():
    """The intrinsic storing a 16x16 float32 accumulator fragment to memory."""
    frag = oc.placeholder((TILE, TILE), "float32", name="acc")
    dst = oc.compute((TILE, TILE), lambda i, j: frag[i, j], name="dst")

    def fintrin(ins, outs):
        return oc.call_extern("int32", "opcomp_wmma_store", outs[0].access_ptr("w"),
                              ins[0].access_ptr("r"), outs[0].strides[0])
    return oc.decl_tensor_intrin(dst.op, fintrin, name="wmma_store_matrix",
                                 binds={frag: _fragment(frag, "acc"), dst: _memory(dst, "dst")})


__all__ = ["wmma_gemm", "wmma_load_matrix", "wmma_store_matrix"]


def declare_all() -> list:
    """Declare (register by name) the intrinsics (both input dtypes), so that a schedule
    trace naming them replays in a process that imported the library and declared nothing."""
    loads = [wmma_load_matrix(scope, d) for d in INPUT_DTYPES for scope in LOAD_CALLS]
    return loads + [wmma_gemm(d) for d in INPUT_DTYPES] + [wmma_store_matrix()]


declare_all()
