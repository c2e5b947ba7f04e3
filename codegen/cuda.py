"""The CUDA backend: lowered PrimFunc -> CUDA C -> cubin/PTX (nvcc) + host launcher.

    backend = CUDABackend()                  # registered as "cuda"
    text = backend.render(func, target)      # CUDA C (codegen/cuda_printer.py)
    art = backend.compile(text, target)      # PTX, cubin, ptxas resource report, host .so
    kernel = backend.load(art)               # on a GPU: cubin through the CUDA driver

    emu = backend.emulator()                 # oc.build(..., target="cuda", emulate=True)
    art = emu.compile(text, target)          # host .so only: the kernels run on the CPU
    kernel = emu.load(art)                   # kernel.fn(*pointers, *sizes), host memory

Both artifacts carry the same host shared object: the launcher computes each
grid from the sizes and launches through hooks (codegen/cuda_headers.py).  On
a GPU the loader points the hooks at the driver (codegen/cuda_driver.py); an
emulated artifact leaves them unset, and the same launches run the kernels
on the CPU emulator.  ``artifact.resources`` is the parsed ptxas report
(registers, spills, stack, shared memory per kernel).
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Optional

from opcomp.backend import ExportError, register_backend
from opcomp.ir import tir as T
from opcomp.target import Target

from . import cuda_compile
from .cuda_printer import render_cuda

__all__ = ["CUDABackend", "CUDAArtifact", "LoadedCUDAKernel"]

_HOST_FN = re.compile(r'extern "C" OPCOMP_EXPORT int (\w+)\(([^)]*)\) \{')
_KERNEL = re.compile(r"__global__ void __launch_bounds__\((\d+)\) (\w+)\(")
_LAUNCH = re.compile(r"OPCOMP_LAUNCH\((\w+), dim3\([^;]*?\), dim3\(([^;]*?)\), (\d+)")


@dataclass(frozen=True)
class CUDAArtifact:
    """A compiled CUDA module as plain data.

    cuda: the CUDA C; host: the launcher (and emulated kernels) as a shared
    object for this CPU; ptx/cubin/report: the device code for `arch` and the
    ptxas report as JSON (None/"" when emulated); launches: JSON list of
    {kernel, block (x, y, z), shared_bytes}.
    """
    name: str
    cuda: str
    host: bytes
    n_buffers: int
    n_sizes: int
    arch: str
    launches: str
    emulated: bool = False
    ptx: Optional[str] = None
    cubin: Optional[bytes] = None
    report: str = ""
    target: str = "cuda"
    ptx_compiler: str = ""          # "nvrtc" or "nvcc": which made the PTX ("" emulated)

    @property
    def resources(self) -> dict:
        """{kernel: {registers, spill_stores, spill_loads, stack_bytes, shared_bytes
        (static + the launch's dynamic), barriers, const_bytes}} ({} when emulated)."""
        report = json.loads(self.report) if self.report else {}
        for launch in json.loads(self.launches):
            if launch["kernel"] in report:
                report[launch["kernel"]]["shared_bytes"] += launch["shared_bytes"]
        return report

    @property
    def kernel_launches(self) -> list:
        return json.loads(self.launches)


EMU_DEADLOCK = -2                  # opcomp_cuda_emu.h's OPCOMP_EMU_DEADLOCK
MISALIGNED_BASE = -100             # cuda_printer.py: parameter k misaligned -> this - k
DRIVER_ERROR_BASE = -1000          # cuda_driver.py: a failed launch returns this - CUresult


class LoadedCUDAKernel:
    """The host launcher in this process; fn(*raw) follows opcomp's ABI (0, the code
    of a failed assertion, -1 out of memory) and raises on what only the emulator or
    the driver can report (a deadlocked block, a failed launch)."""

    def __init__(self, artifact: CUDAArtifact, device=None):
        self.name = artifact.name
        self.lib = _dlopen(artifact.host)
        self.device = device          # the driver module (GPU), None when emulated
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, *([ctypes.c_void_p] * artifact.n_buffers
                                                   + [ctypes.c_int64] * artifact.n_sizes))
        self.raw_fn = proto((artifact.name, self.lib))
        self.params = _host_params(artifact.cuda)
        if device is not None:
            device.attach(self.lib)

    def fn(self, *raw) -> int:
        rc = self.raw_fn(*raw)
        if DRIVER_ERROR_BASE < rc <= MISALIGNED_BASE:
            name = self.params[MISALIGNED_BASE - rc]
            raise ValueError(f"kernel {self.name}: argument {name} is not aligned for the "
                             "kernel's vector accesses (float4: 16 bytes); pass a freshly "
                             "allocated array, not a view at an odd offset")
        if rc == EMU_DEADLOCK and self.device is None:
            raise RuntimeError(f"kernel {self.name} deadlocked in the emulator: the threads "
                               "of a block wait at different barriers (__syncthreads under a "
                               "condition some threads skip)")
        if rc <= DRIVER_ERROR_BASE and self.device is not None:
            from .cuda_driver import DriverError
            raise DriverError(f"kernel {self.name} failed on the GPU: {self.device.last_error}")
        return rc

    __call__ = fn


def _dlopen(data: bytes) -> ctypes.CDLL:
    """Load a shared object from bytes (a private file, removed once mapped)."""
    fd, path = tempfile.mkstemp(prefix="opcomp-cuda-", suffix=".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_NOW)
    finally:
        os.unlink(path)


class CUDABackend:
    """The "cuda" target: the opcomp.backend protocol (module docstring)."""
    kind = "cuda"
    artifact_type = CUDAArtifact

    def __init__(self, emulate: bool = False):
        self.emulate = emulate

    def emulator(self) -> "CUDABackend":
        """The same backend, compiling for the CPU emulator instead of a GPU."""
        return _EMULATOR

    def render(self, func: T.PrimFunc, target="cuda") -> str:
        """CUDA C for a function lowered for a cuda target."""
        text, _ = render_cuda(func, _cuda_target(target))
        return text

    def compile(self, source: str, target="cuda") -> CUDAArtifact:
        """Device code for the target's architecture (unless emulated) and the host .so."""
        target = _cuda_target(target)
        name, n_buffers, n_sizes = _host_signature(source)
        launches = json.dumps(_launches(source))
        host = cuda_compile.compile_host(source)
        if self.emulate:
            return CUDAArtifact(name, source, host, n_buffers, n_sizes, target.arch, launches,
                                emulated=True, target=str(target))
        ptx, cubin, report = cuda_compile.compile_device(source, target.arch)
        return CUDAArtifact(name, source, host, n_buffers, n_sizes, target.arch, launches,
                            False, ptx, cubin, json.dumps(report, sort_keys=True), str(target),
                            cuda_compile.ptx_compiler())

    def load(self, artifact: CUDAArtifact) -> LoadedCUDAKernel:
        """Emulated: the host .so alone.  Otherwise the cubin through the CUDA driver."""
        if artifact.emulated:
            return LoadedCUDAKernel(artifact)
        from . import cuda_driver
        return LoadedCUDAKernel(artifact, cuda_driver.DeviceModule(artifact))

    def objects(self, artifact: CUDAArtifact, target) -> list:
        """export_library's inputs: an emulated module exports its launcher and emulated
        kernels (the library runs on the CPU, as the module did), with a linker script
        that adds libstdc++.  A module built for the GPU is refused: its launches go to
        the CUDA driver only through hooks the loader sets (cuda_driver.DeviceModule),
        which a plain library load would not, so its kernels would silently run on the
        CPU emulator instead."""
        if not artifact.emulated:
            raise ExportError(f"export_library: CUDA module {artifact.name} was built for the "
                              f"GPU ({artifact.arch}); its kernels launch through the CUDA "
                              "driver hooks that oc.build sets when it loads the cubin, which "
                              "a library loaded by oc.load_module would not have.  Export an "
                              "emulated build (emulate=True), or take the device code with "
                              "mod.source('ptx') / mod.artifact.kernel.cubin")
        return [("kernel.o", cuda_compile.compile_host_object(artifact.cuda)),
                ("libstdcxx.ld", b"INPUT(-lstdc++)\n")]

    def artifact_from_fields(self, **fields) -> CUDAArtifact:
        return CUDAArtifact(**fields)

    def device_available(self) -> bool:
        """The emulator runs on the CPU; device code needs the driver and a GPU it sees."""
        from .cuda_driver import gpu_available
        return self.emulate or gpu_available()

    def toolchain(self) -> str:
        mode = "emulated" if self.emulate else "device"
        return f"{mode}; ptx by {cuda_compile.ptx_compiler()}; {cuda_compile.toolchain_versions()}"


_EMULATOR = CUDABackend(emulate=True)


def _cuda_target(target) -> Target:
    target = Target(target)
    if target.kind != "cuda":
        raise ValueError(f"CUDA backend: cannot compile for target {target} "
                         f"(a {target.kind} target)")
    return target


def _host_signature(source: str) -> tuple:
    m = _HOST_FN.search(source)
    if m is None:
        raise ValueError("CUDA backend: the source has no opcomp host launcher")
    params = [p.strip() for p in m.group(2).split(",") if p.strip()]
    return m.group(1), sum("*" in p for p in params), sum(p.startswith("int64_t") for p in params)


def _host_params(source: str) -> list:
    """The launcher's pointer parameters' names, in order."""
    m = _HOST_FN.search(source)
    params = [p.strip() for p in m.group(2).split(",") if "*" in p]
    return [p.split("*")[-1].strip() for p in params]


def _launches(source: str) -> list:
    blocks = {}
    for m in _LAUNCH.finditer(source):
        dims = [int(x) for x in re.findall(r"\d+", m.group(2))]
        blocks[m.group(1)] = {"kernel": m.group(1), "block": dims, "shared_bytes": int(m.group(3))}
    return [blocks.get(k, {"kernel": k, "block": [], "shared_bytes": 0})
            for _, k in _KERNEL.findall(source)]


register_backend("cuda", CUDABackend())
