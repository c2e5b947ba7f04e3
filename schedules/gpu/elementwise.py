"""GPU injective ops (elementwise math, broadcasting binary ops, transpose,
concatenate, cast, layout transforms): one thread per output element.

Algorithm: the op's own compute definition (schedules/injective.py builds it;
only the schedule differs on the GPU).

Schedule, one primitive per line: the output's loops are fused into one, split
by the block size; blockIdx.x takes the outer part and threadIdx.x the inner,
so the threads of a warp write consecutive elements (a coalesced store; loads
are coalesced too wherever the input's last axis is the output's).  The last
block's threads past the end are guarded off.

Knob (template "gpu/injective", whose arguments are the op's name and its
call): threads per block, whole warps; default 256 (within the target's limit).

The op entry points (schedules.get("add")(..., target="cuda"), wrapped by
wrap_injective in schedules/__init__.py) go through the template, so a tuning
record applies; the template runs the op for the CPU to get its compute
definition, drops that schedule and schedules the output with
schedule_elementwise.  Ops with intermediate stages (pad) are not wrapped.
"""
from __future__ import annotations

import functools
import inspect

import opcomp as oc
from autotune import template

from .common import bind, block_threads, current_config, cuda_target, knob, thread_counts


def schedule_elementwise(s, out, threads: int) -> None:
    """One thread per element of out (module docstring)."""
    axes = list(s[out].op.axis)
    if not axes:
        return
    fused = s[out].fuse(*axes) if len(axes) > 1 else axes[0]
    bx, tx = s[out].split(fused, factor=threads)
    bind(s[out], bx, "blockIdx.x")
    bind(s[out], tx, "threadIdx.x")


def schedule_injective_gpu(s, out, target) -> None:
    """The elementwise schedule with the threads knob of the running template (its
    default outside one)."""
    threads = knob(current_config(), "threads", thread_counts(target), block_threads(target))
    schedule_elementwise(s, out, threads)


@template("gpu/injective")
def gpu_injective(op: str, args, kwargs, target="cuda"):
    """The injective op `op` called with args and kwargs ([[name, value], ...]) on the
    GPU: its compute definition (the op run for the CPU, whose schedule is dropped),
    scheduled by schedule_elementwise: returns (schedule, tensors)."""
    import schedules
    cpu_op = getattr(schedules.get(op), "__wrapped__", schedules.get(op))
    _, tensors = cpu_op(*args, **dict(kwargs), target="llvm")
    out = tensors[-1]
    s = oc.create_schedule(out)
    schedule_injective_gpu(s, out, target)
    return s, tensors


GPU_OPS = ("transpose", "concatenate", "cast", "layout_transform")


def gpu_entry(name: str, fn):
    """An injective op's entry point that sends a CUDA target through the
    "gpu/injective" template (so tuning records apply); anything else runs fn."""
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def entry(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        gpu = cuda_target(bound.arguments.get("target", "llvm"))
        if gpu is None:
            return fn(*args, **kwargs)
        bound.arguments.pop("target")
        call = [[k, v] for k, v in bound.kwargs.items()]
        return gpu_injective(name, list(bound.args), call, target=gpu)
    return entry


def wrap_injective(ops: dict, names) -> dict:
    """{name: gpu_entry(name, ops[name])} for the injective ops named."""
    return {name: gpu_entry(name, ops[name]) for name in names}
