"""What every GPU template shares: the target test, thread binding, knob defaults
read from the Target, and cooperative copies into shared memory.

A template's defaults come from oc.Target("cuda -arch=..."): threads per block
are capped by max_threads_per_block and rounded to whole warps, per-thread
register tiles by registers_per_thread, shared-memory tiles by
max_shared_memory_per_block (the default 48 KiB, which needs no opt-in).
"""
from __future__ import annotations

import numpy as np

import opcomp as oc

BLOCK_THREADS = 256        # threads per block a template starts from (8 warps)


def cuda_target(target):
    """The resolved target if it is a CUDA one, else None (the CPU path)."""
    try:
        t = oc.Target(target)
    except (oc.TargetError, TypeError):
        return None
    return t if t.kind == "cuda" else None


def bind(stage, axis, tag: str) -> None:
    """Bind a loop to a CUDA thread/block index ("threadIdx.x", "blockIdx.y", ...)."""
    stage.bind(axis, oc.thread_axis(tag))


def block_threads(target, want: int = BLOCK_THREADS) -> int:
    """`want` threads, at most the target's per-block limit, in whole warps."""
    cap = min(want, target.max_threads_per_block)
    return max(target.warp_size, cap - cap % target.warp_size)


def thread_counts(target, lo: int = None, hi: int = 1024) -> list:
    """Candidate block sizes: whole warps, powers of two, within the target's limit."""
    lo = lo or target.warp_size
    out, n = [], lo
    while n <= min(hi, target.max_threads_per_block):
        out.append(n)
        n *= 2
    return out


def row_threads(target, L: int) -> int:
    """Threads for one row of L elements: the power of two that covers L (at least a
    warp), at most BLOCK_THREADS."""
    n = target.warp_size
    while n < L and n < block_threads(target):
        n *= 2
    return n


def pair(text: str) -> tuple:
    """ "8x16" -> (8, 16)."""
    a, b = text.split("x")
    return int(a), int(b)


def itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


def spread_copy(s, cache, threads: list, vector: int = 0) -> None:
    """A shared-memory copy stage done by all threads of the block: its loops fused,
    then split over the block's thread axes (threads: [(tag, count)], outermost
    first), each thread's remainder vectorized by `vector` lanes when given."""
    fused = s[cache].fuse(*s[cache].op.axis) if len(s[cache].op.axis) > 1 \
        else s[cache].op.axis[0]
    rest = fused
    for tag, count in threads:
        outer, rest = s[cache].split(rest, nparts=count)
        bind(s[cache], outer, tag)
    if vector:
        _, lanes = s[cache].split(rest, factor=vector)
        s[cache].vectorize(lanes)


def current_config():
    """The running template's config, or None outside a template (defaults apply)."""
    from autotune import get_config
    from autotune.template import TemplateError
    try:
        return get_config()
    except TemplateError:
        return None


def knob(cfg, name: str, choices: list, default):
    """A knob's value: defined on cfg when a template runs, else the default."""
    if cfg is None:
        return default
    return cfg.define_knob(name, list(choices), default=default).val


def exact_split(extent: int, counts) -> bool:
    """Whether splitting `extent` into nparts=c for each count c in turn (the inner
    part of one split is split by the next) keeps every count: a split of fewer
    elements than parts has fewer parts, and thread loops of one kernel must agree."""
    for c in counts:
        if extent < c:
            return False
        extent = -(-extent // c)
    return True


def fit_threads(threads: list, regions) -> list:
    """Thread counts (outermost first) shrunk, the largest halved at a time, until every
    extent in regions(threads) splits exactly over them (exact_split): small or odd
    shapes get fewer threads instead of a kernel whose copies disagree with its
    compute about the block's shape."""
    threads = list(threads)
    while not all(exact_split(e, threads) for e in regions(threads)):
        k = max(range(len(threads)), key=lambda i: threads[i])
        if threads[k] == 1:
            break
        threads[k] //= 2
    return threads


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)
