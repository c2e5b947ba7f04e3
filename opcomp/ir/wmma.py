"""The tensor-core (WMMA) vocabulary of the loop IR: the call names a CUDA tensor
intrinsic makes, the scopes of the buffers holding fragments, and what each call
reads and writes.  Lowering (passes/gpu_wmma.py, gpu_sync.py) and the CUDA
printer both read it; what the calls mean is told in passes/gpu_wmma.py.

After the CUDA pass ``index_fragments`` a fragment operand ``&AF[k]`` counts
tiles (k is the fragment's index), before it counts elements (256 per tile).
"""
from __future__ import annotations

from . import expr as E

TILE = 16
TILE_ELEMENTS = TILE * TILE
INPUT_DTYPES = ("float16", "bfloat16")     # what the tensor cores multiply
BFLOAT16_MIN_ARCH = 80                     # bfloat16 fragments need sm_80 (Ampere) on
# scope -> (the fragment's use, the dtypes its tiles may hold)
FRAGMENT_SCOPES = {"wmma.matrix_a": ("matrix_a", INPUT_DTYPES),
                   "wmma.matrix_b": ("matrix_b", INPUT_DTYPES),
                   "wmma.accumulator": ("accumulator", ("float32",))}
# each call's operands: a fragment scope, "read"/"write" (memory) or "scalar"
CALLS = {
    "opcomp_wmma_fill": ("wmma.accumulator", "scalar"),
    "opcomp_wmma_load_a": ("wmma.matrix_a", "read", "scalar"),
    "opcomp_wmma_load_b": ("wmma.matrix_b", "read", "scalar"),
    "opcomp_wmma_mma": ("wmma.accumulator", "wmma.matrix_a", "wmma.matrix_b",
                        "wmma.accumulator"),
    "opcomp_wmma_store": ("write", "wmma.accumulator", "scalar"),
}
# the dtypes a call's memory operand may have (a load's is its fragment's)
MEMORY_DTYPES = {"opcomp_wmma_load_a": INPUT_DTYPES, "opcomp_wmma_load_b": INPUT_DTYPES,
                 "opcomp_wmma_store": ("float32",)}


def is_wmma_call(n) -> bool:
    """n is a call of one of the WMMA names (module docstring)."""
    return isinstance(n, E.CallExtern) and n.func in CALLS


def is_fragment(buf) -> bool:
    """A buffer holding WMMA fragments."""
    return getattr(buf, "scope", "") in FRAGMENT_SCOPES


def memory_operands(call) -> tuple:
    """([(buffer, offset) read], [(buffer, offset) written]) of a WMMA call's memory
    operands (what barrier insertion must see)."""
    reads, writes = [], []
    for arg, role in zip(call.args, CALLS[call.func]):
        if role == "read":
            reads.append((arg.buffer, arg.offset))
        elif role == "write":
            writes.append((arg.buffer, arg.offset))
    return reads, writes
