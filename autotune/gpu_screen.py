"""Tuning a "cuda" task on a machine without a GPU: candidates are screened, not timed.

Each candidate is still built for the GPU (nvcc + ptxas), then instead of a timed
run on a device it is checked in the runner process:

- resources, from the ptxas report and the launch list: threads per block,
  registers per thread and per block (against the SM's register file), shared
  memory per block (the opt-in maximum), and no spills;
- correctness: the same CUDA C compiled for the CPU emulator, run once on the
  session's inputs and compared with the reference outputs (computed by the
  untuned computation built for this CPU).

A candidate that passes gets an OK record with no costs and the message
NO_GPU_NOTE: nothing is timed, so no record is "best" and apply_history_best
keeps the fallback until the task is tuned where a GPU is.  Failures get the
usual codes (RUN_ERROR naming the limit, WRONG_ANSWER).  Emulation runs the
threads of a block on the CPU: keep screened tasks small, or pass
MeasureOptions(reference="none") to check the limits alone.
"""
from __future__ import annotations

import dataclasses
import json
import warnings

import opcomp as oc

from .records import ErrorCode

NO_GPU_NOTE = ("no GPU: within the target's limits and correct on the emulator; timings "
               "need a GPU (none recorded)")


class NoGPUWarning(UserWarning):
    """A cuda task is tuned without a GPU: candidates are screened, not timed."""


def gpu_present() -> bool:
    """Whether the CUDA driver sees a device."""
    from codegen.cuda_driver import gpu_available
    return gpu_available()


def needs_screening(target) -> bool:
    """A cuda target on a machine without a GPU."""
    return oc.Target(target).kind == "cuda" and not gpu_present()


def announce(task) -> None:
    """Say once per tune() that a cuda task without a GPU gets no timings."""
    if needs_screening(task.target):
        warnings.warn(f"tuning {task.name} for {oc.Target(task.target).brief} without a GPU: "
                      "candidates are filtered by nvcc's resource report and emulated "
                      "correctness only; timings need a GPU, so none is recorded",
                      NoGPUWarning, 3)


def resource_problems(kernel, target) -> list:
    """What in a CUDA artifact exceeds the target: [] when it fits."""
    target = oc.Target(target)
    report, out = kernel.resources, []
    for launch in kernel.kernel_launches:
        name, threads = launch["kernel"], 1
        for d in launch["block"]:
            threads *= d
        r = report.get(name, {})
        regs, shared = r.get("registers", 0), r.get("shared_bytes", launch["shared_bytes"])
        if threads > target.max_threads_per_block:
            out.append(f"{name}: {threads} threads per block > {target.max_threads_per_block}")
        if regs > target.registers_per_thread:
            out.append(f"{name}: {regs} registers per thread > {target.registers_per_thread}")
        if target.registers_per_sm and regs * threads > target.registers_per_sm:
            out.append(f"{name}: {regs} registers x {threads} threads > the SM's "
                       f"{target.registers_per_sm}")
        if shared > target.max_shared_memory_per_block_optin:
            out.append(f"{name}: {shared} bytes of shared memory > "
                       f"{target.max_shared_memory_per_block_optin}")
        if r.get("spill_stores", 0) or r.get("spill_loads", 0):
            out.append(f"{name}: spills {r['spill_stores']}/{r['spill_loads']} bytes")
    return out


def emulated(artifact):
    """The same CUDA C as an artifact for the CPU emulator."""
    from codegen.cuda import CUDABackend
    kernel = CUDABackend(emulate=True).compile(artifact.kernel.cuda, artifact.target)
    meta = dict(json.loads(artifact.meta), emulate=True)
    return dataclasses.replace(artifact, kernel=kernel, meta=json.dumps(meta))


def screen(job):
    """The runner's job for a cuda candidate without a GPU (module docstring): a
    jobs.RunResult with no costs."""
    from . import jobs
    problems = resource_problems(job.artifact.kernel, job.artifact.target)
    if problems:
        return jobs.RunResult(ErrorCode.RUN_ERROR, "over the GPU's limits: " +
                              "; ".join(problems))
    if job.save:              # the reference is built for the CPU: never screened
        return jobs.run(job)
    if not job.reference:     # MeasureOptions(reference="none"): the limits alone
        return jobs.RunResult(ErrorCode.OK, "no GPU: within the target's limits (not run: no "
                              "reference); timings need a GPU (none recorded)", (), 0.0)
    checked = jobs.run(dataclasses.replace(job, artifact=emulated(job.artifact), repeat=0,
                                           cutoff_s=None))
    if checked.error != ErrorCode.OK:
        return dataclasses.replace(checked, message="emulated: " + checked.message, costs=())
    return jobs.RunResult(ErrorCode.OK, NO_GPU_NOTE, (), 0.0)
