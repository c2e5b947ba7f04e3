"""Compiling generated CUDA C: nvcc/ptxas for the GPU, the host compiler for the launcher
and the emulator.

    ptx, cubin, report = compile_device(source, "sm_90")   # nvcc --ptx, then ptxas -v
    so_bytes = compile_host(source)                         # g++ -include opcomp_cuda_emu.h

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


def compile_device(source: str, arch: str) -> tuple:
    """(PTX text, cubin bytes, resource report dict) for one architecture ("sm_90")."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise CUDACompileError("nvcc not found on PATH (or $CUDA_HOME/bin): install the CUDA "
                               "toolkit, or build with emulate=True to run on the CPU")

    def make():
        with _workdir(source) as d:
            _run([nvcc, *NVCC_FLAGS, f"-arch={arch}", "-I", d, "kernel.cu", "-o", "kernel.ptx"], d)
            ptxas = str(Path(nvcc).parent / "ptxas")
            log = _run([ptxas, f"-arch={arch}", "-v", "kernel.ptx", "-o", "kernel.cubin"], d)
            ptx = (Path(d) / "kernel.ptx").read_text()
            cubin = (Path(d) / "kernel.cubin").read_bytes()
        return ptx, cubin, parse_ptxas_report(log)
    return _memoized(("device", source, arch, toolchain_versions(), PRELUDE), make)


def compile_host(source: str) -> bytes:
    """The launcher (and the emulated kernels) as a shared object for this CPU."""
    def make():
        cxx = host_compiler()
        with _workdir(source) as d:
            _run([cxx, *HOST_FLAGS, "-I", d, "-include", "opcomp_cuda_emu.h", "kernel.cu",
                  "-o", "kernel.so"], d)
            return (Path(d) / "kernel.so").read_bytes()
    return _memoized(("host", source, toolchain_versions(), PRELUDE, EMULATOR), make)


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
