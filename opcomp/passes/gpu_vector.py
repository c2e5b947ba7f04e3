"""Vector loads and stores on the GPU: a vectorized copy loop becomes one 16-byte
(or 8-byte) access when its addresses are provably aligned.

    vectorized for v in range(4):                      A.shared[ramp(b1, 1, 4)] =
      A.shared[b1 + v] = A[b2 + v]           ->            A[ramp(b2, 1, 4)]

printed as ``*(float4*)(A_shared + b1) = *(const float4*)(A + b2);``.  The rule:
the loop's extent times the element size is 16 or 8 bytes; its body is one
store whose index is base + v and whose value is a load at base' + v (a copy)
or does not depend on v (a fill); every base is provably a multiple of the
lane count; the buffers are global (the host launcher checks that the array is
16-byte aligned and refuses it otherwise) or shared (the arena aligns every
buffer to 16 bytes), never local.  Anything else stays a loop (the printer
unrolls it): slower, never wrong.  float16 (and bfloat16) copies of 8 or 4 elements
move as uint4/uint2 bits (their fills stay loops).  Runs after flatten_storage (one index per
access).
"""
from __future__ import annotations

from dataclasses import replace

from .. import dtype as dt
from ..ir import expr as E
from ..ir import tir as T
from ..arith.simplify import simplify_expr
from ..ir.visit import Mutator, free_vars
from .gpu_kernels import map_kernels

VECTOR_BYTES = (16, 8)
RAW_COPY_DTYPES = ("float16", "bfloat16")    # 2-byte floats copied as uint4/uint2 bits


def vectorize_gpu(func: T.PrimFunc) -> T.PrimFunc:
    """Aligned vectorized copies become vector accesses; other vectorized loops serial."""
    return map_kernels(func, lambda k: _Vectorize().visit(k))


class _Vectorize(Mutator):
    def visit_For(self, s):
        body = self.visit(s.body)
        if s.kind == "vectorized":
            vec = _vector_store(s, body)
            if vec is not None:
                return vec
            return T.For(s.var, s.min, s.extent, "unrolled", body, None)
        return s if body is s.body else replace(s, body=body)

    def default(self, node):
        return super().default(node) if isinstance(node, T.Stmt) else node


def _vector_store(loop: T.For, body):
    """The vector store for an aligned copy or fill, else None."""
    if not (isinstance(body, T.Store) and isinstance(loop.extent, E.Const)
            and E.is_const(loop.min, 0)):
        return None
    lanes, elem = loop.extent.value, body.buffer.dtype
    if lanes * dt.itemsize(elem) not in VECTOR_BYTES or dt.is_bool(elem) or \
            dt.itemsize(elem) < 4 and elem not in RAW_COPY_DTYPES:
        return None
    v = loop.var
    store_base = _aligned_base(body.buffer, body.indices, v, lanes)
    if store_base is None:
        return None
    vec_type = dt.with_lanes(elem, lanes)
    value = body.value
    if isinstance(value, E.Load) and value.buffer.dtype == elem:
        load_base = _aligned_base(value.buffer, value.indices, v, lanes)
        if load_base is None:
            return None
        ramp = E.Ramp(load_base, E.const(1, load_base.dtype), lanes,
                      dt.with_lanes(load_base.dtype, lanes))
        vec_value = E.Load(value.buffer, (ramp,), vec_type)
    elif v not in free_vars(value) and dt.element(value.dtype) == elem and \
            elem not in RAW_COPY_DTYPES:
        # (a half copy moves raw bits as uint4/uint2: no half vector type to fill)
        vec_value = E.Broadcast(value, lanes, vec_type)
    else:
        return None
    ramp = E.Ramp(store_base, E.const(1, store_base.dtype), lanes,
                  dt.with_lanes(store_base.dtype, lanes))
    return T.Store(body.buffer, (ramp,), vec_value)


def _aligned_base(buf: T.Buffer, indices, v, lanes):
    """base when the index is base + v with base a multiple of lanes, else None."""
    if buf.scope not in ("global", "shared") or len(indices) != 1:
        return None
    base = simplify_expr(indices[0] - v)
    if v in free_vars(base):
        return None
    rem = simplify_expr(E.binary("floormod", base, E.const(lanes, base.dtype)))
    return base if E.is_const(rem, 0) else None
