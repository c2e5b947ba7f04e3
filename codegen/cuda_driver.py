"""Running compiled CUDA modules on a GPU through the CUDA driver API.

The driver (libcuda.so.1, installed with the GPU driver) is called through
ctypes: the same entry points pycuda and cuda-python wrap, without making
either a dependency.  A DeviceModule loads an artifact's cubin into the
primary context of device 0, and points the host launcher's hooks
(codegen/cuda_headers.py) at itself: each OPCOMP_LAUNCH becomes a
cuLaunchKernel followed by a synchronize (kernels are called like functions:
the outputs are complete when the call returns), and temporaries between
kernels come from cuMemAlloc.

    gpu_available()            -> True when a CUDA device can be used
    DeviceModule(artifact)     the cubin loaded; .attach(host_library) sets the hooks
    DeviceBuffer.of(array)     a device copy of a NumPy array (.ptr for a kernel's fn,
                               .numpy() to copy back): tests and benchmarks without torch

Tests that need this are marked ``gpu`` and skip on machines without a GPU.
"""
from __future__ import annotations

import ctypes
import json
import threading

CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
DEFAULT_SHARED_LIMIT = 48 * 1024
DRIVER_ERROR_BASE = -1000          # a launch hook returns DRIVER_ERROR_BASE - CUresult

LAUNCH_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint,
                             ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                             ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p))
ALLOC_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint64)
FREE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

_lock = threading.Lock()
_state: dict = {}


class DriverError(RuntimeError):
    """The CUDA driver refused a call (no device, bad launch, out of memory...)."""


def _driver() -> ctypes.CDLL:
    with _lock:
        if "lib" not in _state:
            try:
                lib = ctypes.CDLL("libcuda.so.1")
            except OSError as exc:
                raise DriverError(f"the CUDA driver (libcuda.so.1) is not installed: {exc}") \
                    from None
            _check(lib, lib.cuInit(0), "cuInit")
            _state["lib"] = lib
        return _state["lib"]


def _check(lib, rc: int, what: str) -> None:
    if rc != 0:
        name = ctypes.c_char_p()
        lib.cuGetErrorName(rc, ctypes.byref(name))
        raise DriverError(f"{what} failed: {name.value.decode() if name.value else rc}")


def gpu_available() -> bool:
    """Whether the driver loads and sees at least one device."""
    try:
        lib = _driver()
    except DriverError:
        return False
    count = ctypes.c_int()
    return lib.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0


def _context(lib) -> ctypes.c_void_p:
    """The primary context of device 0, current on this thread."""
    with _lock:
        if "ctx" not in _state:
            dev, ctx = ctypes.c_int(), ctypes.c_void_p()
            _check(lib, lib.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
            _check(lib, lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev),
                   "cuDevicePrimaryCtxRetain")
            _state["ctx"] = ctx
    _check(lib, lib.cuCtxSetCurrent(_state["ctx"]), "cuCtxSetCurrent")
    return _state["ctx"]


class DeviceModule:
    """An artifact's cubin in the current context, with launch/alloc hooks for its host .so."""

    def __init__(self, artifact):
        self.lib = _driver()
        _context(self.lib)
        self.module = ctypes.c_void_p()
        blob = ctypes.create_string_buffer(artifact.cubin, len(artifact.cubin))
        _check(self.lib, self.lib.cuModuleLoadData(ctypes.byref(self.module), blob),
               "cuModuleLoadData")
        self.functions = {}
        for launch in json.loads(artifact.launches):
            fn = ctypes.c_void_p()
            _check(self.lib, self.lib.cuModuleGetFunction(ctypes.byref(fn), self.module,
                                                         launch["kernel"].encode()),
                   f"cuModuleGetFunction({launch['kernel']})")
            if launch["shared_bytes"] > DEFAULT_SHARED_LIMIT:
                _check(self.lib, self.lib.cuFuncSetAttribute(
                    fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    launch["shared_bytes"]), "cuFuncSetAttribute(max dynamic shared)")
            self.functions[launch["kernel"].encode()] = fn
        self.last_error = None
        self.hooks = (LAUNCH_FN(self._launch), ALLOC_FN(self._alloc), FREE_FN(self._free))

    def attach(self, host_lib) -> None:
        """Route the host launcher's launches and temporaries to this device."""
        host_lib.opcomp_set_device_hooks(*self.hooks)

    def _launch(self, name, gx, gy, gz, bx, by, bz, shared, args) -> int:
        rc = self.lib.cuLaunchKernel(self.functions[name], gx, gy, gz, bx, by, bz, shared,
                                     None, args, None)
        if rc == 0:
            rc = self.lib.cuCtxSynchronize()
        if rc != 0:
            self.last_error = f"kernel {name.decode()}: CUresult {rc}"
            return DRIVER_ERROR_BASE - rc
        return 0

    def _alloc(self, nbytes):
        ptr = ctypes.c_uint64()
        if self.lib.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(max(int(nbytes), 1))):
            return None
        return ptr.value

    def _free(self, ptr) -> None:
        if ptr:
            self.lib.cuMemFree_v2(ctypes.c_uint64(ptr))

    def __del__(self):
        module, lib = getattr(self, "module", None), getattr(self, "lib", None)
        if module and lib is not None and module.value:
            lib.cuModuleUnload(module)


class DeviceBuffer:
    """Device memory holding a copy of a NumPy array; freed with the object."""

    def __init__(self, nbytes: int, like=None):
        self.lib = _driver()
        _context(self.lib)
        self.like = like
        self._ptr = ctypes.c_uint64()
        _check(self.lib, self.lib.cuMemAlloc_v2(ctypes.byref(self._ptr),
                                                ctypes.c_size_t(max(nbytes, 1))), "cuMemAlloc")

    @classmethod
    def of(cls, array) -> "DeviceBuffer":
        import numpy as np
        host = np.ascontiguousarray(array)
        buf = cls(host.nbytes, like=host)
        _check(buf.lib, buf.lib.cuMemcpyHtoD_v2(buf._ptr, host.ctypes.data_as(ctypes.c_void_p),
                                                ctypes.c_size_t(host.nbytes)), "cuMemcpyHtoD")
        return buf

    @property
    def ptr(self) -> int:
        return self._ptr.value

    def numpy(self):
        import numpy as np
        out = np.empty_like(self.like)
        _check(self.lib, self.lib.cuMemcpyDtoH_v2(out.ctypes.data_as(ctypes.c_void_p), self._ptr,
                                                  ctypes.c_size_t(out.nbytes)), "cuMemcpyDtoH")
        return out

    def __del__(self):
        if getattr(self, "_ptr", None) is not None and self._ptr.value:
            self.lib.cuMemFree_v2(self._ptr)
