"""NVRTC: compiling CUDA C to PTX in this process, through ctypes, where libnvrtc is
installed (the CUDA toolkit's lib64, $CUDA_HOME, the nvidia-cuda-nvrtc wheel).

    find_nvrtc()                 -> the library's path, or None
    compile_ptx(source, "sm_90") -> PTX text (NVRTCError with the log on failure)

cuda_compile.compile_device uses it for the PTX step when it is found (no nvcc
process per kernel), and nvcc otherwise; OPCOMP_CUDA_COMPILER=nvcc|nvrtc forces
one.  Which one compiled an artifact is its ``ptx_compiler`` field.
"""
from __future__ import annotations

import ctypes
import glob
import os
import re
import site
import sys
from functools import lru_cache
from pathlib import Path


class NVRTCError(RuntimeError):
    """NVRTC rejected the source (the message carries its log)."""


def _candidates() -> list:
    out = [os.environ.get("OPCOMP_NVRTC", "")]
    homes = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", "")]
    from .cuda_compile import nvcc_path
    nvcc = nvcc_path()
    if nvcc:
        homes.append(str(Path(os.path.realpath(nvcc)).parent.parent))
    for home in filter(None, homes):
        out += sorted(glob.glob(os.path.join(home, "lib64", "libnvrtc.so*")))
        out += sorted(glob.glob(os.path.join(home, "lib", "libnvrtc.so*")))
    for base in site.getsitepackages() + [site.getusersitepackages()] + sys.path:
        out += sorted(glob.glob(os.path.join(base, "nvidia", "cu*", "lib", "libnvrtc.so*")))
        out += sorted(glob.glob(os.path.join(base, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so*")))
    out += ["libnvrtc.so"]            # the loader's own search (ldconfig, LD_LIBRARY_PATH)
    return [c for c in out if c]


@lru_cache(maxsize=None)
def find_nvrtc():
    """The first libnvrtc that loads and is no newer than the toolkit's ptxas, or None."""
    limit = _toolkit_version()
    for cand in _candidates():
        if "builtins" in os.path.basename(cand):
            continue
        try:
            version = _version(ctypes.CDLL(cand))
        except (OSError, AttributeError):
            continue
        # ptxas rejects PTX from a newer NVRTC ("Ptx assembly aborted"): skip such a library
        if limit is None or version <= limit:
            return cand
    return None


def _version(lib) -> tuple:
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return (major.value, minor.value)


def _toolkit_version():
    """(major, minor) of the nvcc/ptxas on this machine, or None without one."""
    from .cuda_compile import toolchain_versions
    found = re.search(r"nvcc .*?cuda_(\d+)\.(\d+)", toolchain_versions())
    return (int(found.group(1)), int(found.group(2))) if found else None


def _check(lib, rc, prog, what) -> None:
    if rc == 0:
        return
    log = ""
    if prog is not None:
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, buf)
        log = buf.value.decode(errors="replace")
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    raise NVRTCError(f"NVRTC {what} failed: {lib.nvrtcGetErrorString(rc).decode()}\n{log}")


@lru_cache(maxsize=None)
def _load(path: str):
    """libnvrtc, after its builtins library from the same folder: NVRTC dlopens the
    builtins by bare name at compile time, which fails for a wheel's folder that is
    not on the loader's path (nvidia-cuda-nvrtc)."""
    folder = os.path.dirname(path)
    for builtins in sorted(glob.glob(os.path.join(folder, "libnvrtc-builtins.so*"))) if folder else []:
        try:
            ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
            break
        except OSError:
            continue
    return ctypes.CDLL(path)


@lru_cache(maxsize=None)
def toolkit_include_dirs() -> tuple:
    """The CUDA headers' directories (cuda_fp16.h, mma.h) that NVRTC does not carry
    itself: $CUDA_HOME/include, the nvcc toolkit's, the nvidia wheels'."""
    homes = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", "")]
    from .cuda_compile import nvcc_path
    nvcc = nvcc_path()
    if nvcc:
        homes.append(str(Path(os.path.realpath(nvcc)).parent.parent))
    homes += ["/usr/local/cuda"] + sorted(glob.glob("/usr/local/cuda-*"), reverse=True)
    dirs = [os.path.join(h, "include") for h in filter(None, homes)]
    for base in site.getsitepackages() + [site.getusersitepackages()] + sys.path:
        dirs += sorted(glob.glob(os.path.join(base, "nvidia", "cu*", "include")))
        dirs += sorted(glob.glob(os.path.join(base, "nvidia", "cuda_runtime", "include")))
    found = [os.path.realpath(d) for d in dirs if os.path.isfile(os.path.join(d, "cuda_fp16.h"))]
    return tuple(dict.fromkeys(found))


def compile_ptx(source: str, arch: str, headers: dict = None) -> str:
    """PTX for `arch` ("sm_90": PTX for compute_90) from CUDA C; headers: {name: text}
    that the source #includes."""
    path = find_nvrtc()
    if path is None:
        raise NVRTCError("libnvrtc not found (CUDA toolkit lib64, $CUDA_HOME, or the "
                         "nvidia-cuda-nvrtc wheel)")
    lib = _load(path)
    headers = headers or {}
    prog = ctypes.c_void_p()
    names = (ctypes.c_char_p * len(headers))(*[n.encode() for n in headers])
    texts = (ctypes.c_char_p * len(headers))(*[t.encode() for t in headers.values()])
    _check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"kernel.cu",
                                       len(headers), texts, names), None, "create")
    try:
        opts = [f"--gpu-architecture=compute_{arch.split('_')[1]}".encode(), b"-std=c++17"]
        opts += [f"-I{d}".encode() for d in toolkit_include_dirs()]   # cuda_fp16.h, mma.h
        arr = (ctypes.c_char_p * len(opts))(*opts)
        _check(lib, lib.nvrtcCompileProgram(prog, len(opts), arr), prog, "compile")
        size = ctypes.c_size_t()
        _check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), prog, "GetPTXSize")
        buf = ctypes.create_string_buffer(size.value)
        _check(lib, lib.nvrtcGetPTX(prog, buf), prog, "GetPTX")
        return buf.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))
