"""The lowering pipeline: the passes in order, by name.

A target's pipeline is the common passes, then its kind's tail:

    COMMON       simplify, partition_loops, simplify_partitioned, bounds_check
    TAILS["llvm"]  flatten_storage, vectorize_loops, mark_lazy_selects
    TAILS["cuda"]  split_host_device, hoist_allocations, pad_register_loops, tree_reductions,
                   insert_barriers, flatten_storage, vectorize_gpu

Set OPCOMP_DEBUG=1 to print the IR after each pass; OPCOMP_VERIFY=1 (the
test suite sets it) runs the verifier after every pass instead of only at the
end.
"""
from __future__ import annotations

import os

from ..ir import tir as T
from ..arith.simplify import simplify
from .bounds_check import insert_bounds_checks, mark_lazy_selects
from .flatten import flatten_storage
from .gpu_kernels import split_host_device
from .gpu_reduce import tree_reductions
from .gpu_storage import hoist_allocations, pad_register_loops
from .gpu_sync import insert_barriers
from .gpu_vector import vectorize_gpu
from .gpu_wmma import index_fragments
from .partition import partition_loops
from .vectorize import vectorize_loops
from .verify import verify


def simplify_func(func: T.PrimFunc) -> T.PrimFunc:
    """Simplify with the size vars known to be non-negative."""
    return simplify(func)


def bounds_check_if_asked(func: T.PrimFunc) -> T.PrimFunc:
    """Assert every access in range when built with bounds_check=True."""
    return insert_bounds_checks(func) if func.attr("bounds_check") else func


COMMON = (
    ("simplify", simplify_func),
    ("partition_loops", partition_loops),
    ("simplify_partitioned", simplify_func),
    ("bounds_check", bounds_check_if_asked),
)
TAILS = {
    "llvm": (
        ("flatten_storage", flatten_storage),
        ("vectorize_loops", vectorize_loops),
        ("mark_lazy_selects", mark_lazy_selects),
    ),
    # The GPU tail: kernels in launch form (thread loops -> hardware indices,
    # limits checked), shared/local buffers hoisted to the kernel top, register
    # tiles with constant trip counts, cross-thread reductions as trees, barriers,
    # aligned vector copies (float4).
    # Shared stages' regions are relaxed over their threads by bound inference
    # (gpu_relax.py).
    "cuda": (
        ("split_host_device", split_host_device),
        ("hoist_allocations", hoist_allocations),
        ("pad_register_loops", pad_register_loops),
        ("tree_reductions", tree_reductions),
        ("insert_barriers", insert_barriers),
        ("flatten_storage", flatten_storage),
        ("vectorize_gpu", vectorize_gpu),
        ("index_fragments", index_fragments),
    ),
}
FLATTENED_AFTER = "flatten_storage"


def pipeline(target) -> tuple:
    """The (name, pass) pairs that lower a function for this target, in order."""
    if target.kind not in TAILS:
        raise NotImplementedError(f"no lowering pipeline for target kind {target.kind!r} "
                                  f"(known: {', '.join(TAILS)})")
    return COMMON + TAILS[target.kind]


def run_pipeline(func: T.PrimFunc, target, debug=None, verify_each=None) -> T.PrimFunc:
    """Run the target's pipeline on a freshly lowered function; verify the result."""
    debug = os.environ.get("OPCOMP_DEBUG") if debug is None else debug
    verify_each = os.environ.get("OPCOMP_VERIFY") if verify_each is None else verify_each
    flattened = False
    if debug:
        print(f"# lowered\n{func}")
    for name, pass_fn in pipeline(target):
        func = pass_fn(func)
        flattened = flattened or name == FLATTENED_AFTER
        if debug:
            print(f"# after {name}\n{func}")
        if verify_each:
            verify(func, flattened, after=name)
    return verify(func, flattened, after="the pipeline")
