"""Compiling generated CUDA C: nvcc/ptxas for the GPU, the host compiler for the launcher
and the emulator.

    ptx, cubin, report = compile_device(source, "sm_90")   # PTX, then ptxas -v
    so_bytes = compile_host(source)                         # g++ -include opcomp_cuda_emu.h
    obj = compile_host_object(source)                       # the same, as a .o (export)

The PTX comes from NVRTC where libnvrtc loads (cuda_nvrtc.py: in process, no
nvcc run), else from ``nvcc --ptx``; ptx_compiler() says which, and
OPCOMP_CUDA_COMPILER=nvcc|nvrtc forces one.

The resource report is parsed from ptxas's ``-v`` output, one entry per kernel:

    {"mm_kernel0": {"registers": 40, "spill_stores": 0, "spill_loads": 0,
                    "stack_bytes": 0, "shared_bytes": 0, "barriers": 1, "const_bytes": 360}}

(shared_bytes counts static shared memory only; opcomp's kernels use dynamic
shared memory, reported per kernel in the artifact's launch list.)  Outputs
are memoized in this process by the hash of everything that goes into them;
across processes, the compile cache (opcomp/compile_cache.py, authenticated)
keeps whole artifacts, so nvcc runs once per kernel and toolchain.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from .cuda_headers import EMULATOR, PRELUDE

NVCC_FLAGS = ("-std=c++17", "--ptx")
HOST_FLAGS = ("-std=c++17", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", "-fwrapv",
              "-fno-strict-aliasing", "-pthread", "-x", "c++")
_memo: dict = {}
_memo_lock = threading.Lock()


class CUDACompileError(RuntimeError):
    """nvcc, ptxas or the host compiler rejected generated code (an opcomp bug)."""


def nvcc_path() -> str | None:
    """The nvcc on PATH (or under $CUDA_HOME/bin), else None."""
    found = shutil.which("nvcc")
    if found is None and os.environ.get("CUDA_HOME"):
        cand = Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc"
        found = str(cand) if cand.exists() else None
    return found


def host_compiler() -> str:
    """The C++ compiler for the launcher and the emulator ($CXX, else g++, else c++)."""
    for cand in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    raise CUDACompileError("no C++ compiler found ($CXX, g++, c++, clang++): the CUDA backend "
                           "needs one for the host launcher and the emulator")


@lru_cache(maxsize=None)
def toolchain_versions() -> str:
    """The versions that change compiled output: nvcc's and the host compiler's."""
    parts = []
    nvcc = nvcc_path()
    if nvcc:
        out = _run([nvcc, "--version"], None).strip().splitlines()
        parts.append("nvcc " + (out[-1] if out else "?"))
    try:
        cxx = host_compiler()
        parts.append(_run([cxx, "--version"], None).splitlines()[0])
    except CUDACompileError:
        parts.append("no c++")
    return "; ".join(parts)


def _run(cmd, cwd) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CUDACompileError(f"{Path(cmd[0]).name} failed ({proc.returncode}): "
                               f"{' '.join(map(str, cmd))}\n{proc.stderr[-6000:]}")
    return proc.stdout + proc.stderr


def _memoized(key_parts, make):
    key = hashlib.sha256("\0".join(key_parts).encode()).hexdigest()
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    value = make()
    with _memo_lock:
        _memo[key] = value
    return value


def _workdir(source: str) -> tempfile.TemporaryDirectory:
    tmp = tempfile.TemporaryDirectory(prefix="opcomp-cuda-")
    base = Path(tmp.name)
    (base / "kernel.cu").write_text(source)
    (base / "opcomp_cuda.h").write_text(PRELUDE)
    (base / "opcomp_cuda_emu.h").write_text(EMULATOR)
    return tmp


def ptx_compiler() -> str:
    """Which compiler makes PTX here: "nvrtc" when libnvrtc is found (cuda_nvrtc.py),
    else "nvcc"; OPCOMP_CUDA_COMPILER=nvcc|nvrtc forces one."""
    from .cuda_nvrtc import find_nvrtc
    forced = os.environ.get("OPCOMP_CUDA_COMPILER", "").strip().lower()
    if forced in ("nvcc", "nvrtc"):
        return forced
    return "nvrtc" if find_nvrtc() else "nvcc"


def compile_ptx(source: str, arch: str, compiler: str = None) -> str:
    """PTX for one architecture, by NVRTC or nvcc (default: ptx_compiler())."""
    compiler = compiler or ptx_compiler()
    if compiler == "nvrtc":
        from .cuda_nvrtc import compile_ptx as nvrtc_ptx
        return _memoized(("nvrtc", source, arch, PRELUDE), lambda: nvrtc_ptx(
            source, arch, {"opcomp_cuda.h": PRELUDE}))   # its __CUDACC_RTC__ branch
    nvcc = _need_nvcc()

    def make():
        with _workdir(source) as d:
            _run([nvcc, *NVCC_FLAGS, f"-arch={arch}", "-I", d, "kernel.cu", "-o", "kernel.ptx"], d)
            return (Path(d) / "kernel.ptx").read_text()
    return _memoized(("ptx", source, arch, toolchain_versions(), PRELUDE), make)


def _need_nvcc() -> str:
    nvcc = nvcc_path()
    if nvcc is None:
        raise CUDACompileError("nvcc not found on PATH (or $CUDA_HOME/bin): install the CUDA "
                               "toolkit, or build with emulate=True to run on the CPU")
    return nvcc


def compile_device(source: str, arch: str) -> tuple:
    """(PTX text, cubin bytes, resource report dict) for one architecture ("sm_90"): PTX
    from NVRTC or nvcc (ptx_compiler), then ptxas -v for the cubin and the report."""
    nvcc = _need_nvcc()
    ptx = compile_ptx(source, arch)

    def make():
        with tempfile.TemporaryDirectory(prefix="opcomp-ptxas-") as d:
            (Path(d) / "kernel.ptx").write_text(ptx)
            ptxas = str(Path(nvcc).parent / "ptxas")
            log = _run([ptxas, f"-arch={arch}", "-v", "kernel.ptx", "-o", "kernel.cubin"], d)
            cubin = (Path(d) / "kernel.cubin").read_bytes()
        return ptx, cubin, parse_ptxas_report(log)
    return _memoized(("device", ptx, arch, toolchain_versions()), make)


def compile_host(source: str) -> bytes:
    """The launcher (and the emulated kernels) as a shared object for this CPU."""
    def make():
        cxx = host_compiler()
        with _workdir(source) as d:
            _run([cxx, *HOST_FLAGS, "-I", d, "-include", "opcomp_cuda_emu.h", "kernel.cu",
                  "-o", "kernel.so"], d)
            return (Path(d) / "kernel.so").read_bytes()
    return _memoized(("host", source, toolchain_versions(), PRELUDE, EMULATOR), make)


def compile_host_object(source: str) -> bytes:
    """The launcher and the emulated kernels as a relocatable object (for export_library:
    linked into a shared library with libstdc++, which the emulator's threads need)."""
    def make():
        cxx = host_compiler()
        flags = [f for f in HOST_FLAGS if f != "-shared"]
        with _workdir(source) as d:
            _run([cxx, *flags, "-c", "-I", d, "-include", "opcomp_cuda_emu.h", "kernel.cu",
                  "-o", "kernel.o"], d)
            return (Path(d) / "kernel.o").read_bytes()
    return _memoized(("host-object", source, toolchain_versions(), PRELUDE, EMULATOR), make)


_ENTRY = re.compile(r"(?:Compiling entry function|Function properties for) '?([\w$]+)'?")
_NUMBERS = {
    "stack_bytes": re.compile(r"(\d+) bytes stack frame"),
    "spill_stores": re.compile(r"(\d+) bytes spill stores"),
    "spill_loads": re.compile(r"(\d+) bytes spill loads"),
    "registers": re.compile(r"Used (\d+) registers"),
    "barriers": re.compile(r"used (\d+) barriers"),
    "shared_bytes": re.compile(r"(\d+) bytes smem"),
    "const_bytes": re.compile(r"(\d+) bytes cmem\[0\]"),
}


def parse_ptxas_report(log: str) -> dict:
    """ptxas -v output -> {kernel: {registers, spill_stores, spill_loads, stack_bytes,
    shared_bytes, barriers, const_bytes}} (a field ptxas did not print is 0)."""
    out: dict = {}
    current = None
    for line in log.splitlines():
        m = _ENTRY.search(line)
        if m:
            current = out.setdefault(m.group(1), {k: 0 for k in _NUMBERS})
            continue
        if current is None:
            continue
        for key, pat in _NUMBERS.items():
            found = pat.search(line)
            if found:
                current[key] = int(found.group(1))
    return out
