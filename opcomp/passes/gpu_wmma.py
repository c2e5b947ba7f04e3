"""Tensor cores through tensorize: the WMMA calls a CUDA tensor intrinsic makes.

A tensor intrinsic (oc.decl_tensor_intrin) whose calls are these names runs on
the tensor cores; schedules/gpu/wmma.py declares the usual four (TVM's
load_matrix_sync, mma_sync with fill_fragment as its reset, store_matrix_sync):

    opcomp_wmma_fill(&acc, value)              every element of a fragment = value
    opcomp_wmma_load_a(&a, &src, ldm)          16x16 half (or bfloat16) tile, row-major,
                                               row stride ldm
    opcomp_wmma_load_b(&b, &src, ldm)
    opcomp_wmma_mma(&d, &a, &b, &c)            d = a @ b + c (half or bfloat16 in, float
                                               accumulate)
    opcomp_wmma_store(&dst, &acc, ldm)         16x16 float tile, row-major

Fragments live in buffers of the scopes "wmma.matrix_a", "wmma.matrix_b" and
"wmma.accumulator" (a stage put there by cache_read/cache_write/set_scope).
Such a buffer is an array of 16x16 tiles, not of elements: tensorize gives a
fragment operand the offset 256 * (its tile's index in the region, row-major
over the tiles), and the CUDA printer declares the buffer as that many
``nvcuda::wmma::fragment`` objects, indexed offset / 256:

    AF[32 x 16] (wmma.matrix_a), tile at rows 16..31    ->   fragment<matrix_a, ...> AF[2];
    opcomp_wmma_load_a(&AF[256], &AS[16 * 32], 32)           load_matrix_sync(AF[1], AS + 512, 32);

Lowering checks (tensorize of stage ..., as ScheduleError): the target is CUDA
(sm_70 or later, as every CUDA target opcomp knows); each fragment operand is a
buffer of its scope, each memory operand a shared or global buffer of the dtype
the call moves (half or bfloat16 in, float out; bfloat16 needs sm_80 or later);
no plain load or store touches a fragment (gpu_kernels.py); whole warps make
each call: threadIdx.x spans a multiple of 32 lanes and binds no loop around a
call (check_warp_uniform).
"""
from __future__ import annotations

from dataclasses import replace

from ..arith.simplify import simplify
from ..ir import expr as E
from ..ir import tir as T
from ..ir.visit import rewrite, walk
from ..schedule.stage import ScheduleError

from ..ir.wmma import (BFLOAT16_MIN_ARCH, CALLS, FRAGMENT_SCOPES, MEMORY_DTYPES,  # noqa: F401
                       TILE, TILE_ELEMENTS, is_fragment, is_wmma_call, memory_operands)


def wmma_calls(stmt) -> list:
    """The WMMA calls inside a statement, in order."""
    out = []
    walk(stmt, lambda n: out.append(n) if is_wmma_call(n) else None)
    return out


def is_wmma_intrinsic(intrin) -> bool:
    """Whether a tensor intrinsic calls the tensor cores."""
    return any(part is not None and wmma_calls(part)
               for part in (intrin.body, intrin.reset, intrin.update))


def fragment_offset(shape, rel) -> E.Expr:
    """256 * the index of the tile at region-relative start rel in a fragment
    buffer of this shape (tiles row-major; the last two axes are cut in 16s)."""
    tiles = [E.as_expr(s) for s in shape[:-2]] + [E.as_expr(s) // TILE for s in shape[-2:]]
    starts = list(rel[:-2]) + [r // TILE for r in rel[-2:]]
    index = E.const(0, "int64")
    for start, count in zip(starts, tiles):
        index = index * E.cast(count, "int64") + E.cast(start, "int64")
    return simplify(index * TILE_ELEMENTS)


def check_target(stage, iv, intrin, target) -> None:
    """A WMMA intrinsic needs a CUDA target (every architecture opcomp knows, sm_70 on,
    has float16 tensor cores); one moving bfloat16 needs sm_80 or later."""
    if target is None or not target.is_gpu:
        raise stage._error("tensorize", iv, f"intrinsic {intrin.name} runs on the tensor cores "
                           f"(WMMA calls) and needs a cuda target; the target is {target}")
    tensors = tuple(intrin.inputs) + (intrin.out_buffer,)
    arch = int(str(target.arch).split("_")[1])
    if arch < BFLOAT16_MIN_ARCH and any(t.dtype == "bfloat16" for t in tensors):
        raise stage._error("tensorize", iv, f"intrinsic {intrin.name} runs bfloat16 on the "
                           f"tensor cores, which needs sm_{BFLOAT16_MIN_ARCH} or later; the "
                           f"target is {target.brief}: use float16 there, or a newer arch")


def check_operands(stage, iv, stmt) -> None:
    """Each operand of each WMMA call in a bound intrinsic is a buffer of the
    scope (and dtype) its role needs (module docstring)."""
    for call in wmma_calls(stmt):
        roles = CALLS[call.func]
        if len(call.args) != len(roles):
            raise stage._error("tensorize", iv, f"{call.func} takes {len(roles)} arguments, "
                               f"got {len(call.args)}")
        for k, (arg, role) in enumerate(zip(call.args, roles)):
            if role != "scalar":
                _check_operand(stage, iv, call, k, arg, role)
        _check_one_input_dtype(stage, iv, call)


def _check_one_input_dtype(stage, iv, call) -> None:
    """A load moves its fragment's dtype; mma_sync multiplies two fragments of one dtype
    (nvcuda::wmma has no mixed float16 x bfloat16 product)."""
    inputs = [a.buffer for a, role in zip(call.args, CALLS[call.func])
              if role in ("wmma.matrix_a", "wmma.matrix_b", "read")]
    if len({b.dtype for b in inputs}) > 1:
        named = " and ".join(f"{b.name} ({b.dtype})" for b in inputs)
        raise stage._error("tensorize", iv, f"{call.func} mixes {named}: the tensor cores "
                           "take one input dtype, float16 or bfloat16, for both operands "
                           "and the memory they are loaded from")


def _check_operand(stage, iv, call, k, arg, role) -> None:
    if not isinstance(arg, E.AddressOf):
        raise stage._error("tensorize", iv, f"operand {k} of {call.func} must be a buffer "
                           f"pointer (buf.access_ptr(...)), got {arg}")
    buf = arg.buffer
    if role in FRAGMENT_SCOPES:
        if buf.scope != role:
            raise stage._error("tensorize", iv, f"operand {k} of {call.func} is {buf.name} in "
                               f"scope {buf.scope!r}, but it must be a fragment in scope "
                               f"{role!r} (s.cache_read / s.cache_write / set_scope with "
                               f"{role!r})")
        return
    if buf.scope in FRAGMENT_SCOPES or buf.scope not in ("shared", "global"):
        raise stage._error("tensorize", iv, f"operand {k} of {call.func} is {buf.name} in "
                           f"scope {buf.scope!r}; WMMA loads and stores move tiles between "
                           "fragments and shared or global memory")
    if buf.dtype not in MEMORY_DTYPES[call.func]:
        raise stage._error("tensorize", iv, f"operand {k} of {call.func} is {buf.name} of "
                           f"dtype {buf.dtype}; the call moves "
                           f"{' or '.join(MEMORY_DTYPES[call.func])}")


def check_warp_uniform(kernel, extents: dict) -> None:
    """A kernel's WMMA calls are made by whole warps with one tile each: threadIdx.x
    spans whole warps (a multiple of 32 threads, so a warp never mixes threadIdx.y/z
    values) and no loop around a call is bound to threadIdx.x (its lanes would ask
    for different tiles).  extents: tag -> (extent, stage, axis), as gpu_kernels has them."""
    calls = _calls_under_lanes(kernel, False)
    if not calls:
        return
    lanes = extents.get("threadIdx.x", (E.const(1),))[0]
    stage = _fragment_name(calls[0][0])
    if not isinstance(lanes, E.Const) or lanes.value % 32:
        raise ScheduleError(f"tensorize: stage {stage}, axis -: WMMA calls are made by whole "
                            f"warps, but threadIdx.x has {lanes} threads, not a multiple of 32, "
                            "so a warp would mix threadIdx.y values; bind 32 lanes (or a "
                            "multiple) to threadIdx.x")
    for call, under_lanes in calls:
        if under_lanes:
            raise ScheduleError(f"tensorize: stage {_fragment_name(call)}, axis -: a WMMA call "
                                "inside a loop bound to threadIdx.x would give each lane of a "
                                "warp its own tile; the 32 lanes must make each call together: "
                                "bind the warps to threadIdx.y/z and leave threadIdx.x to copies")


def _calls_under_lanes(s, under: bool) -> list:
    """(WMMA call, whether a threadIdx.x loop encloses it) for the calls in s."""
    if isinstance(s, T.For):
        return _calls_under_lanes(s.body, under or s.thread == "threadIdx.x")
    if isinstance(s, T.Evaluate):
        return [(s.value, under)] if is_wmma_call(s.value) else []
    out = []
    for name in E.field_names(s):
        value = getattr(s, name)
        for child in (value if isinstance(value, tuple) else (value,)):
            if isinstance(child, T.Stmt):
                out += _calls_under_lanes(child, under)
    return out


def _fragment_name(call) -> str:
    frags = [a.buffer.name for a, role in zip(call.args, CALLS[call.func])
             if role in FRAGMENT_SCOPES and isinstance(a, E.AddressOf)]
    return frags[0] if frags else call.func


def index_fragments(func: T.PrimFunc) -> T.PrimFunc:
    """A fragment operand's element offset becomes its tile index (the last CUDA pass;
    the printer indexes fragment arrays by it, opcomp/ir/wmma.py):

        opcomp_wmma_load_a(&AF[ko * 512 + 256], &AS[...], 32)
      ->
        opcomp_wmma_load_a(&AF[ko * 2 + 1], &AS[...], 32)
    """
    def tile_index(n):
        if isinstance(n, E.AddressOf) and is_fragment(n.buffer):
            tile = E.binary("floordiv", n.offset, E.const(TILE_ELEMENTS, n.offset.dtype))
            return E.AddressOf(n.buffer, simplify(tile))
        return None

    def in_calls(n):
        if is_wmma_call(n):
            return rewrite(n, tile_index)
        return None
    return replace(func, body=rewrite(func.body, in_calls))


__all__ = ["CALLS", "FRAGMENT_SCOPES", "TILE", "check_operands", "check_target",
           "check_warp_uniform", "index_fragments",
           "fragment_offset", "is_fragment", "is_wmma_call", "is_wmma_intrinsic",
           "memory_operands", "wmma_calls"]
